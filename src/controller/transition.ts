// The controller's whole decision: (state, event, now) → next state and the actions to run. No I/O,
// no timers: every rule of when to probe, recover and wake up is here, tested event by event.
//
// Rules kept here: one probe round at a time (a tick meeting one is skipped and said, unless the
// round under way is the first or a wake-up, which serves it); one recovery at a time, beside the
// rounds, never inside one (its steps may take their full deadlines); the policy decides after each
// round unless a recovery runs; between ticks the controller wakes for a hold's end, a blocked
// call reaching hang_after, and a path autofs has not mounted (src/controller/wake-plan.ts).
import { recoveryTargets } from '../recovery/plan.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import { blockedMs, decide, observe, pendingHangs, recorded, released } from './policy.js';
import type { ControllerAction, ControllerConfig, ControllerEvent, ControllerState, CycleKind, Report, Transition } from './state.js';
import { planNextCycle } from './wake-plan.js';

export function transition(state: ControllerState, event: ControllerEvent, now: number, cfg: ControllerConfig): Transition {
  const out: ControllerAction[] = [];
  const next = apply(state, event, now, cfg, out);
  return { state: next, actions: out };
}

type Out = ControllerAction[];

const report = (out: Out, r: Report): void => void out.push({ kind: 'report', report: r });

function apply(s: ControllerState, e: ControllerEvent, now: number, cfg: ControllerConfig, out: Out): ControllerState {
  switch (e.kind) {
    case 'start':
      return startCycle(s, cfg.paths, 'first', out);
    case 'tick':
      return tick(s, cfg, out);
    case 'wake': {
      const wake = s.wake;
      const woken = { ...s, wake: null };
      if (!wake || s.stopping || s.cycle) return woken; // a running cycle decides instead
      return startCycle(woken, wake.paths, 'wake', out);
    }
    case 'probed':
      return probed(s, e, now, cfg, out);
    case 'released': {
      report(out, { kind: 'released', call: e.call, hung: e.call.blockedMs >= cfg.policy.hangAfterMs });
      // With a call still blocked on the path, it may yet be a hang.
      if (e.call.stillStuck > 0 || s.stopping) return s;
      return replan({ ...s, health: released(s.health, e.call.path) }, now, cfg, out);
    }
    case 'step':
      report(out, { kind: 'step', step: e.step });
      return s;
    case 'collateral':
      report(out, { kind: 'collateral', report: e.report });
      return s;
    case 'recovered':
      return recovered(s, e.report, now, cfg, out);
    case 'stop':
      out.push({ kind: 'clear-wake' });
      return { ...s, stopping: true, wake: null };
  }
}

function startCycle(s: ControllerState, paths: readonly string[], kind: CycleKind, out: Out): ControllerState {
  out.push({ kind: 'probe', paths });
  return { ...s, cycle: { kind, paths } };
}

/**
 * A tick that finds a scheduled round still running is reported and dropped; one that finds the
 * first round or a wake-up lets it serve the paths it probes and probes the others right after it,
 * so no path misses the round.
 */
function tick(s: ControllerState, cfg: ControllerConfig, out: Out): ControllerState {
  const c = s.cycle;
  if (!c) return startCycle(s, cfg.paths, 'scheduled', out);
  if (c.kind === 'scheduled' || s.tickWaiting) {
    report(out, { kind: 'overlapped' });
    return s;
  }
  const missed = cfg.paths.filter((p) => !c.paths.includes(p));
  if (missed.length === 0) return { ...s, cycle: { ...c, kind: 'scheduled' } }; // it probes every path: it is this round
  return { ...s, tickWaiting: missed };
}

function probed(
  s: ControllerState,
  e: Extract<ControllerEvent, { kind: 'probed' }>,
  now: number,
  cfg: ControllerConfig,
  out: Out,
): ControllerState {
  const cycle = s.cycle;
  if (!cycle) return s;
  let next = take(s, e.results, e.cycleMs, now, cfg, out);
  const scheduled = cycle.kind !== 'wake';
  report(out, { kind: 'cycle-finished', autofsRunning: e.autofsRunning, scheduled });
  next = { ...next, cycle: null, tickWaiting: null, lastScheduledCycleAt: scheduled ? now : next.lastScheduledCycleAt };
  // One recovery at a time: the running one re-probes what it recovers, and decides after. A
  // stopping daemon decides nothing: an unmount started now would be cut off by the exit.
  if (!next.recovery && !next.stopping) next = decideAndAct(next, now, cfg, out);
  if (s.tickWaiting && !next.stopping) next = startCycle(next, s.tickWaiting, 'scheduled', out);
  return next;
}

/** A round of results in: the latest results, the policy's view, and what is reported of them. */
function take(
  s: ControllerState,
  results: readonly ProbeResult[],
  cycleMs: number,
  now: number,
  cfg: ControllerConfig,
  out: Out,
): ControllerState {
  const latest = new Map(s.latest);
  for (const r of results) latest.set(r.path, r);
  report(out, { kind: 'probed', results, cycleMs });
  // A mount that leaves the table while a recovery runs was detached by it, whichever round sees it.
  out.push({ kind: 'observe-holders', results, batch: s.recovery?.batch ?? null });
  const seen = observe(s.health, results, now, cfg.policy);
  for (const event of seen.events) report(out, { kind: 'health', event, result: latest.get(event.path) });
  return { ...s, latest, health: seen.health };
}

function decideAndAct(s: ControllerState, now: number, cfg: ControllerConfig, out: Out): ControllerState {
  if (cfg.once && !s.hangWaitDone) {
    // check decides once: a blocked call not yet hang_after old is waited for and probed again first.
    const hangs = cfg.policy.enabled ? pendingHangs(s.health, now, cfg.policy) : [];
    if (hangs.length > 0) {
      const at = Math.max(...hangs.map((h) => h.at));
      const paths = hangs.map((h) => h.path);
      report(out, { kind: 'waiting-for-hangs', paths, ms: at - now });
      out.push({ kind: 'set-wake', at });
      return { ...s, hangWaitDone: true, wake: { at, paths } };
    }
  }
  const decision = decide(s.health, now, cfg.policy);
  const next = { ...s, hangWaitDone: true, hold: decision.kind === 'hold' ? decision : null };
  if (decision.kind === 'hold') report(out, { kind: 'held', hold: decision });
  if (decision.kind !== 'recover') return replan(next, now, cfg, out);

  // Targets come from triggering results, so each has one.
  const targets = recoveryTargets(
    decision.targets,
    (p) => s.latest.get(p),
    (p) => blockedMs(s.health, p, now, cfg.policy),
  );
  const recoveries = cfg.dryRun ? s.recoveries : s.recoveries + 1;
  report(out, { kind: 'recovery-started', targets });
  out.push({ kind: 'clear-wake' }, { kind: 'recover', targets, dryRun: cfg.dryRun });
  return { ...next, wake: null, recoveries, recovery: { targets, dryRun: cfg.dryRun, batch: `recovery ${recoveries}` } };
}

function recovered(
  s: ControllerState,
  done: Extract<ControllerEvent, { kind: 'recovered' }>['report'],
  now: number,
  cfg: ControllerConfig,
  out: Out,
): ControllerState {
  const recovery = s.recovery;
  if (!recovery) return s;
  const next = done.result === 'dry_run' ? s : take(s, done.reprobe, 0, now, cfg, out);
  report(out, { kind: 'recovery-finished', report: done, targets: recovery.targets });
  const paths = recovery.targets.map((t) => t.path);
  // A dry run changed nothing: its paths back off as a failed recovery's would.
  const stillFailing = new Set(done.result === 'dry_run' ? paths : done.stillFailing);
  const after: ControllerState = { ...next, recovery: null, health: recorded(next.health, paths, stillFailing, now, cfg.policy) };
  if (after.stopping || cfg.once) return after;
  // A path that started failing while the recovery ran waited for it; it gets a cycle now, on fresh
  // probes, instead of at the next tick.
  const decision = decide(after.health, now, cfg.policy);
  if (decision.kind === 'recover') {
    out.push({ kind: 'set-wake', at: now });
    return { ...after, wake: { at: now, paths: cfg.paths } };
  }
  return replan({ ...after, hold: decision.kind === 'hold' ? decision : null }, now, cfg, out);
}

/** Sets the one wake-up from what the controller waits for; none in once mode. */
function replan(s: ControllerState, now: number, cfg: ControllerConfig, out: Out): ControllerState {
  if (cfg.once) return s;
  const wake = planNextCycle({
    now,
    paths: cfg.paths,
    decision: s.hold,
    hangs: pendingHangs(s.health, now, cfg.policy),
    results: cfg.paths.flatMap((p) => s.latest.get(p) ?? []),
  });
  out.push(wake ? { kind: 'set-wake', at: wake.at } : { kind: 'clear-wake' });
  return { ...s, wake };
}
