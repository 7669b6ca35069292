// Real autofs (Debian's `automount`, autofs 5) in front of faultfs, for integration tests.
//
// Each startAutofs() runs its own automount in the foreground with its own master map:
//   <dir>/auto.master:   <dir>/auto  <dir>/auto.faultfs  --timeout=<timeoutSec>
//   <dir>/auto.faultfs:  dags  -fstype=fuse3,ctl=<dir>/ctl/dags,pidfile=<dir>/run/dags.pid  :<faultfs>\#<dir>/backing/dags
// automount runs `mount -t fuse3`, and mount.fuse3 splits "<faultfs>#<backing>" and runs
// `<faultfs> <backing> <mountpoint> -o rw,ctl=...,pidfile=...,dev,suid`.
//
// Measured on Debian 12 (autofs 5.1.8, fuse3 3.14, kernel 6.18), and relied on by the tests:
// - Accessing <root>/dags mounts it: mountinfo shows fstype 'fuse.faultfs', source
//   'faultfs:<dir>/backing/dags', parent = the 'autofs' mount at <root>.
// - `umount -l <root>/dags` then another access mounts it afresh (new faultfs process; automount
//   logs "attempting to mount entry" again). The mount ID is new only while the detached mount is
//   still referenced (an open file, a cwd, a hung caller); once it is freed the kernel hands the
//   same ID out again, so a mount ID alone does not tell a remount from the old mount.
// - If the FUSE mount fails (e.g. the backing dir is missing, so faultfs exits 1) the access fails
//   with ENOENT, and automount caches the failure: for the negative timeout (default 60 s;
//   `-n N` sets it; `-n 0` means the default, not "off") every access fails with ENOENT at once,
//   without another mount attempt. With `-n 1` the next attempt happens after 1-2 s.
// - autofs never triggers for processes in automount's own process group (they see the bare
//   directory, ENOENT): automount must be started detached (setsid), or the test process itself
//   could not trigger mounts.
// - On SIGTERM automount expires and unmounts what it mounted, then the autofs mount, and exits.
//   Unmounting runs umount(8), which stats the mountpoint and would hang on a hung faultfs, so
//   stop() aborts and lazily unmounts the FUSE mounts first.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildFaultfs,
  detachMount,
  fuseAvailable,
  isAlive,
  kernelFilesystems,
  killProcessesMentioning,
  findMount,
  mountsUnder,
  readPidFile,
  removeTempDir,
  trackTempDir,
  untrackTempDir,
  waitFor,
  writeMode,
  DEFAULT_BACKING_FILES,
  type FaultMode,
  type MountEntry,
} from './faultfs.js';
import { findExecutable, type Availability } from './tools.js';

let autofsAvailability: Availability | undefined;

/**
 * Whether autofs integration tests can run here: everything fuseAvailable() needs, plus
 * `automount` (Debian: autofs), mount.fuse3 (Debian: fuse3) and the kernel's autofs filesystem.
 * Cached. Each failure says what is missing and its kind, as fuseAvailable()'s do.
 */
export function autofsAvailable(): Availability {
  autofsAvailability ??= checkAutofs();
  return autofsAvailability;
}

function checkAutofs(): Availability {
  const fuse = fuseAvailable();
  if (!fuse.ok) return fuse;
  const tools = { automount: 'autofs', 'mount.fuse3': 'fuse3' };
  for (const [tool, pkg] of Object.entries(tools)) {
    const reason = `${tool} not found (Debian: apt-get install ${pkg})`;
    if (!findExecutable(tool)) return { ok: false, missing: tool, kind: 'install', reason };
  }
  if (!fs.existsSync('/dev/autofs') && !kernelFilesystems().has('autofs')) {
    // Some kernels here are built without it; the e2e VM's own kernel covers autofs then.
    const reason = 'the kernel has no autofs filesystem (/dev/autofs missing; modprobe autofs4)';
    return { ok: false, missing: 'autofs', kind: 'kernel', reason };
  }
  return { ok: true };
}

export interface AutofsOptions {
  /** Parent directory for the temp dir (default os.tmpdir()). */
  dir?: string;
  /** Idle time before automount unmounts a key (--timeout in the master map; default 60). */
  timeoutSec?: number;
  /** How long a failed mount is cached (automount -n; default 1, the smallest: 0 means 60). */
  negativeTimeoutSec?: number;
  /** Extra mount options for every key, e.g. 'allow_other'. */
  mountOptions?: string;
}

export interface AutofsHandle<K extends string> {
  /** The temp dir holding maps, backing dirs, control and pid files. */
  dir: string;
  /** The autofs (indirect) mount point: <dir>/auto. */
  root: string;
  /** <root>/<key> for each key: accessing one mounts faultfs there. */
  paths: Record<K, string>;
  /** Backing dir of a key (<dir>/backing/<key>); remove it to make the next mount fail. */
  backingDir(key: K): string;
  /** Control file of a key's faultfs (<dir>/ctl/<key>). */
  ctlFile(key: K): string;
  /** Pid of the faultfs currently serving the key, if it is mounted and alive. */
  serverPid(key: K): number | undefined;
  /** The mountinfo entry at <root>/<key>, if mounted (reads /proc/self/mountinfo only). */
  mountOf(key: K): MountEntry | undefined;
  /** Writes the key's control file; applies to the current and to future mounts of the key. */
  setMode(key: K, mode: FaultMode): void;
  /** automount's pid. */
  automountPid: number;
  /** automount's output so far (-v: one line per mount attempt, failure and expiry). */
  log(): string;
  /**
   * Unmounts everything (aborting FUSE connections first), ends automount (SIGTERM, then
   * SIGKILL after 5 s), kills leftover faultfs servers and removes the temp dir. Never hangs;
   * idempotent; rejects (after doing all it can) if something was left behind.
   */
  stop(): Promise<void>;
}

/** automount keeps a fifo per autofs mount, /run/autofs.fifo-<mount path with '/' as '-'>. */
function removeAutofsFifo(root: string): void {
  const fifo = `autofs.fifo-${root.slice(1).replaceAll('/', '-')}`;
  fs.rmSync(path.join('/run', fifo), { force: true });
}

// Paths go into a sun-format map line and an -o option list unquoted: keep them plain.
const PLAIN_PATH = /^[\w./@+-]+$/;
const PLAIN_KEY = /^[\w.-]+$/;

/** Starts automount with an indirect map whose keys mount faultfs; resolves once <root> is an autofs mount. */
export async function startAutofs<K extends string>(keys: readonly K[], opts: AutofsOptions = {}): Promise<AutofsHandle<K>> {
  const avail = autofsAvailable();
  if (!avail.ok) throw new Error(`autofs unavailable: ${avail.reason}`);
  const bin = buildFaultfs();
  for (const key of keys) if (!PLAIN_KEY.test(key)) throw new Error(`autofs key ${JSON.stringify(key)}: use [A-Za-z0-9_.-]`);

  const parent = fs.realpathSync(opts.dir ?? os.tmpdir());
  const dir = fs.mkdtempSync(path.join(parent, 'autofs-'));
  for (const p of [bin, dir]) if (!PLAIN_PATH.test(p)) throw new Error(`path ${p} has characters a map entry would need quoted`);
  const root = path.join(dir, 'auto');
  trackTempDir(dir, () => removeAutofsFifo(root));

  const backingDir = (key: K) => path.join(dir, 'backing', key);
  const ctlFile = (key: K) => path.join(dir, 'ctl', key);
  const pidFile = (key: K) => path.join(dir, 'run', `${key}.pid`);
  const masterMap = path.join(dir, 'auto.master');
  const map = path.join(dir, 'auto.faultfs');
  const logFile = path.join(dir, 'automount.log');
  for (const sub of ['auto', 'backing', 'ctl', 'run']) fs.mkdirSync(path.join(dir, sub));

  const lines: string[] = [];
  for (const key of keys) {
    fs.mkdirSync(backingDir(key));
    for (const [name, content] of Object.entries(DEFAULT_BACKING_FILES)) {
      fs.writeFileSync(path.join(backingDir(key), name), content);
    }
    writeMode(ctlFile(key), 'ok');
    const options = ['-fstype=fuse3', `ctl=${ctlFile(key)}`, `pidfile=${pidFile(key)}`];
    if (opts.mountOptions) options.push(opts.mountOptions);
    // '#' starts a comment in a map: escape the one mount.fuse3 needs between program and source.
    lines.push(`${key} ${options.join(',')} :${bin}\\#${backingDir(key)}`);
  }
  // 0644, not executable: automount runs executable map files as program maps.
  fs.writeFileSync(map, lines.join('\n') + '\n', { mode: 0o644 });
  fs.writeFileSync(masterMap, `${root} ${map} --timeout=${opts.timeoutSec ?? 60}\n`, { mode: 0o644 });

  const logFd = fs.openSync(logFile, 'w');
  let child: ChildProcess;
  try {
    // -f: stay in the foreground (our child, logging to logFile); -C: other automount daemons
    // (e.g. the system's) are no reason to refuse; detached: own process group, see above.
    child = spawn(findExecutable('automount') ?? 'automount', ['-f', '-v', '-C', '-n', String(opts.negativeTimeoutSec ?? 1), masterMap], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    fs.closeSync(logFd);
  }
  let exited = false;
  child.on('exit', () => (exited = true));
  child.on('error', () => (exited = true));
  const log = () => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  const paths = Object.fromEntries(keys.map((k) => [k, path.join(root, k)])) as Record<K, string>;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const problems: string[] = [];
      for (const key of keys) {
        try {
          writeMode(ctlFile(key), 'ok');
        } catch {
          // keep going
        }
      }
      // FUSE mounts first: automount's own umount(8) would stat them, and hang if they are hung.
      for (const m of mountsUnder(root)) {
        if (m.mountPoint !== root && !(await detachMount(m.mountPoint))) problems.push(`${m.mountPoint} is still mounted`);
      }
      if (child.pid !== undefined && !exited) {
        child.kill('SIGTERM');
        if (!(await waitFor(() => exited, 5_000))) {
          child.kill('SIGKILL');
          if (!(await waitFor(() => exited, 2_000))) problems.push(`automount pid ${child.pid} did not exit`);
        }
      }
      // Whatever automount left (it was killed, or a key got remounted meanwhile).
      for (const m of mountsUnder(root)) {
        if (!(await detachMount(m.mountPoint))) problems.push(`${m.mountPoint} is still mounted`);
      }
      for (const pid of killProcessesMentioning(dir)) {
        if (!(await waitFor(() => !isAlive(pid), 3_000))) problems.push(`pid ${pid} did not exit`);
      }
      removeAutofsFifo(root); // automount removes its own unless it had to be SIGKILLed
      try {
        removeTempDir(dir);
        untrackTempDir(dir);
      } catch (err) {
        problems.push((err as Error).message);
      }
      if (problems.length > 0) throw new Error(`autofs stop: ${problems.join('; ')}\n${log()}`);
    })();
    return stopped;
  };

  const up = await waitFor(() => exited || findMount(root)?.fstype === 'autofs', 10_000);
  if (!up || exited || child.pid === undefined) {
    const out = log();
    await stop().catch(() => undefined);
    throw new Error(`automount did not mount ${root} (${exited ? 'it exited' : 'timed out'}):\n${out}`);
  }

  return {
    dir,
    root,
    paths,
    backingDir,
    ctlFile,
    serverPid: (key) => {
      const pid = readPidFile(pidFile(key));
      return pid !== undefined && findMount(paths[key]) && isAlive(pid) ? pid : undefined;
    },
    mountOf: (key) => findMount(paths[key]),
    setMode: (key, mode) => writeMode(ctlFile(key), mode),
    automountPid: child.pid,
    log,
    stop,
  };
}
