// Harness for test/faultfs/faultfs: a real FUSE filesystem that fails like a broken NFS server.
//
// Rules this file keeps, because a test may be stopped half-way through a hang:
// - the test process never touches a mountpoint that may hang (no stat, no readdir, no rm -r
//   into it): it reads /proc/self/mountinfo, and file system access goes through child processes;
// - a child process that may touch a mount is awaited with a timeout and never synchronously (a
//   child stuck in D state cannot be killed, and spawnSync would wait for it forever); spawnSync
//   only runs make, `mount -t fusectl` and, in the exit-time safety net, `umount -l`;
// - unmounting uses `umount -l` (util-linux does not stat the target for -l/-f; plain `umount`
//   stats it and hangs) after aborting the FUSE connection through fusectl.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Availability } from './tools.js';

/**
 * What the control file can say; see test/faultfs/faultfs.c. Hangs last until the mode changes
 * (or the connection is aborted), unless /proc/sys/fs/fuse/default_request_timeout (kernel 6.14+,
 * 0 = off) makes the kernel give up on its own.
 */
export type FaultMode =
  | 'ok'
  | 'estale'
  | 'eio'
  | 'eacces'
  | 'enotconn'
  | 'etimedout'
  | 'hang'
  | 'hang_killable'
  /** A failover: servers mounted before it was written answer ESTALE, later ones pass through. */
  | 'stale'
  | `delay:${number}`;

/** Errno modes and the errno (positive) each makes every operation fail with. */
export const ERRNO_MODES = {
  estale: os.constants.errno.ESTALE,
  eio: os.constants.errno.EIO,
  eacces: os.constants.errno.EACCES,
  enotconn: os.constants.errno.ENOTCONN,
  etimedout: os.constants.errno.ETIMEDOUT,
} as const satisfies Partial<Record<FaultMode, number>>;

/** Filesystem type of a faultfs mount in /proc/self/mountinfo, however it was started. */
export const FAULTFS_FSTYPE = 'fuse.faultfs';

export type { Availability };

const FAULTFS_DIR = locateFaultfsDir();

function locateFaultfsDir(): string {
  const besideHelpers = path.resolve(import.meta.dirname, '..', 'faultfs');
  if (fs.existsSync(path.join(besideHelpers, 'Makefile'))) return besideHelpers;
  // Compiled copy under dist/: use the sources of the checkout we run in.
  return path.resolve(process.cwd(), 'test', 'faultfs');
}

// ---------------------------------------------------------------------------------------------
// Availability and build

let fuseAvailability: Availability | undefined;
let builtBinary: string | undefined;

/**
 * Whether FUSE integration tests can run here: root, /dev/fuse, the kernel's fuse filesystem, and
 * a faultfs binary that builds (gcc, make, libfuse3-dev). Cached. Each failure says what is missing
 * and its kind (a failed build is a broken install step; the rest are skips): guard tests with
 * `requires(prerequisite('FUSE', fuseAvailable(), 'kernel'))` (test/helpers/prerequisite.ts).
 */
export function fuseAvailable(): Availability {
  fuseAvailability ??= checkFuse();
  return fuseAvailability;
}

function checkFuse(): Availability {
  const kernel = (missing: string, reason: string): Availability => ({ ok: false, missing, kind: 'kernel', reason });
  if (process.platform !== 'linux') return kernel('Linux', `FUSE tests need Linux, not ${process.platform}`);
  const root = process.getuid?.() === 0;
  if (!root) return { ok: false, missing: 'root', kind: 'privilege', reason: 'FUSE tests need root (mount, umount, fusectl)' };
  if (!fs.existsSync('/dev/fuse')) return kernel('/dev/fuse', '/dev/fuse is missing (no fuse kernel module?)');
  try {
    // A container may list the node but not let us open it (no device access): no mount would work.
    fs.closeSync(fs.openSync('/dev/fuse', 'r+'));
  } catch (err) {
    return kernel('/dev/fuse', `/dev/fuse cannot be opened: ${(err as Error).message}`);
  }
  if (!kernelFilesystems().has('fuse')) {
    return kernel('FUSE', "the kernel lists no 'fuse' filesystem in /proc/filesystems (modprobe fuse)");
  }
  try {
    buildFaultfs();
  } catch (err) {
    return {
      ok: false,
      missing: 'faultfs build',
      kind: 'install',
      reason: `cannot build test/faultfs (Debian: apt-get install libfuse3-dev fuse3 pkg-config make gcc): ${(err as Error).message}`,
    };
  }
  return { ok: true };
}

/** Filesystem types the running kernel knows (/proc/filesystems). */
export function kernelFilesystems(): Set<string> {
  try {
    const lines = fs.readFileSync('/proc/filesystems', 'utf8').split('\n');
    return new Set(lines.map((l) => l.split('\t').pop()?.trim() ?? '').filter(Boolean));
  } catch {
    return new Set();
  }
}

/** Runs `make -C test/faultfs` (once per process) and returns the absolute path of the binary. */
export function buildFaultfs(): string {
  if (builtBinary) return builtBinary;
  // make cannot hang on a mount, so a synchronous run is safe here.
  const r = spawnSync('make', ['-s', '-C', FAULTFS_DIR], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw new Error(`make: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`make -C ${FAULTFS_DIR} failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  const bin = path.join(FAULTFS_DIR, 'faultfs');
  fs.accessSync(bin, fs.constants.X_OK);
  builtBinary = bin;
  return bin;
}

// ---------------------------------------------------------------------------------------------
// /proc/self/mountinfo (a small reader for the harness; the product has its own parser)

/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  /** Mount ID. The kernel reuses IDs of mounts that are gone, so equal IDs may be different mounts. */
  id: number;
  parentId: number;
  /** st_dev of the filesystem; for FUSE, identifies the connection (see fuseConnectionId). */
  major: number;
  minor: number;
  root: string;
  mountPoint: string;
  mountOptions: string;
  fstype: string;
  source: string;
  superOptions: string;
}

const unescapeMountinfo = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

/** Parses /proc/self/mountinfo (never touches the mounts themselves, so it cannot hang). */
export function readMountinfo(file = '/proc/self/mountinfo'): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    const f = left?.split(' ') ?? [];
    const r = right?.split(' ') ?? [];
    const [major, minor] = (f[2] ?? '').split(':').map(Number);
    if (f.length < 6 || r.length < 3 || major === undefined || minor === undefined) continue;
    entries.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      major,
      minor,
      root: unescapeMountinfo(f[3] ?? ''),
      mountPoint: unescapeMountinfo(f[4] ?? ''),
      mountOptions: f[5] ?? '',
      fstype: r[0] ?? '',
      source: unescapeMountinfo(r[1] ?? ''),
      superOptions: r[2] ?? '',
    });
  }
  return entries;
}

/** The mount visible at `mountPoint` (the topmost if several are stacked), if any. */
export function findMount(mountPoint: string): MountEntry | undefined {
  return readMountinfo()
    .filter((m) => m.mountPoint === mountPoint)
    .pop();
}

/** Mounts at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): MountEntry[] {
  return readMountinfo()
    .filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(dir + '/'))
    .reverse();
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface RunResult {
  /** The child's pid (undefined if it could not be spawned). */
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The command did not finish in time: it was sent SIGKILL and abandoned (it may be in D state). */
  timedOut: boolean;
}

/**
 * Runs a command and resolves when it exits or after `timeoutMs`, whichever comes first. On
 * timeout the child gets SIGKILL but is not waited for: in D state it cannot die until the file
 * system answers. Never rejects; a spawn failure comes back as code null with the error in stderr.
 */
export function runBounded(cmd: string, args: string[], timeoutMs = 5_000, options: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    const finish = (code: number | null, signal: NodeJS.Signals | null, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ pid: child.pid, code, signal, stdout, stderr, timedOut });
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      child.unref();
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish(null, null, true);
    }, timeoutMs);
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      stderr += err.message;
      finish(null, null, false);
    });
    // 'close' waits for the pipes; a daemon that kept them open must not hold us up.
    child.on('close', (code, signal) => finish(code, signal, false));
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal, false), 200).unref());
  });
}

/** Polls `cond` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function waitFor(cond: () => boolean, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** State letter from /proc/PID/stat (R, S, D, Z, ...), or undefined if there is no such process. */
export function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const s = processState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

/**
 * Whether the process sleeps waiting for a FUSE answer: /proc/PID/wchan (or the kernel stack)
 * names request_wait_answer or fuse_lock_inode (the per-directory lock behind a hung lookup).
 */
export function blockedInFuse(pid: number): boolean {
  const state = processState(pid);
  if (state !== 'S' && state !== 'D') return false;
  const where = [`/proc/${pid}/wchan`, `/proc/${pid}/stack`].map((f) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  });
  return where.some((w) => /request_wait_answer|fuse/.test(w));
}

/** SIGKILLs every process whose command line mentions `needle` (e.g. a test's temp dir). */
export function killProcessesMentioning(needle: string, signal: NodeJS.Signals = 'SIGKILL'): number[] {
  const killed: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) {
        process.kill(pid, signal);
        killed.push(pid);
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return killed;
}

/** What a file system call made in a child process came to. */
export type ChildFsResult =
  /** readdir: sorted entries; readFile: content (utf8); stat: dev and ino. */
  | { kind: 'ok'; entries?: string[]; content?: string; dev?: number; ino?: number }
  /** `errno` is Node's (negative): compare with `-os.constants.errno.X`. Node's `code` for ESTALE
   *  is 'Unknown system error -116', so prefer errno. */
  | { kind: 'error'; errno: number; code: string; message: string }
  /** Still blocked after the timeout; it was sent SIGKILL (it may sit in D state a while). */
  | { kind: 'timeout'; pid: number };

const FS_CHILD_SCRIPT = `
const fs = require('node:fs');
const [op, p] = process.argv.slice(1);
let out;
try {
  if (op === 'readdir') out = { kind: 'ok', entries: fs.readdirSync(p).sort() };
  else if (op === 'readFile') out = { kind: 'ok', content: fs.readFileSync(p, 'utf8') };
  else { const st = fs.statSync(p); out = { kind: 'ok', dev: st.dev, ino: st.ino }; }
} catch (e) { out = { kind: 'error', errno: e.errno, code: e.code, message: e.message }; }
process.stdout.write(JSON.stringify(out));
`;

/**
 * `fs.readdirSync` / `fs.readFileSync` / `fs.statSync` on `target` in a child Node process, so a
 * hang never blocks the test process.
 */
export async function fsInChild(op: 'readdir' | 'readFile' | 'stat', target: string, timeoutMs = 5_000): Promise<ChildFsResult> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // the test runner's loaders have no business in the probe
  const r = await runBounded(process.execPath, ['-e', FS_CHILD_SCRIPT, op, target], timeoutMs, { env });
  if (r.timedOut) return { kind: 'timeout', pid: r.pid ?? -1 };
  try {
    return JSON.parse(r.stdout) as ChildFsResult;
  } catch {
    throw new Error(`fs child printed no result (code ${r.code}, signal ${r.signal}): ${r.stderr}`);
  }
}

/** `fs.readdirSync(dir)` in a child process; see fsInChild. */
export function readdirInChild(dir: string, timeoutMs = 5_000): Promise<ChildFsResult> {
  return fsInChild('readdir', dir, timeoutMs);
}

// ---------------------------------------------------------------------------------------------
// Control file, FUSE connections, unmounting

/** Writes a mode atomically (rename): faultfs re-reads the file on every request, and a
 *  half-written file would read as empty, i.e. `ok`. */
export function writeMode(ctlFile: string, mode: FaultMode): void {
  const tmp = `${ctlFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${mode}\n`);
  fs.renameSync(tmp, ctlFile);
}

const FUSECTL = '/sys/fs/fuse/connections';

/** Mounts fusectl on /sys/fs/fuse/connections if nobody has (systemd does; minimal systems don't). */
export function ensureFusectl(): boolean {
  if (readMountinfo().some((m) => m.mountPoint === FUSECTL && m.fstype === 'fusectl')) return true;
  const r = spawnSync('mount', ['-t', 'fusectl', 'fusectl', FUSECTL], { timeout: 5_000 });
  return r.status === 0;
}

/** fusectl's name for a FUSE connection: the kernel's dev_t of the mount (major << 20 | minor). */
export function fuseConnectionId(m: Pick<MountEntry, 'major' | 'minor'>): number {
  return m.major * 2 ** 20 + m.minor;
}

/**
 * Aborts a FUSE connection like `echo 1 > /sys/fs/fuse/connections/N/abort`: every pending and
 * future request fails (ECONNABORTED, then ENOTCONN), which also frees callers stuck in D state.
 * Returns false if it could not (not FUSE, no fusectl).
 */
export function abortFuseConnection(m: MountEntry): boolean {
  if (m.fstype !== 'fuse' && !m.fstype.startsWith('fuse.')) return false;
  if (!ensureFusectl()) return false;
  try {
    fs.writeFileSync(path.join(FUSECTL, String(fuseConnectionId(m)), 'abort'), '1');
    return true;
  } catch {
    return false; // connection already gone
  }
}

/**
 * Gets `mountPoint` out of the mount table without ever hanging: abort its FUSE connection
 * (falling back to `umount -f`, which aborts it too), then `umount -l`. Repeats for stacked mounts.
 * Returns whether nothing is mounted there any more.
 */
export async function detachMount(mountPoint: string): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    const m = findMount(mountPoint);
    if (!m) return true;
    if (!abortFuseConnection(m) && m.fstype.startsWith('fuse')) {
      await runBounded('umount', ['-f', mountPoint], 5_000);
    }
    await runBounded('umount', ['-l', mountPoint], 5_000);
  }
  return !findMount(mountPoint);
}

/** Synchronous last resort for process exit: abort FUSE, lazy-unmount, deepest first. */
export function detachMountsUnderSync(dir: string): void {
  for (const m of mountsUnder(dir)) {
    abortFuseConnection(m);
    spawnSync('umount', ['-l', m.mountPoint], { timeout: 5_000 });
  }
}

/** Removes a test's temp dir, refusing while anything is still mounted in it (rm would walk in). */
export function removeTempDir(dir: string): void {
  const left = mountsUnder(dir);
  if (left.length > 0) {
    throw new Error(`not removing ${dir}: still mounted: ${left.map((m) => m.mountPoint).join(', ')}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

// Safety net: a test that forgot to clean up, or a run that was interrupted, must not leave
// mounts and servers behind. Vitest ends its fork workers with SIGTERM, which skips 'exit'.
const liveTempDirs = new Map<string, (() => void) | undefined>();
let exitHooksInstalled = false;

function emergencyCleanup(): void {
  for (const [d, extra] of liveTempDirs) {
    try {
      detachMountsUnderSync(d);
      killProcessesMentioning(d);
      extra?.();
      removeTempDir(d);
    } catch {
      // best effort: the process is going away anyway
    }
  }
  liveTempDirs.clear();
}

/**
 * Registers a temp dir whose mounts, processes and files are removed if the process ends first
 * (exit, SIGTERM, SIGINT, SIGHUP; not SIGKILL). `extra` runs after the processes are killed.
 */
export function trackTempDir(dir: string, extra?: () => void): void {
  liveTempDirs.set(dir, extra);
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', emergencyCleanup);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      emergencyCleanup();
      // Then die of the signal as we would have, unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

export function untrackTempDir(dir: string): void {
  liveTempDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------
// A faultfs mount

export interface FaultMount {
  /** The temp dir holding everything below (realpath'd, under os.tmpdir() or opts.dir). */
  dir: string;
  /** <dir>/mnt: where faultfs is mounted. */
  mountpoint: string;
  /** <dir>/backing: the directory faultfs passes through to (example_dag.py, README.txt). */
  backing: string;
  /** <dir>/ctl: the control file (see setMode). */
  ctlFile: string;
  /** The faultfs server process (daemonized; not our child). */
  pid: number;
  /** As shown in mountinfo: 'fuse.faultfs'. */
  fstype: string;
  /** Mount ID at mount time (IDs are recycled once a mount is gone). */
  mountId: number;
  /** The command that mounted it: run again once it is unmounted, it mounts the same filesystem there. */
  command: string[];
  /** Switches the fault mode; takes effect on the next request, and within ~50 ms for hung ones. */
  setMode(mode: FaultMode): void;
  /** SIGKILLs the server, like a vanished NFS server: callers then get ENOTCONN. */
  kill(): void;
  /**
   * Tears everything down and never hangs, even mid-hang: mode ok, abort the FUSE connection,
   * `umount -l`, kill the server, remove the temp dir. Idempotent. Rejects (after doing all it
   * can) if something was left behind.
   */
  cleanup(): Promise<void>;
}

export interface MountFaultfsOptions {
  /** Parent directory for the temp dir (default os.tmpdir()). */
  dir?: string;
  /** Files to create in the backing dir (default: example_dag.py and README.txt). */
  files?: Record<string, string>;
  /** Extra -o options for faultfs, e.g. 'allow_other'. */
  mountOptions?: string;
}

export const DEFAULT_BACKING_FILES: Readonly<Record<string, string>> = {
  'example_dag.py': 'from airflow import DAG\n',
  'README.txt': 'served by faultfs\n',
};

/** The pid in a pidfile, or undefined if it is missing or empty. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Mounts faultfs over a fresh temp dir in mode `ok`, and waits until mountinfo shows it. */
export async function mountFaultfs(opts: MountFaultfsOptions = {}): Promise<FaultMount> {
  const avail = fuseAvailable();
  if (!avail.ok) throw new Error(`FUSE unavailable: ${avail.reason}`);
  const bin = buildFaultfs();

  // realpath: mountinfo shows resolved paths, and `umount -l` must get exactly that string.
  const parent = fs.realpathSync(opts.dir ?? os.tmpdir());
  const dir = fs.mkdtempSync(path.join(parent, 'faultfs-'));
  const mountpoint = path.join(dir, 'mnt');
  const backing = path.join(dir, 'backing');
  const ctlFile = path.join(dir, 'ctl');
  const pidFile = path.join(dir, 'faultfs.pid');
  fs.mkdirSync(mountpoint);
  fs.mkdirSync(backing);
  for (const [name, content] of Object.entries(opts.files ?? DEFAULT_BACKING_FILES)) {
    fs.writeFileSync(path.join(backing, name), content);
  }
  writeMode(ctlFile, 'ok');
  trackTempDir(dir);

  let pid: number | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaned ??= (async () => {
      const problems: string[] = [];
      try {
        writeMode(ctlFile, 'ok');
      } catch {
        // the dir may be half gone already
      }
      if (!(await detachMount(mountpoint))) problems.push(`${mountpoint} is still mounted`);
      const servers = killProcessesMentioning(dir);
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
      for (const p of [...servers, ...(pid === undefined ? [] : [pid])]) {
        if (!(await waitFor(() => !isAlive(p), 3_000))) problems.push(`faultfs pid ${p} did not exit`);
      }
      try {
        removeTempDir(dir);
        untrackTempDir(dir);
      } catch (err) {
        problems.push((err as Error).message);
      }
      if (problems.length > 0) throw new Error(`faultfs cleanup: ${problems.join('; ')}`);
    })();
    return cleaned;
  };

  const optionList = [`ctl=${ctlFile}`, `pidfile=${pidFile}`, ...(opts.mountOptions ? [opts.mountOptions] : [])];
  const run = await runBounded(bin, [backing, mountpoint, '-o', optionList.join(',')], 10_000);
  const mounted = await waitFor(() => findMount(mountpoint)?.fstype === FAULTFS_FSTYPE, 5_000);
  const ready = mounted && (await waitFor(() => (pid = readPidFile(pidFile)) !== undefined, 5_000));
  const entry = findMount(mountpoint);
  if (run.code !== 0 || !ready || !entry || pid === undefined) {
    await cleanup().catch(() => undefined);
    throw new Error(
      `faultfs did not mount on ${mountpoint} (exit ${run.code ?? run.signal}${run.timedOut ? ', timed out' : ''}, ` +
        `mounted: ${mounted}, pid: ${pid}): ${run.stderr.trim()}`,
    );
  }
  const serverPid = pid;

  return {
    dir,
    mountpoint,
    backing,
    ctlFile,
    pid: serverPid,
    fstype: entry.fstype,
    mountId: entry.id,
    command: [bin, backing, mountpoint, '-o', optionList.join(',')],
    setMode: (mode) => writeMode(ctlFile, mode),
    kill: () => {
      if (isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
    },
    cleanup,
  };
}
