// Fires the cycle on the node-cron expression, after a random jitter (to stagger a fleet). Overlap
// is the controller's to refuse; this only keeps time. The expression is node-cron's, parsed by it;
// the timer is ours (see cron-match.ts): one timeout to the next match, nothing ticking between.
import type { Clock, TimerHandle } from './clock.js';
import { cronFields, nextMatch, type CronFields } from './cron-match.js';
import type { Logger } from './observe/log.js';

export interface Schedule {
  stop(): void;
  /** The longest gap between two of the next few ticks: what "late" is measured against. */
  intervalMs: number;
}

export interface ScheduleOptions {
  expression: string;
  jitterMs: number;
  tick: () => void;
  clock: Clock;
  log: Logger;
  random?: () => number;
}

/** The longest single wait: a clock stepped back (NTP, a VM resumed) is noticed within it. */
const MAX_WAIT_MS = 60_000;
/** A tick this late (a blocked loop, a suspended VM) is logged; the ticks it missed are not run. */
const LATE_MS = 1000;

function fieldsOf(expression: string): CronFields {
  const fields = cronFields(expression);
  // The configuration refuses such expressions with a one-line error before we get here.
  if ('error' in fields) throw new Error(`schedule ${JSON.stringify(expression)}: ${fields.error}`);
  return fields;
}

/** What to do when the timer wakes at wall time `now`, aiming at match `due`. */
export interface ScheduleStep {
  /** Run the round now. */
  fire: boolean;
  /** How late the match is, when late enough to be said; null otherwise. */
  lateMs: number | null;
  /** The match aimed at next; null: the expression never matches again. */
  due: number | null;
  /** How long to wait for it (capped at MAX_WAIT_MS); null when `due` is. */
  waitMs: number | null;
}

/**
 * The schedule's whole timing decision, pure. A wake before `due` (a capped wait, or the wall
 * clock stepped back) aims again at the next match from now without firing. A wake at or past
 * `due` fires once, however many matches it slept through, and aims at the next match after now.
 */
export function scheduleStep(fields: CronFields, due: number | null, now: number): ScheduleStep {
  if (due === null) return { fire: false, lateMs: null, due: null, waitMs: null };
  const fire = now >= due;
  const lateMs = fire && now - due > LATE_MS ? Math.round(now - due) : null;
  const next = nextMatch(fields, fire ? now : now - 1);
  return { fire, lateMs, due: next, waitMs: next === null ? null : waitFor(next, now) };
}

/** The first wait, from wall time `now`. */
export function firstWait(fields: CronFields, now: number): { due: number | null; waitMs: number | null } {
  const due = nextMatch(fields, now);
  return { due, waitMs: due === null ? null : waitFor(due, now) };
}

const waitFor = (due: number, now: number): number => Math.min(MAX_WAIT_MS, Math.max(0, due - now));

/** The longest gap between two of the next few matches after `now`: what "late" is measured against. */
export function scheduleIntervalMs(expression: string, now: number): number {
  const fields = fieldsOf(expression);
  const next: number[] = [];
  for (let t = nextMatch(fields, now); t !== null && next.length < 8; t = nextMatch(fields, t)) next.push(t);
  const gaps = next.slice(1).map((t, i) => t - next[i]!);
  return Math.max(1000, ...gaps);
}

export function startSchedule(opts: ScheduleOptions): Schedule {
  const { clock, log } = opts;
  const random = opts.random ?? Math.random;
  const fields = fieldsOf(opts.expression);
  let pending: TimerHandle | undefined;
  let timer: TimerHandle | undefined;
  let stopped = false;

  const fire = (): void => {
    if (opts.jitterMs <= 0) return opts.tick();
    if (pending) return; // the previous tick is still waiting out its jitter
    pending = clock.setTimeout(
      () => {
        pending = undefined;
        opts.tick();
      },
      Math.floor(random() * opts.jitterMs),
    );
  };

  const arm = (waitMs: number | null): void => {
    if (!stopped && waitMs !== null) timer = clock.setTimeout(wake, waitMs);
  };
  const first = firstWait(fields, clock.wallNow());
  let due = first.due;
  const wake = (): void => {
    timer = undefined;
    const step = scheduleStep(fields, due, clock.wallNow());
    due = step.due;
    if (step.lateMs !== null)
      log.warn({ late_ms: step.lateMs }, 'schedule: tick late (event loop blocked or clock stepped); missed ticks are skipped');
    arm(step.waitMs);
    if (step.fire) fire();
  };
  arm(first.waitMs);

  return {
    intervalMs: scheduleIntervalMs(opts.expression, clock.wallNow()),
    stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      if (pending) clock.clearTimeout(pending);
      timer = pending = undefined;
    },
  };
}
