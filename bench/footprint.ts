// Figure 4: steady-state cost. (a) 2 healthy faultfs mounts, the daemon at a 1 s schedule and the
// baseline timer at a 1 s period, side by side for N cycles: CPU per cycle (daemon: utime+stime
// from /proc/PID/stat over cycles counted from nfs_mount_probes_total; baseline: the timer's
// cutime+cstime — every run of the script, `timeout` and `ls` included — over the runs it logged;
// the cost of systemd starting a service each time is not counted, which favours the baseline),
// and RSS (VmRSS). (b) one of two mounts in an uninterruptible hang for M cycles, recovery off:
// threads (/proc/PID/task) and RSS sampled every cycle; the baseline beside it, for its count of
// checks after the onset.
import { mountFaultfs, type FaultMount } from '../test/helpers/faultfs.js';
import { is } from '../test/helpers/daemon.js';
import {
  metricSum,
  poll,
  procCpu,
  procRssMb,
  procThreads,
  progress,
  sleep,
  startBaselineTimer,
  startBenchDaemon,
  ratio,
  type BenchOptions,
} from './common.js';

export interface FootprintResult {
  healthy: {
    cycles: number;
    daemonCycles: number;
    daemonCpuS: number;
    daemonCpuPerCycleMs: number;
    baselineRuns: number;
    baselineCpuS: number;
    baselineCpuPerCycleMs: number;
    ratioCpu: number | null;
    daemonRssMb: number | null;
    daemonRssStartMb: number | null;
    daemonThreads: number | null;
    baselineTimerRssMb: number | null;
    rssSamplesMb: number[];
  };
  hung: {
    cycles: number;
    threadsBefore: number | null;
    rssBeforeMb: number | null;
    threads: number[];
    rssMb: number[];
    threadsFirst: number | null;
    threadsLast: number | null;
    threadsMax: number | null;
    rssFirstMb: number | null;
    rssLastMb: number | null;
    rssMaxMb: number | null;
    baselineChecksAfterOnset: number;
  };
}

export async function runFootprint(dir: string, opts: BenchOptions): Promise<FootprintResult> {
  const cycles = opts.quick ? 100 : 1000;
  const hungCycles = opts.quick ? 60 : 300;
  const mounts: FaultMount[] = [await mountFaultfs({ dir }), await mountFaultfs({ dir })];
  const paths = mounts.map((m) => m.mountpoint);
  try {
    // (a) healthy
    const d = startBenchDaemon(dir, 'footprint', { mounts: paths, schedule: '* * * * * *', timeoutS: 5, recovery: true, level: 'info' });
    const b = startBaselineTimer(dir, 'footprint', { periodS: 1, timeoutS: 5, umount: 'umount -a -t nfs,nfs4', mounts: paths });
    let healthy: FootprintResult['healthy'];
    try {
      const url = await d.metricsUrl();
      for (const p of paths) if (!(await d.waitFor(is('mount healthy', p), 15_000))) throw new Error('daemon not healthy');
      await poll(() => b.entries().length > 0, 15_000);
      await sleep(3_000);
      const probes = async () => metricSum(await (await fetch(url)).text(), 'nfs_mount_probes_total');
      const p0 = await probes();
      const c0 = procCpu(d.pid);
      const bc0 = procCpu(b.pid);
      const r0 = b.entries().length;
      const rssStart = procRssMb(d.pid) ?? null;
      const rssSamples: number[] = [];
      progress(`footprint: ${cycles} healthy cycles (≈${cycles} s)`);
      const started = Date.now();
      while (Date.now() - started < cycles * 1000) {
        await sleep(Math.min(10_000, cycles * 1000 - (Date.now() - started)));
        const r = procRssMb(d.pid);
        if (r !== undefined) rssSamples.push(r);
      }
      const c1 = procCpu(d.pid);
      const bc1 = procCpu(b.pid);
      const r1 = b.entries().length;
      const p1 = await probes();
      const daemonCycles = (p1 - p0) / paths.length;
      const daemonCpuS = (c1?.self ?? 0) - (c0?.self ?? 0);
      const baselineCpuS = (bc1?.children ?? 0) - (bc0?.children ?? 0);
      const daemonCpuPerCycleMs = (daemonCpuS / daemonCycles) * 1000;
      const baselineCpuPerCycleMs = (baselineCpuS / Math.max(1, r1 - r0)) * 1000;
      healthy = {
        cycles,
        daemonCycles,
        daemonCpuS,
        daemonCpuPerCycleMs,
        baselineRuns: r1 - r0,
        baselineCpuS,
        baselineCpuPerCycleMs,
        ratioCpu: ratio(daemonCpuPerCycleMs, baselineCpuPerCycleMs),
        daemonRssMb: procRssMb(d.pid) ?? null,
        daemonRssStartMb: rssStart,
        daemonThreads: procThreads(d.pid) ?? null,
        baselineTimerRssMb: procRssMb(b.pid) ?? null,
        rssSamplesMb: rssSamples,
      };
    } finally {
      await Promise.all([d.stop(), b.stop()]);
    }

    // (b) one mount in an uninterruptible hang
    const h = startBenchDaemon(dir, 'footprint-hung', {
      mounts: paths,
      schedule: '* * * * * *',
      timeoutS: 1,
      recovery: false,
      level: 'info',
    });
    const hb = startBaselineTimer(dir, 'footprint-hung', { periodS: 1, timeoutS: 1, umount: 'umount -a -t nfs,nfs4', mounts: paths });
    try {
      for (const p of paths) if (!(await h.waitFor(is('mount healthy', p), 15_000))) throw new Error('daemon not healthy');
      await sleep(3_000);
      const threadsBefore = procThreads(h.pid) ?? null;
      const rssBeforeMb = procRssMb(h.pid) ?? null;
      const onsetCount = hb.entries().length;
      const from = h.lines.length;
      mounts[0]!.setMode('hang');
      await h.waitFor(is('mount failing', paths[0]), 10_000, from);
      progress(`footprint: ${hungCycles} cycles with one mount in an uninterruptible hang`);
      const threads: number[] = [];
      const rssMb: number[] = [];
      for (let i = 0; i < hungCycles; i++) {
        await sleep(1_000);
        threads.push(procThreads(h.pid) ?? -1);
        rssMb.push(procRssMb(h.pid) ?? -1);
      }
      const hungResult: FootprintResult['hung'] = {
        cycles: hungCycles,
        threadsBefore,
        rssBeforeMb,
        threads,
        rssMb,
        threadsFirst: threads[0] ?? null,
        threadsLast: threads.at(-1) ?? null,
        threadsMax: Math.max(...threads),
        rssFirstMb: rssMb[0] ?? null,
        rssLastMb: rssMb.at(-1) ?? null,
        rssMaxMb: Math.max(...rssMb),
        baselineChecksAfterOnset: hb.entries().length - onsetCount,
      };
      return { healthy, hung: hungResult };
    } finally {
      const hs = h.stop();
      const hbs = hb.stop();
      for (const m of mounts) m.setMode('ok');
      await Promise.all([hs, hbs]);
    }
  } finally {
    for (const m of mounts) await m.cleanup().catch((e: Error) => progress(`cleanup: ${e.message}`));
  }
}
