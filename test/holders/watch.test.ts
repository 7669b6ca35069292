// The holder watch over whole monitor cycles: a scripted kernel (mounts, umount) and a scripted
// scan answering from a list of processes and the mounts they are on; a hand-moved clock.
import { describe, expect, it } from 'vitest';
import type { HoldersConfig } from '../../src/config/types.js';
import type { Holder, ScanInput } from '../../src/holders/scan.js';
import type { ScanHolders, ScanOutcome } from '../../src/holders/scanner.js';
import { HolderWatch } from '../../src/holders/watch.js';
import { Controller } from '../../src/controller/controller.js';
import type { HolderSink, ControllerSink } from '../../src/observe/sink.js';
import type { CommandOutcome } from '../../src/exec/runner.js';
import { defaultConfig } from '../helpers/config.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { ScriptedWorld } from '../helpers/scripted-world.js';

interface ScriptedProcess {
  pid: number;
  unit: string | null;
  /** Mount IDs it holds (by fd: the kind does not matter to the watch). */
  on: number[];
}

const quiet: ControllerSink = {
  probed() {},
  health() {},
  held() {},
  recoveryStarted() {},
  step() {},
  recoveryFinished() {},
  released() {},
  collateral() {},
  overlapped() {},
  cycleFinished() {},
  waitingForHangs() {},
  earlyProbe() {},
  earlyProbed() {},
  server() {},
  autofsReload() {},
  autofsReloaded() {},
  putBack() {},
  stalledReset() {},
};

function recordingHolderSink(events: string[]): HolderSink {
  return {
    holderSeen: (h) => events.push(`seen ${h.pid} ${h.path} ${h.state}`),
    holderDetached: (h) => events.push(`detached ${h.pid} ${h.path}`),
    holderGone: (h) => events.push(`gone ${h.pid} ${h.path}`),
    holdersCounted: (c) => events.push(`count ${[...c].map(([m, n]) => `${m}=${n}`).join(' ')}`),
    scanned: (r) => r.result !== 'ok' && events.push(`scan ${r.result}`),
    restart: (r) => events.push(`restart ${r.unit} ${r.result} ${r.paths.join(',')}`),
    orphanByDevice: (o) => events.push(`orphan ${o.pid} ${o.dev ?? ''}`),
    restartDidNotHelp: (unit) => events.push(`did not help ${unit}`),
  };
}

function setup(holders: Partial<HoldersConfig> = {}, dryRun = false) {
  const clock = new FakeClock();
  const world = new ScriptedWorld(clock);
  const processes: ScriptedProcess[] = [];
  const scans: ScanInput[] = [];
  /** Scans (with the state of each mount) and commands, in the order they ran. */
  const timeline: string[] = [];
  let answer: ((input: ScanInput) => ScanOutcome) | undefined;
  const scan: ScanHolders = async (input) => {
    scans.push(input);
    timeline.push(`scan ${input.watched.map((w) => w.state).join(',')}`);
    if (answer) return answer(input);
    const ids = new Set(input.watched.map((w) => w.mountId));
    const found: Holder[] = processes.flatMap((p) =>
      p.on
        .filter((id) => ids.has(id))
        .map((mountId) => ({
          pid: p.pid,
          start: '1',
          ppid: 1,
          comm: 'c',
          uid: 999,
          unit: p.unit,
          mountId,
          holds: [{ kind: 'fd' as const, fd: 3, target: '/x' }],
        })),
    );
    return { kind: 'done', output: { holders: found, memory: [], scanned: processes.length, unreadable: 0 }, ms: 1 };
  };
  const restarts: string[][] = [];
  const events: string[] = [];
  const cfg = { ...defaultConfig, recovery: { ...defaultConfig.recovery, dryRun }, holders: { ...defaultConfig.holders, ...holders } };
  const run = async (argv: readonly string[], deadlineMs: number): Promise<CommandOutcome> => {
    timeline.push(argv.join(' '));
    if (argv[0] === 'systemctl') {
      restarts.push([...argv, String(deadlineMs)]);
      // A restart ends the unit's old processes.
      const unit = argv[argv.length - 1];
      if (!keepAfterRestart) for (const p of processes.filter((x) => x.unit === unit)) p.on = [];
      return { argv: [...argv], status: 'ok', exitCode: 0, signal: null, output: '', durationMs: 5 };
    }
    return world.run(argv, deadlineMs);
  };
  let keepAfterRestart = false;
  const watch = new HolderWatch({
    config: cfg.holders,
    dryRun,
    paths: cfg.mounts.map((m) => m.path),
    scan,
    table: world.table,
    run,
    clock,
    sink: recordingHolderSink(events),
    selfPid: 4242,
    ownUnit: 'nfs-health-checkd.service',
  });
  const monitor = new Controller({ config: cfg, clock, probe: world.probe, run, table: world.table, sink: quiet, holders: watch });
  const cycle = async (): Promise<void> => {
    await monitor.tick();
    await monitor.idle();
    await watch.idle();
  };
  return {
    clock,
    world,
    processes,
    scans,
    timeline,
    events,
    restarts,
    watch,
    monitor,
    cycle,
    answerWith: (f: typeof answer) => (answer = f),
    keepProcessesOnRestart: () => (keepAfterRestart = true),
  };
}

/** An airflow-worker.service process on /airflow/dags; the mount goes stale and a cycle runs. */
async function workerOnFailedDags(s: ReturnType<typeof setup>) {
  const dags = s.world.mount('/airflow/dags', 'ok', { busy: true });
  s.world.mount('/airflow/logs', 'ok');
  s.processes.push({ pid: 10, unit: 'airflow-worker.service', on: [dags.id] });
  await s.cycle();
  dags.fault = 'ESTALE';
  s.clock.advance(30_000);
  await s.cycle();
  return dags;
}

describe('HolderWatch', () => {
  it('a failover with holders: found on the failing mount before the unmount, then on it detached, by mount ID and device', async () => {
    const s = setup();
    const dags = s.world.mount('/airflow/dags', 'ok', { busy: true });
    s.world.mount('/airflow/logs', 'ok');
    s.processes.push({ pid: 10, unit: 'airflow-scheduler.service', on: [dags.id] });
    await s.cycle();
    expect(s.scans).toEqual([]); // nothing failing, nobody held: no scan at all

    dags.fault = 'ESTALE';
    s.clock.advance(30_000);
    await s.cycle();
    // The scan before the recovery saw the mount attached and failing; the one after its lazy
    // unmount saw it detached (gone from the table), the new mount in its place.
    expect(s.scans[0]!.watched).toEqual([{ path: '/airflow/dags', mountId: dags.id, dev: `0:${dags.id}`, state: 'failing' }]);
    expect(s.scans[0]!.skipPids).toEqual([4242]);
    expect(s.timeline).toEqual([
      'scan failing',
      'umount -a -t nfs,nfs4',
      'umount -f -- /airflow/dags',
      'umount -l -- /airflow/dags',
      'scan detached',
    ]);
    expect(s.scans.at(-1)!.watched).toEqual([{ path: '/airflow/dags', mountId: dags.id, dev: `0:${dags.id}`, state: 'detached' }]);
    expect(s.events.filter((e) => !e.startsWith('count'))).toEqual(['seen 10 /airflow/dags failing', 'detached 10 /airflow/dags']);
    expect(s.events.at(-1)).toBe('count /airflow/dags=1 /airflow/logs=0');
    expect(s.restarts).toEqual([]); // restart_units empty: report only

    // Rescanned every cycle while held; once it lets go, said once, counted 0, no longer scanned.
    s.events.length = 0;
    s.clock.advance(30_000);
    await s.cycle();
    expect(s.events).toEqual(['count /airflow/dags=1 /airflow/logs=0']);
    s.processes[0]!.on = [];
    s.clock.advance(30_000);
    await s.cycle();
    expect(s.events.slice(1)).toEqual(['gone 10 /airflow/dags', 'count /airflow/dags=0 /airflow/logs=0']);
    const scansBefore = s.scans.length;
    s.clock.advance(30_000);
    await s.cycle();
    expect(s.scans.length).toBe(scansBefore);
  });

  it('an unchanged set of mounts is rescanned no sooner than the gap; a newly failing mount at once', async () => {
    const s = setup();
    // Failing with results that start no recovery: the set of mounts changes only as told.
    const dags = s.world.mount('/airflow/dags', 'EACCES', { busy: true });
    const logs = s.world.mount('/airflow/logs', 'ok', { busy: true });
    s.processes.push({ pid: 10, unit: null, on: [dags.id, logs.id] });
    await s.cycle();
    expect(s.scans.length).toBe(1);
    s.clock.advance(1000);
    await s.cycle();
    expect(s.scans.length).toBe(1); // same mounts, 1 s later
    logs.fault = 'EPERM';
    s.clock.advance(1000);
    await s.cycle();
    expect(s.scans.length).toBe(2); // a new one failing: scanned now
    expect(s.events).toContain('seen 10 /airflow/logs failing');
    s.clock.advance(4999);
    await s.cycle();
    expect(s.scans.length).toBe(2);
    s.clock.advance(1);
    await s.cycle();
    expect(s.scans.length).toBe(3);
  });

  it('restart_units: the unit is restarted once, with its deadline, after the path is healthy; the unrelated process is only reported', async () => {
    const s = setup({ restartUnits: ['airflow-*.service'], restartTimeoutMs: 90_000 });
    const dags = s.world.mount('/airflow/dags', 'ok', { busy: true });
    const logs = s.world.mount('/airflow/logs', 'ok', { busy: true });
    s.processes.push(
      { pid: 10, unit: 'airflow-scheduler.service', on: [dags.id, logs.id] },
      { pid: 11, unit: 'e2e-runner.service', on: [dags.id] },
      { pid: 12, unit: 'nfs-health-checkd.service', on: [logs.id] },
    );
    await s.cycle();
    dags.fault = 'ESTALE';
    logs.fault = 'ESTALE';
    s.clock.advance(30_000);
    await s.cycle();
    expect(s.restarts).toEqual([['systemctl', 'try-restart', '--', 'airflow-scheduler.service', '90000']]);
    expect(s.events.filter((e) => e.startsWith('restart'))).toEqual(['restart airflow-scheduler.service ok /airflow/dags,/airflow/logs']);
    expect(s.events.at(-1)).toBe('count /airflow/dags=1 /airflow/logs=1');
    expect(s.events).toContain('gone 10 /airflow/logs');
  });

  it('a unit that still holds the detached mount after its restart is reported once, never restarted again', async () => {
    const s = setup({ restartUnits: ['airflow-*.service'] });
    s.keepProcessesOnRestart();
    await workerOnFailedDags(s);
    for (let i = 0; i < 3; i += 1) {
      s.clock.advance(30_000);
      await s.cycle();
    }
    expect(s.restarts.length).toBe(1);
    expect(s.events.filter((e) => e.startsWith('did not help'))).toEqual(['did not help airflow-worker.service']);
  });

  it('dry_run: the restart is reported, nothing is run', async () => {
    const s = setup({ restartUnits: ['airflow-*.service'] }, true);
    const dags = await workerOnFailedDags(s);
    // A dry-run recovery unmounts nothing; a mount someone else detaches is still followed.
    s.world.mounts = s.world.mounts.filter((m) => m !== dags);
    s.clock.advance(30_000);
    await s.cycle();
    expect(s.restarts).toEqual([]);
    expect(s.events.filter((e) => e.startsWith('restart'))).toEqual(['restart airflow-worker.service dry_run /airflow/dags']);
  });

  it('a scan that times out changes nobody: no holder is called gone for it', async () => {
    const s = setup();
    const dags = s.world.mount('/airflow/dags', 'ESTALE', { busy: true });
    s.world.mount('/airflow/logs', 'ok');
    s.processes.push({ pid: 10, unit: null, on: [dags.id] });
    s.monitor.stop(); // probes only: no recovery wake-ups in the way
    await s.cycle();
    expect(s.events).toContain('seen 10 /airflow/dags failing');
    s.answerWith(() => ({ kind: 'timeout', blockedPid: 10, ms: 5000 }));
    s.events.length = 0;
    s.clock.advance(30_000);
    await s.cycle();
    expect(s.events).toEqual(['scan timeout']);
    expect(s.watch.holders().map((h) => h.pid)).toEqual([10]);
  });

  it("carried over to a new process's watch: the former mount is scanned at its first round, its restarted unit never restarted again", async () => {
    const s = setup({ restartUnits: ['airflow-*.service'] });
    s.keepProcessesOnRestart();
    const dags = await workerOnFailedDags(s);
    expect(s.restarts.length).toBe(1);
    const incident = s.watch.incident();
    expect(incident.formers).toEqual([
      expect.objectContaining({ path: '/airflow/dags', mountId: dags.id, state: 'detached', batch: 'recovery 1' }),
    ]);
    expect(incident.restarted).toEqual([{ batch: 'recovery 1', unit: 'airflow-worker.service' }]);

    // The next process: same machine, same processes, a watch that starts from the incident.
    const next = setup({ restartUnits: ['airflow-*.service'] });
    next.keepProcessesOnRestart();
    for (const m of s.world.mounts) next.world.mount(m.path, m.fault); // mount IDs of its own go on from these
    next.world.mounts = s.world.mounts;
    next.processes.push(...s.processes);
    next.watch.restore(incident);
    await next.cycle();
    expect(next.scans[0]!.watched).toEqual([{ path: '/airflow/dags', mountId: dags.id, dev: `0:${dags.id}`, state: 'detached' }]);
    expect(next.events).toContain('seen 10 /airflow/dags detached');
    expect(next.events).toContain('count /airflow/dags=1 /airflow/logs=0');
    for (let i = 0; i < 3; i += 1) {
      next.clock.advance(30_000);
      await next.cycle();
    }
    expect(next.restarts).toEqual([]);
  });

  it('at a start that knows nothing: processes on mounts in no table are found, followed by mount ID under "unknown", said once by device', async () => {
    const s = setup();
    s.world.mount('/airflow/dags', 'ok');
    s.world.mount('/airflow/logs', 'ok');
    const who = { start: '1', ppid: 1, comm: 'python3', uid: 999, unit: 'airflow-worker.service' };
    s.answerWith((input) => {
      const orphans = input.orphans
        ? [
            { ...who, pid: 77, mountId: 812, dev: null, holds: [{ kind: 'fd' as const, fd: 3, target: '/scheduler.log' }] },
            { ...who, pid: 78, mountId: null, dev: '0:99', holds: [{ kind: 'mmap' as const, target: '/lib.so' }] },
          ]
        : [];
      const held = input.watched.some((w) => w.mountId === 812) && s.processes.length === 0;
      const holders = held ? [{ ...who, pid: 77, mountId: 812, holds: [{ kind: 'fd' as const, fd: 3, target: '/scheduler.log' }] }] : [];
      return { kind: 'done', output: { holders, memory: [], scanned: 2, unreadable: 0, ...(input.orphans ? { orphans } : {}) }, ms: 1 };
    });
    s.watch.lookForOrphans();
    await s.watch.idle();
    expect(s.scans[0]).toMatchObject({ watched: [], orphans: true, skipPids: [4242] });
    expect(s.events).toEqual(['orphan 78 0:99', 'seen 77 unknown detached', 'count /airflow/dags=0 /airflow/logs=0 unknown=1']);
    expect(s.watch.incident().formers).toEqual([
      expect.objectContaining({ path: 'unknown', mountId: 812, dev: '', batch: 'before start' }),
    ]);

    // Followed like any former mount: rescanned while held; once let go, gone, and the gauge reads 0.
    s.events.length = 0;
    s.processes.push({ pid: 1, unit: null, on: [] }); // the scripted answer's "let go"
    await s.cycle();
    expect(s.events).toEqual(['gone 77 unknown', 'count /airflow/dags=0 /airflow/logs=0 unknown=0']);
    expect(s.watch.incident().formers).toEqual([]);
  });
});
