// Shared pieces of the benchmark: options, statistics, /proc readers, and the two contenders as
// real processes — the built daemon (dist/src/cli.js) and the bash timer baseline (bench/baseline).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trackTempDir, removeTempDir, untrackTempDir, detachMount, mountsUnder, runBounded } from '../test/helpers/faultfs.js';
import { startDaemon, type LogLine } from '../test/helpers/daemon.js';

export const ROOT = process.cwd();
export const BASELINE_DIR = path.join(ROOT, 'bench', 'baseline');
export const CLK_TCK = 100;

export interface BenchOptions {
  quick: boolean;
  only: Set<string> | undefined;
}

export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wall-clock time in ms since the epoch, with sub-millisecond resolution. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Statistics

export interface Summary {
  n: number;
  median: number | null;
  max: number | null;
  p99?: number | null;
}

export function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[idx] ?? null;
}

export function summarize(xs: number[]): Summary {
  return { n: xs.length, median: quantile(xs, 0.5), max: xs.length ? Math.max(...xs) : null };
}

/** The order the contenders take turns in at round `r`: each first in turn, so none is always first. */
export function turnOrder<T>(items: readonly T[], r: number): T[] {
  const k = items.length === 0 ? 0 : r % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : a / b;
}

// ---------------------------------------------------------------------------------------------
// /proc

/** utime + stime (self) and cutime + cstime (reaped children), in seconds. */
export function procCpu(pid: number): { self: number; children: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return { self: ((f[11] ?? 0) + (f[12] ?? 0)) / CLK_TCK, children: ((f[13] ?? 0) + (f[14] ?? 0)) / CLK_TCK };
  } catch {
    return undefined;
  }
}

export function procRssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function procThreads(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return undefined;
  }
}

/** The numeric fields of /proc/PID/task/TID/status (VmRSS, RssAnon, …, in kB; ctxt switches). */
export function statusFields(pid: number, tid = pid): Record<string, number> | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    return Object.fromEntries(
      text
        .split('\n')
        .map((l) => l.split(':'))
        .flatMap((p) => (p.length === 2 && p[0] !== undefined && p[1] !== undefined ? [[p[0], parseInt(p[1], 10)] as const] : [])),
    );
  } catch {
    return undefined;
  }
}

/** kB (a status field) to MB with one decimal. */
export const mbOf = (kb: number | undefined): number | null => (kb === undefined || Number.isNaN(kb) ? null : Math.round(kb / 102.4) / 10);

/** A thread's context switches so far, voluntary and not: each is a wake-up (or a preemption). Default: the main thread. */
export const switches = (pid: number, tid = pid): number | undefined => {
  const f = statusFields(pid, tid);
  return f ? (f.voluntary_ctxt_switches ?? 0) + (f.nonvoluntary_ctxt_switches ?? 0) : undefined;
};

/** Every thread of a process: its id, its name (comm), its context switches and its time on a CPU (ns, schedstat). */
export function threadStats(pid: number): { tid: number; comm: string; switches: number; cpuNs: number }[] {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tids.flatMap((t) => {
    const tid = Number(t);
    try {
      const comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const cpuNs = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const sw = switches(pid, tid);
      return sw === undefined ? [] : [{ tid, comm, switches: sw, cpuNs }];
    } catch {
      // ended meanwhile
      return [];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Mounts

/** N directories on a tmpfs, each bind-mounted on a mount point of its own. */
export async function bindMounts(dir: string, name: string, n: number): Promise<{ paths: string[]; cleanup: () => Promise<void> }> {
  const sub = path.join(dir, `${name}-${n}`);
  const tmpfs = path.join(sub, 'tmpfs');
  const mnt = path.join(sub, 'mnt');
  fs.mkdirSync(tmpfs, { recursive: true });
  fs.mkdirSync(mnt);
  const tm = await runBounded('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'bench-tmpfs', tmpfs], 10_000);
  if (tm.code !== 0) throw new Error(`mount tmpfs: ${tm.stderr}`);
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    fs.mkdirSync(path.join(tmpfs, String(i)));
    fs.writeFileSync(path.join(tmpfs, String(i), 'example_dag.py'), 'from airflow import DAG\n');
    fs.mkdirSync(path.join(mnt, String(i)));
    const r = await runBounded('mount', ['--bind', path.join(tmpfs, String(i)), path.join(mnt, String(i))], 10_000);
    if (r.code !== 0) throw new Error(`bind mount ${i}: ${r.stderr}`);
    paths.push(path.join(mnt, String(i)));
  }
  return {
    paths,
    cleanup: async () => {
      for (const p of paths) await runBounded('umount', ['-l', p], 5_000);
      await runBounded('umount', ['-l', tmpfs], 5_000);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Processes and temp dirs we own, ended on every exit path

const children = new Set<ChildProcess>();

export function own(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs every process group we started (daemons, timers, holders). */
export function killOwned(): void {
  for (const c of children) {
    if (c.pid === undefined) continue;
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      try {
        c.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
process.on('exit', killOwned);

/** A temp dir for one figure, registered with the harness's safety net (mounts, processes). */
export function benchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), `nhc-bench-${prefix}-`));
  trackTempDir(dir);
  return dir;
}

/** Removes a bench dir after detaching anything still mounted in it. */
export async function removeBenchDir(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) await detachMount(m.mountPoint);
  removeTempDir(dir);
  untrackTempDir(dir);
}

/** Kills a process group and waits (bounded) for the leader's exit. */
export async function endGroup(child: ChildProcess, timeoutMs = 5_000): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const gone = new Promise<boolean>((r) => child.once('exit', () => r(true)));
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
  return Promise.race([gone, sleep(timeoutMs).then(() => false)]);
}

/** A process holding `dir` as Airflow does: its cwd there and `file` open. In its own group. */
export function holdMountDetached(dir: string, file: string): ChildProcess {
  return own(spawn('sh', ['-c', 'exec 3<"$1"; exec sleep 3600', 'sh', file], { cwd: dir, stdio: 'ignore', detached: true }));
}

// ---------------------------------------------------------------------------------------------
// The daemon

export interface DaemonConfig {
  mounts: string[];
  /** node-cron expression, e.g. "* * * * * *" (1 s) or "*\/30 * * * * *". */
  schedule: string;
  timeoutS: number;
  recovery: boolean;
  level?: 'debug' | 'info';
  /** holders.enabled (and its scan_timeout); left out: the defaults (enabled, 5 s). */
  holders?: { enabled: boolean; scanTimeoutS?: number };
  /** evidence.enabled (and its interval); left out: the defaults (enabled, 1 s). */
  evidence?: { enabled: boolean; intervalS?: number };
  /** metrics.web_config_file; left out: plain HTTP. */
  webConfigFile?: string;
  /** state.file ("" for none); left out: the default. */
  stateFile?: string;
}

export function daemonYaml(c: DaemonConfig): string {
  return [
    'mounts:',
    ...c.mounts.map((m) => `  - path: ${m}`),
    `schedule: "${c.schedule}"`,
    'probe:',
    `  timeout: ${c.timeoutS}s`,
    'recovery:',
    ...(c.recovery
      ? [
          '  command: [umount, -a, -t, fuse.faultfs]',
          '  timeout: 2s',
          '  escalation: [[umount, -f], [umount, -l]]',
          '  cooldown: 1s',
          '  max_backoff: 10s',
        ]
      : ['  enabled: false']),
    ...(c.holders
      ? [
          'holders:',
          `  enabled: ${c.holders.enabled}`,
          ...(c.holders.scanTimeoutS === undefined ? [] : [`  scan_timeout: ${c.holders.scanTimeoutS}s`]),
        ]
      : []),
    ...(c.evidence
      ? [
          'evidence:',
          `  enabled: ${c.evidence.enabled}`,
          ...(c.evidence.intervalS === undefined ? [] : [`  interval: ${c.evidence.intervalS}s`]),
        ]
      : []),
    'metrics:',
    '  listen: "127.0.0.1:0"',
    ...(c.webConfigFile === undefined ? [] : [`  web_config_file: ${c.webConfigFile}`]),
    'log:',
    `  level: ${c.level ?? 'debug'}`,
    '  file: ""',
    ...(c.stateFile === undefined ? [] : ['state:', `  file: "${c.stateFile}"`]),
    '',
  ].join('\n');
}

/** A daemon log line with `t`: the epoch ms the daemon stamped it with (pino's `time`). */
export type DaemonLine = LogLine;

export interface BenchDaemon {
  pid: number;
  lines: DaemonLine[];
  waitFor(match: (l: DaemonLine) => boolean, timeoutMs: number, from?: number): Promise<DaemonLine | undefined>;
  metricsUrl(): Promise<string>;
  /** stderr so far, and the exit if it has exited: for error messages. */
  describe(): string;
  stop(): Promise<boolean>;
}

/**
 * The test harness's daemon (`node dist/src/cli.js --config DIR/NAME.yaml`), in its own process
 * group so that an aborted bench ends it with its children, with waits that answer undefined
 * instead of throwing (a figure records a run that did not come up, and goes on).
 */
/** `command`: what runs the CLI (default: this node on dist/src/cli.js). */
export function startBenchDaemon(dir: string, name: string, config: DaemonConfig, command?: string[]): BenchDaemon {
  const env = { ...process.env };
  // Each runs with its own settings, not the shell's: node options, and the allocator's the launcher sets.
  delete env.NODE_OPTIONS;
  delete env.MALLOC_ARENA_MAX;
  const d = startDaemon(dir, daemonYaml(config), env, { name, detached: true, ...(command ? { command } : {}) });
  own(d.child);
  return {
    pid: d.pid,
    lines: d.lines,
    waitFor: (match, timeoutMs, from) => d.waitForLine(match, timeoutMs, from).catch(() => undefined),
    metricsUrl: async () => `${await d.metricsBase()}/metrics`,
    describe: () =>
      `pid ${d.pid}, exit ${d.child.exitCode ?? d.child.signalCode ?? 'none'}, stderr: ${d.stderr().trim().slice(-500)}, last lines: ${d.lines
        .slice(-3)
        .map((l) => l.raw)
        .join(' | ')}`,
    stop: () => endGroup(d.child),
  };
}

/** Sum of a counter family in a /metrics text (e.g. nfs_mount_probes_total). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// The baseline

export interface BaselineTimer {
  pid: number;
  log: string;
  /** ERROR and healthy lines so far, with the epoch ms the script stamped them with. */
  entries(): { t: number; error: boolean; text: string }[];
  stop(): Promise<boolean>;
}

/** Starts bench/baseline/timer.sh PERIOD nfs-health-check.sh -l LOG -t TIMEOUT -u UMOUNT MOUNTS. */
export function startBaselineTimer(
  dir: string,
  name: string,
  o: { periodS: number; timeoutS: number; umount: string; mounts: string[] },
): BaselineTimer {
  const log = path.join(dir, `${name}.log`);
  fs.writeFileSync(log, '');
  const child = own(
    spawn(
      'bash',
      [
        path.join(BASELINE_DIR, 'timer.sh'),
        String(o.periodS),
        path.join(BASELINE_DIR, 'nfs-health-check.sh'),
        '-l',
        log,
        '-t',
        String(o.timeoutS),
        '-u',
        o.umount,
        ...o.mounts,
      ],
      { stdio: 'ignore', detached: true },
    ),
  );
  return {
    pid: child.pid!,
    log,
    entries: () =>
      fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((text) => ({ t: Number(text.split(' ')[0]) * 1000, error: text.includes(' ERROR: '), text })),
    stop: () => endGroup(child),
  };
}

/** Polls `cond` every `intervalMs` until true or `timeoutMs` passes. */
export async function poll(cond: () => boolean, timeoutMs: number, intervalMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

export function fmtMs(v: number | null | undefined, digits = 0): string {
  return v == null ? '—' : `${v.toFixed(digits)} ms`;
}

export function fmtS(v: number | null | undefined, digits = 2): string {
  return v == null ? '—' : `${v.toFixed(digits)} s`;
}
