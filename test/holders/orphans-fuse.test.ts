// Holders of a mount in no mount table, for real: a process holds a file open and runs a program
// from a faultfs mount, the mount is lazily unmounted, and a scan that knows of no mount finds the
// process through the daemon's scan thread.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { readOwnMountNamespace } from '../../src/holders/proc.js';
import { createThreadScanner } from '../../src/holders/scanner.js';
import { parseMountinfo, readMountTable } from '../../src/probe/mountinfo.js';
import { findMount, fuseAvailable, isAlive, mountFaultfs, runBounded, waitFor, type FaultMount } from '../helpers/faultfs.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';

const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(fuse)) console.warn(`[holders] orphan holder FUSE test skipped: ${fuse.reason}`);

const link = (path: string): string | null => {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
};

requires(fuse, built()).describe('holders of a lazily unmounted FUSE mount, found knowing no mount', () => {
  let mount: FaultMount | undefined;
  let holder: ChildProcess | undefined;

  afterEach(async () => {
    const pid = holder?.pid;
    holder?.kill('SIGKILL');
    // The detached mount lives until its last holder is gone; then cleanup finds nothing mounted.
    if (pid !== undefined) await waitFor(() => !isAlive(pid), 5000);
    await mount?.cleanup();
    mount = undefined;
    holder = undefined;
  });

  it('a process with a file open and its executable on the mount: an fd entry by mount ID and a mapping entry by device', async () => {
    const m = (mount = await mountFaultfs());
    // A program of the mount's own, so that its mappings lie on the mount's device.
    const program = join(m.backing, 'sleep');
    copyFileSync('/usr/bin/sleep', program);
    chmodSync(program, 0o755);
    const attached = findMount(m.mountpoint);
    expect(attached?.id).toBe(m.mountId);
    const dev = `${attached?.major}:${attached?.minor}`;

    const file = join(m.mountpoint, 'example_dag.py');
    const child = (holder = spawn('sh', ['-c', 'exec 3<"$1"; exec "$2" 600', 'sh', file, join(m.mountpoint, 'sleep')], {
      stdio: 'ignore',
    }));
    const pid = child.pid ?? -1;
    const ready = (): boolean => link(`/proc/${pid}/exe`) === join(m.mountpoint, 'sleep') && link(`/proc/${pid}/fd/3`) === file;
    expect(await waitFor(ready, 5000)).toBe(true);

    const umount = await runBounded('umount', ['-l', m.mountpoint], 5000);
    expect(umount.code).toBe(0);
    const ownIds = new Set(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((e) => e.id));
    expect(ownIds.has(m.mountId)).toBe(false);

    const scanner = createThreadScanner({ timeoutMs: 30_000, clock: systemClock });
    const outcome = await scanner.scan({
      watched: [],
      table: readMountTable(),
      skipPids: [process.pid],
      memory: [],
      orphans: true,
      ownMountNamespace: readOwnMountNamespace() ?? undefined,
    });
    scanner.close();
    expect(outcome.kind).toBe('done');
    const orphans = outcome.kind === 'done' ? (outcome.output.orphans ?? []) : [];
    const who = { pid, ppid: process.pid, comm: 'sleep', uid: 0, start: expect.any(String) };
    // Printed relative to the detached mount's root now.
    expect(orphans.filter((o) => o.pid === pid)).toEqual([
      {
        ...who,
        unit: expect.toBeOneOf([expect.any(String), null]),
        mountId: m.mountId,
        dev: null,
        holds: [{ kind: 'fd', fd: 3, target: '/example_dag.py' }],
      },
      { ...who, unit: expect.toBeOneOf([expect.any(String), null]), mountId: null, dev, holds: [{ kind: 'exe', target: '/sleep' }] },
    ]);
    // Whatever else this machine holds, no entry names a mount of this namespace's table.
    expect(orphans.filter((o) => o.mountId !== null && ownIds.has(o.mountId))).toEqual([]);
    expect(orphans.some((o) => o.pid === process.pid)).toBe(false);
  });
});
