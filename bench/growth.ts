// Figure 8: how the footprint grows with the mount count, before and after the shared probe pool,
// side by side in one run. "before" is the checkout at BEFORE_REF (a thread per mount, prom-client's
// 10 ms event-loop monitor), built here from git; "after" is this checkout as its #! line runs it
// (install.sh's link from a checkout); "start" is this checkout as `npm start` runs it (package.json's
// environment defaults and flags); "release" is the packaged tree (its launcher, its own Node.js)
// when npm run package has made one, and "bundle" its app run as the launcher runs it but on this
// machine's node: what an install.sh install with the system's Node.js runs, and which of the
// release's differences (bundle and flags, runtime) costs what.
// (a) N healthy bind mounts at a 30 s schedule, past the first minute: VmRSS (anon / file), threads,
//     and the main thread's wake-ups (context switches of /proc/PID/task/PID) between two rounds.
// (b) 2 mounts at a 1 s schedule beside the bash timer at a 1 s period: CPU per healthy cycle.
// (c) 100 mounts at a 1 s schedule: CPU per second.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI } from '../test/helpers/cli.js';
import { launcherEnv, launcherFlags, npmStart, shebangFlags } from '../test/helpers/launch.js';
import {
  ROOT,
  bindMounts,
  mbOf,
  metricSum,
  poll,
  procCpu,
  procThreads,
  progress,
  ratio,
  sleep,
  startBaselineTimer,
  startBenchDaemon,
  statusFields,
  switches,
  type BenchDaemon,
  type BenchOptions,
} from './common.js';

/** main before issue 13: the figures the issue was filed with. BENCH_BEFORE=REF measures another. */
const BEFORE_REF = 'a782b1f65a7c1d4cf9adcb3e87fc505eb4307275';

export type GrowthVariant = 'before' | 'after' | 'start' | 'bundle' | 'release';

export interface GrowthSample {
  rssMb: number | null;
  anonMb: number | null;
  fileMb: number | null;
  threads: number | null;
  wakeupsPerS: number | null;
}

export interface GrowthRow {
  mounts: number;
  samples: Partial<Record<GrowthVariant, GrowthSample>>;
}

export interface GrowthCpu {
  cycles: Partial<Record<GrowthVariant, number>>;
  cpuPerCycleMs: Partial<Record<GrowthVariant, number>>;
}

export interface GrowthResult {
  beforeRef: string;
  nodes: Partial<Record<GrowthVariant, string>>;
  launch: Partial<Record<GrowthVariant, string>>;
  rows: GrowthRow[];
  twoMounts: GrowthCpu & { baselineRuns: number; baselineCpuPerCycleMs: number; ratio: Partial<Record<GrowthVariant, number | null>> };
  hundredMounts: GrowthCpu & { seconds: number; cpuMsPerS: Partial<Record<GrowthVariant, number>> };
}

/** The checkout at `ref`, compiled here against this checkout's node_modules (the same lock). */
function buildBefore(dir: string, ref: string): string {
  const tree = path.join(dir, 'before');
  fs.mkdirSync(tree);
  const archive = spawnSync('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', ROOT, ref, tree], { encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`git archive ${ref}: ${archive.stderr.trim()}`);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  const tsc = spawnSync(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', path.join(tree, 'tsconfig.json')], { encoding: 'utf8' });
  const cli = path.join(tree, 'dist/src/cli.js');
  if (tsc.status !== 0 || !fs.existsSync(cli)) throw new Error(`building ${ref}: ${(tsc.stdout + tsc.stderr).trim().slice(-500)}`);
  return cli;
}

/** The release tree's launcher, unpacked from the tarball, or undefined without one. */
function unpackRelease(dir: string): string | undefined {
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const tarball = path.join(ROOT, 'release', `nfs-health-checkd-${version}-linux-x64.tar.gz`);
  if (!fs.existsSync(tarball)) return undefined;
  const into = path.join(dir, 'release');
  fs.mkdirSync(into);
  if (spawnSync('tar', ['-xzf', tarball, '-C', into]).status !== 0) throw new Error(`cannot unpack ${tarball}`);
  return path.join(into, `nfs-health-checkd-${version}-linux-x64`, 'usr/lib/nfs-health-checkd/bin/nfs-health-checkd');
}

type Commands = Partial<Record<GrowthVariant, string[]>>;

async function startAll(
  dir: string,
  name: string,
  commands: Commands,
  paths: string[],
  schedule: string,
): Promise<Partial<Record<GrowthVariant, BenchDaemon>>> {
  const daemons: Partial<Record<GrowthVariant, BenchDaemon>> = {};
  for (const [variant, command] of Object.entries(commands) as [GrowthVariant, string[]][]) {
    daemons[variant] = startBenchDaemon(
      dir,
      `${name}-${variant}`,
      { mounts: paths, schedule, timeoutS: 5, recovery: false, level: 'info' },
      command,
    );
  }
  for (const [variant, d] of Object.entries(daemons) as [GrowthVariant, BenchDaemon][]) {
    // Healthy at the first probe, or recovered after one that timed out (the old code's first round
    // at hundreds of mounts starts a thread per mount, and some miss the timeout).
    const healthy = (): boolean =>
      new Set(d.lines.filter((l) => l.msg === 'mount healthy' || l.msg === 'mount recovered').map((l) => l.mount)).size >= paths.length;
    if (!(await poll(healthy, 120_000, 100))) throw new Error(`${variant}: not every mount healthy: ${d.describe()}`);
  }
  return daemons;
}

const stopAll = (daemons: Partial<Record<GrowthVariant, BenchDaemon>>): Promise<unknown> =>
  Promise.all(Object.values(daemons).map((d) => d.stop()));

/** (a): one size, every variant at once, sampled in a window that holds no round. */
async function oneSize(dir: string, n: number, commands: Commands, windowS: number): Promise<GrowthRow> {
  const mounts = await bindMounts(dir, 'idle', n);
  const daemons: Partial<Record<GrowthVariant, BenchDaemon>> = {};
  try {
    Object.assign(daemons, await startAll(dir, `growth-${n}`, commands, mounts.paths, '*/30 * * * * *'));
    // Steady state: past probe.workers.idle (60 s), so threads a loaded first round started have
    // ended. Rounds start at :00 and :30; begin 3 s after one (it has ended by then), stop before the next.
    await sleep(65_000);
    const intoHalf = (Date.now() / 1000) % 30;
    await sleep(((33 - intoHalf) % 30) * 1000);
    const start = Object.fromEntries(Object.entries(daemons).map(([v, d]) => [v, switches(d.pid)]));
    await sleep(windowS * 1000);
    const samples: Partial<Record<GrowthVariant, GrowthSample>> = {};
    for (const [variant, d] of Object.entries(daemons) as [GrowthVariant, BenchDaemon][]) {
      const end = switches(d.pid);
      const begin = start[variant];
      const f = statusFields(d.pid);
      samples[variant] = {
        rssMb: mbOf(f?.VmRSS),
        anonMb: mbOf(f?.RssAnon),
        fileMb: mbOf(f?.RssFile),
        threads: procThreads(d.pid) ?? null,
        wakeupsPerS: end === undefined || begin === undefined ? null : Math.round(((end - begin) / windowS) * 10) / 10,
      };
    }
    progress(
      `growth: ${n} mounts: ${Object.entries(samples)
        .map(([v, s]) => `${v} ${s.rssMb} MB, ${s.threads} threads, ${s.wakeupsPerS}/s`)
        .join('; ')}`,
    );
    return { mounts: n, samples };
  } finally {
    await stopAll(daemons);
    await mounts.cleanup();
  }
}

/** (b) and (c): every variant at a 1 s schedule over the same stretch; cycles counted from /metrics. */
async function cpuAtOneSecond(dir: string, n: number, commands: Commands, seconds: number, withBaseline: boolean) {
  const mounts = await bindMounts(dir, 'cpu', n);
  const daemons: Partial<Record<GrowthVariant, BenchDaemon>> = {};
  const baseline = withBaseline
    ? startBaselineTimer(dir, `growth-${n}`, { periodS: 1, timeoutS: 5, umount: 'umount -a -t nfs,nfs4', mounts: mounts.paths })
    : undefined;
  try {
    Object.assign(daemons, await startAll(dir, `growth-cpu-${n}`, commands, mounts.paths, '* * * * * *'));
    if (baseline) await poll(() => baseline.entries().length > 0, 15_000);
    await sleep(3_000);
    const entries = Object.entries(daemons) as [GrowthVariant, BenchDaemon][];
    const probes = async (d: BenchDaemon): Promise<number> =>
      metricSum(await (await fetch(await d.metricsUrl())).text(), 'nfs_mount_probes_total');
    const p0 = await Promise.all(entries.map(([, d]) => probes(d)));
    const c0 = entries.map(([, d]) => procCpu(d.pid)?.self ?? 0);
    const b0 = baseline ? { cpu: procCpu(baseline.pid)?.children ?? 0, runs: baseline.entries().length } : undefined;
    const t0 = performance.now();
    progress(`growth: CPU, ${n} mounts at a 1 s schedule for ${seconds} s`);
    await sleep(seconds * 1000);
    const elapsedS = (performance.now() - t0) / 1000;
    const p1 = await Promise.all(entries.map(([, d]) => probes(d)));
    const c1 = entries.map(([, d]) => procCpu(d.pid)?.self ?? 0);
    const cycles: GrowthCpu['cycles'] = {};
    const cpuPerCycleMs: GrowthCpu['cpuPerCycleMs'] = {};
    const cpuMsPerS: Partial<Record<GrowthVariant, number>> = {};
    entries.forEach(([variant], i) => {
      const c = (p1[i]! - p0[i]!) / n;
      const cpuMs = (c1[i]! - c0[i]!) * 1000;
      cycles[variant] = c;
      cpuPerCycleMs[variant] = cpuMs / Math.max(1, c);
      cpuMsPerS[variant] = cpuMs / elapsedS;
    });
    const baselineRuns = baseline && b0 ? baseline.entries().length - b0.runs : 0;
    const baselineCpuMs = baseline && b0 ? ((procCpu(baseline.pid)?.children ?? 0) - b0.cpu) * 1000 : 0;
    return { cycles, cpuPerCycleMs, cpuMsPerS, elapsedS, baselineRuns, baselineCpuPerCycleMs: baselineCpuMs / Math.max(1, baselineRuns) };
  } finally {
    await Promise.all([stopAll(daemons), baseline?.stop()]);
    await mounts.cleanup();
  }
}

export async function runGrowth(dir: string, opts: BenchOptions): Promise<GrowthResult> {
  const beforeRef = process.env.BENCH_BEFORE ?? BEFORE_REF;
  progress(`growth: building ${beforeRef.slice(0, 12)} (before)`);
  const beforeCli = buildBefore(dir, beforeRef);
  // Each as its own first line starts it (install.sh links /usr/local/bin to it).
  const beforeFlags = shebangFlags(beforeCli);
  const afterFlags = shebangFlags(CLI);
  // As npm start runs it: its environment defaults (env execs node: the pid stays), its flags.
  const start = npmStart();
  const commands: Commands = {
    before: [process.execPath, ...beforeFlags, beforeCli],
    after: [process.execPath, ...afterFlags, CLI],
    start: ['env', ...start.env, process.execPath, ...start.flags, CLI],
  };
  const asRun = (flags: string[]): string => `node ${flags.map((f) => `${f} `).join('')}dist/src/cli.js`;
  const launcher = unpackRelease(dir);
  const launcherEnvs = launcher ? launcherEnv(launcher) : [];
  if (launcher) {
    const app = path.dirname(path.dirname(launcher));
    // As the launcher starts it: its environment defaults (env execs node: the pid stays), its flags.
    commands.bundle = ['env', ...launcherEnvs, process.execPath, ...launcherFlags(launcher), path.join(app, 'app/cli.js')];
    commands.release = [launcher];
  } else progress('growth: no release tarball (npm run package): the release column is left out');
  const releaseNode = launcher
    ? spawnSync(path.join(path.dirname(path.dirname(launcher)), 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim()
    : undefined;
  const flags = launcher ? `${launcherFlags(launcher).join(' ')} ` : '';
  const envs = launcherEnvs.map((e) => `${e} `).join('');

  const sizes = opts.quick ? [2, 100] : [2, 100, 500];
  const rows: GrowthRow[] = [];
  for (const n of sizes) {
    progress(`growth: ${n} mounts at a 30 s schedule`);
    rows.push(await oneSize(dir, n, commands, 24));
  }
  const two = await cpuAtOneSecond(dir, 2, commands, opts.quick ? 60 : 300, true);
  const hundred = await cpuAtOneSecond(dir, 100, commands, opts.quick ? 20 : 60, false);
  return {
    beforeRef,
    nodes: {
      before: process.version,
      after: process.version,
      start: process.version,
      ...(releaseNode ? { bundle: process.version, release: releaseNode } : {}),
    },
    launch: {
      before: asRun(beforeFlags),
      after: asRun(afterFlags),
      start: `npm start (${start.env.map((e) => `${e} `).join('')}${asRun(start.flags)})`,
      ...(launcher
        ? { bundle: `${envs}node ${flags}app/cli.js`, release: `bin/nfs-health-checkd (its ${envs}node ${flags}app/cli.js)` }
        : {}),
    },
    rows,
    twoMounts: {
      cycles: two.cycles,
      cpuPerCycleMs: two.cpuPerCycleMs,
      baselineRuns: two.baselineRuns,
      baselineCpuPerCycleMs: two.baselineCpuPerCycleMs,
      ratio: Object.fromEntries(Object.entries(two.cpuPerCycleMs).map(([v, c]) => [v, ratio(c, two.baselineCpuPerCycleMs)])),
    },
    hundredMounts: {
      cycles: hundred.cycles,
      cpuPerCycleMs: hundred.cpuPerCycleMs,
      seconds: Math.round(hundred.elapsedS),
      cpuMsPerS: hundred.cpuMsPerS,
    },
  };
}
