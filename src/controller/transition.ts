// The controller's whole decision: (state, event, now) → next state and the actions to run. No I/O,
// no timers: every rule of when to probe, recover and wake up is here, tested event by event.
//
// Rules kept here: one probe round at a time (a tick meeting one is skipped and said, unless the
// round under way is the first or a wake-up, which serves it); one recovery at a time, beside the
// rounds, never inside one (its steps may take their full deadlines); the policy decides after each
// round unless a recovery runs; between ticks the controller wakes for a hold's end, a blocked
// call reaching hang_after, and a path autofs has not mounted (src/controller/wake-plan.ts); and
// it probes a healthy path early when the kernel's counters say it may be failing — the probe
// decides, as a tick's would: evidence alone never starts a recovery; and it watches the servers
// of down mounts, and once one answers again resets the client's stalled connections to it,
// reloads autofs for the paths it refuses and puts back static mounts (src/controller/server-return.ts).
import { recoveryTargets } from '../recovery/plan.js';
import type { Evidence } from '../kernel/evidence.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import { blockedMs, decide, observe, pendingHangs, recorded, released } from './policy.js';
import type { ControllerAction, ControllerConfig, ControllerEvent, ControllerState, CycleKind, Report, Transition } from './state.js';
import { planNextCycle } from './wake-plan.js';
import { serverKey } from '../server/address.js';
import type { ServerReport } from '../server/watch.js';
import type { CommandOutcome } from '../exec/runner.js';
import type { CollateralReport } from '../recovery/collateral.js';
import { withPath, type StepReport } from '../recovery/procedure.js';
import {
  downPathsOf,
  pathServerAnswering,
  planPutBack,
  planReload,
  RELOAD_SETTLE_MS,
  sameWatch,
  serversOfPath,
  serversToWatch,
  type PutBack,
  type PutBackReport,
} from './server-return.js';

export function transition(state: ControllerState, event: ControllerEvent, now: number, cfg: ControllerConfig): Transition {
  const at: At = { now, cfg, out: [] };
  const next = apply(state, event, at);
  return { state: cfg.once ? next : serverReturn(next, at), actions: at.out };
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
      const next = { ...s, health: released(s.health, e.call.path) };
      // An automount that ended while its server answers: probed now, a refusal is reloaded for at once.
      const path = e.call.path;
      if (
        next.latest.get(path)?.result === 'automount_timeout' &&
        pathServerAnswering(next, at.cfg, path) &&
        !next.cycle &&
        !next.recovery
      ) {
        return startCycle(next, [path], 'wake', at);
      }
      return replan(next, at);
    }
    case 'step':
      report(at, { kind: 'step', step: e.step });
      return remountFailed(s, e.step, at);
    case 'collateral':
      report(at, { kind: 'collateral', report: e.report });
      return collateralLeft(s, e.report, at);
    case 'at-risk':
      return { ...s, atRisk: e.mounts.map((m) => ({ ...m, since: at.now, tries: 0, lastTryAt: null, running: false })) };
    case 'recovered':
      return recovered({ ...s, atRisk: [] }, e.report, at);
    case 'server':
      return serverSeen(s, e.report, at);
    case 'reloaded':
      return reloaded(s, e.outcome, at);
    case 'put-back':
      return putBackDone(s, e.report, at);
    case 'stalled-reset':
      report(at, { kind: 'stalled-reset', report: e.report });
      return s;
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
  // A mount's server is known from the table while it is mounted, and kept for when it is not.
  const serversOf = new Map(s.serversOf);
  for (const r of results) if (r.server) serversOf.set(r.path, [r.server]);
  // The reloads' backoff lasts while autofs refuses some path; once none is refused it starts over.
  const refused = at.cfg.paths.some((p) => latest.get(p)?.result === 'automount_failed');
  const reload = refused || s.reload.inARow === 0 ? s.reload : { ...s.reload, inARow: 0 };
  return { ...s, latest, health: seen.health, serversOf, reload };
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
    settleUntil: s.reload.settleUntil,
  });
  at.out.push(wake ? { kind: 'set-wake', at: wake.at } : { kind: 'clear-wake' });
  return { ...s, wake };
}

/**
 * After every event: the servers to watch (when the set changed), an autofs reload when a path it
 * refuses has its server answering again, and the static mounts whose server answers put back.
 */
function serverReturn(s: ControllerState, at: At): ControllerState {
  const { now, cfg } = at;
  let next = s;
  const watch = serversToWatch(next, cfg);
  if (!sameWatch(watch, next.watching)) {
    at.out.push({ kind: 'watch-servers', servers: watch });
    const keys = new Set(watch.map((w) => w.key));
    // A server no longer watched is forgotten: watched again, its first check is news again.
    next = { ...next, watching: watch, servers: new Map([...next.servers].filter(([key]) => keys.has(key))) };
  }
  const paths = planReload(next, now, cfg);
  if (paths) {
    const servers = [...new Set(paths.flatMap((p) => serversOfPath(next, cfg, p).map(serverKey)))];
    report(at, { kind: 'autofs-reload', paths, servers, dryRun: cfg.dryRun });
    at.out.push({ kind: 'reload-autofs', argv: cfg.serverReturn.reloadCommand, dryRun: cfg.dryRun });
    next = { ...next, reload: { ...next.reload, lastAt: now, inARow: next.reload.inARow + 1, running: paths } };
  }
  const mounts = planPutBack(next, now, cfg);
  if (mounts.length > 0) {
    at.out.push({ kind: 'put-back', mounts });
    const started = new Set(mounts.map((m) => m.mountPoint));
    next = {
      ...next,
      putBack: next.putBack.map((p) => (started.has(p.mountPoint) ? { ...p, running: true, tries: p.tries + 1, lastTryAt: now } : p)),
    };
  }
  return next;
}

/**
 * The watch's news of a server. Said when it stops answering and when it answers again (with how
 * long it was gone: from the first failed probe of a path of its, or its first unanswered try);
 * a server found answering at its first try is no news.
 */
function serverSeen(s: ControllerState, r: ServerReport, at: At): ControllerState {
  if (!s.watching.some((w) => w.key === r.key)) return s;
  const prev = s.servers.get(r.key);
  const next = { ...s, servers: new Map(s.servers).set(r.key, { address: r.address, answering: r.answering, at: r.at }) };
  if (prev?.answering === r.answering || (r.answering && r.downSince === null)) return next;
  const { paths, since } = downPathsOf(next, at.cfg, r.key);
  const from = [since, r.downSince].filter((t): t is number => t !== null);
  const goneMs = r.answering && from.length > 0 ? Math.max(0, Math.round(r.at - Math.min(...from))) : null;
  report(at, { kind: 'server', report: r, paths, goneMs });
  // Back after a silence: the client's own connection may still wait out its retransmission
  // backoff, and every new mount of the server would queue behind it.
  const watched = next.watching.find((w) => w.key === r.key);
  const c = at.cfg;
  if (watched && r.answering && r.downSince !== null && c.serverReturn.resetStalled && c.policy.enabled) {
    at.out.push({ kind: 'reset-stalled', server: watched, dryRun: c.dryRun });
  }
  // An automount that failed while the server was away is refused from then on: probed now, it is
  // seen refused (and reloaded for) at once rather than at its next retry.
  const pending = paths.filter((p) => next.latest.get(p)?.result === 'automount_timeout');
  if (!r.answering || pending.length === 0 || next.cycle || next.recovery || next.stopping) return next;
  return startCycle(next, pending, 'wake', at);
}

/** The reload is done: its paths are probed at once, and then often while autofs re-reads its maps. */
function reloaded(s: ControllerState, outcome: CommandOutcome | null, at: At): ControllerState {
  const paths = s.reload.running;
  if (!paths) return s;
  report(at, { kind: 'autofs-reloaded', paths, outcome });
  const next = { ...s, reload: { ...s.reload, running: null, settleUntil: at.now + RELOAD_SETTLE_MS } };
  if (next.stopping) return next;
  const down = paths.filter((p) => next.latest.get(p)?.result !== 'ok');
  if (next.cycle || down.length === 0) return next; // the round under way replans when it ends
  return startCycle(next, down, 'wake', at);
}

/** A static mount the recovery could not put back waits for its server (a put-back replaces any before). */
function collateralLeft(s: ControllerState, c: CollateralReport, at: At): ControllerState {
  if (c.outcome === 'remounted' || !c.server) return s;
  return addPutBack(s, { mountPoint: c.mountPoint, argv: c.argv, server: c.server }, at.now);
}

/** A configured path not under autofs whose recovery.remount failed waits for its server likewise. */
function remountFailed(s: ControllerState, step: StepReport, at: At): ControllerState {
  if (step.kind !== 'remount' || step.collateral || step.path === undefined || step.outcome.status === 'ok') return s;
  const server = serversOfPath(s, at.cfg, step.path)[0];
  if (!server) return s;
  return addPutBack(s, { mountPoint: step.path, argv: withPath(at.cfg.serverReturn.remount, step.path), server }, at.now);
}

function addPutBack(s: ControllerState, m: Pick<PutBack, 'mountPoint' | 'argv' | 'server'>, now: number): ControllerState {
  const entry: PutBack = { ...m, since: now, tries: 0, lastTryAt: null, running: false };
  return { ...s, putBack: [...s.putBack.filter((p) => p.mountPoint !== m.mountPoint), entry] };
}

/** A put-back is done: gone from the list once mounted, else tried again after a backoff. */
function putBackDone(s: ControllerState, r: PutBackReport, at: At): ControllerState {
  report(at, { kind: 'put-back', report: r });
  const done = r.outcome === 'remounted' || r.outcome === 'already_mounted';
  return {
    ...s,
    putBack: done
      ? s.putBack.filter((p) => p.mountPoint !== r.mountPoint)
      : s.putBack.map((p) => (p.mountPoint === r.mountPoint ? { ...p, running: false } : p)),
  };
}
