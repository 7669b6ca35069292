// Figure 5: scale. N mounts, H of them hung (faultfs in `hang_killable`, spread evenly; a tenth
// unless a size says `N:H`), the rest bind mounts of directories on a tmpfs. Daemon: 2 s schedule, 1 s probe timeout,
// recovery off; per size the wall time of a cycle (its `probe round` cycle_ms), CPU per cycle,
// RSS and threads after the cycles, and /metrics latency. Baseline: one run of the script over
// the same mounts (it stops at the first failing one, as it always did) and one over the healthy
// ones only (its full loop), each timed with /usr/bin/time.
import fs from 'node:fs';
import path from 'node:path';
import { mountFaultfs, runBounded, type FaultMount } from '../test/helpers/faultfs.js';
import { BASELINE_DIR, poll, procCpu, procRssMb, procThreads, progress, quantile, startBenchDaemon, type BenchOptions } from './common.js';

export interface ScaleRow {
  mounts: number;
  hung: number;
  cycles: number;
  /** The daemon's first cycle, when every hung probe is new and runs into the timeout. */
  firstCycleMs: number | null;
  /** The slowest healthy probe of that first cycle, queueing for a pool thread included. */
  firstCycleHealthyMaxMs: number | null;
  /** Later cycles: a stuck probe is reported timeout again without a new call. */
  cycleMs: { median: number | null; max: number | null; samples: number[] };
  daemonCpuPerCycleMs: number;
  daemonRssMb: number | null;
  daemonThreads: number | null;
  scrapeMs: { p50: number | null; max: number | null; n: number };
  baselineRunMs: number | null;
  baselineRunCpuMs: number | null;
  baselineHealthyOnlyRunMs: number | null;
  baselineHealthyOnlyCpuMs: number | null;
}

export interface ScaleResult {
  rows: ScaleRow[];
  note: string;
}

async function timedScript(dir: string, mounts: string[], timeoutS: number): Promise<{ wallMs: number | null; cpuMs: number | null }> {
  const out = path.join(dir, `time-${Date.now()}.txt`);
  const r = await runBounded(
    '/usr/bin/time',
    [
      '-f',
      '%e %U %S',
      '-o',
      out,
      'bash',
      path.join(BASELINE_DIR, 'nfs-health-check.sh'),
      '-l',
      path.join(dir, 'scale.log'),
      '-t',
      String(timeoutS),
      '-u',
      'true',
      ...mounts,
    ],
    120_000,
  );
  if (r.timedOut) return { wallMs: null, cpuMs: null };
  const [e, u, s] = fs.readFileSync(out, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wallMs: (e ?? 0) * 1000, cpuMs: ((u ?? 0) + (s ?? 0)) * 1000 };
}

async function inBatches<T>(items: T[], size: number, f: (x: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(f));
}

async function oneSize(dir: string, n: number, hungCount: number, cycles: number): Promise<ScaleRow> {
  const sub = path.join(dir, `n${n}h${hungCount}`);
  const tmpfs = path.join(sub, 'tmpfs');
  const mnt = path.join(sub, 'mnt');
  fs.mkdirSync(tmpfs, { recursive: true });
  fs.mkdirSync(mnt);
  const every = Math.floor(n / hungCount);
  const isHung = (i: number) => i % every === every - 1 && Math.floor(i / every) < hungCount;
  const faults: FaultMount[] = [];
  let daemon: ReturnType<typeof startBenchDaemon> | undefined;
  try {
    const tm = await runBounded('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'bench-tmpfs', tmpfs], 10_000);
    if (tm.code !== 0) throw new Error(`mount tmpfs: ${tm.stderr}`);
    const paths: string[] = [];
    const binds: string[] = [];
    for (let i = 0; i < n; i++) {
      if (isHung(i)) {
        const f = await mountFaultfs({ dir: sub });
        faults.push(f);
        paths.push(f.mountpoint);
      } else {
        const p = path.join(mnt, String(i));
        fs.mkdirSync(p);
        fs.mkdirSync(path.join(tmpfs, String(i)));
        fs.writeFileSync(path.join(tmpfs, String(i), 'example_dag.py'), 'from airflow import DAG\n');
        paths.push(p);
        binds.push(String(i));
      }
    }
    await inBatches(binds, 16, async (i) => {
      const r = await runBounded('mount', ['--bind', path.join(tmpfs, i), path.join(mnt, i)], 10_000);
      if (r.code !== 0) throw new Error(`bind mount ${i}: ${r.stderr}`);
    });
    progress(`scale: ${n} mounts (${binds.length} bind, ${faults.length} faultfs) mounted`);

    // Baseline first, healthy: its full loop over the healthy mounts.
    const healthyOnly = await timedScript(
      sub,
      paths.filter((_, i) => !isHung(i)),
      1,
    );
    for (const f of faults) f.setMode('hang_killable');
    const withHung = await timedScript(sub, paths, 1);

    const d = startBenchDaemon(sub, 'scale', { mounts: paths, schedule: '*/2 * * * * *', timeoutS: 1, recovery: false, level: 'debug' });
    daemon = d;
    const url = await d.metricsUrl();
    const rounds = () => d.lines.filter((l) => l.msg === 'probe round');
    if (!(await poll(() => rounds().length >= 2, 120_000, 50))) throw new Error('daemon did not complete two rounds');
    // The first round logs each mount's state once, with the probe's time.
    const healthyFirst = d.lines.filter((l) => l.msg === 'mount healthy').map((l) => Number(l.probe_ms));
    const from = rounds().length;
    const c0 = procCpu(d.pid);
    await poll(() => rounds().length >= from + cycles, (cycles + 5) * 6_000, 50);
    const c1 = procCpu(d.pid);
    const done = rounds().slice(from);
    const cycleMs = done.map((l) => Number(l.cycle_ms));
    const scrapes: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await (await fetch(url)).text();
      scrapes.push(performance.now() - t);
    }
    return {
      mounts: n,
      hung: hungCount,
      cycles: done.length,
      firstCycleMs: rounds()[0] ? Number(rounds()[0]!.cycle_ms) : null,
      firstCycleHealthyMaxMs: healthyFirst.length ? Math.max(...healthyFirst) : null,
      cycleMs: { median: quantile(cycleMs, 0.5), max: cycleMs.length ? Math.max(...cycleMs) : null, samples: cycleMs },
      daemonCpuPerCycleMs: (((c1?.self ?? 0) - (c0?.self ?? 0)) / Math.max(1, done.length)) * 1000,
      daemonRssMb: procRssMb(d.pid) ?? null,
      daemonThreads: procThreads(d.pid) ?? null,
      scrapeMs: { p50: quantile(scrapes, 0.5), max: Math.max(...scrapes), n: scrapes.length },
      baselineRunMs: withHung.wallMs,
      baselineRunCpuMs: withHung.cpuMs,
      baselineHealthyOnlyRunMs: healthyOnly.wallMs,
      baselineHealthyOnlyCpuMs: healthyOnly.cpuMs,
    };
  } finally {
    const ds = daemon?.stop();
    for (const f of faults) f.setMode('ok');
    await ds;
    for (const f of faults) await f.cleanup().catch((e: Error) => progress(`cleanup: ${e.message}`));
    await inBatches(fs.existsSync(mnt) ? fs.readdirSync(mnt) : [], 16, (i) => runBounded('umount', ['-l', path.join(mnt, i)], 5_000));
    await runBounded('umount', ['-l', tmpfs], 5_000);
  }
}

interface Size {
  mounts: number;
  hung: number;
}

function parseSize(spec: string): Size | null {
  const [m, h] = spec.split(':').map(Number);
  if (!Number.isInteger(m) || m! < 10) return null;
  const hung = h === undefined ? Math.round(m! / 10) : h;
  return Number.isInteger(hung) && hung >= 1 && hung <= m! ? { mounts: m!, hung } : null;
}

export async function runScale(dir: string, opts: BenchOptions): Promise<ScaleResult> {
  // BENCH_SCALE_SIZES=500,500:10 measures other sizes (N mounts, N:H with H hung; e.g. the full
  // run's 500 alone in a quick run).
  const fromEnv = process.env.BENCH_SCALE_SIZES?.split(',')
    .map(parseSize)
    .filter((s): s is Size => s !== null);
  const sizes = fromEnv?.length ? fromEnv : (opts.quick ? ['10', '100'] : ['10', '100', '500', '500:10']).map((s) => parseSize(s)!);
  const cycles = opts.quick ? 5 : 10;
  const rows: ScaleRow[] = [];
  for (const { mounts, hung } of sizes) {
    progress(`scale: ${mounts} mounts (${hung} hung), ${cycles} cycles`);
    rows.push(await oneSize(dir, mounts, hung, cycles));
  }
  return {
    rows,
    note: 'Hung = hang_killable on every 10th mount (faultfs) unless the row says fewer, spread evenly; healthy = bind mounts of tmpfs dirs. Daemon 2 s schedule, 1 s timeout. Baseline timeout 1 s.',
  };
}
