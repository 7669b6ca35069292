/*
 * faultfs - a passthrough FUSE filesystem that can be told to fail like a
 * broken NFS server. Test fixture for nfs-health-checkd.
 *
 *   faultfs BACKING_DIR MOUNTPOINT -o ctl=CTLFILE[,pidfile=PIDFILE][,fuse opts] [-f]
 *
 * Works the same when started by mount.fuse3 (autofs: -fstype=fuse3,ctl=...).
 * mountinfo shows fstype "fuse.faultfs", source "faultfs:BACKING_DIR".
 * PIDFILE gets the server's pid once the mount is up.
 *
 * CTLFILE lives outside the mount and holds one word, re-read on every
 * operation except release (missing or empty = ok):
 *   ok                      pass through
 *   estale|eio|eacces|enotconn|etimedout
 *                           every operation fails with that errno
 *   hang                    block until the mode changes; ignore interrupts
 *                           (a signalled caller ends up in D state, like a
 *                           FUSE/NFS request nobody will ever answer)
 *   hang_killable           block until the mode changes or the request is
 *                           interrupted (-> EINTR), like NFS waiting in
 *                           rpc_wait_bit_killable
 *   delay:MS                sleep MS milliseconds, then pass through
 *   stale                   a failover: a server mounted before this word was
 *                           written answers ESTALE to everything (its file
 *                           handles belong to the old server); one mounted
 *                           after it passes through (the new server)
 * Anything else fails every operation with EINVAL, so a typo is noticed.
 * Hung operations give up once the connection is aborted or unmounted.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <fuse.h>
#include <fuse_lowlevel.h> /* fuse_session_exited() */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 50

static struct {
	char *ctl;      /* -o ctl=     (made absolute: fuse_daemonize does chdir("/")) */
	char *pidfile;  /* -o pidfile= (likewise) */
	char *backing;  /* first non-option argument */
	int backing_fd; /* all I/O is done relative to this, see rel() */
} opt = { .backing_fd = -1 };

enum { KEY_DISCARD };

static const struct fuse_opt faultfs_opts[] = {
	{ "ctl=%s", offsetof(__typeof__(opt), ctl), 0 },
	{ "pidfile=%s", offsetof(__typeof__(opt), pidfile), 0 },
	/* fstab-only options, in case a caller hands them through */
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_END
};

/* ---- fault injection ---------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	/* An early wake-up (EINTR) is harmless: every caller re-checks. */
	nanosleep(&ts, NULL);
}

enum mode { M_OK, M_ERRNO, M_HANG, M_HANG_KILLABLE, M_DELAY };

/* When this server was mounted, for the `stale` mode (a failover after it, or not). */
static struct timespec started;

static int started_before(const struct timespec *t)
{
	return started.tv_sec < t->tv_sec ||
	       (started.tv_sec == t->tv_sec && started.tv_nsec < t->tv_nsec);
}

/* Reads CTLFILE. Returns the mode; *arg gets the errno or delay in ms. */
static enum mode read_mode(long *arg)
{
	static const struct { const char *word; int err; } errnos[] = {
		{ "estale", ESTALE }, { "eio", EIO }, { "eacces", EACCES },
		{ "enotconn", ENOTCONN }, { "etimedout", ETIMEDOUT },
	};
	char buf[64];
	ssize_t n = 0;
	struct stat st = { 0 };
	int fd = open(opt.ctl, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (fstat(fd, &st) != 0)
			st.st_mtim.tv_sec = 0;
		close(fd);
	}
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	/* trim: `echo hang > ctl` leaves a newline */
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		buf[--n] = '\0';

	if (n == 0 || strcmp(buf, "ok") == 0)
		return M_OK;
	if (strcmp(buf, "stale") == 0) {
		*arg = ESTALE;
		return started_before(&st.st_mtim) ? M_ERRNO : M_OK;
	}
	if (strcmp(buf, "hang") == 0)
		return M_HANG;
	if (strcmp(buf, "hang_killable") == 0)
		return M_HANG_KILLABLE;
	if (strncmp(buf, "delay:", 6) == 0) {
		char *end;
		*arg = strtol(buf + 6, &end, 10);
		if (*end == '\0' && *arg >= 0)
			return M_DELAY;
	}
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		if (strcmp(buf, errnos[i].word) == 0) {
			*arg = errnos[i].err;
			return M_ERRNO;
		}
	}
	*arg = EINVAL;
	return M_ERRNO;
}

/*
 * Called first by every operation. Returns 0 to go on, or -errno to fail.
 * Hangs are polled rather than waited on with inotify: the control file may
 * be replaced by rename, and 50 ms latency is irrelevant for the tests.
 */
static int fault(void)
{
	struct fuse_session *se = fuse_get_session(fuse_get_context()->fuse);

	for (;;) {
		long arg = 0;

		/* Unmounted or aborted: nobody is waiting for the answer any more. */
		if (fuse_session_exited(se))
			return -ENOTCONN;
		switch (read_mode(&arg)) {
		case M_OK:
			return 0;
		case M_DELAY:
			sleep_ms(arg);
			return 0;
		case M_ERRNO:
			return (int)-arg;
		case M_HANG_KILLABLE:
			/* The kernel sends FUSE_INTERRUPT when the caller gets a signal. */
			if (fuse_interrupted())
				return -EINTR;
			break;
		case M_HANG:
			/* Deliberately deaf to interrupts. */
			break;
		}
		sleep_ms(POLL_MS);
	}
}

#define FAULT()                      \
	do {                         \
		int err_ = fault();  \
		if (err_)            \
			return err_; \
	} while (0)

/* ---- passthrough: every path is resolved relative to backing_fd --------- */

/* FUSE paths are absolute ("/", "/a/b"); *at() wants them relative. */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

#define RET(expr) return (expr) < 0 ? -errno : 0

/* Written to a temporary name and renamed: a reader never sees it half done. */
static void write_pidfile(void)
{
	char *tmp;
	FILE *f;

	if (asprintf(&tmp, "%s.tmp", opt.pidfile) < 0)
		return;
	f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%ld\n", (long)getpid());
		if (fclose(f) == 0)
			rename(tmp, opt.pidfile);
	}
	free(tmp);
}

static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/*
	 * NFS runs lookups in one directory in parallel. Without this flag the
	 * kernel serializes lookup/readdir per directory on an uninterruptible
	 * mutex, so a second caller waits in D state behind a hung first one.
	 * Note: libfuse < 3.16 never passes the flag to the kernel.
	 */
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Like NFS with noac,lookupcache=none: every access reaches the server. */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 1; /* report the backing files' inode numbers */

	clock_gettime(CLOCK_REALTIME, &started);

	/* We are mounted and (unless -f) daemonized: getpid() is final now. */
	if (opt.pidfile)
		write_pidfile();
	return NULL;
}

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	FAULT();
	if (fi)
		RET(fstat((int)fi->fh, st));
	RET(fstatat(opt.backing_fd, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int ff_access(const char *path, int mask)
{
	FAULT();
	RET(faccessat(opt.backing_fd, rel(path), mask, 0));
}

static int ff_readlink(const char *path, char *buf, size_t size)
{
	FAULT();
	ssize_t n = readlinkat(opt.backing_fd, rel(path), buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int ff_opendir(const char *path, struct fuse_file_info *fi)
{
	FAULT();
	int fd = openat(opt.backing_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = errno;
		close(fd);
		return -err;
	}
	fi->fh = (uintptr_t)d;
	return 0;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	struct dirent *e;

	(void)path;
	(void)flags;
	FAULT();
	/* Offsets are telldir() cookies, so a partial readdir resumes correctly. */
	if (off != telldir(d))
		seekdir(d, off);
	while ((e = readdir(d))) {
		struct stat st = { .st_ino = e->d_ino, .st_mode = (mode_t)e->d_type << 12 };
		if (fill(buf, e->d_name, &st, telldir(d), 0))
			break;
	}
	return 0;
}

/* release/releasedir only free resources (the kernel ignores their result): never faulted. */
static int ff_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int ff_mkdir(const char *path, mode_t mode)
{
	FAULT();
	RET(mkdirat(opt.backing_fd, rel(path), mode));
}

static int ff_unlink(const char *path)
{
	FAULT();
	RET(unlinkat(opt.backing_fd, rel(path), 0));
}

static int ff_rmdir(const char *path)
{
	FAULT();
	RET(unlinkat(opt.backing_fd, rel(path), AT_REMOVEDIR));
}

static int ff_symlink(const char *target, const char *path)
{
	FAULT();
	RET(symlinkat(target, opt.backing_fd, rel(path)));
}

static int ff_rename(const char *from, const char *to, unsigned int flags)
{
	FAULT();
	RET(renameat2(opt.backing_fd, rel(from), opt.backing_fd, rel(to), flags));
}

static int ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	FAULT();
	if (fi)
		RET(fchmod((int)fi->fh, mode));
	RET(fchmodat(opt.backing_fd, rel(path), mode, 0));
}

static int ff_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	FAULT();
	if (fi)
		RET(fchown((int)fi->fh, uid, gid));
	RET(fchownat(opt.backing_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	FAULT();
	if (fi)
		RET(ftruncate((int)fi->fh, size));
	int fd = openat(opt.backing_fd, rel(path), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int res = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return res;
}

static int ff_utimens(const char *path, const struct timespec ts[2], struct fuse_file_info *fi)
{
	FAULT();
	if (fi)
		RET(futimens((int)fi->fh, ts));
	RET(utimensat(opt.backing_fd, rel(path), ts, AT_SYMLINK_NOFOLLOW));
}

static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	FAULT();
	int fd = openat(opt.backing_fd, rel(path), fi->flags | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	FAULT();
	int fd = openat(opt.backing_fd, rel(path), fi->flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int ff_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	FAULT();
	ssize_t n = pread((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	FAULT();
	ssize_t n = pwrite((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	FAULT();
	RET(fstatvfs(opt.backing_fd, st));
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	FAULT();
	RET(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static int ff_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static const struct fuse_operations ff_ops = {
	.init = ff_init,
	.getattr = ff_getattr,
	.access = ff_access,
	.readlink = ff_readlink,
	.opendir = ff_opendir,
	.readdir = ff_readdir,
	.releasedir = ff_releasedir,
	.mkdir = ff_mkdir,
	.unlink = ff_unlink,
	.rmdir = ff_rmdir,
	.symlink = ff_symlink,
	.rename = ff_rename,
	.chmod = ff_chmod,
	.chown = ff_chown,
	.truncate = ff_truncate,
	.utimens = ff_utimens,
	.create = ff_create,
	.open = ff_open,
	.read = ff_read,
	.write = ff_write,
	.statfs = ff_statfs,
	.fsync = ff_fsync,
	.release = ff_release,
};

/* ---- command line ------------------------------------------------------- */

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == KEY_DISCARD)
		return 0;
	if (key == FUSE_OPT_KEY_NONOPT && !opt.backing) {
		opt.backing = strdup(arg);
		return 0; /* consumed; the next non-option is the mountpoint */
	}
	return 1; /* keep for fuse_main */
}

/* fuse_daemonize() does chdir("/"), so relative paths must be fixed up now. */
static char *absolute(char *path)
{
	char cwd[PATH_MAX], *abs;

	if (!path || path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return path;
	if (asprintf(&abs, "%s/%s", cwd, path) < 0)
		abort();
	free(path);
	return abs;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	char *fsname;
	int ret;

	if (fuse_opt_parse(&args, &opt, faultfs_opts, opt_proc) < 0)
		return 1;
	if (!opt.backing || !opt.ctl) {
		fprintf(stderr,
			"usage: %s BACKING_DIR MOUNTPOINT -o ctl=CTLFILE[,pidfile=FILE][,fuse options] [-f]\n",
			argv[0]);
		return 1;
	}
	opt.ctl = absolute(opt.ctl);
	opt.pidfile = absolute(opt.pidfile);
	opt.backing = absolute(opt.backing);
	opt.backing_fd = open(opt.backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (opt.backing_fd < 0) {
		perror(opt.backing);
		return 1;
	}

	/*
	 * mountinfo shows fstype "fuse.faultfs" and source "faultfs:BACKING",
	 * like NFS's "server:/export", however we were started. Inserted first
	 * so options given by the caller win.
	 *
	 * No "intr" option: libfuse 3 has none on the command line (only
	 * fuse_config.intr, which makes it pthread_kill() the worker), and
	 * fuse_interrupted() sees FUSE_INTERRUPT without it.
	 */
	if (asprintf(&fsname, "-ofsname=faultfs:%s", opt.backing) < 0)
		abort();
	if (fuse_opt_insert_arg(&args, 1, fsname) < 0 ||
	    fuse_opt_insert_arg(&args, 1, "-osubtype=faultfs") < 0)
		return 1;
#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 12)
	/* Each hung request holds a worker thread; the default cap is 10. */
	if (fuse_opt_insert_arg(&args, 1, "-omax_threads=64") < 0)
		return 1;
#endif

	ret = fuse_main(args.argc, args.argv, &ff_ops, NULL);
	fuse_opt_free_args(&args);
	free(fsname);
	return ret;
}
