// Fires the cycle on the node-cron expression, after a random jitter (to stagger a fleet). Overlap
// is the monitor's to refuse; this only keeps time.
import cron from 'node-cron';
import type { Clock, TimerHandle } from './clock.js';
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

export function startSchedule(opts: ScheduleOptions): Schedule {
  const random = opts.random ?? Math.random;
  let pending: TimerHandle | undefined;
  const task = cron.schedule(
    opts.expression,
    () => {
      if (opts.jitterMs <= 0) return opts.tick();
      if (pending) return; // the previous tick is still waiting out its jitter
      pending = opts.clock.setTimeout(() => {
        pending = undefined;
        opts.tick();
      }, Math.floor(random() * opts.jitterMs));
    },
    {
      name: 'probe-cycle',
      // node-cron's own notices (missed executions under load) go to our log, not the console.
      logger: {
        info: (m) => opts.log.debug({ component: 'node-cron' }, m),
        warn: (m) => opts.log.warn({ component: 'node-cron' }, m),
        error: (m, err) => opts.log.error({ component: 'node-cron', err }, String(m)),
        debug: (m) => opts.log.debug({ component: 'node-cron' }, String(m)),
      },
    },
  );
  const next = task.getNextRuns(8).map((d) => d.getTime());
  const gaps = next.slice(1).map((t, i) => t - next[i]!);
  return {
    intervalMs: Math.max(1000, ...gaps),
    stop() {
      void task.stop();
      if (pending) opts.clock.clearTimeout(pending);
      pending = undefined;
    },
  };
}
