// Figure 12: the incident state (src/state/), what keeping it costs.
//
// 1. Each change: snapshot() of what the controller and the holder watch know, then
//    IncidentKeeper.save, which encodes it and writes only when the text differs from the last one
//    written. (a) unchanged: encode and compare, no write — what every probe round pays, since the
//    holder watch says "may have changed" after each; (b) changed: a real atomic write (temporary
//    file, fsync, rename) into a tmpfs (as /run is on a systemd machine: /run itself when it is
//    one, else one mounted for the figure) and into os.tmpdir(). An incident at 2 and at 500
//    configured paths, every path failing with its backoff, 10 detached mounts with 20 cwd/root
//    memories each, 5 static mounts to put back; built with the parts' own types. The writes are
//    counted through the StateFile, so an "unchanged" row that wrote, or a "changed" one that did
//    not, fails the figure.
// 2. At start: decodeIncident + resume of the file's text against the real mount table, each
//    result checked (paths, detached mounts, memories, put-backs, nothing dropped).
// 3. The scan at a start without a state file (scanHolders with orphans: true, nothing watched)
//    against the ordinary scan with one watched mount, among figure 6's extra processes and its 5
//    holders on a faultfs mount: first with the mount failing (attached), then after `umount -l`,
//    where the holders are on a mount in no table and the orphan scan must find every one of them.
//    The two alternate run by run, in-process and through createThreadScanner.
import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fuseAvailable, mountFaultfs, runBounded, type FaultMount } from '../test/helpers/faultfs.js';
import { systemClock } from '../src/clock.js';
import type { ControllerIncident } from '../src/controller/controller.js';
import { controllerConfig } from '../src/controller/state.js';
import { defaultConfig } from '../test/helpers/config.js';
import type { PathHealth } from '../src/controller/policy.js';
import type { PutBack } from '../src/controller/server-return.js';
import type { FormerWatched } from '../src/holders/scan-plan.js';
import { readOwnMountNamespace, realProc, type ProcReader } from '../src/holders/proc.js';
import { scanHolders, type DirMemory, type ScanInput, type ScanOutput, type WatchedMount } from '../src/holders/scan.js';
import { createThreadScanner, type ThreadScanner } from '../src/holders/scanner.js';
import type { HolderIncident } from '../src/holders/watch.js';
import { createLogger } from '../src/observe/log.js';
import type { MountEntry } from '../src/probe/mountinfo.js';
import { pathMountState, readMountTable } from '../src/probe/mountinfo.js';
import { decodeIncident } from '../src/state/incident.js';
import { IncidentKeeper } from '../src/state/keeper.js';
import { resume, snapshot, type Moment } from '../src/state/resume.js';
import { stateFile, type StateFile } from '../src/state/state-file.js';
import { epochMs, poll, progress, quantile, type BenchOptions } from './common.js';
import {
  checkHolders,
  countSleep,
  countingProc,
  endAll,
  endStartedHolders,
  inGroups,
  lazyUnmount,
  startFillers,
  startHolders,
  stats,
  watchedOf,
  type HolderProc,
  type ScanReads,
  type Stats,
} from './holders.js';

const SIZES = [2, 500] as const;
const DETACHED = 10;
const DIRS_PER_DETACHED = 20;
const PUT_BACKS = 5;
const BOOT_ID = 'bench-boot';

/** µs, over the measured iterations. */
export interface Timing {
  n: number;
  medianUs: number | null;
  p99Us: number | null;
  maxUs: number | null;
}

function timing(msSamples: readonly number[]): Timing {
  const us = msSamples.map((x) => x * 1000);
  return { n: us.length, medianUs: quantile(us, 0.5), p99Us: quantile(us, 0.99), maxUs: us.length ? Math.max(...us) : null };
}

/** snapshot() and save() of one iteration, and the two together. */
export interface KeepTiming {
  total: Timing;
  snapshot: Timing;
  save: Timing;
  /** Files written through the StateFile over the measured iterations. */
  writes: number;
}

/** Where a changed state is written. */
export interface WriteTarget {
  key: 'tmpfs' | 'tmpdir';
  dir: string;
  fstype: string;
  /** Where the directory is: in /run, in os.tmpdir(), or a tmpfs mounted for the figure. */
  how: string;
}

export interface StateRow {
  paths: number;
  /** The file as written, and as encodeIncident gives it. */
  fileBytes: number;
  unchanged: KeepTiming;
  changed: Partial<Record<WriteTarget['key'], KeepTiming>>;
  readBack: { total: Timing; decode: Timing; resume: Timing };
}

export interface OrphanScanRow {
  /** The faultfs mount as the scans ran. */
  mount: 'failing' | 'detached';
  how: 'in-process' | 'thread';
  runs: number;
  normalMs: Stats;
  orphanMs: Stats;
  /** Thread: each kind's first scan (the thread's start is in the normal one's, which runs first). */
  firstMs: { normal: number; orphan: number } | null;
  normalReads: ScanReads & { nsLinks: number; mountinfo: number };
  orphanReads: ScanReads & { nsLinks: number; mountinfo: number };
  holdersFound: number;
  /** Orphans of the figure's holders found (entries: by fd mount ID, and by mapped device), and in all. */
  ownOrphans: { byFd: number; byDev: number; expectedByFd: number; expectedByDev: number };
  allOrphans: number;
  samples: { normal: number[]; orphan: number[] };
}

export interface StateResult {
  detached: number;
  dirsPerDetached: number;
  putBacks: number;
  iterations: { warmup: number; unchanged: number; changed: number; readBack: number };
  targets: WriteTarget[];
  rows: StateRow[];
  scans:
    | {
        status: 'ok';
        extraProcesses: number;
        procTotal: number;
        holders: number;
        rows: OrphanScanRow[];
        cleanup: { sleepBefore: number; sleepAfter: number; ownLeft: number; mountsLeft: number };
      }
    | { status: 'skipped'; reason: string };
  loadAvg: { before: number; after: number };
  node: string;
}

// ---------------------------------------------------------------------------------------------
// The incident

function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no item ${i} of ${xs.length}`);
  return x;
}

const pathOf = (n: number, i: number): string =>
  n === 2 ? at(['/airflow/dags', '/airflow/logs'], i) : `/mnt/nfs/project-${String(i).padStart(3, '0')}/data`;

const RESULTS = ['timeout', 'ESTALE', 'EIO'] as const;

/** Every path failing for 10 minutes, 3 recoveries failed, in backoff; 5 static mounts to put back. */
function controllerIncident(paths: readonly string[], now: number, bump: number): ControllerIncident {
  const health = new Map<string, PathHealth>(
    paths.map((p, i) => [
      p,
      {
        result: at(RESULTS, i % RESULTS.length),
        hangAt: null,
        failingSince: now - 600_000 - i,
        failedRecoveries: i === 0 ? 3 + bump : 3,
        nextRecoveryAt: now + 120_000 + (i === 0 ? bump * 60_000 : 0),
        wait: 'backoff',
      },
    ]),
  );
  const putBack: PutBack[] = Array.from({ length: PUT_BACKS }, (_, i) => ({
    mountPoint: `/srv/static-${i}`,
    argv: ['mount', '-t', 'nfs4', '-o', 'rw,hard,timeo=600,vers=4.1', `nfs-vip.example.net:/export/static-${i}`, `/srv/static-${i}`],
    server: { host: 'nfs-vip.example.net', port: 2049 },
    since: now - 300_000,
    tries: 4,
    lastTryAt: now - 20_000,
    running: false,
  }));
  return { health, putBack, atRisk: [], recoveries: 12 + bump, recovering: null };
}

/** 10 detached mounts (IDs in no table now), 20 cwd/root memories each, two units restarted per recovery. */
function holderIncident(paths: readonly string[], now: number, firstId: number): HolderIncident {
  const formers: FormerWatched[] = Array.from({ length: DETACHED }, (_, i) => ({
    path: at(paths, i % paths.length),
    mountId: firstId + i,
    dev: `0:${60 + i}`,
    state: 'detached',
    batch: `recovery ${3 + i}`,
    since: now - 500_000 + i * 10_000,
  }));
  const memory: DirMemory[] = formers.flatMap((f, i) =>
    Array.from({ length: DIRS_PER_DETACHED }, (_, j) => ({
      pid: 200_000 + i * 100 + j,
      start: String(1_234_567 + i * 100 + j),
      kind: j % 4 === 0 ? 'root' : 'cwd',
      mountId: f.mountId,
      rel: `/logs/dag_id=etl_${i}/run_id=scheduled__2026-12-07T0${j % 10}:00:00+00:00/task_id=load`,
    })),
  );
  const restarted = formers.flatMap((f) => [
    { batch: f.batch, unit: 'airflow-worker.service' },
    { batch: f.batch, unit: 'airflow-scheduler.service' },
  ]);
  return { formers, restarted, memory };
}

/** A StateFile that counts its writes. */
function counted(file: StateFile): { file: StateFile; writes: () => number } {
  let writes = 0;
  return {
    writes: () => writes,
    file: {
      path: file.path,
      read: () => file.read(),
      write(text) {
        file.write(text);
        writes += 1;
      },
    },
  };
}

/** A logger whose every line is a failure of the figure: the keeper speaks only of trouble. */
function failingLogger(): ReturnType<typeof createLogger> {
  return createLogger('info', {
    write: (line: string) => {
      throw new Error(`the keeper logged: ${line.trim()}`);
    },
  });
}

function measureKeep(
  keeper: IncidentKeeper,
  writes: () => number,
  states: readonly ControllerIncident[],
  holders: HolderIncident,
  moment: Moment,
  warmup: number,
  iterations: number,
): KeepTiming {
  const total: number[] = [];
  const snap: number[] = [];
  const save: number[] = [];
  let before = 0;
  for (let i = 0; i < warmup + iterations; i++) {
    if (i === warmup) before = writes();
    const c = at(states, i % states.length);
    const t0 = performance.now();
    const state = snapshot(c, holders, BOOT_ID, moment);
    const t1 = performance.now();
    keeper.save(state);
    const t2 = performance.now();
    if (i >= warmup) {
      total.push(t2 - t0);
      snap.push(t1 - t0);
      save.push(t2 - t1);
    }
  }
  return { total: timing(total), snapshot: timing(snap), save: timing(save), writes: writes() - before };
}

function keepRow(n: number, targets: readonly WriteTarget[], iters: StateResult['iterations'], table: readonly MountEntry[]): StateRow {
  const paths = Array.from({ length: n }, (_, i) => pathOf(n, i));
  const moment: Moment = { now: 3_600_000, wallNow: Math.round(Date.now()) };
  const firstId = Math.max(0, ...table.map((e) => e.id)) + 10_000;
  const holders = holderIncident(paths, moment.now, firstId);
  const a = controllerIncident(paths, moment.now, 0);
  const b = controllerIncident(paths, moment.now, 1);

  // (a) unchanged: the first save writes (outside the measured iterations), the rest compare.
  const unchangedDir = at(targets, targets.length - 1).dir;
  const u = counted(stateFile(path.join(unchangedDir, `unchanged-${n}`, 'state.json')));
  const unchangedKeeper = new IncidentKeeper(u.file, BOOT_ID, failingLogger());
  progress(`state: ${n} paths, unchanged state, ${iters.warmup} + ${iters.unchanged} saves`);
  const unchanged = measureKeep(unchangedKeeper, u.writes, [a], holders, moment, iters.warmup, iters.unchanged);
  if (unchanged.writes !== 0) throw new Error(`${n} paths: ${unchanged.writes} writes of an unchanged state`);
  if (u.writes() !== 1) throw new Error(`${n} paths: the unchanged state was written ${u.writes()} times in all, not once`);
  const filePath = u.file.path;
  const text = fs.readFileSync(filePath, 'utf8');
  const fileBytes = fs.statSync(filePath).size;

  // (b) changed: A and B alternate (the first path's backoff moved on by one recovery), every save writes.
  const changed: StateRow['changed'] = {};
  for (const t of targets) {
    const w = counted(stateFile(path.join(t.dir, `changed-${n}`, 'state.json')));
    const keeper = new IncidentKeeper(w.file, BOOT_ID, failingLogger());
    const warm = Math.max(2, Math.round(iters.warmup / 10));
    progress(`state: ${n} paths, changed state, written to ${t.dir} (${t.fstype}), ${warm} + ${iters.changed} saves`);
    const k = measureKeep(keeper, w.writes, [a, b], holders, moment, warm, iters.changed);
    if (k.writes !== iters.changed) throw new Error(`${n} paths, ${t.key}: ${k.writes} writes of ${iters.changed} changed states`);
    const left = fs.readdirSync(path.dirname(w.file.path));
    if (left.join(',') !== 'state.json') throw new Error(`${n} paths, ${t.key}: left ${left.join(', ')} beside the state`);
    changed[t.key] = k;
  }

  // Reading back: the file's text, a fresh string each time as readFileSync gives it.
  const bytes = Buffer.from(text);
  const live = { paths, table, policy: controllerConfig(defaultConfig).policy };
  const later: Moment = { now: 120, wallNow: moment.wallNow + 3_000 };
  const totalR: number[] = [];
  const dec: number[] = [];
  const res: number[] = [];
  progress(`state: ${n} paths, read back, ${iters.warmup} + ${iters.readBack} times`);
  for (let i = 0; i < iters.warmup + iters.readBack; i++) {
    const s = bytes.toString('utf8');
    const t0 = performance.now();
    const decoded = decodeIncident(s, BOOT_ID);
    const t1 = performance.now();
    if (decoded.kind !== 'ok') throw new Error(`${n} paths: the file does not read back: ${decoded.reason}`);
    const r = resume(decoded.state, live, later);
    const t2 = performance.now();
    const { controller: c, holders: h, dropped } = r;
    if (c.health.size !== n || h.formers.length !== DETACHED || h.memory.length !== DETACHED * DIRS_PER_DETACHED)
      throw new Error(`${n} paths: resumed ${c.health.size} paths, ${h.formers.length} detached mounts, ${h.memory.length} memories`);
    if (c.putBack.length !== PUT_BACKS || h.restarted.length !== 2 * DETACHED || dropped.length !== 0)
      throw new Error(`${n} paths: resumed ${c.putBack.length} put-backs, ${h.restarted.length} restarts; dropped: ${dropped.join('; ')}`);
    if (i >= iters.warmup) {
      totalR.push(t2 - t0);
      dec.push(t1 - t0);
      res.push(t2 - t1);
    }
  }
  return {
    paths: n,
    fileBytes,
    unchanged,
    changed,
    readBack: { total: timing(totalR), decode: timing(dec), resume: timing(res) },
  };
}

/** The filesystem a directory is on, as the mount table says. */
function fstypeOf(dir: string, table: readonly MountEntry[]): string {
  const id = pathMountState(table, fs.realpathSync(dir)).containingMountId;
  const e = table.find((x) => x.id === id);
  return e ? `${e.fstype} on ${e.source}` : 'unknown';
}

/** A tmpfs to write into: /run when it is one, else one mounted for the figure (root). */
async function tmpfsTarget(dir: string, table: readonly MountEntry[]): Promise<WriteTarget | string> {
  const run = table.find((e) => e.mountPoint === '/run');
  if (run?.fstype === 'tmpfs') {
    try {
      const d = fs.mkdtempSync('/run/nhc-bench-state-');
      return { key: 'tmpfs', dir: d, fstype: fstypeOf(d, table), how: 'in /run' };
    } catch (err) {
      return `/run is a tmpfs but not writable here: ${(err as Error).message}`;
    }
  }
  if (process.getuid?.() !== 0) return '/run is no tmpfs here, and mounting one needs root';
  const d = path.join(dir, 'run-tmpfs');
  fs.mkdirSync(d);
  const r = await runBounded('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'bench-state-run', d], 10_000);
  if (r.code !== 0) return `mount tmpfs: ${r.stderr.trim()}`;
  return {
    key: 'tmpfs',
    dir: d,
    fstype: fstypeOf(d, readMountTable()),
    how: 'mounted for the figure (/run is no tmpfs on this machine)',
  };
}

// ---------------------------------------------------------------------------------------------
// The scans

type CountedReads = ScanReads & { nsLinks: number; mountinfo: number };

function countingAll(inner: ProcReader): { proc: ProcReader; reads: CountedReads } {
  const c = countingProc(inner);
  const reads: CountedReads = Object.assign(c.reads, { nsLinks: 0, mountinfo: 0 });
  return {
    reads,
    proc: {
      pids: () => c.proc.pids(),
      read: (pid, name) => {
        if (name === 'mountinfo') reads.mountinfo += 1;
        return c.proc.read(pid, name);
      },
      link: (pid, name) => {
        if (name === 'ns/mnt') reads.nsLinks += 1;
        return c.proc.link(pid, name);
      },
      list: (pid, name) => c.proc.list(pid, name),
    },
  };
}

interface ScanStage {
  watched: WatchedMount;
  holders: HolderProc[];
  memory: DirMemory[];
  ownNs: string | null;
}

const normalInput = (s: ScanStage): ScanInput => ({
  watched: [s.watched],
  table: readMountTable(),
  skipPids: [process.pid],
  memory: s.memory,
});

/** As the daemon asks it at a start with no state file (src/holders/watch.ts, orphanScan). */
const orphanInput = (s: ScanStage): ScanInput => ({
  watched: [],
  table: readMountTable(),
  skipPids: [process.pid],
  memory: [],
  orphans: true,
  ...(s.ownNs ? { ownMountNamespace: s.ownNs } : {}),
});

/**
 * The orphans of the figure's holders: none while their mount is attached; once it is detached,
 * every holder by fd under the mount's ID and every one with a mapping under its device.
 */
function checkOrphans(out: ScanOutput, s: ScanStage, what: string): OrphanScanRow['ownOrphans'] {
  const orphans = out.orphans;
  if (!orphans) throw new Error(`${what}: no orphans in the output`);
  const pids = new Set(s.holders.map((h) => h.pid));
  const own = orphans.filter((o) => pids.has(o.pid));
  const detached = s.watched.state === 'detached';
  const expFd = detached ? s.holders.filter((h) => h.kinds.includes('fd')) : [];
  const expDev = detached ? s.holders.filter((h) => h.kinds.includes('mmap')) : [];
  const byFd = own.filter((o) => o.mountId === s.watched.mountId);
  const byDev = own.filter((o) => o.mountId === null && o.dev === s.watched.dev);
  const problems: string[] = [];
  for (const h of expFd)
    if (!byFd.some((o) => o.pid === h.pid && o.holds.some((x) => x.kind === 'fd'))) problems.push(`pid ${h.pid}: no fd orphan`);
  for (const h of expDev)
    if (!byDev.some((o) => o.pid === h.pid && o.holds.some((x) => x.kind === 'mmap'))) problems.push(`pid ${h.pid}: no mapping orphan`);
  if (own.length !== byFd.length + byDev.length || byFd.length !== expFd.length || byDev.length !== expDev.length)
    problems.push(
      `${own.length} orphan entries of its holders (${byFd.length} by fd, ${byDev.length} by device), expected ${expFd.length} and ${expDev.length}`,
    );
  if (problems.length > 0) throw new Error(`${what}: ${problems.join('; ')}`);
  return { byFd: byFd.length, byDev: byDev.length, expectedByFd: expFd.length, expectedByDev: expDev.length };
}

function countedRuns(s: ScanStage, what: string): { normal: CountedReads; orphan: CountedReads } {
  const n = countingAll(realProc());
  const nOut = scanHolders(n.proc, normalInput(s));
  checkHolders(nOut, s.watched.mountId, s.holders, `counted normal scan, ${what}`);
  n.reads.processes = nOut.scanned;
  const o = countingAll(realProc());
  const oOut = scanHolders(o.proc, orphanInput(s));
  checkOrphans(oOut, s, `counted orphan scan, ${what}`);
  o.reads.processes = oOut.scanned;
  return { normal: n.reads, orphan: o.reads };
}

/**
 * The normal and the orphan scan alternated `runs` times through `scan`, each first in turn (the
 * machine's load falls on both alike), every output checked. `warmup`: one round more first,
 * timed apart (a thread's first scan loads its isolate).
 */
async function compareScans(
  s: ScanStage,
  runs: number,
  how: OrphanScanRow['how'],
  scan: (input: ScanInput) => Promise<ScanOutput>,
  reads: { normal: CountedReads; orphan: CountedReads },
  warmup: boolean,
): Promise<OrphanScanRow> {
  const normal: number[] = [];
  const orphan: number[] = [];
  const first = { normal: 0, orphan: 0 };
  let found = 0;
  let own: OrphanScanRow['ownOrphans'] | undefined;
  let all = 0;
  for (let i = warmup ? 0 : 1; i <= runs; i++) {
    const order = i % 2 === 0 ? (['normal', 'orphan'] as const) : (['orphan', 'normal'] as const);
    for (const kind of order) {
      const t = performance.now();
      const out = await scan(kind === 'normal' ? normalInput(s) : orphanInput(s));
      const took = performance.now() - t;
      if (kind === 'normal') {
        found = checkHolders(out, s.watched.mountId, s.holders, `${how} normal scan ${i}, ${s.watched.state}`);
        s.memory = out.memory;
      } else {
        own = checkOrphans(out, s, `${how} orphan scan ${i}, ${s.watched.state}`);
        all = out.orphans?.length ?? 0;
      }
      if (warmup && i === 0) first[kind] = took;
      else (kind === 'normal' ? normal : orphan).push(took);
    }
  }
  if (!own) throw new Error('no orphan scan ran');
  return {
    mount: s.watched.state,
    how,
    runs,
    normalMs: stats(normal),
    orphanMs: stats(orphan),
    firstMs: warmup ? first : null,
    normalReads: reads.normal,
    orphanReads: reads.orphan,
    holdersFound: found,
    ownOrphans: own,
    allOrphans: all,
    samples: { normal, orphan },
  };
}

function inProcess(s: ScanStage, runs: number): Promise<OrphanScanRow> {
  const proc = realProc();
  const reads = countedRuns(s, s.watched.state);
  return compareScans(s, runs, 'in-process', (input) => Promise.resolve(scanHolders(proc, input)), reads, false);
}

async function inThread(s: ScanStage, runs: number, reads: { normal: CountedReads; orphan: CountedReads }): Promise<OrphanScanRow> {
  // The daemon's own deadline (holders.scan_timeout's default).
  const scanner: ThreadScanner = createThreadScanner({ timeoutMs: 5_000, clock: systemClock });
  try {
    return await compareScans(
      s,
      runs,
      'thread',
      async (input) => {
        const outcome = await scanner.scan(input);
        if (outcome.kind === 'done') return outcome.output;
        throw new Error(`thread scan: ${outcome.kind}${outcome.kind === 'unavailable' ? ` (${outcome.reason})` : ''}`);
      },
      reads,
      true,
    );
  } finally {
    scanner.close();
  }
}

async function runScans(dir: string, opts: BenchOptions): Promise<StateResult['scans']> {
  const fuse = fuseAvailable();
  if (!fuse.ok) return { status: 'skipped', reason: fuse.reason };
  const extra = Number(process.env.BENCH_HOLDERS_PROCS ?? 2000);
  const lifeS = Number(process.env.BENCH_HOLDERS_LIFE_S ?? 1200);
  const runs = opts.quick ? 8 : 20;
  const sleepBefore = countSleep();
  const fillers: ChildProcess[] = [];
  let holders: HolderProc[];
  let m: FaultMount | undefined;
  const rows: OrphanScanRow[] = [];
  let procTotal: number;
  try {
    const t = epochMs();
    fillers.push(...(await startFillers(path.join(dir, 'fill'), extra, lifeS)));
    progress(`state: ${extra} extra processes up in ${Math.round(epochMs() - t)} ms (${fillers.length} groups)`);
    m = await mountFaultfs({ dir });
    holders = await startHolders(m, lifeS);
    m.setMode('estale');
    procTotal = realProc().pids().length;
    const stage: ScanStage = { watched: watchedOf(m, 'failing'), holders, memory: [], ownNs: readOwnMountNamespace() };

    progress(`state: ${procTotal} processes; normal and orphan scans alternating, mount failing, in-process (${runs} each)`);
    const aIn = await inProcess(stage, runs);
    rows.push(aIn);
    progress(`state: the same through the scan thread (${runs} each + the first)`);
    rows.push(await inThread(stage, runs, { normal: aIn.normalReads, orphan: aIn.orphanReads }));

    await lazyUnmount(m);
    stage.watched = { ...stage.watched, state: 'detached' };
    progress(`state: mount detached under its holders, in-process (${runs} each)`);
    const bIn = await inProcess(stage, runs);
    rows.push(bIn);
    progress(`state: the same through the scan thread (${runs} each + the first)`);
    rows.push(await inThread(stage, runs, { normal: bIn.normalReads, orphan: bIn.orphanReads }));
    const up = inGroups(fillers);
    if (up < extra + fillers.length) throw new Error(`only ${up} of ${extra + fillers.length} filler processes left at the end`);
  } finally {
    await endStartedHolders();
    if (m) await m.cleanup().catch((e: Error) => progress(`state: cleanup: ${e.message}`));
    await endAll(fillers);
    if (!(await poll(() => inGroups(fillers) === 0, 10_000, 100))) progress(`state: ${inGroups(fillers)} filler processes still there`);
  }
  return {
    status: 'ok',
    extraProcesses: extra,
    procTotal,
    holders: holders.length,
    rows,
    cleanup: {
      sleepBefore,
      sleepAfter: countSleep(),
      ownLeft: inGroups([...fillers, ...holders.map((h) => h.child)]),
      mountsLeft: readMountTable().filter((e) => e.mountPoint.startsWith(dir + '/')).length,
    },
  };
}

// ---------------------------------------------------------------------------------------------

export async function runState(dir: string, opts: BenchOptions): Promise<StateResult> {
  const loadBefore = os.loadavg()[0] ?? 0;
  const iterations = opts.quick
    ? { warmup: 100, unchanged: 500, changed: 200, readBack: 300 }
    : { warmup: 500, unchanged: 3000, changed: 1000, readBack: 2000 };
  const table = readMountTable();
  const targets: WriteTarget[] = [];
  let runDir: string | undefined;
  const tmpfs = await tmpfsTarget(dir, table);
  if (typeof tmpfs === 'string') progress(`state: no tmpfs row — ${tmpfs}`);
  else {
    targets.push(tmpfs);
    if (tmpfs.how === 'in /run') runDir = tmpfs.dir;
  }
  const tmpdir = path.join(dir, 'tmpdir');
  fs.mkdirSync(tmpdir);
  targets.push({ key: 'tmpdir', dir: tmpdir, fstype: fstypeOf(tmpdir, table), how: `in ${os.tmpdir()}` });
  const rows: StateRow[] = [];
  try {
    for (const n of SIZES) rows.push(keepRow(n, targets, iterations, table));
  } finally {
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
    const t = targets.find((x) => x.key === 'tmpfs' && x.how !== 'in /run');
    if (t) await runBounded('umount', [t.dir], 10_000);
  }
  const scans = await runScans(dir, opts);
  return {
    detached: DETACHED,
    dirsPerDetached: DIRS_PER_DETACHED,
    putBacks: PUT_BACKS,
    iterations,
    targets,
    rows,
    scans,
    loadAvg: { before: loadBefore, after: os.loadavg()[0] ?? 0 },
    node: process.version,
  };
}
