// The controller's machine written down: a state and an event at a fixed moment in, the exact next
// state and actions out. No driver, no clock, no promises (the driver: controller.test.ts).
import { describe, expect, it } from 'vitest';
import type { ErrnoResult } from '../../src/probe/errno.js';
import type { Config } from '../../src/config/types.js';
import type { CommandOutcome } from '../../src/exec/runner.js';
import type { ReleasedCall } from '../../src/probe/prober.js';
import type { ProbeResult } from '../../src/probe/probe-mounts.js';
import { probeResult } from '../helpers/probe-result.js';
import type { CollateralReport } from '../../src/recovery/collateral.js';
import type { DryRunReport } from '../../src/recovery/plan.js';
import type { RecoveryReport, RecoveryTarget, StepReport } from '../../src/recovery/procedure.js';
import {
  controllerConfig,
  initialState,
  type ControllerAction,
  type ControllerConfig,
  type ControllerEvent,
  type ControllerState,
  type Report,
} from '../../src/controller/state.js';
import { transition } from '../../src/controller/transition.js';
import type { Hold } from '../../src/controller/policy.js';
import type { Evidence } from '../../src/kernel/evidence.js';
import { AUTOMOUNT_RETRY_MS } from '../../src/controller/wake-plan.js';
import { defaultConfig } from '../helpers/config.js';

const DAGS = '/airflow/dags';
const LOGS = '/airflow/logs';
const PATHS = [DAGS, LOGS];
const MOUNT_ID: Record<string, number> = { [DAGS]: 41, [LOGS]: 42 };

// defaultConfig: hang_after 15 s, cooldown 30 s, max backoff 300 s.
const cfg = controllerConfig(defaultConfig);

function configWith(recovery: Partial<Config['recovery']>, once = false): ControllerConfig {
  return controllerConfig({ ...defaultConfig, recovery: { ...defaultConfig.recovery, ...recovery } }, once);
}

// Probe results as src/probe/probe-mounts.ts makes them.
function ok(path: string): ProbeResult {
  return probeResult(path, { mountId: MOUNT_ID[path]! });
}
function failed(path: string, errno: ErrnoResult): ProbeResult {
  return { ...ok(path), result: errno, errno };
}
/** A timeout whose call has been blocked `blockedMs` when the round ends. */
function timedOut(path: string, blockedMs: number): ProbeResult {
  return { ...ok(path), result: 'timeout', ms: 5000, stuck: true, blockedMs };
}
/** In autofs' negative cache: ENOENT under autofs, nothing mounted. */
function automountFailed(path: string): ProbeResult {
  return { ...ok(path), result: 'automount_failed', errno: 'ENOENT', mounted: false, fstype: null, mountId: null, underAutofs: true };
}

const probed = (results: readonly ProbeResult[], cycleMs = 40, autofsRunning: boolean | null = null): ControllerEvent => ({
  kind: 'probed',
  results,
  cycleMs,
  autofsRunning,
});
const released = (path: string, blockedMs: number, stillStuck: number): ReleasedCall => ({
  path,
  blockedMs,
  raw: { kind: 'ok' },
  stillStuck,
});
const recoveredReport = (reprobe: ProbeResult[], stillFailing: string[]): RecoveryReport => ({
  result: stillFailing.length === 0 ? 'success' : 'failed',
  steps: [],
  reprobe,
  stillFailing,
  collateral: [],
  durationMs: 1000,
});

const report = (r: Report): ControllerAction => ({ kind: 'report', report: r });
const probe = (paths: readonly string[]): ControllerAction => ({ kind: 'probe', paths });
const setWake = (at: number): ControllerAction => ({ kind: 'set-wake', at });
const clearWake: ControllerAction = { kind: 'clear-wake' };

/** A state reached by events, each at its moment; the actions on the way are not looked at. */
function reach(steps: readonly (readonly [ControllerEvent, number])[], c: ControllerConfig = cfg, from = initialState()): ControllerState {
  return steps.reduce((s, [event, now]) => transition(s, event, now, c).state, from);
}
const start: ControllerEvent = { kind: 'start' };
const tick: ControllerEvent = { kind: 'tick' };
const wake: ControllerEvent = { kind: 'wake' };
const stop: ControllerEvent = { kind: 'stop' };

/** The first round done at 40: its results in. */
const afterFirst = (results: readonly ProbeResult[], c: ControllerConfig = cfg): ControllerState =>
  reach(
    [
      [start, 0],
      [probed(results), 40],
    ],
    c,
  );

/** dags failed with ESTALE in the first round; its recovery started at 40. */
const recovering = (): ControllerState => afterFirst([failed(DAGS, 'ESTALE'), ok(LOGS)]);
const dagsTarget: RecoveryTarget = { path: DAGS, mountId: 41, underAutofs: false, result: 'ESTALE', blockedMs: null };

describe('start and tick', () => {
  it('start: the first round probes every configured path', () => {
    const { state, actions } = transition(initialState(), start, 0, cfg);
    expect(actions).toEqual([probe(PATHS)]);
    expect(state).toEqual({ ...initialState(), cycle: { kind: 'first', paths: PATHS } });
  });

  it('a tick with no round running starts the scheduled round', () => {
    const { state, actions } = transition(afterFirst([ok(DAGS), ok(LOGS)]), tick, 30_000, cfg);
    expect(actions).toEqual([probe(PATHS)]);
    expect(state.cycle).toEqual({ kind: 'scheduled', paths: PATHS });
  });

  it('a tick during a scheduled round is reported as overlapped and changes nothing', () => {
    const s = reach([[tick, 0]]);
    const { state, actions } = transition(s, tick, 30_000, cfg);
    expect(actions).toEqual([report({ kind: 'overlapped' })]);
    expect(state).toBe(s);
  });

  it('a tick during the first round: that round becomes the scheduled one, nothing more is probed', () => {
    const s = reach([[start, 0]]);
    const { state, actions } = transition(s, tick, 100, cfg);
    expect(actions).toEqual([]);
    expect(state).toEqual({ ...s, cycle: { kind: 'scheduled', paths: PATHS } });
    // A second tick meets a scheduled round now.
    expect(transition(state, tick, 200, cfg).actions).toEqual([report({ kind: 'overlapped' })]);
  });

  it('a tick during a wake-up that probes every path: the wake-up becomes the scheduled round', () => {
    const s: ControllerState = { ...afterFirst([ok(DAGS), ok(LOGS)]), cycle: { kind: 'wake', paths: [LOGS, DAGS] } };
    const { state, actions } = transition(s, tick, 30_000, cfg);
    expect(actions).toEqual([]);
    expect(state).toEqual({ ...s, cycle: { kind: 'scheduled', paths: [LOGS, DAGS] } });
    // Its end counts as the scheduled round.
    const end = transition(state, probed([ok(LOGS), ok(DAGS)]), 30_040, cfg);
    expect(end.actions).toContainEqual(report({ kind: 'cycle-finished', autofsRunning: null, scheduled: true }));
    expect(end.state.lastScheduledCycleAt).toBe(30_040);
  });

  it("a tick during a wake-up for some paths: the others wait, and the wake-up's end probes exactly them", () => {
    // dags in autofs' negative cache: woken for alone at 5040.
    const first = afterFirst([automountFailed(DAGS), ok(LOGS)]);
    expect(first.wake).toEqual({ at: 40 + AUTOMOUNT_RETRY_MS, paths: [DAGS] });
    const woken = transition(first, wake, 5040, cfg);
    expect(woken.actions).toEqual([probe([DAGS])]);
    expect(woken.state.cycle).toEqual({ kind: 'wake', paths: [DAGS] });
    expect(woken.state.wake).toBeNull();

    const ticked = transition(woken.state, tick, 5050, cfg);
    expect(ticked.actions).toEqual([]);
    expect(ticked.state).toEqual({ ...woken.state, tickWaiting: [LOGS] });
    // Another tick meanwhile is an overlap: the round is already owed.
    const again = transition(ticked.state, tick, 5060, cfg);
    expect(again.actions).toEqual([report({ kind: 'overlapped' })]);
    expect(again.state).toBe(ticked.state);

    const results = [automountFailed(DAGS)];
    const end = transition(ticked.state, probed(results, 60), 5100, cfg);
    expect(end.actions).toEqual([
      report({ kind: 'probed', results, cycleMs: 60 }),
      { kind: 'observe-holders', results, batch: null },
      report({ kind: 'cycle-finished', autofsRunning: null, scheduled: false }),
      setWake(5100 + AUTOMOUNT_RETRY_MS),
      probe([LOGS]),
    ]);
    expect(end.state.cycle).toEqual({ kind: 'scheduled', paths: [LOGS] });
    expect(end.state.tickWaiting).toBeNull();
    expect(end.state.lastScheduledCycleAt).toBe(40); // a wake-up is not the schedule
    expect(end.state.wake).toEqual({ at: 5100 + AUTOMOUNT_RETRY_MS, paths: [DAGS] });

    const owed = transition(end.state, probed([ok(LOGS)]), 5150, cfg);
    expect(owed.actions).toContainEqual(report({ kind: 'cycle-finished', autofsRunning: null, scheduled: true }));
    expect(owed.actions.filter((a) => a.kind === 'probe')).toEqual([]);
    expect(owed.state.cycle).toBeNull();
    expect(owed.state.lastScheduledCycleAt).toBe(5150);
  });
});

describe('a round ends', () => {
  it('all ok: reported, told to the holder watch, no decision to act on, no wake-up', () => {
    const s = reach([[start, 0]]);
    const results = [ok(DAGS), ok(LOGS)];
    const { state, actions } = transition(s, probed(results, 40, true), 40, cfg);
    expect(actions).toEqual([
      report({ kind: 'probed', results, cycleMs: 40 }),
      { kind: 'observe-holders', results, batch: null },
      report({ kind: 'health', event: { kind: 'initial', path: DAGS, result: 'ok' }, result: results[0] }),
      report({ kind: 'health', event: { kind: 'initial', path: LOGS, result: 'ok' }, result: results[1] }),
      report({ kind: 'cycle-finished', autofsRunning: true, scheduled: true }),
      clearWake,
    ]);
    const healthy = { result: 'ok', hangAt: null, failingSince: null, failedRecoveries: 0, nextRecoveryAt: 0, wait: 'cooldown' };
    expect(state).toEqual({
      ...initialState(),
      latest: new Map([
        [DAGS, results[0]],
        [LOGS, results[1]],
      ]),
      health: new Map([
        [DAGS, healthy],
        [LOGS, healthy],
      ]),
      hangWaitDone: true,
      lastScheduledCycleAt: 40,
    });
  });

  it("a wake-up's end does not move lastScheduledCycleAt; a scheduled round's does", () => {
    const s = { ...afterFirst([ok(DAGS), ok(LOGS)]), cycle: { kind: 'wake', paths: [DAGS] } } as const;
    const woke = transition(s, probed([ok(DAGS)]), 10_000, cfg);
    expect(woke.actions).toContainEqual(report({ kind: 'cycle-finished', autofsRunning: null, scheduled: false }));
    expect(woke.state.lastScheduledCycleAt).toBe(40);
    const ticked = transition(transition(woke.state, tick, 30_000, cfg).state, probed([ok(DAGS), ok(LOGS)]), 30_040, cfg);
    expect(ticked.state.lastScheduledCycleAt).toBe(30_040);
  });

  it('a probed event with no round running changes nothing', () => {
    const s = afterFirst([ok(DAGS), ok(LOGS)]);
    expect(transition(s, probed([ok(DAGS)]), 100, cfg)).toEqual({ state: s, actions: [] });
  });

  it('ESTALE: a recovery of that path starts, the wake-up cleared', () => {
    const results = [failed(DAGS, 'ESTALE'), ok(LOGS)];
    const { state, actions } = transition(reach([[start, 0]]), probed(results), 40, cfg);
    expect(actions).toEqual([
      report({ kind: 'probed', results, cycleMs: 40 }),
      { kind: 'observe-holders', results, batch: null },
      report({ kind: 'health', event: { kind: 'initial', path: DAGS, result: 'ESTALE' }, result: results[0] }),
      report({ kind: 'health', event: { kind: 'initial', path: LOGS, result: 'ok' }, result: results[1] }),
      report({ kind: 'cycle-finished', autofsRunning: null, scheduled: true }),
      report({ kind: 'recovery-started', targets: [dagsTarget] }),
      clearWake,
      { kind: 'recover', targets: [dagsTarget], dryRun: false },
    ]);
    expect(state.recovery).toEqual({ targets: [dagsTarget], batch: 'recovery 1', startedAt: 40 });
    expect(state.recoveries).toBe(1);
    expect(state.wake).toBeNull();
    expect(state.hold).toBeNull();
    expect(state.cycle).toBeNull();
    expect(state.health.get(DAGS)).toEqual({
      result: 'ESTALE',
      hangAt: null,
      failingSince: 40,
      failedRecoveries: 0,
      nextRecoveryAt: 0,
      wait: 'cooldown',
    });
  });

  it('dry run: the same recovery, planned only; the count of real recoveries stays at 0', () => {
    const dry = configWith({ dryRun: true });
    const { state, actions } = transition(reach([[start, 0]], dry), probed([failed(DAGS, 'ESTALE'), ok(LOGS)]), 40, dry);
    expect(actions.slice(-3)).toEqual([
      report({ kind: 'recovery-started', targets: [dagsTarget] }),
      clearWake,
      { kind: 'recover', targets: [dagsTarget], dryRun: true },
    ]);
    expect(state.recovery).toEqual({ targets: [dagsTarget], batch: 'recovery 0', startedAt: 40 });
    expect(state.recoveries).toBe(0);
  });

  it('a round while a recovery runs: reported with its batch, no decision', () => {
    const s = transition(recovering(), tick, 5000, cfg).state;
    const results = [failed(DAGS, 'ESTALE'), failed(LOGS, 'EIO')];
    const { state, actions } = transition(s, probed(results), 5040, cfg);
    expect(actions).toEqual([
      report({ kind: 'probed', results, cycleMs: 40 }),
      { kind: 'observe-holders', results, batch: 'recovery 1' },
      report({ kind: 'health', event: { kind: 'failing', path: LOGS, result: 'EIO', previous: 'ok' }, result: results[1] }),
      report({ kind: 'cycle-finished', autofsRunning: null, scheduled: true }),
    ]);
    expect(state.recovery).toBe(s.recovery);
    expect(state.recoveries).toBe(1);
    expect(state.hold).toBeNull();
    expect(state.wake).toBeNull();
    expect(state.lastScheduledCycleAt).toBe(5040);
  });

  it('a hang and a call within HANG_JOIN_MS of becoming one: one recovery for both, each with its call’s age', () => {
    const s = reach([[start, 0]]);
    const results = [timedOut(DAGS, 15_000), timedOut(LOGS, 14_500)];
    const { state, actions } = transition(s, probed(results), 20_000, cfg);
    const targets: RecoveryTarget[] = [
      { path: DAGS, mountId: 41, underAutofs: false, result: 'timeout', blockedMs: 15_000 },
      { path: LOGS, mountId: 42, underAutofs: false, result: 'timeout', blockedMs: 14_500 },
    ];
    expect(actions.slice(-2)).toEqual([clearWake, { kind: 'recover', targets, dryRun: false }]);
    expect(state.recovery?.targets).toEqual(targets);
  });
});

describe('a recovery ends', () => {
  it('the path is ok again: reported, recovery cleared, the cooldown set, no wake-up', () => {
    const s = recovering();
    const reprobe = [ok(DAGS)];
    const done = recoveredReport(reprobe, []);
    const { state, actions } = transition(s, { kind: 'recovered', report: done }, 3000, cfg);
    expect(actions).toEqual([
      report({ kind: 'probed', results: reprobe, cycleMs: 0 }),
      { kind: 'observe-holders', results: reprobe, batch: 'recovery 1' },
      report({ kind: 'health', event: { kind: 'recovered', path: DAGS, previous: 'ESTALE', downMs: 2960 }, result: reprobe[0] }),
      report({ kind: 'recovery-finished', report: done, targets: [dagsTarget] }),
      clearWake,
    ]);
    expect(state.recovery).toBeNull();
    expect(state.recoveries).toBe(1);
    expect(state.latest.get(DAGS)).toBe(reprobe[0]);
    expect(state.health.get(DAGS)).toEqual({
      result: 'ok',
      hangAt: null,
      failingSince: null,
      failedRecoveries: 0,
      nextRecoveryAt: 3000 + 30_000,
      wait: 'cooldown',
    });
    expect(state.hold).toBeNull();
    expect(state.wake).toBeNull();
  });

  it('the path still failing: it backs off, held (not reported) until then, every path probed when the backoff ends', () => {
    const reprobe = [failed(DAGS, 'ESTALE')];
    const done = recoveredReport(reprobe, [DAGS]);
    const { state, actions } = transition(recovering(), { kind: 'recovered', report: done }, 3000, cfg);
    expect(actions).toEqual([
      report({ kind: 'probed', results: reprobe, cycleMs: 0 }),
      { kind: 'observe-holders', results: reprobe, batch: 'recovery 1' },
      report({ kind: 'recovery-finished', report: done, targets: [dagsTarget] }),
      setWake(33_000),
    ]);
    expect(state.health.get(DAGS)).toEqual({
      result: 'ESTALE',
      hangAt: null,
      failingSince: 40,
      failedRecoveries: 1,
      nextRecoveryAt: 33_000,
      wait: 'backoff',
    });
    expect(state.hold).toEqual({ kind: 'hold', reason: 'backoff', targets: [DAGS], untilMs: 33_000 });
    expect(state.wake).toEqual({ at: 33_000, paths: PATHS });
  });

  it('a second path failed while the recovery ran: a wake-up now, over every path, to recover it on fresh probes', () => {
    let s = transition(recovering(), tick, 5000, cfg).state;
    s = transition(s, probed([failed(DAGS, 'ESTALE'), failed(LOGS, 'EIO')]), 5040, cfg).state;
    const reprobe = [ok(DAGS)];
    const done = recoveredReport(reprobe, []);
    const { state, actions } = transition(s, { kind: 'recovered', report: done }, 6000, cfg);
    expect(actions).toEqual([
      report({ kind: 'probed', results: reprobe, cycleMs: 0 }),
      { kind: 'observe-holders', results: reprobe, batch: 'recovery 1' },
      report({ kind: 'health', event: { kind: 'recovered', path: DAGS, previous: 'ESTALE', downMs: 5960 }, result: reprobe[0] }),
      report({ kind: 'recovery-finished', report: done, targets: [dagsTarget] }),
      setWake(6000),
    ]);
    expect(state.recovery).toBeNull();
    expect(state.wake).toEqual({ at: 6000, paths: PATHS });

    const woken = transition(state, wake, 6000, cfg);
    expect(woken.actions).toEqual([probe(PATHS)]);
    const again = transition(woken.state, probed([ok(DAGS), failed(LOGS, 'EIO')]), 6040, cfg);
    const logsTarget: RecoveryTarget = { path: LOGS, mountId: 42, underAutofs: false, result: 'EIO', blockedMs: null };
    expect(again.actions.slice(-2)).toEqual([clearWake, { kind: 'recover', targets: [logsTarget], dryRun: false }]);
    expect(again.state.recovery?.batch).toBe('recovery 2');
    expect(again.state.recoveries).toBe(2);
  });

  it('a dry run changed nothing: no re-probe, its paths back off as after a failed recovery', () => {
    const dry = configWith({ dryRun: true });
    const s = afterFirst([failed(DAGS, 'ESTALE'), ok(LOGS)], dry);
    const plan: DryRunReport = { result: 'dry_run', wouldRun: [['umount', '-a', '-t', 'nfs,nfs4']], collateral: [] };
    const { state, actions } = transition(s, { kind: 'recovered', report: plan }, 50, dry);
    expect(actions).toEqual([report({ kind: 'recovery-finished', report: plan, targets: [dagsTarget] }), setWake(30_050)]);
    expect(state.health.get(DAGS)?.failedRecoveries).toBe(1);
    expect(state.hold).toEqual({ kind: 'hold', reason: 'backoff', targets: [DAGS], untilMs: 30_050 });
    expect(state.recoveries).toBe(0);
    expect(state.recovery).toBeNull();
  });

  it('a recovered event with no recovery running changes nothing', () => {
    const s = afterFirst([ok(DAGS), ok(LOGS)]);
    expect(transition(s, { kind: 'recovered', report: recoveredReport([ok(DAGS)], []) }, 100, cfg)).toEqual({ state: s, actions: [] });
  });

  it('steps and collateral are reported as they come, nothing else', () => {
    const s = recovering();
    const outcome: CommandOutcome = {
      argv: ['umount', '-a', '-t', 'nfs,nfs4'],
      status: 'ok',
      exitCode: 0,
      signal: null,
      output: '',
      durationMs: 12,
    };
    const step: StepReport = { kind: 'command', outcome };
    expect(transition(s, { kind: 'step', step }, 100, cfg)).toEqual({ state: s, actions: [report({ kind: 'step', step })] });
    const collateral: CollateralReport = {
      mountPoint: '/mnt/static',
      fstype: 'nfs4',
      source: 'srv:/mnt/static',
      via: 'fstab',
      outcome: 'remounted',
      command: { ...outcome, argv: ['mount', '/mnt/static'] },
      argv: ['mount', '/mnt/static'],
      server: { host: 'srv', port: 2049 },
    };
    expect(transition(s, { kind: 'collateral', report: collateral }, 100, cfg)).toEqual({
      state: s,
      actions: [report({ kind: 'collateral', report: collateral })],
    });
  });
});

describe('holds', () => {
  it('cooldown: a path failing again within its cooldown is held, and woken for when the cooldown ends', () => {
    let s = transition(recovering(), { kind: 'recovered', report: recoveredReport([ok(DAGS)], []) }, 3000, cfg).state;
    s = transition(s, tick, 10_000, cfg).state;
    const results = [failed(DAGS, 'ESTALE'), ok(LOGS)];
    const { state, actions } = transition(s, probed(results), 10_040, cfg);
    const hold: Hold = { kind: 'hold', reason: 'cooldown', targets: [DAGS], untilMs: 33_000 };
    expect(actions).toEqual([
      report({ kind: 'probed', results, cycleMs: 40 }),
      { kind: 'observe-holders', results, batch: null },
      report({ kind: 'health', event: { kind: 'failing', path: DAGS, result: 'ESTALE', previous: 'ok' }, result: results[0] }),
      report({ kind: 'cycle-finished', autofsRunning: null, scheduled: true }),
      report({ kind: 'held', hold }),
      setWake(33_000),
    ]);
    expect(state.hold).toEqual(hold);
    expect(state.wake).toEqual({ at: 33_000, paths: PATHS });
    expect(state.recovery).toBeNull();
  });

  it('disabled: held for good, no wake-up', () => {
    const off = configWith({ enabled: false });
    const { state, actions } = transition(reach([[start, 0]], off), probed([failed(DAGS, 'ESTALE'), ok(LOGS)]), 40, off);
    const hold: Hold = { kind: 'hold', reason: 'disabled', targets: [DAGS], untilMs: null };
    expect(actions.slice(-2)).toEqual([report({ kind: 'held', hold }), clearWake]);
    expect(state.hold).toEqual(hold);
    expect(state.wake).toBeNull();
    expect(state.recovery).toBeNull();
  });
});

describe('blocked calls', () => {
  // dags' call has been blocked 5 s at 5000: it becomes a hang at 15 000.
  const young = (): ControllerState =>
    reach([
      [start, 0],
      [probed([timedOut(DAGS, 5000), ok(LOGS)]), 5000],
    ]);

  it('a timeout younger than hang_after: no recovery, a wake-up the moment it becomes a hang', () => {
    const { state, actions } = transition(reach([[start, 0]]), probed([timedOut(DAGS, 5000), ok(LOGS)]), 5000, cfg);
    expect(actions.filter((a) => a.kind === 'recover' || (a.kind === 'report' && a.report.kind === 'held'))).toEqual([]);
    expect(actions.at(-1)).toEqual(setWake(15_000));
    expect(state.wake).toEqual({ at: 15_000, paths: [DAGS] });
    expect(state.health.get(DAGS)?.hangAt).toBe(15_000);

    const woken = transition(state, wake, 15_000, cfg);
    expect(woken.actions).toEqual([probe([DAGS])]);
    const hung = transition(woken.state, probed([timedOut(DAGS, 15_000)]), 15_000, cfg);
    const target: RecoveryTarget = { path: DAGS, mountId: 41, underAutofs: false, result: 'timeout', blockedMs: 15_000 };
    expect(hung.actions.slice(-2)).toEqual([clearWake, { kind: 'recover', targets: [target], dryRun: false }]);
  });

  it('its call returns, none left blocked: reported as not hung, the wake-up cleared', () => {
    const call = released(DAGS, 7000, 0);
    const { state, actions } = transition(young(), { kind: 'released', call }, 7000, cfg);
    expect(actions).toEqual([report({ kind: 'released', call, hung: false }), clearWake]);
    expect(state.health.get(DAGS)?.hangAt).toBeNull();
    expect(state.wake).toBeNull();
  });

  it('its call returns with another still blocked on the path: only the report', () => {
    const s = young();
    const call = released(DAGS, 7000, 1);
    const { state, actions } = transition(s, { kind: 'released', call }, 7000, cfg);
    expect(actions).toEqual([report({ kind: 'released', call, hung: false })]);
    expect(state).toBe(s);
  });

  it('a call that returns after hang_after is reported as hung', () => {
    const call = released(DAGS, 15_000, 1);
    expect(transition(young(), { kind: 'released', call }, 15_000, cfg).actions).toEqual([report({ kind: 'released', call, hung: true })]);
  });
});

describe('wake-ups', () => {
  it("a path in autofs' negative cache: a wake-up for it alone, AUTOMOUNT_RETRY_MS on", () => {
    const { state, actions } = transition(reach([[start, 0]]), probed([automountFailed(DAGS), ok(LOGS)]), 40, cfg);
    expect(actions.at(-1)).toEqual(setWake(40 + AUTOMOUNT_RETRY_MS));
    expect(state.wake).toEqual({ at: 40 + AUTOMOUNT_RETRY_MS, paths: [DAGS] });
    expect(actions.filter((a) => a.kind === 'recover')).toEqual([]);
  });

  it("a wake-up due: a round of exactly the wake-up's paths", () => {
    const s = { ...afterFirst([ok(DAGS), ok(LOGS)]), wake: { at: 9000, paths: [LOGS] } };
    const { state, actions } = transition(s, wake, 9000, cfg);
    expect(actions).toEqual([probe([LOGS])]);
    expect(state).toEqual({ ...s, wake: null, cycle: { kind: 'wake', paths: [LOGS] } });
  });

  it('a wake-up due while a round runs: nothing started, the round decides', () => {
    const s = { ...reach([[tick, 0]]), wake: { at: 100, paths: [DAGS] } };
    const { state, actions } = transition(s, wake, 100, cfg);
    expect(actions).toEqual([]);
    expect(state).toEqual({ ...s, wake: null });
  });

  it('a wake event with no wake-up planned changes nothing', () => {
    const s = afterFirst([ok(DAGS), ok(LOGS)]);
    const { state, actions } = transition(s, wake, 100, cfg);
    expect(actions).toEqual([]);
    expect(state).toEqual(s);
  });
});

describe('kernel evidence', () => {
  const estale = (path: string): Evidence => ({ path, kind: 'errors', moved: { GETATTR: { errors: 3 } }, sampleMs: 1000 });
  const gone = (path: string, after: number | null): Evidence => ({
    path,
    kind: 'mount_table',
    moved: {},
    mountIds: { before: MOUNT_ID[path]!, after },
    sampleMs: 1000,
  });
  const ev = (e: Evidence): ControllerEvent => ({ kind: 'evidence', evidence: e });
  const healthy = (): ControllerState => afterFirst([ok(DAGS), ok(LOGS)]);

  const prepare: ControllerAction = { kind: 'prepare' };

  it('on a healthy path: reported, a recovery prepared for, and an early round at once, that path first, then the others', () => {
    const s = healthy();
    const { state, actions } = transition(s, ev(estale(LOGS)), 10_000, cfg);
    expect(actions).toEqual([report({ kind: 'early-probe', evidence: estale(LOGS) }), prepare, probe([LOGS, DAGS])]);
    expect(state.cycle).toEqual({ kind: 'early', paths: [LOGS, DAGS], evidence: [estale(LOGS)] });
    expect(state.earlyAt).toEqual(new Map([[LOGS, 10_000]]));
  });

  it('evidence for another path of the early round under way adds nothing (mounts of one server move together)', () => {
    const s = transition(healthy(), ev(estale(DAGS)), 10_000, cfg).state;
    expect(transition(s, ev(estale(LOGS)), 10_000, cfg)).toEqual({ state: s, actions: [] });
  });

  it('a tick during an early round (which probes every path) makes it the scheduled round', () => {
    const s = transition(healthy(), ev(estale(DAGS)), 29_990, cfg).state;
    const ticked = transition(s, tick, 30_000, cfg);
    expect(ticked.actions).toEqual([]);
    expect(ticked.state.cycle).toEqual({ kind: 'scheduled', paths: [DAGS, LOGS], evidence: [estale(DAGS)] });
  });

  it('the early round decides as any round: ESTALE found, the recovery starts; the result is reported with its evidence', () => {
    const s = transition(healthy(), ev(estale(DAGS)), 10_000, cfg).state;
    const result = failed(DAGS, 'ESTALE');
    const { state, actions } = transition(s, probed([result]), 10_040, cfg);
    expect(actions).toContainEqual(report({ kind: 'early-probed', evidence: estale(DAGS), result }));
    expect(actions).toContainEqual({ kind: 'recover', targets: [dagsTarget], dryRun: false });
    expect(actions).toContainEqual(report({ kind: 'cycle-finished', autofsRunning: null, scheduled: false }));
    // An early round is not the schedule's: /healthz still judges the ticks.
    expect(state.lastScheduledCycleAt).toBe(40);
  });

  it('the early round finds the path healthy: reported with its evidence, nothing else done', () => {
    const s = transition(healthy(), ev(estale(DAGS)), 10_000, cfg).state;
    const { state, actions } = transition(s, probed([ok(DAGS)]), 10_040, cfg);
    expect(actions).toContainEqual(report({ kind: 'early-probed', evidence: estale(DAGS), result: ok(DAGS) }));
    expect(actions.filter((a) => a.kind === 'recover' || a.kind === 'probe')).toEqual([]);
    expect(state.recovery).toBeNull();
  });

  it('at most one early probe per path per early_probe_gap; another path is not held back', () => {
    let s = transition(healthy(), ev(estale(DAGS)), 10_000, cfg).state;
    s = transition(s, probed([ok(DAGS)]), 10_040, cfg).state;
    expect(transition(s, ev(estale(DAGS)), 14_999, cfg).actions).toEqual([]);
    expect(transition(s, ev(estale(DAGS)), 15_000, cfg).actions).toEqual([
      report({ kind: 'early-probe', evidence: estale(DAGS) }),
      prepare,
      probe([DAGS, LOGS]),
    ]);
    expect(transition(s, ev(estale(LOGS)), 11_000, cfg).actions).toEqual([
      report({ kind: 'early-probe', evidence: estale(LOGS) }),
      prepare,
      probe([LOGS, DAGS]),
    ]);
  });

  /** A wake-up round of logs alone under way at 10 000 (autofs had not mounted it). */
  const wakingLogs = (): ControllerState => ({ ...healthy(), cycle: { kind: 'wake', paths: [LOGS] } });

  it('evidence during a round for other paths waits for its end, then gets its early round', () => {
    const during = transition(wakingLogs(), ev(estale(DAGS)), 10_010, cfg);
    expect(during.actions).toEqual([report({ kind: 'early-probe', evidence: estale(DAGS) }), prepare]);
    expect(during.state.earlyWaiting).toEqual([estale(DAGS)]);
    const end = transition(during.state, probed([ok(LOGS)]), 10_040, cfg);
    expect(end.actions.at(-1)).toEqual(probe([DAGS, LOGS]));
    expect(end.state.cycle).toEqual({ kind: 'early', paths: [DAGS, LOGS], evidence: [estale(DAGS)] });
    expect(end.state.earlyWaiting).toEqual([]);
  });

  it('waiting evidence made moot by a recovery the round started is dropped', () => {
    const during = transition(wakingLogs(), ev(estale(DAGS)), 10_010, cfg).state;
    const end = transition(during, probed([failed(LOGS, 'ESTALE')]), 10_040, cfg);
    expect(end.state.recovery).not.toBeNull();
    expect(end.actions.filter((a) => a.kind === 'probe')).toEqual([]);
    expect(end.state.earlyWaiting).toEqual([]);
  });

  it('nothing for a path a round is probing, a path known to fail, during a recovery, when stopping, or in once mode', () => {
    const probing = reach([[tick, 0]]);
    expect(transition(probing, ev(estale(DAGS)), 10, cfg)).toEqual({ state: probing, actions: [] });
    const failing = afterFirst([automountFailed(DAGS), ok(LOGS)]);
    expect(transition(failing, ev(estale(DAGS)), 10_000, cfg)).toEqual({ state: failing, actions: [] });
    const recoveringNow = recovering();
    expect(transition(recoveringNow, ev(estale(LOGS)), 10_000, cfg)).toEqual({ state: recoveringNow, actions: [] });
    const stopped = transition(healthy(), stop, 9_000, cfg).state;
    expect(transition(stopped, ev(estale(DAGS)), 10_000, cfg)).toEqual({ state: stopped, actions: [] });
    const once = configWith({}, true);
    const checked = afterFirst([ok(DAGS), ok(LOGS)], once);
    expect(transition(checked, ev(estale(DAGS)), 10_000, once)).toEqual({ state: checked, actions: [] });
  });

  it('a mount that left the table is probed; the mount a probe already saw is no news', () => {
    const s = healthy();
    expect(transition(s, ev(gone(DAGS, null)), 10_000, cfg).actions).toContainEqual(probe([DAGS, LOGS]));
    expect(transition(s, ev(gone(DAGS, 77)), 10_000, cfg).actions).toContainEqual(probe([DAGS, LOGS]));
    // After a recovery autofs mounted 77, and the recovery's re-probe saw it.
    const seen = { ...s, latest: new Map(s.latest).set(DAGS, { ...ok(DAGS), mountId: 77 }) };
    expect(transition(seen, ev(gone(DAGS, 77)), 10_000, cfg).actions).toEqual([]);
  });

  it('before any probe of the path, evidence is probed', () => {
    const s = reach([[start, 0]]);
    const early = transition({ ...s, cycle: null }, ev(estale(DAGS)), 100, cfg);
    expect(early.actions).toContainEqual(probe([DAGS, LOGS]));
  });
});

describe('stop', () => {
  it('clears the wake-up; later wake-ups and released calls do nothing but report', () => {
    const s = afterFirst([automountFailed(DAGS), ok(LOGS)]);
    const stopped = transition(s, stop, 1000, cfg);
    expect(stopped.actions).toEqual([clearWake]);
    expect(stopped.state).toEqual({ ...s, stopping: true, wake: null });

    expect(transition(stopped.state, wake, 5040, cfg)).toEqual({ state: stopped.state, actions: [] });
    const call = released(DAGS, 7000, 0);
    expect(transition(stopped.state, { kind: 'released', call }, 7000, cfg)).toEqual({
      state: stopped.state,
      actions: [report({ kind: 'released', call, hung: false })],
    });
  });

  it('a round owed to a tick is not started after stop', () => {
    let s = afterFirst([automountFailed(DAGS), ok(LOGS)]);
    s = transition(s, wake, 5040, cfg).state;
    s = transition(s, tick, 5050, cfg).state;
    expect(s.tickWaiting).toEqual([LOGS]);
    s = transition(s, stop, 5060, cfg).state;
    const { state, actions } = transition(s, probed([automountFailed(DAGS)]), 5100, cfg);
    expect(actions.filter((a) => a.kind === 'probe')).toEqual([]);
    expect(state.cycle).toBeNull();
    expect(state.tickWaiting).toBeNull();
    // The round running when stop came decides nothing: no wake-up is set again after stop cleared it.
    expect(actions.filter((a) => a.kind === 'set-wake' || a.kind === 'clear-wake')).toEqual([]);
    expect(state.wake).toBeNull();
  });

  it('the round running at stop starts no recovery: an unmount begun during shutdown would be cut off', () => {
    const s = transition(reach([[tick, 0]]), stop, 10, cfg).state;
    const { state, actions } = transition(s, probed([failed(DAGS, 'ESTALE'), ok(LOGS)]), 40, cfg);
    expect(actions.filter((a) => a.kind === 'recover' || a.kind === 'set-wake')).toEqual([]);
    expect(state.recovery).toBeNull();
    expect(state.latest.get(DAGS)?.result).toBe('ESTALE'); // still recorded and reported
  });

  it('a recovery ending after stop: recorded, no decision, no wake-up', () => {
    const s = transition(recovering(), stop, 1000, cfg).state;
    const done = recoveredReport([failed(DAGS, 'ESTALE')], [DAGS]);
    const { state, actions } = transition(s, { kind: 'recovered', report: done }, 3000, cfg);
    expect(actions.filter((a) => a.kind === 'set-wake' || a.kind === 'clear-wake')).toEqual([]);
    expect(actions.at(-1)).toEqual(report({ kind: 'recovery-finished', report: done, targets: [dagsTarget] }));
    expect(state.health.get(DAGS)?.wait).toBe('backoff');
    expect(state.wake).toBeNull();
    expect(state.hold).toBeNull();
  });
});

describe('once mode (check)', () => {
  const once = controllerConfig(defaultConfig, true);

  it('blocked calls younger than hang_after are waited for, to the latest, then probed again and decided once', () => {
    // dags blocked 5 s (a hang at 15 000), logs 2 s (at 18 000).
    const s = reach([[start, 0]], once);
    const first = [timedOut(DAGS, 5000), timedOut(LOGS, 2000)];
    const waiting = transition(s, probed(first), 5000, once);
    expect(waiting.actions).toEqual([
      report({ kind: 'probed', results: first, cycleMs: 40 }),
      { kind: 'observe-holders', results: first, batch: null },
      report({ kind: 'health', event: { kind: 'initial', path: DAGS, result: 'timeout' }, result: first[0] }),
      report({ kind: 'health', event: { kind: 'initial', path: LOGS, result: 'timeout' }, result: first[1] }),
      report({ kind: 'cycle-finished', autofsRunning: null, scheduled: true }),
      report({ kind: 'waiting-for-hangs', paths: [DAGS, LOGS], ms: 13_000 }),
      setWake(18_000),
    ]);
    expect(waiting.state.hangWaitDone).toBe(true);
    expect(waiting.state.wake).toEqual({ at: 18_000, paths: [DAGS, LOGS] });
    expect(waiting.state.recovery).toBeNull();

    const woken = transition(waiting.state, wake, 18_000, once);
    expect(woken.actions).toEqual([probe([DAGS, LOGS])]);

    const again = [timedOut(DAGS, 18_000), timedOut(LOGS, 15_000)];
    const decided = transition(woken.state, probed(again), 18_000, once);
    const targets: RecoveryTarget[] = [
      { path: DAGS, mountId: 41, underAutofs: false, result: 'timeout', blockedMs: 18_000 },
      { path: LOGS, mountId: 42, underAutofs: false, result: 'timeout', blockedMs: 15_000 },
    ];
    expect(decided.actions).toEqual([
      report({ kind: 'probed', results: again, cycleMs: 40 }),
      { kind: 'observe-holders', results: again, batch: null },
      report({ kind: 'cycle-finished', autofsRunning: null, scheduled: false }),
      report({ kind: 'recovery-started', targets }),
      clearWake,
      { kind: 'recover', targets, dryRun: false },
    ]);

    const reprobe = [ok(DAGS), ok(LOGS)];
    const done = recoveredReport(reprobe, []);
    const finished = transition(decided.state, { kind: 'recovered', report: done }, 20_000, once);
    expect(finished.actions).toEqual([
      report({ kind: 'probed', results: reprobe, cycleMs: 0 }),
      { kind: 'observe-holders', results: reprobe, batch: 'recovery 1' },
      report({ kind: 'health', event: { kind: 'recovered', path: DAGS, previous: 'timeout', downMs: 15_000 }, result: reprobe[0] }),
      report({ kind: 'health', event: { kind: 'recovered', path: LOGS, previous: 'timeout', downMs: 15_000 }, result: reprobe[1] }),
      report({ kind: 'recovery-finished', report: done, targets }),
    ]);
    expect(finished.state.recovery).toBeNull();
    expect(finished.state.wake).toBeNull();
    expect(finished.state.cycle).toBeNull();
  });

  it('all ok: no wake-up planned, not even a clear', () => {
    const results = [ok(DAGS), ok(LOGS)];
    const { state, actions } = transition(reach([[start, 0]], once), probed(results), 40, once);
    expect(actions.at(-1)).toEqual(report({ kind: 'cycle-finished', autofsRunning: null, scheduled: true }));
    expect(state.wake).toBeNull();
    expect(state.hangWaitDone).toBe(true);
  });

  it('recovery disabled: no wait for young calls, held as disabled, no wake-up', () => {
    const off = configWith({ enabled: false }, true);
    const { state, actions } = transition(reach([[start, 0]], off), probed([failed(DAGS, 'ESTALE'), timedOut(LOGS, 2000)]), 5000, off);
    const hold: Hold = { kind: 'hold', reason: 'disabled', targets: [DAGS], untilMs: null };
    expect(actions.at(-1)).toEqual(report({ kind: 'held', hold }));
    expect(actions.filter((a) => a.kind !== 'report' && a.kind !== 'observe-holders')).toEqual([]);
    expect(state.hold).toEqual(hold);
    expect(state.wake).toBeNull();
    expect(state.hangWaitDone).toBe(true);
  });
});
