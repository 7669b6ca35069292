// Holders on real FUSE mounts: processes of another user (nobody) with their cwd, an open file
// and a mapping on a faultfs mount. While the mount hangs the daemon finds them and stays
// responsive; after a lazy unmount it finds the same processes on the detached mount, by mount ID;
// and when they exit it says so and the gauge returns to 0.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { configYaml, is, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { detachMount, findMount, fuseAvailable, type FaultMount } from '../helpers/faultfs.js';
import { gauge, gaugeBecomes, holderLine, NOBODY, python, sharedMount, startHolder } from '../helpers/holders.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';

const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(fuse)) console.warn(`[holders] FUSE holder tests skipped: ${fuse.reason}`);
const python3 = prerequisite('python3', python !== undefined, 'install', 'no system python3 (Debian: apt-get install python3)');
if (skips(python3)) {
  console.warn('[holders] FUSE holder tests skipped: no system python3 (Debian: apt-get install python3) for the holder with a mapping');
}

requires(fuse, python3, built()).describe('holders on real FUSE mounts', () => {
  let dir: string;
  let mounts: FaultMount[] = [];
  let holders: ChildProcess[] = [];
  let daemon: RunningDaemon | undefined;

  afterEach(async () => {
    daemon?.kill();
    for (const h of holders) h.kill('SIGKILL');
    for (const m of mounts) m.setMode('ok');
    await Promise.all(mounts.map((m) => m.cleanup()));
    if (daemon) await daemon.exited;
    rmSync(dir, { recursive: true, force: true });
    mounts = [];
    holders = [];
    daemon = undefined;
  });

  async function stage(recovery?: string) {
    dir = mkdtempSync(join(tmpdir(), 'nhc-holders-'));
    const a = await sharedMount();
    const b = await sharedMount();
    mounts = [a, b];
    const holder = await startHolder(a.mountpoint);
    holders.push(holder);
    const config = configYaml([a.mountpoint, b.mountpoint], recovery === undefined ? {} : { recovery });
    const d = startDaemon(dir, config);
    daemon = d;
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    await d.waitForLine(is('mount healthy', b.mountpoint), 10_000);
    return { a, b, holder, d };
  }

  it('a hung mount: holders found by cwd, fd and mapping while the daemon stays responsive; after umount -l, found on the detached mount by ID; gone when they exit', async () => {
    const { a, b, holder, d } = await stage('  enabled: false');
    const from = d.lines.length;
    a.setMode('hang');
    await d.waitForLine(is('mount failing', a.mountpoint, 'timeout'), 10_000, from);
    const found = await d.waitForLine(holderLine('holder found on failing mount', holder.pid), 10_000, from);
    expect(found).toMatchObject({ mount: a.mountpoint, mount_id: a.mountId, state: 'failing', uid: NOBODY, comm: 'python3' });
    const holds = found.holds as string[];
    expect(holds).toContain(`cwd ${a.mountpoint}/sub`);
    expect(holds).toContain(`fd 3 → ${a.mountpoint}/scheduler.log`);
    expect(holds).toContain(`mmap ${a.mountpoint}/example_dag.py`);

    // Still hung: the daemon scrapes at once, and the other mount is still probed, healthy.
    const t0 = performance.now();
    expect(await gauge(d, a.mountpoint)).toBe(0);
    console.log(`[holders] scrape with the mount hung: ${Math.round(performance.now() - t0)} ms`);
    const round = await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    expect(round.results).toEqual(expect.arrayContaining([[b.mountpoint, 'ok']]));
    expect(findMount(a.mountpoint)?.id).toBe(a.mountId);

    // A lazy unmount, as the recovery's last step does: the path no longer names that mount.
    const detachedAt = d.lines.length;
    expect(await detachMount(a.mountpoint)).toBe(true);
    a.setMode('ok');
    const left = await d.waitForLine(holderLine('holder left on detached mount', holder.pid), 10_000, detachedAt);
    expect(left).toMatchObject({ mount: a.mountpoint, mount_id: a.mountId, state: 'detached' });
    // Relative to the detached mount's root now: tied to it by fdinfo's mnt_id, maps' device and
    // the cwd remembered from before the detach.
    expect(left.holds).toEqual(expect.arrayContaining(['cwd /sub', 'fd 3 → /scheduler.log', 'mmap /example_dag.py']));
    expect(await gaugeBecomes(d, a.mountpoint, 1)).toBe(1);
    expect(await gauge(d, b.mountpoint)).toBe(0);

    holder.kill('SIGKILL');
    await d.waitForLine(holderLine('holder gone', holder.pid), 10_000, detachedAt);
    expect(await gaugeBecomes(d, a.mountpoint, 0)).toBe(0);
  });

  it('a stale mount recovered by the daemon: the holder is found before the unmount and on the detached mount after it', async () => {
    const { a, holder, d } = await stage();
    const from = d.lines.length;
    a.setMode('estale');
    const before = await d.waitForLine(holderLine('holder found on failing mount', holder.pid), 10_000, from);
    const step = await d.waitForLine((l) => l.msg === 'recovery step' && l.step === 'escalation', 10_000, from);
    expect(before.at).toBeLessThanOrEqual(step.at);
    const left = await d.waitForLine(holderLine('holder left on detached mount', holder.pid), 10_000, from);
    expect(left).toMatchObject({ mount_id: a.mountId, unit: expect.any(String) });
    expect(findMount(a.mountpoint)?.id).not.toBe(a.mountId);
    expect(await gaugeBecomes(d, a.mountpoint, 1)).toBe(1);
  });

  it('check --json lists the holders of a failing mount; with --recover, the same process on the mount it detached', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-holders-'));
    const a = await sharedMount();
    mounts = [a];
    const holder = await startHolder(a.mountpoint);
    holders.push(holder);
    a.setMode('estale');
    const file = join(dir, 'check.yaml');
    writeFileSync(file, configYaml([a.mountpoint]));
    type Listed = { pid: number; mountId: number; state: string; uid: number; holds: unknown[] };
    const listed = (args: string[]): Listed[] => {
      const r = runCli(['check', '--json', ...args, '--config', file], 30_000);
      expect(r.status).toBe(1);
      return (JSON.parse(r.stdout) as { holders: Listed[] }).holders;
    };
    expect(listed([])).toEqual([expect.objectContaining({ pid: holder.pid, mountId: a.mountId, state: 'failing', uid: NOBODY })]);
    const after = listed(['--recover']);
    expect(findMount(a.mountpoint)).toBeUndefined();
    expect(after).toEqual([expect.objectContaining({ pid: holder.pid, mountId: a.mountId, state: 'detached' })]);
    expect(after[0]!.holds.length).toBeGreaterThanOrEqual(3);
  });
});
