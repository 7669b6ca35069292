// Figure 3: /metrics latency over many sequential scrapes (keep-alive, as Prometheus scrapes) with
// 0, 1 and 2 of 2 mounts hung, against the old exporter's time per scrape (bench/baseline/
// exporter.sh: `timeout 2 ls` per mount). The hang is `hang_killable` (NFS's own hang is
// killable): with an uninterruptible one the exporter's `ls` never dies and the scrape never
// ends at all, which the table notes instead of waiting for.
import path from 'node:path';
import { mountFaultfs, runBounded, type FaultMount } from '../test/helpers/faultfs.js';
import { is } from '../test/helpers/daemon.js';
import { BASELINE_DIR, progress, quantile, sleep, startBenchDaemon, type BenchOptions } from './common.js';

export interface ScrapeRow {
  hung: number;
  daemon: { n: number; p50: number | null; p99: number | null; max: number | null };
  baseline: { n: number; median: number | null; max: number | null };
  ratioP50: number | null;
}

export interface ScrapeResult {
  rows: ScrapeRow[];
  samples: { hung: number; daemonMs: number[]; baselineMs: number[] }[];
  note: string;
}

/** One scrape of `url`: its latency in ms (a failed scrape throws). */
export async function scrapeOnce(url: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(url);
  await res.text();
  if (!res.ok) throw new Error(`scrape ${res.status}`);
  return performance.now() - t;
}

export async function runScrape(dir: string, opts: BenchOptions): Promise<ScrapeResult> {
  const daemonScrapes = opts.quick ? 200 : 1000;
  const mounts: FaultMount[] = [await mountFaultfs({ dir }), await mountFaultfs({ dir })];
  const d = startBenchDaemon(dir, 'scrape', {
    mounts: mounts.map((m) => m.mountpoint),
    schedule: '* * * * * *',
    timeoutS: 1,
    recovery: false,
    level: 'info',
  });
  const rows: ScrapeRow[] = [];
  const samples: ScrapeResult['samples'] = [];
  try {
    const url = await d.metricsUrl();
    for (const m of mounts) if (!(await d.waitFor(is('mount healthy', m.mountpoint), 15_000))) throw new Error('daemon not healthy');
    for (const hung of [0, 1, 2]) {
      const from = d.lines.length;
      mounts.forEach((m, i) => m.setMode(i < hung ? 'hang_killable' : 'ok'));
      for (const m of mounts.slice(0, hung)) await d.waitFor(is('mount failing', m.mountpoint, 'timeout'), 10_000, from);
      await sleep(1_500);
      progress(`scrape: ${hung} hung, ${daemonScrapes} daemon scrapes`);
      const daemonMs: number[] = [];
      for (let i = 0; i < daemonScrapes; i++) daemonMs.push(await scrapeOnce(url));
      const baselineRuns = hung === 0 ? (opts.quick ? 20 : 100) : opts.quick ? 3 : 10;
      progress(`scrape: ${hung} hung, ${baselineRuns} exporter.sh scrapes`);
      const baselineMs: number[] = [];
      for (let i = 0; i < baselineRuns; i++) {
        const t = performance.now();
        const r = await runBounded('bash', [path.join(BASELINE_DIR, 'exporter.sh'), ...mounts.map((m) => m.mountpoint)], 30_000, {
          env: { ...process.env, NFS_HEALTH_CHECK_LOG: path.join(dir, 'none.log') },
        });
        if (r.timedOut) throw new Error('exporter.sh did not finish within 30 s');
        baselineMs.push(performance.now() - t);
      }
      samples.push({ hung, daemonMs, baselineMs });
      const p50 = quantile(daemonMs, 0.5);
      const bMed = quantile(baselineMs, 0.5);
      rows.push({
        hung,
        daemon: { n: daemonMs.length, p50, p99: quantile(daemonMs, 0.99), max: Math.max(...daemonMs) },
        baseline: { n: baselineMs.length, median: bMed, max: Math.max(...baselineMs) },
        ratioP50: p50 !== null && bMed ? p50 / bMed : null,
      });
    }
  } finally {
    const ds = d.stop();
    for (const m of mounts) await m.cleanup().catch((e: Error) => progress(`cleanup: ${e.message}`));
    await ds;
  }
  return {
    rows,
    samples,
    note: 'Daemon: 1 s schedule, 1 s probe timeout, sequential scrapes over one keep-alive connection. Hung = hang_killable. Exporter: fewer scrapes where each takes seconds.',
  };
}
