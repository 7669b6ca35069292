// Figure 6: the holder scan (src/holders) among 2,000 extra processes. The issue: "a scan of 2,000
// processes finishes well inside a probe interval and never delays a probe round".
//
// Stage: 2,000 `sleep` processes (20 bash launchers of 100, each its own process group, so the
// bench's group kill ends them; each sleep lives at most BENCH_HOLDERS_LIFE_S seconds whatever
// happens), every one with 8 regular files on the local disk open (6 shared per launcher, 2 of its
// own), stdin/stdout/stderr on pipes, and its cwd on the local disk; plus 5 holders on a faultfs
// mount: two shells with their cwd there and a file open, a python3 with a file mapped (every
// other fd closed, cwd /), a python3 with its cwd there, a file open and mapped, a shell with only
// a file open.
//
// 1. scanHolders(realProc(), …) in this process, repeated: (a) the mount failing (attached): fds
//    are filtered by path text, fdinfo read only for paths under the mount point; (b) after
//    `umount -l`, the holders still on it: the fdinfo of every path fd is read. The holders found
//    are checked (pids and kinds of hold) on every run, so a broken scan cannot report a fast
//    nothing. One more run over a counting ProcReader says what a scan reads.
// 2. The same through createThreadScanner (the daemon's worker thread, with message passing).
// 3. The real daemon (1 s schedule, 1 s probe timeout, recovery off) on two faultfs mounts, one
//    failing and then lazily detached with the holders left on it, so that it rescans as often as
//    its rescan gap allows (max(5 s, 10 × the last scan)):
//    its probe rounds' cycle_ms, how late each round starts after its tick, /metrics latency and
//    CPU per cycle, against the same run with holders.enabled: false.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findMount, mountFaultfs, runBounded, type FaultMount } from '../test/helpers/faultfs.js';
import { is } from '../test/helpers/daemon.js';
import { systemClock } from '../src/clock.js';
import { readMountTable } from '../src/probe/mountinfo.js';
import { realProc, type ProcReader } from '../src/holders/proc.js';
import { scanHolders, type HoldKind, type ScanInput, type ScanOutput, type WatchedMount } from '../src/holders/scan.js';
import { createThreadScanner } from '../src/holders/scanner.js';
import {
  endGroup,
  epochMs,
  own,
  poll,
  procCpu,
  progress,
  quantile,
  ratio,
  sleep,
  startBenchDaemon,
  type BenchOptions,
  type BenchDaemon,
} from './common.js';
import { scrapeOnce } from './scrape.js';

const PYTHON = '/usr/bin/python3';
const GROUP_SIZE = 100;
const SHARED_FILES = 6;

export interface Stats {
  n: number;
  median: number | null;
  p95: number | null;
  max: number | null;
}

export function stats(xs: number[]): Stats {
  return { n: xs.length, median: quantile(xs, 0.5), p95: quantile(xs, 0.95), max: xs.length ? Math.max(...xs) : null };
}

/** What one scan read, from a run over a counting ProcReader. */
export interface ScanReads {
  processes: number;
  /** Entries of /proc/PID/fd listed. */
  fds: number;
  /** readlink of /proc/PID/fd/N. */
  fdLinks: number;
  /** /proc/PID/fdinfo/N read. */
  fdinfo: number;
  /** /proc/PID/maps read. */
  maps: number;
  /** Every other read, readlink and listing. */
  other: number;
}

export interface ScanRow {
  case: 'failing' | 'detached';
  how: 'in-process' | 'thread';
  runs: number;
  ms: Stats;
  /** Thread: the first scan, which starts the worker thread (not in ms). */
  firstMs: number | null;
  reads: ScanReads;
  holdersFound: number;
  holdersExpected: number;
  samples: number[];
}

export interface DaemonRun {
  holders: boolean;
  cycles: number;
  cycleMs: Stats;
  /** Start of each probe round (its line's time − cycle_ms) after its 1 s tick. */
  lateMs: Stats;
  scrapeMs: Stats & { p99: number | null };
  cpuPerCycleMs: number;
  /** holder scans logged in the window, and their scan_ms. */
  scans: number;
  scanMs: Stats;
  scanProcesses: number | null;
  scanTimeouts: number;
  /** nfs_mount_detached_holders of the detached path after the window. */
  detachedHoldersGauge: number | null;
  samples: { cycleMs: number[]; lateMs: number[]; scrapeMs: number[]; scanMs: number[] };
}

export interface HoldersResult {
  extraProcesses: number;
  /** Processes in /proc when the scans ran (the extra ones, the holders, and the rest). */
  procTotal: number;
  holders: number;
  scans: ScanRow[];
  daemon: {
    off: DaemonRun;
    on: DaemonRun;
    ratioCycleMedian: number | null;
    ratioCycleP95: number | null;
    ratioCycleMax: number | null;
    ratioScrapeP50: number | null;
    ratioScrapeP99: number | null;
    ratioCpu: number | null;
  };
  /** sleep processes (any, as pgrep -x sleep) before the stage and after the cleanup; processes left in
   *  the process groups this figure started; mounts left under the bench dir. */
  cleanup: { sleepBefore: number; sleepAfter: number; ownLeft: number; mountsLeft: number };
  note: string;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Process group of every pid in /proc (field 5 of stat). */
function pgrps(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      out.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]));
    } catch {
      // gone
    }
  }
  return out;
}

export function inGroups(groups: readonly ChildProcess[]): number {
  const ids = new Set(groups.map((g) => g.pid));
  let n = 0;
  for (const pgrp of pgrps().values()) if (ids.has(pgrp)) n += 1;
  return n;
}

export function countSleep(): number {
  let n = 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/comm`, 'utf8').trim() === 'sleep') n += 1;
    } catch {
      // gone
    }
  }
  return n;
}

const FILLER = `
cd "$1" || exit 1
n=$2; life=$3
exec 3<s0 4<s1 5<s2 6<s3 7<s4 8<s5
i=0
while [ $i -lt $n ]; do sleep "$life" 9<"p$i" 10<"q$i" & i=$((i+1)); done
echo ready
wait
`;

export async function startFillers(dir: string, count: number, lifeS: number): Promise<ChildProcess[]> {
  const groups: ChildProcess[] = [];
  for (let g = 0; g * GROUP_SIZE < count; g++) {
    const n = Math.min(GROUP_SIZE, count - g * GROUP_SIZE);
    const gdir = path.join(dir, `g${g}`);
    fs.mkdirSync(gdir, { recursive: true });
    for (let i = 0; i < SHARED_FILES; i++) fs.writeFileSync(path.join(gdir, `s${i}`), `shared ${g}.${i}\n`);
    for (let i = 0; i < n; i++) {
      fs.writeFileSync(path.join(gdir, `p${i}`), `own ${g}.${i}\n`);
      fs.writeFileSync(path.join(gdir, `q${i}`), `log ${g}.${i}\n`);
    }
    // stdio pipes: each sleep's fds 0-2 are pipes (inherited), 3-10 regular files.
    const child = own(
      spawn('bash', ['-c', FILLER, 'filler', gdir, String(n), String(lifeS)], { stdio: ['pipe', 'pipe', 'pipe'], detached: true }),
    );
    groups.push(child);
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (out += c));
    if (!(await poll(() => out.includes('ready') || child.exitCode !== null, 30_000, 20)))
      throw new Error(`filler group ${g} did not start: ${out}`);
    if (child.exitCode !== null) throw new Error(`filler group ${g} exited ${child.exitCode}: ${out}`);
  }
  const expected = count + groups.length;
  if (!(await poll(() => inGroups(groups) >= expected, 10_000, 100)))
    throw new Error(`only ${inGroups(groups)} of ${expected} filler processes are up`);
  return groups;
}

/** Every holder started, for the final count of what is left. */
const started: ChildProcess[] = [];

/** Ends every holder startHolders started, also those of a stage that failed half-way. */
export const endStartedHolders = (): Promise<void> => endAll(started);

export interface HolderProc {
  child: ChildProcess;
  pid: number;
  /** Kinds of hold the scan must report for it on the faultfs mount. */
  kinds: HoldKind[];
}

const PY_HOLDER = `
import mmap, os, sys, time
path, keep, life = sys.argv[1], sys.argv[2] == 'keep', float(sys.argv[3])
f = open(path, 'rb')
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
if not keep:
    f.close()
    os.closerange(3, 1024)  # also the fd the mmap object dup()ed: a mapping and nothing else
print('ready', flush=True)
time.sleep(life)
`;

function fdLink(pid: number, fd: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return null;
  }
}

/** The 5 holders on `m`, each ready (holding what it should) when this resolves. */
export async function startHolders(m: FaultMount, lifeS: number): Promise<HolderProc[]> {
  const file = path.join(m.mountpoint, 'example_dag.py');
  const readme = path.join(m.mountpoint, 'README.txt');
  const out: HolderProc[] = [];
  const shell = async (cwd: string, f: string, kinds: HoldKind[]): Promise<void> => {
    const child = own(
      spawn('sh', ['-c', 'exec 3<"$1"; exec sleep "$2"', 'sh', f, String(lifeS)], { cwd, stdio: 'ignore', detached: true }),
    );
    started.push(child);
    const pid = child.pid!;
    const ready = (): boolean => {
      try {
        return fdLink(pid, 3) === f && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
      } catch {
        return false;
      }
    };
    if (!(await poll(ready, 10_000, 20))) throw new Error(`shell holder ${pid} did not start`);
    out.push({ child, pid, kinds });
  };
  const python = async (cwd: string, keep: boolean, kinds: HoldKind[]): Promise<void> => {
    const child = own(
      spawn(PYTHON, ['-I', '-c', PY_HOLDER, file, keep ? 'keep' : 'close', String(lifeS)], {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      }),
    );
    started.push(child);
    let text = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (text += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (text += c));
    if (!(await poll(() => text.includes('ready') || child.exitCode !== null, 10_000, 20)) || child.exitCode !== null) {
      throw new Error(`python holder did not start: ${text}`);
    }
    out.push({ child, pid: child.pid!, kinds });
  };
  await shell(m.mountpoint, file, ['cwd', 'fd']);
  await shell(m.mountpoint, readme, ['cwd', 'fd']);
  await python('/', false, ['mmap']);
  await python(m.mountpoint, true, ['cwd', 'fd', 'mmap']);
  await shell('/', readme, ['fd']);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scans

export function countingProc(inner: ProcReader): { proc: ProcReader; reads: ScanReads } {
  const reads: ScanReads = { processes: 0, fds: 0, fdLinks: 0, fdinfo: 0, maps: 0, other: 0 };
  return {
    reads,
    proc: {
      pids: () => inner.pids(),
      read: (pid, name) => {
        if (name.startsWith('fdinfo/')) reads.fdinfo += 1;
        else if (name === 'maps') reads.maps += 1;
        else reads.other += 1;
        return inner.read(pid, name);
      },
      link: (pid, name) => {
        if (name.startsWith('fd/')) reads.fdLinks += 1;
        else reads.other += 1;
        return inner.link(pid, name);
      },
      list: (pid, name) => {
        const entries = inner.list(pid, name);
        if (name === 'fd') reads.fds += entries?.length ?? 0;
        else reads.other += 1;
        return entries;
      },
    },
  };
}

/** Throws unless the scan found exactly the holders on mount `mountId`, each with its kinds of hold. */
export function checkHolders(out: ScanOutput, mountId: number, expected: readonly HolderProc[], what: string): number {
  const on = out.holders.filter((h) => h.mountId === mountId);
  const problems: string[] = [];
  for (const e of expected) {
    const h = on.find((x) => x.pid === e.pid);
    const kinds = h ? [...new Set(h.holds.map((x) => x.kind))].sort() : [];
    if (kinds.join(',') !== [...e.kinds].sort().join(','))
      problems.push(`pid ${e.pid}: ${kinds.join(',') || 'not found'} (expected ${e.kinds.join(',')})`);
  }
  for (const h of on)
    if (!expected.some((e) => e.pid === h.pid))
      problems.push(`unexpected holder ${h.pid} (${h.comm}): ${h.holds.map((x) => x.kind).join(',')}`);
  if (problems.length > 0) throw new Error(`${what}: wrong holders: ${problems.join('; ')}`);
  return on.length;
}

interface Stage {
  watched: WatchedMount;
  holders: HolderProc[];
  memory: ScanInput['memory'];
}

function inProcess(stage: Stage, kase: ScanRow['case'], runs: number): ScanRow {
  const proc = realProc();
  const samples: number[] = [];
  let found = 0;
  for (let i = 0; i < runs; i++) {
    const input: ScanInput = { watched: [stage.watched], table: readMountTable(), skipPids: [process.pid], memory: stage.memory };
    const t = performance.now();
    const out = scanHolders(proc, input);
    samples.push(performance.now() - t);
    found = checkHolders(out, stage.watched.mountId, stage.holders, `in-process ${kase} scan ${i + 1}`);
    stage.memory = out.memory;
  }
  const counting = countingProc(proc);
  const out = scanHolders(counting.proc, {
    watched: [stage.watched],
    table: readMountTable(),
    skipPids: [process.pid],
    memory: stage.memory,
  });
  checkHolders(out, stage.watched.mountId, stage.holders, `counted ${kase} scan`);
  counting.reads.processes = out.scanned;
  return {
    case: kase,
    how: 'in-process',
    runs,
    ms: stats(samples),
    firstMs: null,
    reads: counting.reads,
    holdersFound: found,
    holdersExpected: stage.holders.length,
    samples,
  };
}

async function inThread(stage: Stage, kase: ScanRow['case'], runs: number, reads: ScanReads): Promise<ScanRow> {
  const scanner = createThreadScanner({ timeoutMs: 5_000, clock: systemClock });
  const samples: number[] = [];
  let first: number | null = null;
  let found = 0;
  try {
    for (let i = 0; i <= runs; i++) {
      const input: ScanInput = { watched: [stage.watched], table: readMountTable(), skipPids: [process.pid], memory: stage.memory };
      const t = performance.now();
      const outcome = await scanner.scan(input);
      const ms = performance.now() - t;
      if (outcome.kind !== 'done')
        throw new Error(`thread ${kase} scan ${i}: ${outcome.kind}${outcome.kind === 'unavailable' ? ` (${outcome.reason})` : ''}`);
      found = checkHolders(outcome.output, stage.watched.mountId, stage.holders, `thread ${kase} scan ${i}`);
      stage.memory = outcome.output.memory;
      if (i === 0) first = ms;
      else samples.push(ms);
    }
  } finally {
    scanner.close();
  }
  return {
    case: kase,
    how: 'thread',
    runs,
    ms: stats(samples),
    firstMs: first,
    reads,
    holdersFound: found,
    holdersExpected: stage.holders.length,
    samples,
  };
}

export function watchedOf(m: FaultMount, state: WatchedMount['state']): WatchedMount {
  const entry = readMountTable().find((e) => e.id === m.mountId);
  if (!entry) throw new Error(`${m.mountpoint} (mount ${m.mountId}) is not in the table`);
  return { path: m.mountpoint, mountId: m.mountId, dev: entry.dev, state };
}

export async function lazyUnmount(m: FaultMount): Promise<void> {
  const r = await runBounded('umount', ['-l', m.mountpoint], 5_000);
  if (r.code !== 0) throw new Error(`umount -l ${m.mountpoint}: ${r.stderr.trim()}`);
  if (!(await poll(() => findMount(m.mountpoint) === undefined, 5_000)))
    throw new Error(`${m.mountpoint} is still mounted after umount -l`);
}

export async function endAll(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => endGroup(c)));
}

// ---------------------------------------------------------------------------------------------
// The daemon

function gaugeOf(text: string, name: string, mount: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{mount="${mount}"}`));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function daemonRun(dir: string, enabled: boolean, cycles: number, lifeS: number): Promise<DaemonRun> {
  const sub = path.join(dir, enabled ? 'daemon-on' : 'daemon-off');
  fs.mkdirSync(sub);
  const mounts: FaultMount[] = [];
  let holders: HolderProc[] = [];
  let d: BenchDaemon | undefined;
  try {
    const a = await mountFaultfs({ dir: sub });
    mounts.push(a);
    const b = await mountFaultfs({ dir: sub });
    mounts.push(b);
    holders = await startHolders(a, lifeS);
    d = startBenchDaemon(sub, 'holders', {
      mounts: [a.mountpoint, b.mountpoint],
      schedule: '* * * * * *',
      timeoutS: 1,
      recovery: false,
      level: 'debug',
      holders: { enabled },
    });
    const dd = d;
    const url = await d.metricsUrl();
    for (const m of mounts)
      if (!(await d.waitFor(is('mount healthy', m.mountpoint), 15_000))) throw new Error(`daemon not healthy: ${d.describe()}`);
    const from = d.lines.length;
    a.setMode('estale');
    if (!(await d.waitFor(is('mount failing', a.mountpoint), 10_000, from))) throw new Error(`no 'mount failing': ${d.describe()}`);
    const holderLines = (msg: string, since: number) => () =>
      dd.lines.slice(since).filter((l) => l.msg === msg && l.mount === a.mountpoint).length >= holders.length;
    if (enabled && !(await poll(holderLines('holder found on failing mount', from), 10_000, 20)))
      throw new Error(`holders not found on the failing mount: ${d.describe()}`);
    const detachedAt = d.lines.length;
    await lazyUnmount(a);
    if (enabled && !(await poll(holderLines('holder left on detached mount', detachedAt), 10_000, 20)))
      throw new Error(`holders not found on the detached mount: ${d.describe()}`);
    const rounds = (since: number) => dd.lines.slice(since).filter((l) => l.msg === 'probe round');
    const settle = d.lines.length;
    if (!(await poll(() => rounds(settle).length >= 2, 10_000, 20))) throw new Error(`no probe rounds after the detach: ${d.describe()}`);

    progress(`holders: daemon, holders ${enabled ? 'enabled' : 'disabled'}: ${cycles} cycles with one mount detached under its holders`);
    const start = d.lines.length;
    const c0 = procCpu(d.pid);
    const scrapeMs: number[] = [];
    let stop = false;
    const scraper = (async () => {
      while (!stop) {
        scrapeMs.push(await scrapeOnce(url));
        await sleep(100);
      }
    })();
    const done = await poll(() => rounds(start).length >= cycles, (cycles + 15) * 1_000, 20);
    const c1 = procCpu(d.pid);
    stop = true;
    await scraper;
    if (!done) throw new Error(`only ${rounds(start).length} of ${cycles} probe rounds: ${d.describe()}`);
    const window = d.lines.slice(start);
    const windowRounds = window.filter((l) => l.msg === 'probe round').slice(0, cycles);
    const cycleMs = windowRounds.map((l) => Number(l.cycle_ms));
    const lateMs = windowRounds.map((l) => {
      const began = Date.parse(String(l.time)) - Number(l.cycle_ms);
      const late = ((began % 1000) + 1000) % 1000;
      return late > 900 ? late - 1000 : late; // cycle_ms is rounded: a round may seem to begin just before its tick
    });
    const scans = window.filter((l) => l.msg === 'holder scan');
    const scanMs = scans.map((l) => Number(l.scan_ms));
    const text = await (await fetch(url)).text();
    const gauge = gaugeOf(text, 'nfs_mount_detached_holders', a.mountpoint);
    if (enabled) {
      // The watch rescans an unchanged set of mounts no sooner than max(5 s, 10 × the last scan).
      if (scans.length < 2 || scans.length > Math.ceil(cycles / 5) + 1)
        throw new Error(`${scans.length} holder scans in ${cycles} cycles of 1 s, expected one per rescan gap (≥ 5 s)`);
      if (gauge !== holders.length) throw new Error(`nfs_mount_detached_holders for ${a.mountpoint}: ${gauge}, expected ${holders.length}`);
    } else if (scans.length > 0) throw new Error(`holders disabled, yet ${scans.length} holder scans`);
    const sScrape = stats(scrapeMs);
    return {
      holders: enabled,
      cycles: cycleMs.length,
      cycleMs: stats(cycleMs),
      lateMs: stats(lateMs),
      scrapeMs: { ...sScrape, p99: quantile(scrapeMs, 0.99) },
      cpuPerCycleMs: (((c1?.self ?? 0) - (c0?.self ?? 0)) / Math.max(1, cycleMs.length)) * 1000,
      scans: scans.length,
      scanMs: stats(scanMs),
      scanProcesses: scans.length ? Number(scans.at(-1)!.processes) : null,
      scanTimeouts: window.filter((l) => l.msg.startsWith('holder scan timed out')).length,
      detachedHoldersGauge: gauge,
      samples: { cycleMs, lateMs, scrapeMs, scanMs },
    };
  } finally {
    const ds = d?.stop();
    await endAll(holders.map((h) => h.child));
    for (const m of mounts) m.setMode('ok');
    await ds;
    for (const m of mounts) await m.cleanup().catch((e: Error) => progress(`holders: cleanup: ${e.message}`));
  }
}

// ---------------------------------------------------------------------------------------------

export async function runHolders(dir: string, opts: BenchOptions): Promise<HoldersResult> {
  if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} is missing (the holder with a mapping)`);
  const extra = Number(process.env.BENCH_HOLDERS_PROCS ?? 2000);
  const lifeS = Number(process.env.BENCH_HOLDERS_LIFE_S ?? 1200);
  const runs = opts.quick ? 8 : 20;
  const cycles = opts.quick ? 15 : 60;
  const sleepBefore = countSleep();
  const fillers: ChildProcess[] = [];
  let holders: HolderProc[];
  let scanMount: FaultMount | undefined;
  const scans: ScanRow[] = [];
  let procTotal: number;
  let daemon: { off: DaemonRun; on: DaemonRun } | undefined;
  try {
    const t = epochMs();
    fillers.push(...(await startFillers(path.join(dir, 'fill'), extra, lifeS)));
    progress(`holders: ${extra} extra processes up in ${Math.round(epochMs() - t)} ms (${fillers.length} groups)`);
    const m = await mountFaultfs({ dir });
    scanMount = m;
    holders = await startHolders(m, lifeS);
    m.setMode('estale');
    procTotal = realProc().pids().length;

    const stage: Stage = { watched: watchedOf(m, 'failing'), holders, memory: [] };
    progress(`holders: ${procTotal} processes; in-process scans, mount failing (${runs})`);
    const aIn = inProcess(stage, 'failing', runs);
    scans.push(aIn);
    progress(`holders: thread scans, mount failing (${runs} + the thread's first)`);
    scans.push(await inThread(stage, 'failing', runs, aIn.reads));

    await lazyUnmount(m);
    stage.watched = { ...stage.watched, state: 'detached' };
    progress(`holders: in-process scans, mount detached (${runs})`);
    const bIn = inProcess(stage, 'detached', runs);
    scans.push(bIn);
    progress(`holders: thread scans, mount detached (${runs} + the thread's first)`);
    scans.push(await inThread(stage, 'detached', runs, bIn.reads));
    await endAll(holders.map((h) => h.child));
    holders = [];
    await m.cleanup();
    scanMount = undefined;

    const up = inGroups(fillers);
    if (up < extra + fillers.length) throw new Error(`only ${up} of ${extra + fillers.length} filler processes left`);
    const off = await daemonRun(dir, false, cycles, lifeS);
    const on = await daemonRun(dir, true, cycles, lifeS);
    const left = inGroups(fillers);
    if (left < extra + fillers.length) throw new Error(`only ${left} of ${extra + fillers.length} filler processes left at the end`);
    daemon = { off, on };
  } finally {
    await endAll(started); // the holders, also those of a stage that failed half-way
    if (scanMount) await scanMount.cleanup().catch((e: Error) => progress(`holders: cleanup: ${e.message}`));
    await endAll(fillers);
    if (!(await poll(() => inGroups(fillers) === 0, 10_000, 100))) progress(`holders: ${inGroups(fillers)} filler processes still there`);
  }
  const sleepAfter = countSleep();
  const ownLeft = inGroups([...fillers, ...started]);
  const mountsLeft = readMountTable().filter((e) => e.mountPoint.startsWith(dir + '/')).length;
  if (!daemon) throw new Error('the daemon runs did not finish');
  const { off, on } = daemon;
  return {
    extraProcesses: extra,
    procTotal,
    holders: 5,
    scans,
    daemon: {
      off,
      on,
      ratioCycleMedian: ratio(on.cycleMs.median, off.cycleMs.median),
      ratioCycleP95: ratio(on.cycleMs.p95, off.cycleMs.p95),
      ratioCycleMax: ratio(on.cycleMs.max, off.cycleMs.max),
      ratioScrapeP50: ratio(on.scrapeMs.median, off.scrapeMs.median),
      ratioScrapeP99: ratio(on.scrapeMs.p99, off.scrapeMs.p99),
      ratioCpu: ratio(on.cpuPerCycleMs, off.cpuPerCycleMs),
    },
    cleanup: { sleepBefore, sleepAfter, ownLeft, mountsLeft },
    note:
      `${extra} extra sleep processes (8 regular files on ext4 and 3 pipes each); 5 holders on a faultfs mount (cwd, open file, mapping). ` +
      'Scans: the mount failing (estale), then after umount -l. Daemon: 1 s schedule, 1 s probe timeout, recovery off, two faultfs mounts, one failing then lazily detached under its holders; scrapes every 100 ms during the window.',
  };
}
