// Figure 10: the kernel evidence watch's cost on an idle daemon, on against off, side by side in
// one run. Two daemons at once on the same N healthy bind mounts at the default 30 s schedule, one
// with evidence.enabled (reading /proc/self/mountstats and mountinfo every second on its main
// thread), one without; past the first minute, over windows between two rounds: the main thread's
// wake-ups (its context switches), the whole process's CPU, its threads and RSS. Every thread's
// switches and CPU are kept by name too, so that a wake-up can be traced to the thread it woke.
// Several windows, because the daemon's periodic timers (the watch's, the event-loop-delay
// histogram's, the HTTP server's connection check) wake the thread together or apart depending on
// how their phases fall, and one window sees one phase.
import os from 'node:os';
import { CLI } from '../test/helpers/cli.js';
import { shebangFlags } from '../test/helpers/launch.js';
import {
  bindMounts,
  mbOf,
  poll,
  procCpu,
  procThreads,
  progress,
  sleep,
  startBenchDaemon,
  statusFields,
  threadStats,
  type BenchDaemon,
  type BenchOptions,
} from './common.js';

/** The issue's goal for the idle daemon at the default schedule, with the watch on. */
export const WAKEUPS_GOAL = 2;
const SCHEDULE = '*/30 * * * * *';
const INTERVAL_S = 1;
/** Rounds start at :00 and :30: a window opens this long after one and closes before the next. */
const WINDOW_START_S = 3;
const WINDOW_S = 25;
/** Past probe.workers.idle (60 s): threads a first round started have ended. */
const SETTLE_MS = 65_000;

export type EvidenceSideName = 'on' | 'off';

/** One thread name's share: how many threads bear it, their switches and CPU per second. */
export interface ThreadGroup {
  threads: number;
  switchesPerS: number;
  cpuMsPerS: number;
}

/** Over every window: per second of window time. */
export interface EvidenceSide {
  /** The daemon's own word on it: its `starting` line's kernel_evidence field. */
  kernelEvidence: string | null;
  /** The main thread's context switches per second: voluntary (it slept and was woken) + preempted. */
  wakeupsPerS: number;
  voluntaryPerS: number;
  preemptedPerS: number;
  /** The same total, window by window. */
  windowWakeupsPerS: number[];
  /** The collector's pauses per second, by kind (prom-client's nodejs_gc_duration_seconds_count). */
  gcPerS: Record<string, number>;
  /** utime + stime of the whole process (clock ticks: 10 ms steps). */
  cpuMsPerS: number;
  /** The same from every thread's schedstat (ns; a thread that ended in a window is missed). */
  schedCpuMsPerS: number;
  /** At the end of the last window. */
  threads: number | null;
  rssMb: number | null;
  /** By thread name; the main thread as "main". */
  byThread: Record<string, ThreadGroup>;
}

export interface EvidenceRow {
  mounts: number;
  windows: number;
  /** Window time in all. */
  seconds: number;
  on: EvidenceSide;
  off: EvidenceSide;
}

export interface EvidenceResult {
  launch: string;
  node: string;
  schedule: string;
  intervalS: number;
  goal: { wakeupsPerS: number };
  rows: EvidenceRow[];
  loadAvg: { before: number; after: number };
}

const round1 = (v: number): number => Math.round(v * 10) / 10;
const round2 = (v: number): number => Math.round(v * 100) / 100;

const GC_KINDS = ['minor', 'major', 'incremental', 'weakcb'] as const;

/** One daemon's counters at one moment, read from /proc (which does not wake it). */
interface Snapshot {
  at: number;
  voluntary: number;
  preempted: number;
  cpuS: number;
  threads: ReturnType<typeof threadStats>;
}

function snapshot(d: BenchDaemon): Snapshot {
  const f = statusFields(d.pid);
  const cpu = procCpu(d.pid);
  const voluntary = f?.voluntary_ctxt_switches;
  const preempted = f?.nonvoluntary_ctxt_switches;
  if (voluntary === undefined || preempted === undefined || !cpu) throw new Error(`cannot read /proc/${d.pid}: ${d.describe()}`);
  return { at: performance.now(), voluntary, preempted, cpuS: cpu.self, threads: threadStats(d.pid) };
}

/** The collector's pauses so far by kind, from /metrics (a scrape wakes the daemon: taken outside the windows). */
async function gcCounts(d: BenchDaemon): Promise<Record<string, number>> {
  const text = await (await fetch(await d.metricsUrl())).text();
  const lines = text.split('\n').filter((l) => l.startsWith('nfs_health_checkd_nodejs_gc_duration_seconds_count{'));
  const count = (kind: string): number =>
    lines.filter((l) => l.includes(`kind="${kind}"`)).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return Object.fromEntries(GC_KINDS.map((kind) => [kind, count(kind)]));
}

/** One daemon's counts summed over the windows. */
class Tally {
  seconds = 0;
  voluntary = 0;
  preempted = 0;
  cpuS = 0;
  schedNs = 0;
  readonly gc = new Map<string, number>();
  readonly byThread = new Map<string, { switches: number; ns: number }>();
  readonly windows: number[] = [];

  constructor(private readonly d: BenchDaemon) {}

  add(a: Snapshot, b: Snapshot, gcA: Record<string, number>, gcB: Record<string, number>): void {
    const seconds = (b.at - a.at) / 1000;
    this.seconds += seconds;
    this.voluntary += b.voluntary - a.voluntary;
    this.preempted += b.preempted - a.preempted;
    this.cpuS += b.cpuS - a.cpuS;
    this.windows.push(round2((b.voluntary - a.voluntary + b.preempted - a.preempted) / seconds));
    for (const k of GC_KINDS) this.gc.set(k, (this.gc.get(k) ?? 0) + (gcB[k] ?? 0) - (gcA[k] ?? 0));
    const before = new Map(a.threads.map((t) => [t.tid, t]));
    for (const t of b.threads) {
      // A thread born in the window counts from zero.
      const was = before.get(t.tid);
      const name = t.tid === this.d.pid ? 'main' : t.comm;
      const g = this.byThread.get(name) ?? { switches: 0, ns: 0 };
      g.switches += t.switches - (was?.switches ?? 0);
      g.ns += t.cpuNs - (was?.cpuNs ?? 0);
      this.byThread.set(name, g);
      this.schedNs += t.cpuNs - (was?.cpuNs ?? 0);
    }
  }

  side(): EvidenceSide {
    const { d, seconds } = this;
    const perS = (v: number): number => round2(v / seconds);
    const ke = d.lines.find((l) => l.msg === 'starting')?.kernel_evidence;
    // How many threads bear each name, at the end.
    const names = new Map<string, number>();
    for (const t of threadStats(d.pid)) {
      const name = t.tid === d.pid ? 'main' : t.comm;
      names.set(name, (names.get(name) ?? 0) + 1);
    }
    return {
      kernelEvidence: typeof ke === 'string' ? ke : null,
      wakeupsPerS: perS(this.voluntary + this.preempted),
      voluntaryPerS: perS(this.voluntary),
      preemptedPerS: perS(this.preempted),
      windowWakeupsPerS: this.windows,
      gcPerS: Object.fromEntries(GC_KINDS.map((k) => [k, perS(this.gc.get(k) ?? 0)])),
      cpuMsPerS: perS(this.cpuS * 1000),
      schedCpuMsPerS: perS(this.schedNs / 1e6),
      threads: procThreads(d.pid) ?? null,
      rssMb: mbOf(statusFields(d.pid)?.VmRSS),
      byThread: Object.fromEntries(
        [...this.byThread].map(([name, g]) => [
          name,
          { threads: names.get(name) ?? 0, switchesPerS: perS(g.switches), cpuMsPerS: perS(g.ns / 1e6) },
        ]),
      ),
    };
  }
}

async function oneSize(dir: string, n: number, command: string[], windows: number): Promise<EvidenceRow> {
  const mounts = await bindMounts(dir, 'evidence', n);
  const started: BenchDaemon[] = [];
  try {
    const start = (name: EvidenceSideName): BenchDaemon => {
      const d = startBenchDaemon(
        dir,
        `evidence-${n}-${name}`,
        {
          mounts: mounts.paths,
          schedule: SCHEDULE,
          timeoutS: 5,
          recovery: false,
          level: 'info',
          evidence: name === 'on' ? { enabled: true, intervalS: INTERVAL_S } : { enabled: false },
        },
        command,
      );
      started.push(d);
      return d;
    };
    const both = [start('on'), start('off')] as const;
    for (const d of both) {
      const healthy = (): boolean => new Set(d.lines.filter((l) => l.msg === 'mount healthy').map((l) => l.mount)).size >= n;
      if (!(await poll(healthy, 60_000, 100))) throw new Error(`not every mount healthy: ${d.describe()}`);
    }
    await sleep(SETTLE_MS);
    const tallies = both.map((d) => new Tally(d));
    for (let w = 0; w < windows; w++) {
      const intoHalf = (Date.now() / 1000) % 30;
      await sleep(((30 + WINDOW_START_S - intoHalf) % 30) * 1000);
      const gcA = await Promise.all(both.map(gcCounts));
      const a = both.map(snapshot);
      await sleep(WINDOW_S * 1000);
      const b = both.map(snapshot);
      const gcB = await Promise.all(both.map(gcCounts));
      tallies.forEach((t, i) => {
        const [sa, sb, ga, gb] = [a[i], b[i], gcA[i], gcB[i]];
        if (sa && sb && ga && gb) t.add(sa, sb, ga, gb);
      });
    }
    const [on, off] = tallies.map((t) => t.side());
    if (!on || !off) throw new Error('no samples');
    // The configuration took: the watch runs in one and not in the other.
    if (on.kernelEvidence !== `every ${INTERVAL_S * 1000} ms` || off.kernelEvidence !== 'disabled')
      throw new Error(`kernel_evidence: on ${on.kernelEvidence}, off ${off.kernelEvidence}`);
    const say = (s: EvidenceSide): string =>
      `${s.wakeupsPerS}/s (${s.voluntaryPerS} + ${s.preemptedPerS}; windows ${s.windowWakeupsPerS.join(', ')}), ${s.schedCpuMsPerS} ms/s, ${s.gcPerS.minor} minor GCs/s, ${s.threads} threads, ${s.rssMb} MB`;
    progress(`evidence: ${n} mounts: on ${say(on)}; off ${say(off)}`);
    return { mounts: n, windows, seconds: round1(tallies[0]?.seconds ?? 0), on, off };
  } finally {
    await Promise.all(started.map((d) => d.stop()));
    await mounts.cleanup();
  }
}

export async function runEvidence(dir: string, opts: BenchOptions): Promise<EvidenceResult> {
  // As its #! line runs it (install.sh's link), as figure 8's `after`.
  const flags = shebangFlags(CLI);
  const command = [process.execPath, ...flags, CLI];
  const loadBefore = os.loadavg()[0] ?? 0;
  const windows = opts.quick ? 1 : 4;
  const rows: EvidenceRow[] = [];
  for (const n of [2, 100]) {
    progress(`evidence: ${n} mounts, watch on and off, at a 30 s schedule (${windows} windows of ${WINDOW_S} s)`);
    rows.push(await oneSize(dir, n, command, windows));
  }
  return {
    launch: `node ${flags.map((f) => `${f} `).join('')}dist/src/cli.js`,
    node: process.version,
    schedule: SCHEDULE,
    intervalS: INTERVAL_S,
    goal: { wakeupsPerS: WAKEUPS_GOAL },
    rows,
    loadAvg: { before: round2(loadBefore), after: round2(os.loadavg()[0] ?? 0) },
  };
}
