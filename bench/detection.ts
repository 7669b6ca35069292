// Figure 1: detection latency after fault onset, per fault class, daemon vs baseline, at a 1 s and
// at the default 30 s schedule. Each run: a fresh faultfs mount watched at once by a daemon
// (recovery off) and by the baseline timer (its unmount command replaced by `true`, so neither
// side changes the mount under the other); the fault is injected at a random phase of the
// schedule; detection = the daemon's `mount failing` line / the baseline's ERROR line, each by
// the timestamp its writer put on it. The five classes of a round run side by side.
import { mountFaultfs, type FaultMount } from '../test/helpers/faultfs.js';
import { is } from '../test/helpers/daemon.js';
import {
  epochMs,
  poll,
  progress,
  sleep,
  startBaselineTimer,
  startBenchDaemon,
  summarize,
  ratio,
  type BenchOptions,
  type Summary,
} from './common.js';

export const FAULT_CLASSES = [
  { name: 'ESTALE', inject: (m: FaultMount) => m.setMode('estale') },
  { name: 'EIO', inject: (m: FaultMount) => m.setMode('eio') },
  { name: 'ENOTCONN', inject: (m: FaultMount) => m.kill() },
  { name: 'killable hang', inject: (m: FaultMount) => m.setMode('hang_killable') },
  { name: 'uninterruptible hang', inject: (m: FaultMount) => m.setMode('hang') },
] as const;

export interface DetectionSample {
  fault: string;
  run: number;
  /** ms from onset to the next schedule tick (ticks at wall-clock multiples of the period). */
  nextTickMs: number;
  /** The target: next tick + timeout + 100 ms. */
  targetMs: number;
  daemonMs: number | null;
  daemonResult: string | null;
  baselineMs: number | null;
}

export interface DetectionRow {
  schedule: string;
  fault: string;
  timeoutS: number;
  windowMs: number;
  daemon: Summary;
  baseline: Summary;
  baselineNever: number;
  daemonNever: number;
  ratioMedian: number | null;
  ratioMax: number | null;
  /** Runs where the daemon met next tick + timeout + 0.1 s. */
  daemonWithinTarget: number;
  runs: number;
}

export interface DetectionResult {
  rows: DetectionRow[];
  samples: Record<string, DetectionSample[]>;
  /** Runs set up again because a contender did not come up healthy (with why). */
  failures: string[];
  note: string;
}

async function oneRun(
  dir: string,
  cls: (typeof FAULT_CLASSES)[number],
  run: number,
  periodS: number,
  timeoutS: number,
  windowMs: number,
): Promise<DetectionSample> {
  const m = await mountFaultfs({ dir });
  const tag = `${periodS}s-${cls.name.replace(/\s/g, '_')}-${run}`;
  const d = startBenchDaemon(dir, `d-${tag}`, {
    mounts: [m.mountpoint],
    schedule: periodS === 1 ? '* * * * * *' : `*/${periodS} * * * * *`,
    timeoutS,
    recovery: false,
    level: 'info',
  });
  const b = startBaselineTimer(dir, `b-${tag}`, { periodS, timeoutS, umount: 'true', mounts: [m.mountpoint] });
  try {
    const healthy = await d.waitFor(is('mount healthy', m.mountpoint), 15_000);
    const bHealthy = await poll(() => b.entries().length > 0, 15_000);
    if (!healthy || !bHealthy)
      throw new Error(`${tag}: contenders not healthy (daemon ${!!healthy}, baseline ${bHealthy}); daemon: ${d.describe()}`);
    await sleep(Math.random() * periodS * 1000);
    const from = d.lines.length;
    const onset = epochMs();
    cls.inject(m);
    const P = periodS * 1000;
    const nextTickMs = Math.ceil(onset / P) * P - onset;
    let daemonMs: number | null = null;
    let daemonResult: string | null = null;
    let baselineMs: number | null = null;
    await poll(
      () => {
        if (daemonMs === null) {
          const l = d.lines.slice(from).find((x) => x.msg === 'mount failing' && x.mount === m.mountpoint);
          if (l) {
            daemonMs = l.t - onset;
            daemonResult = String(l.result);
          }
        }
        if (baselineMs === null) {
          const e = b.entries().find((x) => x.error && x.t >= onset);
          if (e) baselineMs = e.t - onset;
        }
        return daemonMs !== null && baselineMs !== null;
      },
      windowMs,
      10,
    );
    return { fault: cls.name, run, nextTickMs, targetMs: nextTickMs + timeoutS * 1000 + 100, daemonMs, daemonResult, baselineMs };
  } finally {
    const ds = d.stop();
    const bs = b.stop();
    await m.cleanup().catch((e: Error) => progress(`cleanup: ${e.message}`));
    await Promise.all([ds, bs]);
  }
}

export async function runDetection(dir: string, opts: BenchOptions): Promise<DetectionResult> {
  const plans = [
    { periodS: 1, timeoutS: 1, runs: opts.quick ? 5 : 20 },
    { periodS: 30, timeoutS: 5, runs: opts.quick ? 1 : 3 },
  ];
  const rows: DetectionRow[] = [];
  const samples: Record<string, DetectionSample[]> = {};
  const failures: string[] = [];
  for (const plan of plans) {
    const windowMs = (plan.periodS + plan.timeoutS) * 1000 + 3000;
    const bySchedule: DetectionSample[] = [];
    for (let run = 0; run < plan.runs; run++) {
      progress(`detection: ${plan.periodS} s schedule, round ${run + 1}/${plan.runs} (5 fault classes side by side)`);
      const round = await Promise.all(
        FAULT_CLASSES.map((cls) =>
          oneRun(dir, cls, run, plan.periodS, plan.timeoutS, windowMs).catch((err: Error) => {
            progress(`detection: ${err.message}; retrying once`);
            failures.push(err.message);
            return oneRun(dir, cls, run, plan.periodS, plan.timeoutS, windowMs);
          }),
        ),
      );
      bySchedule.push(...round);
    }
    const schedule = `${plan.periodS} s`;
    samples[schedule] = bySchedule;
    for (const cls of FAULT_CLASSES) {
      const s = bySchedule.filter((x) => x.fault === cls.name);
      const dms = s.flatMap((x) => (x.daemonMs === null ? [] : [x.daemonMs]));
      const bms = s.flatMap((x) => (x.baselineMs === null ? [] : [x.baselineMs]));
      const daemon = summarize(dms);
      const baseline = summarize(bms);
      rows.push({
        schedule,
        fault: cls.name,
        timeoutS: plan.timeoutS,
        windowMs,
        daemon,
        baseline,
        daemonNever: s.length - dms.length,
        baselineNever: s.length - bms.length,
        ratioMedian: bms.length === s.length ? ratio(daemon.median, baseline.median) : null,
        ratioMax: bms.length === s.length ? ratio(daemon.max, baseline.max) : null,
        daemonWithinTarget: s.filter((x) => x.daemonMs !== null && x.daemonMs <= x.targetMs).length,
        runs: s.length,
      });
    }
  }
  return {
    rows,
    samples,
    failures,
    note:
      'Same timeout on both sides (1 s at the 1 s schedule, 5 s at 30 s); both tick at wall-clock multiples of the period. ' +
      'The five classes of a round run concurrently (separate mounts, daemons and timers). Ratios only where the baseline detected every run.',
  };
}
