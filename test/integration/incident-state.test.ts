// The incident state across a restart, on real FUSE mounts and the real daemon process: killed
// with SIGKILL (no chance to tidy up, as a crash or the watchdog leaves it) and started again on
// the same state file, it carries on — the processes left on a detached mount are reported again
// within one scan, a recovery's backoff is kept, a mount a recovery took away and had not put
// back is put back, and a file it cannot use is one warning and a fresh start.
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { configYaml, is, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { detachMount, findMount, fuseAvailable, mountFaultfs, type FaultMount } from '../helpers/faultfs.js';
import { gaugeBecomes, holderLine, python, sharedMount, startHolder } from '../helpers/holders.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';
import type { StatusDoc } from '../../src/observe/status-board.js';
import { encodeIncident } from '../../src/state/incident.js';

const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(fuse)) console.warn(`[incident-state] FUSE tests skipped: ${fuse.reason}`);
const python3 = prerequisite('python3', python !== undefined, 'install', 'no system python3 (Debian: apt-get install python3)');

const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

requires(fuse, python3, built()).describe('incident state across a restart, on real FUSE mounts', () => {
  let dir: string;
  let mounts: FaultMount[] = [];
  let holders: ChildProcess[] = [];
  let daemons: RunningDaemon[] = [];
  let server: Server | undefined;

  afterEach(async () => {
    for (const d of daemons) d.kill();
    for (const h of holders) h.kill('SIGKILL');
    for (const m of mounts) m.setMode('ok');
    await Promise.all(mounts.map((m) => m.cleanup()));
    await Promise.all(daemons.map((d) => d.exited));
    server?.close();
    rmSync(dir, { recursive: true, force: true });
    mounts = [];
    holders = [];
    daemons = [];
    server = undefined;
  });

  function start(config: string): RunningDaemon {
    const d = startDaemon(dir, config);
    daemons.push(d);
    return d;
  }

  /** The since of a mount in the daemon's GET /status. */
  async function statusSince(d: RunningDaemon, mount: string): Promise<string | null | undefined> {
    const doc = (await (await fetch(`${await d.metricsBase()}/status`)).json()) as StatusDoc;
    return doc.mounts.find((m) => m.mount === mount)?.since;
  }

  async function killed(d: RunningDaemon): Promise<void> {
    d.kill();
    await d.exited;
  }

  it('a holder of a detached mount survives kill -9 of the daemon: the new process reports it within one scan, gauge 1', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-incident-'));
    const a = await sharedMount();
    mounts = [a];
    const holder = await startHolder(a.mountpoint);
    holders.push(holder);
    const config = configYaml([a.mountpoint], { stateFile: join(dir, 'state.json') });
    const first = start(config);
    await first.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    a.setMode('estale');
    // The recovery's escalation detaches the busy mount; the holder stays on it.
    await first.waitForLine(holderLine('holder left on detached mount', holder.pid), 15_000);
    expect(await gaugeBecomes(first, a.mountpoint, 1)).toBe(1);
    await killed(first);

    const second = start(config);
    const resumed = await second.waitForLine(is('incident state resumed'), 10_000);
    expect(resumed.detached).toEqual([expect.objectContaining({ mount: a.mountpoint, mount_id: a.mountId, batch: 'recovery 1' })]);
    const found = await second.waitForLine(holderLine('holder found on detached mount', holder.pid), 10_000);
    expect(found).toMatchObject({ mount: a.mountpoint, mount_id: a.mountId, state: 'detached' });
    // Its cwd is known again too: the text remembered from before the detach came with the state.
    expect(found.holds).toEqual(expect.arrayContaining(['cwd /sub', 'fd 3 → /scheduler.log', 'mmap /example_dag.py']));
    const scans = second.lines.filter((l) => l.msg === 'holder scan' && l.at <= found.at);
    expect(scans.length).toBeLessThanOrEqual(1);
    expect(await gaugeBecomes(second, a.mountpoint, 1)).toBe(1);

    // Its holder gone, the detached mount is dropped, and so from the file.
    holder.kill('SIGKILL');
    await second.waitForLine(holderLine('holder gone', holder.pid), 15_000);
    expect(await gaugeBecomes(second, a.mountpoint, 0)).toBe(0);
    const saved = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { detached: unknown[] };
    expect(saved.detached).toEqual([]);
  });

  it('backoff survives kill -9: the restarted daemon holds the recovery it would otherwise start at once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-incident-'));
    const a = await mountFaultfs();
    mounts = [a];
    // A recovery that cannot help (the command changes nothing): the mount stays stale, backoff grows.
    const recovery = ['  command: ["true"]', '  escalation: []', '  cooldown: 1m', '  max_backoff: 10m'].join('\n');
    const config = configYaml([a.mountpoint], { recovery, stateFile: join(dir, 'state.json') });
    const first = start(config);
    await first.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    a.setMode('estale');
    await first.waitForLine((l) => l.msg === 'recovery finished', 10_000);
    await first.waitForLine((l) => l.msg === 'recovery held' && l.reason === 'backoff', 10_000);
    const failingSince = await statusSince(first, a.mountpoint);
    expect(failingSince).toMatch(/^\d{4}-/);
    await killed(first);

    const second = start(config);
    const resumed = await second.waitForLine(is('incident state resumed'), 10_000);
    expect(resumed.paths).toEqual([
      expect.objectContaining({ mount: a.mountpoint, result: 'ESTALE', failed_recoveries: 1, wait: 'backoff' }),
    ]);
    const held = await second.waitForLine((l) => l.msg === 'recovery held', 10_000);
    expect(held).toMatchObject({ reason: 'backoff', mounts: [a.mountpoint] });
    expect(Number(held.until_in_ms)).toBeGreaterThan(50_000);
    // The status page says the mount fails since it first failed, not since the restart (the file
    // keeps the controller's since, a few ms from the board's own).
    const resumedSince = Date.parse((await statusSince(second, a.mountpoint)) ?? '');
    expect(Math.abs(resumedSince - Date.parse(failingSince ?? ''))).toBeLessThan(1_000);
    expect(resumedSince).toBeLessThan(resumed.t);
    // Three rounds later still held: a daemon restarting in a loop is no unmount loop.
    const round = second.lines.length;
    for (let i = 0; i < 3; i++) await second.waitForLine((l) => l.msg === 'probe round', 5_000, second.lines.length);
    expect(second.lines.slice(round).some((l) => l.msg === 'recovery starting')).toBe(false);
    expect(second.lines.some((l) => l.msg === 'recovery starting')).toBe(false);
  });

  it('killed in the middle of a recovery: that recovery counts as failed, and the restarted daemon backs off instead of running it again', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-incident-'));
    const a = await mountFaultfs();
    mounts = [a];
    // A recovery command that takes its time: the daemon is killed while it runs.
    const recovery = ['  command: ["sleep", "20"]', '  timeout: 30s', '  escalation: []', '  cooldown: 1m', '  max_backoff: 10m'].join(
      '\n',
    );
    const config = configYaml([a.mountpoint], { recovery, stateFile: join(dir, 'state.json') });
    const first = start(config);
    await first.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    a.setMode('estale');
    await first.waitForLine((l) => l.msg === 'recovery starting', 10_000);
    await killed(first);

    const second = start(config);
    const resumed = await second.waitForLine(is('incident state resumed'), 10_000);
    expect(resumed.recovery_cut_short).toEqual([a.mountpoint]);
    expect(resumed.paths).toEqual([expect.objectContaining({ mount: a.mountpoint, failed_recoveries: 1, wait: 'backoff' })]);
    const held = await second.waitForLine((l) => l.msg === 'recovery held', 10_000);
    expect(held).toMatchObject({ reason: 'backoff', mounts: [a.mountpoint] });
    expect(second.lines.some((l) => l.msg === 'recovery starting')).toBe(false);
  });

  it('a static mount a recovery took away, its remount cut short by kill -9: the next start puts it back once its server answers', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-incident-'));
    const a = await mountFaultfs();
    mounts = [a];
    // Its "server": a port that accepts connections, as an NFS server's does.
    server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    // What a daemon killed between the unmount and the end of the remount leaves: the mount at risk,
    // with the command that puts it back (here: the faultfs mount's own, run again).
    expect(await detachMount(a.mountpoint)).toBe(true);
    expect(findMount(a.mountpoint)).toBeUndefined();
    const file = join(dir, 'state.json');
    writeFileSync(
      file,
      encodeIncident({
        bootId: bootId(),
        recoveries: 1,
        paths: [],
        detached: [],
        recovering: null,
        putBack: [
          {
            mountPoint: a.mountpoint,
            argv: a.command,
            server: { host: '127.0.0.1', port: address.port },
            since: Date.now() - 5_000,
            tries: 0,
            state: 'at_risk',
          },
        ],
      }),
    );
    const other = await mountFaultfs();
    mounts.push(other);
    const d = start(configYaml([other.mountpoint], { stateFile: file }));
    const resumed = await d.waitForLine(is('incident state resumed'), 10_000);
    expect(resumed.put_back).toEqual([a.mountpoint]);
    const back = await d.waitForLine((l) => l.msg === 'static mount put back: its server answers again', 15_000);
    expect(back).toMatchObject({ mount: a.mountpoint, outcome: 'remounted' });
    expect(findMount(a.mountpoint)).toBeDefined();
  });

  it('a corrupt state file: one warning, a fresh start, and the file written anew', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-incident-'));
    const a = await mountFaultfs();
    mounts = [a];
    const file = join(dir, 'state.json');
    writeFileSync(file, '{"version": 1, "bootId": "'); // cut short, as a full disk would leave it
    const d = start(configYaml([a.mountpoint], { stateFile: file }));
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    const warnings = d.lines.filter((l) => l.msg.startsWith('incident state'));
    expect(warnings).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'incident state not resumed: starting afresh',
        reason: 'not JSON (cut short or corrupt)',
      }),
    ]);
    a.setMode('estale');
    await d.waitForLine((l) => l.msg === 'recovery finished', 10_000);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { version: number; recoveries: number };
    expect(saved).toMatchObject({ version: 1, recoveries: 1 });
  });
});
