// Whole cycles with a scripted kernel and a hand-moved clock: what runs, when, and what is reported.
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/types.js';
import { defaultConfig } from '../helpers/config.js';
import { AUTOMOUNT_RETRY_MS, Controller } from '../../src/controller/controller.js';
import type { ProbeMounts } from '../../src/probe/probe-mounts.js';
import type { ControllerSink } from '../../src/observe/sink.js';
import type { RunCommand } from '../../src/exec/runner.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { ScriptedWorld } from '../helpers/scripted-world.js';
import { ServerWatch } from '../../src/server/watch.js';
import type { CheckServer } from '../../src/server/check.js';

const config = defaultConfig;

function recordingSink(events: string[]): ControllerSink {
  return {
    probed: (rs) => events.push(`probed ${rs.map((r) => r.result).join(',')}`),
    health: (e) => events.push(`${e.kind} ${e.path}${'downMs' in e ? ` down ${e.downMs}` : ''}`),
    held: (d) => events.push(`held ${d.reason}`),
    recoveryStarted: (t) => events.push(`recover ${t.map((x) => x.path).join(',')}`),
    step: (s) => events.push(`step ${s.outcome.argv.join(' ')} ${s.outcome.status}`),
    recoveryFinished: (r) => events.push(`finished ${r.result}`),
    collateral: (c) => events.push(`collateral ${c.mountPoint} ${c.outcome}`),
    released: () => events.push('released'),
    overlapped: () => events.push('overlapped'),
    cycleFinished: () => undefined,
    waitingForHangs: () => undefined,
    earlyProbe: () => undefined,
    earlyProbed: () => undefined,
    server: (r) => events.push(`server ${r.key} ${r.answering ? 'answering' : 'silent'}`),
    autofsReload: (paths) => events.push(`autofs reload ${paths.join(',')}`),
    autofsReloaded: (_paths, o) => events.push(`autofs reloaded ${o?.status ?? 'dry_run'}`),
    putBack: (r) => events.push(`put back ${r.mountPoint} ${r.outcome}`),
    stalledReset: (r) => events.push(`stalled ${r.result} ${r.stalled.length}`),
  };
}

/** One tick, then whatever recovery it started, to the end. */
async function tickAndSettle(monitor: Controller): Promise<void> {
  await monitor.tick();
  await monitor.idle();
}

/**
 * dags in autofs' negative cache, logs ok, after the first round; the wake-up's lone probe of dags
 * waits until `release()`, so a tick can meet it.
 */
async function cachedPathWithGatedRetry() {
  const { clock, world, events } = setup();
  let open: (() => void) | undefined;
  const gated: ProbeMounts = async (paths) => {
    if (paths.length === 1 && paths[0] === '/airflow/dags') await new Promise<void>((r) => (open = r));
    return world.probe(paths);
  };
  const monitor = new Controller({ config, clock, probe: gated, run: world.run, table: world.table, sink: recordingSink(events) });
  world.mount('/airflow/dags', 'automount_failed');
  world.mount('/airflow/logs', 'ok');
  await tickAndSettle(monitor);
  const release = (): void => {
    expect(open).toBeDefined(); // the wake-up's probe is waiting
    open?.();
  };
  return { clock, events, monitor, release };
}

function setup(cfg: Config = config) {
  const clock = new FakeClock();
  const world = new ScriptedWorld(clock);
  const events: string[] = [];
  const monitor = new Controller({
    config: cfg,
    clock,
    probe: world.probe,
    run: world.run,
    table: world.table,
    sink: recordingSink(events),
  });
  return { clock, world, events, monitor };
}

describe('Controller', () => {
  it('a failover with a process holding the mount: detected, escalated to a lazy unmount, recovered, timed', async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'ok');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    expect(events.splice(0)).toEqual(['probed ok,ok', 'initial /airflow/dags', 'initial /airflow/logs']);

    world.mounts[0]!.fault = 'ESTALE';
    world.mounts[0]!.busy = true;
    clock.advance(30_000);
    await tickAndSettle(monitor);
    expect(events.splice(0)).toEqual([
      'probed ESTALE,ok',
      'failing /airflow/dags',
      'recover /airflow/dags',
      'step umount -a -t nfs,nfs4 failed',
      'step umount -f -- /airflow/dags failed',
      'step umount -l -- /airflow/dags ok',
      'probed ok',
      'recovered /airflow/dags down 0',
      'finished success',
    ]);
    expect(monitor.results().map((r) => r.result)).toEqual(['ok', 'ok']);
  });

  it('a dead server: recovers, then backs off instead of unmounting every tick', async () => {
    const { clock, world, events, monitor } = setup();
    world.remountFault = 'EIO';
    world.mount('/airflow/dags', 'EIO');
    world.mount('/airflow/logs', 'ok', { busy: true }); // held by a worker: umount -a leaves it
    const recoveries: number[] = [];
    for (let tick = 0; tick < 20; tick++) {
      await tickAndSettle(monitor);
      if (events.some((e) => e.startsWith('recover'))) recoveries.push(tick);
      events.length = 0;
      clock.advance(30_000);
    }
    // 30 s ticks; waits of 30, 60, 120, 240 s after each failed recovery.
    expect(recoveries).toEqual([0, 1, 3, 7, 15]);
    expect(world.mounts.find((m) => m.path === '/airflow/logs')?.fault).toBe('ok');
  });

  it('a recovery held by the cooldown runs when the cooldown ends, not at the next tick', async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'ok', { busy: true });
    world.mount('/airflow/logs', 'ESTALE');
    await tickAndSettle(monitor); // t=0: logs recovered; its cooldown runs to t=30 s
    clock.advance(10_000);
    world.mounts.find((m) => m.path === '/airflow/logs')!.fault = 'ESTALE';
    events.length = 0;
    await tickAndSettle(monitor); // t=10 s: logs fails again, held
    expect(events).toEqual(['probed ok,ESTALE', 'failing /airflow/logs', 'held cooldown']);
    expect(clock.pending()).toBe(1);
    events.length = 0;
    clock.advance(19_999);
    await monitor.idle();
    expect(events).toEqual([]);
    clock.advance(1); // t=30 s: the cooldown's end, 10 s before the next 30 s tick
    await monitor.idle();
    expect(events.slice(0, 2)).toEqual(['probed ok,ESTALE', 'recover /airflow/logs']);
    expect(events.at(-1)).toBe('finished success');
  });

  it('a mount failing while another is recovered gets its recovery when that one ends', async () => {
    const { clock, world, events } = setup();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    const slowRun: typeof world.run = async (argv, deadline) => {
      if (first) {
        first = false;
        await gate; // the first recovery's umount -a, until released
      }
      return world.run(argv, deadline);
    };
    const monitor = new Controller({ config, clock, probe: world.probe, run: slowRun, table: world.table, sink: recordingSink(events) });
    world.mount('/airflow/dags', 'ok', { busy: true });
    world.mount('/airflow/logs', 'ESTALE');
    await monitor.tick(); // logs' recovery starts and waits on its umount -a
    world.mounts.find((m) => m.path === '/airflow/dags')!.fault = 'ESTALE';
    clock.advance(5_000);
    await monitor.tick(); // dags fails during it: no second recovery alongside
    expect(events.filter((e) => e.startsWith('recover '))).toEqual(['recover /airflow/logs']);
    release();
    await monitor.idle();
    clock.advance(0); // a cycle of its own, due as the first recovery ends: no waiting for a tick
    await monitor.idle();
    expect(events.filter((e) => e.startsWith('recover '))).toEqual(['recover /airflow/logs', 'recover /airflow/dags']);
  });

  it('a stopped monitor starts no held recovery', async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'ok', { busy: true });
    world.mount('/airflow/logs', 'ESTALE');
    await tickAndSettle(monitor);
    world.mounts.find((m) => m.path === '/airflow/logs')!.fault = 'EIO';
    await tickAndSettle(monitor);
    expect(events.at(-1)).toBe('held cooldown');
    monitor.stop();
    expect(clock.pending()).toBe(0);
    clock.advance(60_000);
    await monitor.idle();
    expect(events.at(-1)).toBe('held cooldown');
  });

  it("a path in autofs' negative cache is probed again, alone, every few seconds until autofs mounts it", async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'automount_failed');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    expect(clock.pending()).toBe(1);
    events.length = 0;
    clock.advance(AUTOMOUNT_RETRY_MS);
    await monitor.idle();
    expect(events).toEqual(['probed automount_failed']); // the cached path only
    world.mounts[0]!.fault = 'ok'; // the cache has run out and autofs mounts it
    events.length = 0;
    clock.advance(AUTOMOUNT_RETRY_MS);
    await monitor.idle();
    expect(events).toEqual(['probed ok', `recovered /airflow/dags down ${2 * AUTOMOUNT_RETRY_MS}`]);
    expect(clock.pending()).toBe(0); // nothing cached, nothing held: ticks only
  });

  it('a tick that meets a wake-up cycle waits for it without reporting a skipped round', async () => {
    const { clock, events, monitor, release } = await cachedPathWithGatedRetry();
    clock.advance(AUTOMOUNT_RETRY_MS); // the wake-up starts and waits on its probe
    const tick = monitor.tick();
    release();
    await tick;
    expect(events).not.toContain('overlapped');
  });

  it('a tick that meets a wake-up for some paths probes the others as soon as it ends: no mount misses the round', async () => {
    const { clock, events, monitor, release } = await cachedPathWithGatedRetry();
    const firstRound = monitor.lastScheduledCycleAt;
    events.length = 0;
    clock.advance(AUTOMOUNT_RETRY_MS); // the wake-up for /airflow/dags starts and waits on its probe
    const tick = monitor.tick();
    release();
    await tick;
    // The wake-up probed dags; the tick's round then probed logs, the path the wake-up left out.
    expect(events.filter((e) => e.startsWith('probed'))).toEqual(['probed automount_failed', 'probed ok']);
    expect(events).not.toContain('overlapped');
    expect(monitor.lastScheduledCycleAt).toBe(firstRound! + AUTOMOUNT_RETRY_MS);
  });

  it("the monitor's own wake-ups do not count as the scheduled loop: a stopped schedule shows in lastScheduledCycleAt", async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'automount_failed');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    const round = monitor.lastScheduledCycleAt;
    expect(round).not.toBeNull();
    events.length = 0;
    for (let i = 0; i < 4; i++) {
      clock.advance(AUTOMOUNT_RETRY_MS);
      await monitor.idle();
    }
    expect(events.filter((e) => e.startsWith('probed'))).toHaveLength(4); // the retries ran
    expect(monitor.lastScheduledCycleAt).toBe(round);
  });

  it('a hung call: no recovery at the first timeout; a cycle of its own recovers the moment the call is hang_after old', async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'timeout', { hung: true });
    world.mount('/airflow/logs', 'ok');
    clock.advance(5_000); // the first probe's call started 5 s ago and has just timed out
    world.mounts[0]!.blockedSince = 0;
    await tickAndSettle(monitor);
    expect(world.commands).toEqual([]);
    expect(events).toEqual(['probed timeout,ok', 'initial /airflow/dags', 'initial /airflow/logs']);
    expect(clock.pending()).toBe(1); // the hang's wake-up, at 15 s: not the next tick at 35 s
    events.length = 0;
    clock.advance(9_999);
    await monitor.idle();
    expect(events).toEqual([]);
    clock.advance(1);
    await monitor.idle();
    expect(events.slice(0, 2)).toEqual(['probed timeout', 'recover /airflow/dags']);
    expect(world.commands[0]).toEqual(['umount', '-a', '-t', 'nfs,nfs4']);
  });

  it('a slow mount: the late call comes back before hang_after; reported, nothing unmounted, no wake-up', async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'timeout');
    world.mount('/airflow/logs', 'ok');
    for (let tick = 0; tick < 10; tick++) {
      await tickAndSettle(monitor);
      expect(clock.pending()).toBe(1); // the hang's wake-up
      clock.advance(2_000);
      monitor.released({ path: '/airflow/dags', blockedMs: 7_000, raw: { kind: 'ok' }, stillStuck: 0 });
      expect(clock.pending()).toBe(0);
      world.mounts[0]!.blockedSince = undefined; // the next probe is a new call, slow again
      clock.advance(28_000);
    }
    expect(world.commands).toEqual([]);
    expect(events.filter((e) => e === 'released')).toHaveLength(10);
  });

  it('a probe that timed out while autofs was mounting the path: no recovery, probed again on the automount retry', async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'automount_timeout');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    expect(world.commands).toEqual([]);
    events.length = 0;
    world.mounts[0]!.fault = 'ok'; // the mount is made
    clock.advance(AUTOMOUNT_RETRY_MS);
    await monitor.idle();
    expect(events).toEqual(['probed ok', `recovered /airflow/dags down ${AUTOMOUNT_RETRY_MS}`]);
    expect(world.commands).toEqual([]);
  });

  it('a tick arriving during the first cycle (a slow first automount) is not a skipped round', async () => {
    const { clock, world, events } = setup();
    let release: (() => void) | undefined;
    const gated: ProbeMounts = async (paths) => {
      await new Promise<void>((r) => (release = r));
      return world.probe(paths);
    };
    const monitor = new Controller({ config, clock, probe: gated, run: world.run, table: world.table, sink: recordingSink(events) });
    world.mount('/airflow/dags', 'ok');
    world.mount('/airflow/logs', 'ok');
    const first = monitor.start();
    const tick = monitor.tick();
    release?.();
    await Promise.all([first, tick]);
    expect(events).not.toContain('overlapped');
    const second = monitor.tick();
    const third = monitor.tick(); // a later overlap is still reported
    release?.();
    await Promise.all([second, third]);
    expect(events).toContain('overlapped');
  });

  it('a static NFS mount taken away by umount -a is mounted again; one held by a process is untouched', async () => {
    const { world, events, monitor } = setup();
    world.mount('/airflow/dags', 'ESTALE');
    world.mount('/airflow/logs', 'ok');
    world.mount('/mnt/static', 'ok', { static: true });
    world.mount('/home', 'ok', { static: true, busy: true });
    await tickAndSettle(monitor);
    expect(world.commands).toContainEqual([
      'mount',
      '-t',
      'nfs4',
      '-o',
      'rw,relatime,vers=4.1,soft',
      '--',
      'srv:/mnt/static',
      '/mnt/static',
    ]);
    expect(world.commands.filter((c) => c[0] === 'mount')).toHaveLength(1);
    expect(events).toContain('collateral /mnt/static remounted');
    expect(world.mounts.map((m) => m.path)).toContain('/mnt/static');
  });

  it('dry run: says what would run and runs nothing', async () => {
    const { world, events, monitor } = setup({ ...config, recovery: { ...config.recovery, dryRun: true } });
    world.mount('/airflow/dags', 'ESTALE');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    expect(world.commands).toEqual([]);
    expect(events).toContain('finished dry_run');
  });

  it('disabled recovery: holds, runs nothing', async () => {
    const { world, events, monitor } = setup({ ...config, recovery: { ...config.recovery, enabled: false } });
    world.mount('/airflow/dags', 'ESTALE');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    expect(world.commands).toEqual([]);
    expect(events).toContain('held disabled');
  });

  it('keeps probing on schedule while a recovery runs, and starts no second one', async () => {
    const { clock, world, events, monitor } = setup();
    world.mount('/airflow/dags', 'ok');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    events.length = 0;
    // A recovery whose command never finishes until released.
    let release: () => void = () => undefined;
    const slowRun: typeof world.run = (argv, deadline) => new Promise((resolve) => (release = () => resolve(world.run(argv, deadline))));
    const slow = new Controller({ config, clock, probe: world.probe, run: slowRun, table: world.table, sink: recordingSink(events) });
    world.mounts[0]!.fault = 'ESTALE';
    await slow.tick();
    expect(events.filter((e) => e.startsWith('recover '))).toHaveLength(1); // started, not finished
    expect(events.filter((e) => e.startsWith('recovered') || e.startsWith('finished'))).toHaveLength(0);
    for (let i = 0; i < 3; i++) {
      clock.advance(30_000);
      await slow.tick();
    }
    expect(events.filter((e) => e.startsWith('probed'))).toHaveLength(4);
    expect(events.filter((e) => e.startsWith('recover '))).toHaveLength(1);
    release();
    await slow.idle();
    expect(events.at(-1)).toBe('finished success');
  });

  it('a tick during a running cycle is dropped and reported, never run alongside', async () => {
    const { world, events, monitor } = setup();
    world.mount('/airflow/dags', 'ok');
    world.mount('/airflow/logs', 'ok');
    const first = monitor.tick();
    const second = monitor.tick();
    await Promise.all([first, second]);
    expect(events.filter((e) => e.startsWith('probed'))).toHaveLength(1);
    expect(events).toContain('overlapped');
    expect(monitor.lastScheduledCycleAt).not.toBeNull();
  });

  it('a recovery has the command launcher loaded while it waits for the holder scan', async () => {
    const clock = new FakeClock();
    const world = new ScriptedWorld(clock);
    const events: string[] = [];
    const run: RunCommand = Object.assign((argv: readonly string[], deadline: number) => world.run(argv, deadline), {
      prepare: () => events.push('prepare'),
    });
    const holders = {
      observe: () => undefined,
      settled: async () => {
        events.push('holders settled');
      },
    };
    const monitor = new Controller({ config, clock, probe: world.probe, run, table: world.table, sink: recordingSink(events), holders });
    world.mount('/airflow/dags', 'ESTALE', { busy: true });
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(monitor);
    const order = events.filter((e) => e === 'prepare' || e === 'holders settled' || e.startsWith('step '));
    expect(order.slice(0, 3)).toEqual(['prepare', 'holders settled', 'step umount -a -t nfs,nfs4 failed']);
  });
});

describe('Controller, when the server answers again', () => {
  /** Lets the watch's checks and the controller's chores (promises) run between clock moves. */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };

  it('a path autofs refuses is reloaded for once its server answers, and is back at once', async () => {
    const { clock, world, events } = setup();
    const check: CheckServer = (server) =>
      Promise.resolve(world.answering(server) ? { answering: true, ms: 1 } : { answering: false, ms: 1000, reason: 'timeout' });
    const watch: ServerWatch = new ServerWatch({
      clock,
      check,
      intervalMs: 2000,
      timeoutMs: 1000,
      netns: () => null,
      // The controller is made next: the watch reports only after its first check.
      onReport: (r) => controller.server(r),
    });
    const controller = new Controller({
      config,
      clock,
      probe: world.probe,
      run: world.run,
      table: world.table,
      sink: recordingSink(events),
      servers: watch,
    });
    world.mount('/airflow/dags', 'ok');
    world.mount('/airflow/logs', 'ok');
    await tickAndSettle(controller);

    // The server goes silent; the mounts were taken away and autofs' attempts failed: it refuses both.
    world.silentHosts.add('srv');
    world.mounts = [];
    world.autofsRefuses = true;
    events.length = 0;
    clock.advance(30_000);
    await tickAndSettle(controller);
    await settle();
    expect(events).toEqual([
      'probed automount_failed,automount_failed',
      'failing /airflow/dags',
      'failing /airflow/logs',
      'server autofs srv:2049 silent',
    ]);
    // A minute of silence: tried every 2 s, never reloaded.
    for (let t = 0; t < 60_000; t += 1000) {
      clock.advance(1000);
      await settle();
    }
    expect(events.filter((e) => e.startsWith('autofs'))).toEqual([]);
    expect(world.commands).toEqual([]);

    world.silentHosts.delete('srv');
    events.length = 0;
    clock.advance(2000);
    await settle();
    await controller.idle();
    expect(events).toEqual([
      'server autofs srv:2049 answering',
      'autofs reload /airflow/dags,/airflow/logs',
      'autofs reloaded ok',
      'probed ok,ok',
      'recovered /airflow/dags down 62000',
      'recovered /airflow/logs down 62000',
    ]);
    expect(world.commands).toEqual([['systemctl', 'reload', 'autofs']]);
    // Both back: nothing watched, no timer left for the watch.
    expect(watch.watched()).toEqual([]);
    watch.stop();
  });
});
