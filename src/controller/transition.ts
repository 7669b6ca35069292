// The controller's whole decision: (state, event, now) → next state and the actions to run. No I/O,
// no timers: every rule of when to probe, recover and wake up is here, tested event by event.
//
// Rules kept here: one probe round at a time (a tick meeting one is skipped and said, unless the
// round under way is the first or a wake-up, which serves it); one recovery at a time, beside the
// rounds, never inside one (its steps may take their full deadlines); the policy decides after each
// round unless a recovery runs; between ticks the controller wakes for a hold's end, a blocked
// call reaching hang_after, and a path autofs has not mounted (src/controller/wake-plan.ts); and
// it probes a healthy path early when the kernel's counters say it may be failing — the probe
// decides, as a tick's would: evidence alone never starts a recovery.
import { recoveryTargets } from '../recovery/plan.js';
import type { Evidence } from '../kernel/evidence.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import { blockedMs, decide, observe, pendingHangs, recorded, released } from './policy.js';
import type { ControllerAction, ControllerConfig, ControllerEvent, ControllerState, CycleKind, Report, Transition } from './state.js';
import { planNextCycle } from './wake-plan.js';

export function transition(state: ControllerState, event: ControllerEvent, now: number, cfg: ControllerConfig): Transition {
  const at: At = { now, cfg, out: [] };
  return { state: apply(state, event, at), actions: at.out };
}

/** One transition's moment, settings, and the actions it has emitted so far. */
interface At {
  readonly now: number;
  readonly cfg: ControllerConfig;
  readonly out: ControllerAction[];
}

const report = (at: At, r: Report): void => void at.out.push({ kind: 'report', report: r });

function apply(s: ControllerState, e: ControllerEvent, at: At): ControllerState {
  switch (e.kind) {
    case 'start':
      return startCycle(s, at.cfg.paths, 'first', at);
    case 'tick':
      return tick(s, at);
    case 'wake': {
      const wake = s.wake;
      const woken = { ...s, wake: null };
      if (!wake || s.stopping || s.cycle) return woken; // a running cycle decides instead
      return startCycle(woken, wake.paths, 'wake', at);
    }
    case 'probed':
      return probed(s, e, at);
    case 'evidence':
      return evidence(s, e.evidence, at);
    case 'released': {
      report(at, { kind: 'released', call: e.call, hung: e.call.blockedMs >= at.cfg.policy.hangAfterMs });
      // With a call still blocked on the path, it may yet be a hang.
      if (e.call.stillStuck > 0 || s.stopping) return s;
      return replan({ ...s, health: released(s.health, e.call.path) }, at);
    }
    case 'step':
      report(at, { kind: 'step', step: e.step });
      return s;
    case 'collateral':
      report(at, { kind: 'collateral', report: e.report });
      return s;
    case 'recovered':
      return recovered(s, e.report, at);
    case 'stop':
      at.out.push({ kind: 'clear-wake' });
      return { ...s, stopping: true, wake: null };
  }
}

function startCycle(s: ControllerState, paths: readonly string[], kind: CycleKind, at: At): ControllerState {
  at.out.push({ kind: 'probe', paths });
  return { ...s, cycle: { kind, paths } };
}

/**
 * The kernel's counters moved on a path. Probed at once when the last probe found it healthy (a
 * path known to fail is the policy's, its own wake-ups included), no recovery runs (it re-probes
 * what it touched), no round is already probing it, and its last early probe is early_probe_gap
 * old; after the round under way when one probes other paths. The early round probes every other
 * path too, after it: mounts of one server fail together, and one recovery for all of them takes
 * the mount table apart once (a recovery for one, then one for the next, runs `umount -a` twice).
 */
function evidence(s: ControllerState, ev: Evidence, at: At): ControllerState {
  const { now, cfg } = at;
  if (cfg.once || !isNews(s, ev)) return s;
  if (s.cycle?.paths.includes(ev.path) || s.earlyWaiting.some((w) => w.path === ev.path)) return s;
  const last = s.earlyAt.get(ev.path);
  if (last !== undefined && now - last < cfg.earlyProbeGapMs) return s;
  report(at, { kind: 'early-probe', evidence: ev });
  at.out.push({ kind: 'prepare' });
  const next = { ...s, earlyAt: new Map(s.earlyAt).set(ev.path, now) };
  if (s.cycle) return { ...next, earlyWaiting: [...s.earlyWaiting, ev] };
  return startEarly(next, [ev], at);
}

/** Whether a probe could tell anything the controller is not already acting on. */
function isNews(s: ControllerState, ev: Evidence): boolean {
  if (s.stopping || s.recovery) return false;
  const latest = s.latest.get(ev.path);
  if (!latest) return true;
  if (latest.result !== 'ok') return false;
  // A mount a probe has already seen (autofs mounting it again, a recovery's new mount) is no news.
  return !(ev.kind === 'mount_table' && (ev.mountIds?.after ?? null) === latest.mountId);
}

function startEarly(s: ControllerState, evidence: readonly Evidence[], at: At): ControllerState {
  const first = evidence.map((e) => e.path);
  const paths = [...first, ...at.cfg.paths.filter((p) => !first.includes(p))];
  at.out.push({ kind: 'probe', paths });
  return { ...s, cycle: { kind: 'early', paths, evidence }, earlyWaiting: [] };
}

/**
 * A tick that finds a scheduled round still running is reported and dropped; one that finds the
 * first round or a wake-up lets it serve the paths it probes and probes the others right after it,
 * so no path misses the round.
 */
function tick(s: ControllerState, at: At): ControllerState {
  const { cfg } = at;
  const c = s.cycle;
  if (!c) return startCycle(s, cfg.paths, 'scheduled', at);
  if (c.kind === 'scheduled' || s.tickWaiting) {
    report(at, { kind: 'overlapped' });
    return s;
  }
  const missed = cfg.paths.filter((p) => !c.paths.includes(p));
  if (missed.length === 0) return { ...s, cycle: { ...c, kind: 'scheduled' } }; // it probes every path: it is this round
  return { ...s, tickWaiting: missed };
}

function probed(s: ControllerState, e: Extract<ControllerEvent, { kind: 'probed' }>, at: At): ControllerState {
  const cycle = s.cycle;
  if (!cycle) return s;
  let next = take(s, e.results, e.cycleMs, at);
  for (const ev of cycle.evidence ?? []) {
    const result = e.results.find((r) => r.path === ev.path);
    if (result) report(at, { kind: 'early-probed', evidence: ev, result });
  }
  const scheduled = cycle.kind === 'first' || cycle.kind === 'scheduled';
  report(at, { kind: 'cycle-finished', autofsRunning: e.autofsRunning, scheduled });
  next = { ...next, cycle: null, tickWaiting: null, lastScheduledCycleAt: scheduled ? at.now : next.lastScheduledCycleAt };
  // One recovery at a time: the running one re-probes what it recovers, and decides after. A
  // stopping daemon decides nothing: an unmount started now would be cut off by the exit.
  if (!next.recovery && !next.stopping) next = decideAndAct(next, at);
  if (s.tickWaiting && !next.stopping) next = startCycle(next, s.tickWaiting, 'scheduled', at);
  // Evidence that came meanwhile, for paths this round did not probe, unless what happened since
  // (a recovery, a failing result) has made it moot.
  if (!next.cycle && next.earlyWaiting.length > 0) {
    const waiting = next.earlyWaiting.filter((ev) => isNews(next, ev));
    next = waiting.length > 0 ? startEarly(next, waiting, at) : { ...next, earlyWaiting: [] };
  }
  return next;
}

/** A round of results in: the latest results, the policy's view, and what is reported of them. */
function take(s: ControllerState, results: readonly ProbeResult[], cycleMs: number, at: At): ControllerState {
  const latest = new Map(s.latest);
  for (const r of results) latest.set(r.path, r);
  report(at, { kind: 'probed', results, cycleMs });
  // A mount that leaves the table while a recovery runs was detached by it, whichever round sees it.
  at.out.push({ kind: 'observe-holders', results, batch: s.recovery?.batch ?? null });
  const seen = observe(s.health, results, at.now, at.cfg.policy);
  for (const event of seen.events) report(at, { kind: 'health', event, result: latest.get(event.path) });
  return { ...s, latest, health: seen.health };
}

function decideAndAct(s: ControllerState, at: At): ControllerState {
  const { now, cfg } = at;
  if (cfg.once && !s.hangWaitDone) {
    // check decides once: a blocked call not yet hang_after old is waited for and probed again first.
    const hangs = cfg.policy.enabled ? pendingHangs(s.health, now, cfg.policy) : [];
    if (hangs.length > 0) {
      const wakeAt = Math.max(...hangs.map((h) => h.at));
      const paths = hangs.map((h) => h.path);
      report(at, { kind: 'waiting-for-hangs', paths, ms: wakeAt - now });
      at.out.push({ kind: 'set-wake', at: wakeAt });
      return { ...s, hangWaitDone: true, wake: { at: wakeAt, paths } };
    }
  }
  const decision = decide(s.health, now, cfg.policy);
  const next = { ...s, hangWaitDone: true, hold: decision.kind === 'hold' ? decision : null };
  if (decision.kind === 'hold') report(at, { kind: 'held', hold: decision });
  if (decision.kind !== 'recover') return replan(next, at);

  // Targets come from triggering results, so each has one.
  const targets = recoveryTargets(
    decision.targets,
    (p) => s.latest.get(p),
    (p) => blockedMs(s.health, p, now, cfg.policy),
  );
  const recoveries = cfg.dryRun ? s.recoveries : s.recoveries + 1;
  report(at, { kind: 'recovery-started', targets });
  at.out.push({ kind: 'clear-wake' }, { kind: 'recover', targets, dryRun: cfg.dryRun });
  return { ...next, wake: null, recoveries, recovery: { targets, batch: `recovery ${recoveries}` } };
}

function recovered(s: ControllerState, done: Extract<ControllerEvent, { kind: 'recovered' }>['report'], at: At): ControllerState {
  const { now, cfg } = at;
  const recovery = s.recovery;
  if (!recovery) return s;
  const next = done.result === 'dry_run' ? s : take(s, done.reprobe, 0, at);
  report(at, { kind: 'recovery-finished', report: done, targets: recovery.targets });
  const paths = recovery.targets.map((t) => t.path);
  // A dry run changed nothing: its paths back off as a failed recovery's would.
  const stillFailing = new Set(done.result === 'dry_run' ? paths : done.stillFailing);
  const after: ControllerState = { ...next, recovery: null, health: recorded(next.health, paths, stillFailing, now, cfg.policy) };
  if (after.stopping || cfg.once) return after;
  // A path that started failing while the recovery ran waited for it; it gets a cycle now, on fresh
  // probes, instead of at the next tick.
  const decision = decide(after.health, now, cfg.policy);
  if (decision.kind === 'recover') {
    at.out.push({ kind: 'set-wake', at: now });
    return { ...after, wake: { at: now, paths: cfg.paths } };
  }
  return replan({ ...after, hold: decision.kind === 'hold' ? decision : null }, at);
}

/** Sets the one wake-up from what the controller waits for; none in once mode. */
function replan(s: ControllerState, at: At): ControllerState {
  const { now, cfg } = at;
  if (cfg.once) return s;
  const wake = planNextCycle({
    now,
    paths: cfg.paths,
    decision: s.hold,
    hangs: pendingHangs(s.health, now, cfg.policy),
    results: cfg.paths.flatMap((p) => s.latest.get(p) ?? []),
  });
  at.out.push(wake ? { kind: 'set-wake', at: wake.at } : { kind: 'clear-wake' });
  return { ...s, wake };
}
