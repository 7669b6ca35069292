// The faultfs fixture and its harnesses against the real kernel: FUSE, umount(8), autofs.
// These facts are what the daemon's integration tests build on, so they are asserted here.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { autofsAvailable, startAutofs, type AutofsHandle } from '../helpers/autofs.js';
import {
  blockedInFuse,
  DEFAULT_BACKING_FILES,
  ERRNO_MODES,
  FAULTFS_FSTYPE,
  findMount,
  fsInChild,
  fuseAvailable,
  isAlive,
  mountFaultfs,
  mountsUnder,
  processState,
  readdirInChild,
  runBounded,
  waitFor,
  type FaultMode,
  type FaultMount,
} from '../helpers/faultfs.js';
import { prerequisite, requires, skips } from '../helpers/prerequisite.js';

const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(fuse)) console.warn(`[faultfs] FUSE tests skipped: ${fuse.reason}`);
const autofs = prerequisite('autofs', autofsAvailable(), 'kernel');
if (skips(autofs)) console.warn(`[faultfs] autofs tests skipped: ${autofs.reason}`);

const { ENOTCONN, EINVAL } = os.constants.errno;
const BACKING_ENTRIES = Object.keys(DEFAULT_BACKING_FILES).sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tracked {
  pid: number;
  /** Exit code/signal once exited. */
  result(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves with the exit, or undefined after timeoutMs. */
  exit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
}

// Children that may block on the mount; whatever a test leaves, afterEach kills.
const children: Tracked[] = [];

async function spawnTracked(cmd: string, args: string[], cwd?: string): Promise<Tracked> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(cwd ? { cwd } : {}) });
  let result: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<typeof result>((resolve) => child.on('exit', (code, signal) => resolve((result = { code, signal }))));
  await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  const t: Tracked = {
    pid: child.pid!,
    result: () => result,
    exit: (ms) => Promise.race([exited, sleep(ms).then(() => undefined)]),
    stderr: () => stderr,
    kill: (signal) => void child.kill(signal),
  };
  children.push(t);
  return t;
}

/** Starts `ls dir` and waits until it sits in the kernel waiting for the FUSE server. */
async function blockedLs(dir: string): Promise<Tracked> {
  const ls = await spawnTracked('ls', [dir]);
  expect(await waitFor(() => blockedInFuse(ls.pid), 3_000), `ls ${dir} never blocked in FUSE`).toBe(true);
  return ls;
}

function killChildren(): void {
  for (const c of children.splice(0)) if (!c.result()) c.kill('SIGKILL');
}

requires(fuse).describe('faultfs (real FUSE mount)', () => {
  let m: FaultMount;

  beforeEach(async () => {
    m = await mountFaultfs();
  });

  afterEach(async () => {
    try {
      await m.cleanup();
    } finally {
      killChildren();
    }
    expect(findMount(m.mountpoint)).toBeUndefined();
    expect(isAlive(m.pid)).toBe(false);
    expect(fs.existsSync(m.dir)).toBe(false);
  });

  it('mounts as fuse.faultfs and passes reads and writes through in mode ok', async () => {
    const entry = findMount(m.mountpoint);
    expect(m.fstype).toBe(FAULTFS_FSTYPE);
    expect(entry).toMatchObject({ fstype: 'fuse.faultfs', source: `faultfs:${m.backing}`, major: 0 });
    expect(await readdirInChild(m.mountpoint)).toEqual({ kind: 'ok', entries: BACKING_ENTRIES });
    expect(await fsInChild('readFile', path.join(m.mountpoint, 'example_dag.py'))).toEqual({
      kind: 'ok',
      content: DEFAULT_BACKING_FILES['example_dag.py'],
    });
    const write = await runBounded('sh', ['-c', 'echo written > "$1/new.txt"', 'sh', m.mountpoint]);
    expect(write.code).toBe(0);
    expect(fs.readFileSync(path.join(m.backing, 'new.txt'), 'utf8')).toBe('written\n');
    // st_dev of the root is the device number mountinfo shows (glibc's makedev encoding).
    const { major, minor } = entry!;
    const dev = (minor & 0xff) + (major & 0xfff) * 2 ** 8 + (minor >>> 8) * 2 ** 20 + (major >>> 12) * 2 ** 32;
    expect(await fsInChild('stat', m.mountpoint)).toMatchObject({ kind: 'ok', dev });
  });

  it.each(Object.entries(ERRNO_MODES))('%s: readdir, stat of the root and reads fail with errno %i; ok recovers', async (mode, errno) => {
    m.setMode(mode as FaultMode);
    expect(await readdirInChild(m.mountpoint)).toMatchObject({ kind: 'error', errno: -errno });
    expect(await fsInChild('stat', m.mountpoint)).toMatchObject({ kind: 'error', errno: -errno });
    expect(await fsInChild('readFile', path.join(m.mountpoint, 'example_dag.py'))).toMatchObject({ kind: 'error', errno: -errno });
    m.setMode('ok');
    expect(await readdirInChild(m.mountpoint)).toEqual({ kind: 'ok', entries: BACKING_ENTRIES });
  });

  it('an unknown mode fails every operation with EINVAL, so typos show', async () => {
    fs.writeFileSync(m.ctlFile, 'hnag\n');
    expect(await readdirInChild(m.mountpoint)).toMatchObject({ kind: 'error', errno: -EINVAL });
  });

  it('delay:MS answers every operation after MS', async () => {
    m.setMode('delay:300');
    const t0 = Date.now();
    expect(await readdirInChild(m.mountpoint, 10_000)).toEqual({ kind: 'ok', entries: BACKING_ENTRIES });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });

  it.each(['SIGKILL', 'SIGTERM'] as const)('hang_killable: a blocked caller ends within 1 s of %s', async (signal) => {
    m.setMode('hang_killable');
    const ls = await blockedLs(m.mountpoint);
    await sleep(300);
    expect(ls.result()).toBeUndefined(); // still blocked
    const t0 = Date.now();
    ls.kill(signal);
    expect(await ls.exit(2_000)).toEqual({ code: null, signal });
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('hang: a signalled caller stays in D state until the mode changes, then finishes', async () => {
    m.setMode('hang');
    const ls = await blockedLs(m.mountpoint);
    expect(processState(ls.pid)).toBe('S'); // FUSE waits interruptibly until a signal comes
    ls.kill('SIGTERM');
    expect(await waitFor(() => processState(ls.pid) === 'D', 5_000)).toBe(true);
    ls.kill('SIGKILL');
    await sleep(500);
    expect(processState(ls.pid)).toBe('D'); // not even SIGKILL: the server read the request
    m.setMode('ok');
    expect(await ls.exit(2_000)).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('kill(): a vanished server leaves the mount in place and callers get ENOTCONN', async () => {
    m.kill();
    expect(await waitFor(() => !isAlive(m.pid), 2_000)).toBe(true);
    expect(await readdirInChild(m.mountpoint)).toMatchObject({ kind: 'error', errno: -ENOTCONN });
    expect(await fsInChild('stat', m.mountpoint)).toMatchObject({ kind: 'error', errno: -ENOTCONN });
    expect(findMount(m.mountpoint)?.fstype).toBe(FAULTFS_FSTYPE);
  });

  it('hung mount: plain umount hangs (it stats the mountpoint), umount -l detaches at once', async () => {
    m.setMode('hang');
    const plain = await runBounded('umount', [m.mountpoint], 1_500);
    expect(plain.timedOut).toBe(true);
    // SIGKILLed, yet stuck in the stat: the FUSE request was already read by the server.
    expect(await waitFor(() => processState(plain.pid!) === 'D', 1_000)).toBe(true);
    expect(blockedInFuse(plain.pid!)).toBe(true);
    expect(findMount(m.mountpoint)).toBeDefined();

    const t0 = Date.now();
    const lazy = await runBounded('umount', ['-l', m.mountpoint], 5_000);
    expect(lazy).toMatchObject({ code: 0, timedOut: false });
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(findMount(m.mountpoint)).toBeUndefined();
    // The detached mount still holds the stuck umount; once the server answers, it dies.
    m.setMode('ok');
    expect(await waitFor(() => !isAlive(plain.pid!), 2_000)).toBe(true);
  });

  it('hung mount: umount -f aborts the connection, failing blocked callers with ECONNABORTED', async () => {
    m.setMode('hang');
    const ls = await blockedLs(m.mountpoint);
    const t0 = Date.now();
    // EBUSY (exit 32) while the caller still holds the mount, but the abort has happened.
    const force = await runBounded('umount', ['-f', m.mountpoint], 5_000);
    expect(force.timedOut).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await ls.exit(1_000)).toEqual({ code: 2, signal: null });
    expect(ls.stderr()).toContain('Software caused connection abort');
    if (findMount(m.mountpoint)) {
      expect(await readdirInChild(m.mountpoint)).toMatchObject({ kind: 'error', errno: -ENOTCONN });
      expect((await runBounded('umount', ['-f', m.mountpoint], 5_000)).code).toBe(0);
    }
    expect(findMount(m.mountpoint)).toBeUndefined();
    expect(await waitFor(() => !isAlive(m.pid), 2_000)).toBe(true); // the server saw the abort
  });

  it('cleanup() copes with a server that never answers and a caller in D state', async () => {
    m.setMode('hang');
    const ls = await blockedLs(m.mountpoint);
    ls.kill('SIGKILL');
    expect(await waitFor(() => processState(ls.pid) === 'D', 1_000)).toBe(true);
    process.kill(m.pid, 'SIGSTOP'); // mode ok no longer helps: only the abort can free ls
    const t0 = Date.now();
    await m.cleanup();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await ls.exit(1_000)).toEqual({ code: null, signal: 'SIGKILL' });
    // afterEach checks that the mount, the server and the temp dir are gone.
  });
});

requires(autofs).describe('autofs (automount) in front of faultfs', () => {
  let a: AutofsHandle<'dags' | 'logs'>;

  beforeEach(async () => {
    a = await startAutofs(['dags', 'logs'] as const);
  });

  afterEach(async () => {
    try {
      await a.stop();
    } finally {
      killChildren();
    }
    expect(isAlive(a.automountPid)).toBe(false);
    expect(mountsUnder(a.dir)).toEqual([]);
    expect(fs.existsSync(a.dir)).toBe(false);
  });

  it('an access mounts the key with faultfs under the autofs mount', async () => {
    const root = findMount(a.root);
    expect(root?.fstype).toBe('autofs');
    expect(a.mountOf('dags')).toBeUndefined();
    expect(await readdirInChild(a.paths.dags)).toEqual({ kind: 'ok', entries: BACKING_ENTRIES });
    expect(a.mountOf('dags')).toMatchObject({
      fstype: FAULTFS_FSTYPE,
      source: `faultfs:${a.backingDir('dags')}`,
      parentId: root!.id,
    });
    expect(await waitFor(() => a.serverPid('dags') !== undefined, 2_000)).toBe(true);
    expect(a.mountOf('logs')).toBeUndefined(); // only what is accessed gets mounted
    a.setMode('dags', 'estale');
    expect(await readdirInChild(a.paths.dags)).toMatchObject({ kind: 'error', errno: -ERRNO_MODES.estale });
  });

  it('umount -l, then an access mounts the key afresh (new server, new mount ID)', async () => {
    expect(await readdirInChild(a.paths.dags)).toMatchObject({ kind: 'ok' });
    const first = a.mountOf('dags')!;
    expect(await waitFor(() => a.serverPid('dags') !== undefined, 2_000)).toBe(true);
    const firstPid = a.serverPid('dags')!;
    // Keep the detached mount referenced, as a hung caller would: only then does its mount ID
    // stay taken (the kernel reuses the IDs of freed mounts).
    const holder = await spawnTracked('sleep', ['60'], a.paths.dags);

    expect((await runBounded('umount', ['-l', a.paths.dags])).code).toBe(0);
    expect(a.mountOf('dags')).toBeUndefined();
    expect(await readdirInChild(a.paths.dags)).toEqual({ kind: 'ok', entries: BACKING_ENTRIES });
    const second = a.mountOf('dags');
    expect(second?.fstype).toBe(FAULTFS_FSTYPE);
    expect(second?.id).not.toBe(first.id);
    expect(await waitFor(() => (a.serverPid('dags') ?? firstPid) !== firstPid, 2_000)).toBe(true);
    expect(a.log().match(/attempting to mount entry .*\/dags$/gm)).toHaveLength(2);

    // The old server serves the detached mount until its last user is gone.
    expect(isAlive(firstPid)).toBe(true);
    holder.kill('SIGKILL');
    expect(await waitFor(() => !isAlive(firstPid), 3_000)).toBe(true);
  });

  it('stale: the mounted server answers ESTALE; the one autofs mounts after umount -l passes through', async () => {
    expect(await readdirInChild(a.paths.dags)).toMatchObject({ kind: 'ok' });
    await sleep(20); // the control file's mtime must come after the server's start
    a.setMode('dags', 'stale');
    expect(await readdirInChild(a.paths.dags)).toMatchObject({ kind: 'error', errno: -ERRNO_MODES.estale });
    expect((await runBounded('umount', ['-l', a.paths.dags])).code).toBe(0);
    expect(await readdirInChild(a.paths.dags)).toEqual({ kind: 'ok', entries: BACKING_ENTRIES });
  });

  it('a failed mount is ENOENT, cached for the negative timeout (-n 1), then retried', async () => {
    fs.rmSync(a.backingDir('logs'), { recursive: true }); // faultfs will refuse to start
    expect(await readdirInChild(a.paths.logs)).toMatchObject({ kind: 'error', code: 'ENOENT' });
    expect(a.log()).toMatch(/failed to mount .*\/logs$/m);
    fs.mkdirSync(a.backingDir('logs'));

    // Within the negative timeout: ENOENT again, without another mount attempt.
    expect(await readdirInChild(a.paths.logs)).toMatchObject({ kind: 'error', code: 'ENOENT' });
    const attempts = () => a.log().match(/attempting to mount entry .*\/logs$/gm)?.length ?? 0;
    expect(attempts()).toBe(1);

    const t0 = Date.now();
    let r = await readdirInChild(a.paths.logs);
    while (r.kind !== 'ok' && Date.now() - t0 < 5_000) {
      await sleep(100);
      r = await readdirInChild(a.paths.logs);
    }
    expect(r).toEqual({ kind: 'ok', entries: [] });
    expect(attempts()).toBe(2);
    expect(a.mountOf('logs')?.fstype).toBe(FAULTFS_FSTYPE);
  });

  it('stop() copes with a hung key and a caller stuck in D state', async () => {
    expect(await readdirInChild(a.paths.dags)).toMatchObject({ kind: 'ok' });
    a.setMode('dags', 'hang');
    const ls = await blockedLs(a.paths.dags);
    ls.kill('SIGKILL');
    expect(await waitFor(() => processState(ls.pid) === 'D', 1_000)).toBe(true);
    const server = a.serverPid('dags')!;
    process.kill(server, 'SIGSTOP'); // it will never answer: stop() has to abort
    const t0 = Date.now();
    await a.stop();
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await ls.exit(1_000)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(isAlive(server)).toBe(false);
  });
});
