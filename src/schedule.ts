// Fires the cycle on the node-cron expression, after a random jitter (to stagger a fleet). Overlap
// is the monitor's to refuse; this only keeps time. The expression is node-cron's, parsed by it;
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
    pending = clock.setTimeout(() => {
      pending = undefined;
      opts.tick();
    }, Math.floor(random() * opts.jitterMs));
  };

  let due = nextMatch(fields, clock.wallNow());
  const arm = (): void => {
    if (stopped || due === null) return;
    timer = clock.setTimeout(wake, Math.min(MAX_WAIT_MS, Math.max(0, due - clock.wallNow())));
  };
  const wake = (): void => {
    timer = undefined;
    const now = clock.wallNow();
    if (due === null) return;
    if (now < due) {
      // A capped wait, or the wall clock stepped back: aim again at the next match from now.
      due = nextMatch(fields, now - 1);
      return arm();
    }
    if (now - due > LATE_MS) log.warn({ late_ms: Math.round(now - due) }, 'schedule: tick late (event loop blocked or clock stepped); missed ticks are skipped');
    due = nextMatch(fields, now);
    arm();
    fire();
  };
  arm();

  const next: number[] = [];
  for (let t = due; t !== null && next.length < 8; t = nextMatch(fields, t)) next.push(t);
  const gaps = next.slice(1).map((t, i) => t - next[i]!);
  return {
    intervalMs: Math.max(1000, ...gaps),
    stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      if (pending) clock.clearTimeout(pending);
      timer = pending = undefined;
    },
  };
}
