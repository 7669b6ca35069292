// recovery.namespace for real, without a container: a runner inside a private mount namespace
// (unshare -m, as a sandboxed unit or a container gets) unmounts only its own copy — unless it
// runs the command through nsenter into the namespace that holds the real mount.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { built, executable, prerequisite, requires, runningAsRoot, skips } from '../helpers/prerequisite.js';

const RUNNER = join(import.meta.dirname, '..', '..', 'dist', 'src', 'exec', 'runner.js');
const root = runningAsRoot('unshare --mount needs root');
const tools = [executable('unshare', 'util-linux'), executable('nsenter', 'util-linux')];
const unshare = prerequisite(
  'unshare --mount',
  !root.ok || !tools.every((t) => t.ok) || spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0,
  'privilege',
  'unshare --mount fails here, as root (no CAP_SYS_ADMIN: a container?)',
);
if (skips(root, ...tools, unshare)) console.warn('[namespace] skipped: needs root and unshare --mount (util-linux)');

const mountedHere = (path: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === path);

/** Runs the built runner in a new private mount namespace; returns its CommandOutcome. */
function runInPrivateNamespace(argv: string[], mountNamespace: string | null): { status: string; argv: string[]; exitCode: number | null } {
  const script = `
    import { createRunner } from ${JSON.stringify(RUNNER)};
    import { systemClock } from ${JSON.stringify(RUNNER.replace('exec/runner.js', 'clock.js'))};
    const run = createRunner(systemClock, { mountNamespace: ${JSON.stringify(mountNamespace)} });
    console.log(JSON.stringify(await run(${JSON.stringify(argv)}, 5000)));
    process.exit(0);`;
  const out = execFileSync('unshare', ['--mount', '--propagation', 'private', process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as { status: string; argv: string[]; exitCode: number | null };
}

requires(root, ...tools, unshare, built()).describe('recovery in another mount namespace (nsenter)', () => {
  let dir: string;
  let target: string;
  let host: ChildProcess;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-ns-'));
    target = join(dir, 'share');
    mkdirSync(target);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', target]);
    // A process that stays in this (the "host") namespace: its /proc/PID/ns/mnt is the way in.
    host = spawn('sleep', ['600'], { stdio: 'ignore' });
  });

  afterEach(() => {
    host.kill('SIGKILL');
    if (mountedHere(target)) execFileSync('umount', ['-l', target]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('without it, an unmount from a private namespace succeeds there and leaves the host mount in place', () => {
    const o = runInPrivateNamespace(['umount', target], null);
    expect(o).toMatchObject({ status: 'ok', exitCode: 0, argv: ['umount', target] });
    expect(mountedHere(target)).toBe(true);
  });

  it('with it, the same unmount runs in the host namespace and the host mount is gone', () => {
    const ns = `/proc/${host.pid}/ns/mnt`;
    const o = runInPrivateNamespace(['umount', target], ns);
    expect(o).toMatchObject({ status: 'ok', exitCode: 0, argv: ['nsenter', `--mount=${ns}`, '--', 'umount', target] });
    expect(mountedHere(target)).toBe(false);
  });
});
