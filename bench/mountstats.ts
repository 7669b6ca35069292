// Figure 9: the kernel's evidence, parsing /proc/self/mountstats. The daemon reads the file once a
// second; the goal: 100 NFS mounts parsed within 2 ms. Beside it, parseMountinfo (what every
// probe round already does) on the mountinfo text of the same mount table, for scale.
//
// In this process, no root and no mounts: the texts come from bench/mountstats-text.ts (the 6.1
// kernel's formats, N NFS mounts among a node's ordinary ones). Every iteration parses a fresh
// copy of the text, decoded from bytes as readFileSync(…, 'utf8') gives it, so that no cache of
// the engine's keyed on the string serves a repeat; only the parse is timed. The two parsers
// alternate, after a warm-up of both; each result is checked (the NFS mount count) so that a
// broken parser cannot report a fast nothing. The collector's pauses (perf_hooks 'gc' entries)
// are matched to the parses they fell in, so that the tail can be told apart from the parse.
import os from 'node:os';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { parseMountstats } from '../src/kernel/mountstats.js';
import { parseMountinfo } from '../src/probe/mountinfo.js';
import { progress, quantile, type BenchOptions } from './common.js';
import { mountinfoText, mountstatsText, syntheticMounts } from './mountstats-text.js';

/** The goal: this many NFS mounts parsed within GOAL_MS. */
export const GOAL_MOUNTS = 100;
export const GOAL_MS = 2;

export interface ParseTiming {
  n: number;
  medianMs: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Parses above the goal's time. */
  overGoal: number;
  /** Parses a collector pause fell in. */
  withGc: number;
  /** The p99 of the others. */
  p99WithoutGcMs: number | null;
}

export interface MountstatsRow {
  nfsMounts: number;
  /** Every mount in the table, the NFS ones included. */
  allMounts: number;
  mountstatsKiB: number;
  mountinfoKiB: number;
  mountstats: ParseTiming;
  /** parseMountstats told to read two mount points only, as the daemon with its two default paths does. */
  twoWatched?: ParseTiming;
  mountinfo: ParseTiming;
}

export interface MountstatsResult {
  rows: MountstatsRow[];
  warmup: number;
  iterations: number;
  goal: { mounts: number; ms: number };
  /** The machine's 1-minute load average before and after: the tail moves with it. */
  loadAvg: { before: number; after: number };
  note: string;
}

/** One timed parse: when it started and how long it took (performance.now() ms). */
type Span = readonly [start: number, took: number];

function timing(spans: readonly Span[], gcs: readonly PerformanceEntry[]): ParseTiming {
  const xs = spans.map(([, took]) => took);
  // A pause overlapping the parse; both are in time order, and pauses do not overlap each other.
  let g = 0;
  const hit = spans.map(([start, took]) => {
    for (let p = gcs[g]; p !== undefined && p.startTime + p.duration < start; p = gcs[g]) g++;
    const next = gcs[g];
    return next !== undefined && next.startTime <= start + took;
  });
  const clean = xs.filter((_, i) => !hit[i]);
  return {
    n: xs.length,
    medianMs: quantile(xs, 0.5),
    p99Ms: quantile(xs, 0.99),
    maxMs: xs.length ? Math.max(...xs) : null,
    overGoal: xs.filter((x) => x > GOAL_MS).length,
    withGc: xs.length - clean.length,
    p99WithoutGcMs: quantile(clean, 0.99),
  };
}

export async function runMountstats(_dir: string, opts: BenchOptions): Promise<MountstatsResult> {
  const warmup = opts.quick ? 100 : 500;
  const iterations = opts.quick ? 500 : 3000;
  const rows: MountstatsRow[] = [];
  const loadBefore = os.loadavg()[0] ?? 0;
  const gcs: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  try {
    for (const nfsMounts of [1, 100, 500]) {
      const stats = Buffer.from(mountstatsText(nfsMounts));
      const info = Buffer.from(mountinfoText(nfsMounts));
      const allMounts = syntheticMounts(nfsMounts).length;
      progress(`mountstats: ${nfsMounts} NFS mounts (${allMounts} in all), ${warmup} + ${iterations} parses each`);
      const statsSpans: Span[] = [];
      const twoSpans: Span[] = [];
      const infoSpans: Span[] = [];
      const nfs = syntheticMounts(nfsMounts).filter((m) => m.nfs);
      const watched = new Set([nfs[0], nfs[nfs.length - 1]].flatMap((m) => (m ? [m.mountPoint] : [])));
      for (let i = 0; i < warmup + iterations; i++) {
        const s = stats.toString('utf8');
        const t0 = performance.now();
        const parsed = parseMountstats(s);
        const statsTook = performance.now() - t0;
        const w = stats.toString('utf8');
        const t2 = performance.now();
        const two = parseMountstats(w, (mountPoint) => watched.has(mountPoint));
        const twoTook = performance.now() - t2;
        if (two.length !== watched.size) throw new Error(`parseMountstats read ${two.length} watched mounts, not ${watched.size}`);
        const m = info.toString('utf8');
        const t1 = performance.now();
        const entries = parseMountinfo(m);
        const infoTook = performance.now() - t1;
        if (parsed.length !== nfsMounts) throw new Error(`parseMountstats found ${parsed.length} NFS mounts, not ${nfsMounts}`);
        if (entries.length !== allMounts) throw new Error(`parseMountinfo found ${entries.length} mounts, not ${allMounts}`);
        if (i >= warmup) {
          statsSpans.push([t0, statsTook]);
          twoSpans.push([t2, twoTook]);
          infoSpans.push([t1, infoTook]);
        }
      }
      // The observer's entries come on the event loop.
      await new Promise((r) => setTimeout(r, 50));
      gcs.sort((a, b) => a.startTime - b.startTime);
      rows.push({
        nfsMounts,
        allMounts,
        mountstatsKiB: stats.length / 1024,
        mountinfoKiB: info.length / 1024,
        mountstats: timing(statsSpans, gcs),
        twoWatched: timing(twoSpans, gcs),
        mountinfo: timing(infoSpans, gcs),
      });
      gcs.length = 0;
    }
  } finally {
    observer.disconnect();
  }
  return {
    rows,
    warmup,
    iterations,
    goal: { mounts: GOAL_MOUNTS, ms: GOAL_MS },
    loadAvg: { before: loadBefore, after: os.loadavg()[0] ?? 0 },
    note: 'Generated texts (6.1 formats; NFSv4.1/4.2 with 69 op lines, NFSv3 with 22), a fresh string per parse as readFileSync gives it; the two parsers alternate.',
  };
}
