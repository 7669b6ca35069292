// Figure 11: what one server check costs (src/server/check.ts). While a mount is down the daemon
// tries its NFS server's port every servers.check_interval: in-process when the automount daemon
// shares the daemon's network namespace, else by the namespace's long-lived child Node, entered
// through nsenter (src/server/netns-checker.ts). Side by side in one run, each path to a listener
// that accepts and to a port nothing listens on: the wall time of each check, and its CPU — this
// process's own, its reaped children's and the namespace child's (its threads' schedstat). The
// namespace rows run once the child is up; a row of first checks, each by a fresh checker whose
// child starts for it and is ended after, prices the start; then a fresh child is checked at the
// daemon's pace (one check every INTERVAL_S) for a while, left idle, and its memory read.
//
// The listeners are processes of their own (a Node in this namespace, one in a fresh `ip netns`
// namespace), so that accepting a connection is not counted as the check's CPU. Checks run one at
// a time with a short idle gap between them, as the daemon's come, after a few of warm-up; every
// outcome is checked (answering or refused, as the case says) so that a broken check cannot report
// a fast nothing. The namespace rows need root, ip and nsenter; without them they are skipped,
// saying why, and the in-process rows still run. For scale, a last row starts a child Node that
// does nothing through the same runner: what a check through a namespace cost when each started
// a child of its own.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { systemClock } from '../src/clock.js';
import { SERVER_CHECK_TIMEOUT_MS } from '../src/server/watch.js';
import { createRunner, type RunCommand } from '../src/exec/runner.js';
import { createServerCheck, type CheckOutcome, type CheckServer, type ServerCheck } from '../src/server/check.js';
import { findExecutable } from '../test/helpers/tools.js';
import { endGroup, own, poll, progress, quantile, sleep, statusFields, threadStats, type BenchOptions } from './common.js';

/** servers.check_interval's default: one check of a down mount's server this often. */
export const INTERVAL_S = 2;
/** Between two checks: the event loop idle again, as between the daemon's. */
const GAP_MS = 10;

export type ServerCaseKey = 'here-answering' | 'here-refused' | 'netns-answering' | 'netns-refused' | 'netns-first' | 'bare-node';

export interface ServerCaseRow {
  key: ServerCaseKey;
  /** 'child': the reference row, a child Node that does nothing. */
  path: 'in-process' | 'namespace' | 'child';
  expected: 'answering' | 'refused' | 'exit 0';
  /** Where it connected: 127.0.0.1:PORT, and through which namespace file (the reference row: its argv). */
  target: string;
  warmup: number;
  n: number;
  wallMs: { median: number | null; p99: number | null; max: number | null };
  /** The connect's own duration as the check reports it (whole ms; the child's, through a namespace); none for the reference row. */
  connectMs: { median: number | null; max: number | null };
  /** process.cpuUsage() (user + system, every thread of this process) around each check, averaged. */
  selfCpuMsPerCheck: number;
  /** cutime + cstime of /proc/self/stat (reaped children) over the whole case, in ticks, and per check. */
  childTicks: number;
  childCpuMsPerCheck: number;
  /** The namespace child's own CPU over the case (the sum of its threads' schedstat), per check; 0 without one. */
  liveChildCpuMsPerCheck: number;
  /** The namespace children that answered the case: one, the same from the first check to the last; none for the other rows. */
  liveChildPids: number[];
  cpuMsPerCheck: number;
  /** One down server checked every INTERVAL_S for a minute. */
  cpuMsPerMinute: number;
  /** That as a share of one core, in %. */
  corePercent: number;
  samples: { wallMs: number[]; selfCpuMs: number[] };
}

export interface ServersResult {
  node: string;
  intervalS: number;
  checksPerMinute: number;
  timeoutMs: number;
  gapMs: number;
  /** getconf CLK_TCK: the children's CPU comes in steps of 1000 / clkTck ms. */
  clkTck: number;
  rows: ServerCaseRow[];
  /** Why the namespace rows did not run, or null when they did. */
  namespaceSkipped: string | null;
  /** The namespace child after its rows: at the daemon's pace, idle, and its memory. */
  namespaceChild: NamespaceChildFacts | null;
  loadAvg: { before: number; after: number };
}

/** The namespace child's CPU (schedstat, all its threads), its wake-ups (context switches) and this process's CPU over a stretch. */
export interface Stretch {
  seconds: number;
  /** Checks made in it: one every INTERVAL_S while paced, none while idle. */
  checks: number;
  childCpuMs: number;
  childSwitches: number;
  selfCpuMs: number;
  /** Both, per minute, and as a share of one core in %. */
  cpuMsPerMinute: number;
  corePercent: number;
}

export interface NamespaceChildFacts {
  pid: number;
  threads: number;
  /** Seconds at the daemon's pace after its start, not measured: its start's aftermath (GC) is the first-check row's. */
  settleS: number;
  /** Then checked at that pace, answering, one every INTERVAL_S: what one down server costs a minute, all told. */
  paced: Stretch;
  /** Then no check at all (before the idle end: the checker's default is longer). */
  idle: Stretch;
  /** VmRSS of /proc/PID/status, kB: what it holds, the pages it shares with this Node's included. */
  rssKb: number | null;
  /** Pss and Private_Clean + Private_Dirty of /proc/PID/smaps_rollup, kB: its share of the shared pages, and its own. */
  pssKb: number | null;
  privateKb: number | null;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const round2 = (v: number): number => Math.round(v * 100) / 100;

/** Ticks per second of /proc's clock_t fields. */
function clockTicks(): number {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
}

/** cutime + cstime of this process: the CPU of every child it has reaped, in ticks. */
function childTicksNow(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
  return (f[13] ?? 0) + (f[14] ?? 0);
}

// Accepts every connection and lets it close; prints its port once listening.
const LISTENER = `
const s = require('node:net').createServer((c) => c.on('error', () => {}));
s.listen({ host: '127.0.0.1', port: 0 }, () => console.log(s.address().port));
`;

/** The first line a child prints, or a rejection if it exits or says nothing in time. */
function firstLine(child: ChildProcess, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no line within ${timeoutMs} ms: ${text}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(text.split('\n')[0] ?? '');
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before printing: ${text}`));
    });
  });
}

/** A listener process started by `argv`, in its own group, added to `started` at once (ended in any case), and its port. */
async function startListener(argv: string[], started: ChildProcess[]): Promise<{ child: ChildProcess; port: number }> {
  const [file, ...args] = argv;
  const child = own(spawn(file ?? '', args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true }));
  started.push(child);
  const port = Number(await firstLine(child));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`listener printed no port: ${argv.join(' ')}`);
  return { child, port };
}

/** A port nothing listens on here: one the kernel just gave a listener, closed again. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One kind of check: `attempt` makes one and answers the connect's own ms (null: none), throwing on any outcome but the expected one. */
interface Case {
  key: ServerCaseKey;
  path: ServerCaseRow['path'];
  expected: ServerCaseRow['expected'];
  target: string;
  attempt: () => Promise<number | null>;
  /** After each attempt, outside its wall time but inside its CPU: what the attempt leaves to end. */
  after?: () => Promise<void>;
  /** The namespace child answering this case, when one stays up across it. */
  child?: () => number;
}

const matches = (o: CheckOutcome, expected: ServerCaseRow['expected']): boolean =>
  expected === 'answering' ? o.answering : expected === 'refused' && !o.answering && o.reason === 'refused';

/** A case of the server check to 127.0.0.1:PORT, in-process (netns null) or through `netns` by the checker's child, up across the case. */
function checkCase(check: ServerCheck, key: ServerCaseKey, expected: 'answering' | 'refused', port: number, netns: string | null): Case {
  return {
    key,
    path: netns === null ? 'in-process' : 'namespace',
    expected,
    target: `127.0.0.1:${port}${netns === null ? '' : ` via ${netns}`}`,
    attempt: () => attemptCheck(check, key, expected, port, netns),
    ...(netns === null ? {} : { child: () => onlyChild(check, key) }),
  };
}

/** One check that must end as expected; the connect's own ms. */
async function attemptCheck(
  check: CheckServer,
  key: ServerCaseKey,
  expected: 'answering' | 'refused',
  port: number,
  netns: string | null,
): Promise<number> {
  const o = await check({ host: '127.0.0.1', port }, netns, SERVER_CHECK_TIMEOUT_MS);
  if (!matches(o, expected)) throw new Error(`${key}: expected ${expected}, got ${JSON.stringify(o)}`);
  return o.ms;
}

/** The pid of the checker's one namespace child; throws with none or more. */
function onlyChild(check: ServerCheck, key: ServerCaseKey): number {
  const children = check.children();
  const [only] = children;
  if (children.length !== 1 || only === undefined)
    throw new Error(`${key}: expected one namespace child, found ${JSON.stringify(children)}`);
  return only.pid;
}

/** First checks through `netns`: each by a fresh checker, whose child starts for it and is ended and reaped after it. */
function firstCheckCase(port: number, netns: string): Case {
  let check: ServerCheck | undefined;
  return {
    key: 'netns-first',
    path: 'namespace',
    expected: 'answering',
    target: `127.0.0.1:${port} via ${netns}, a fresh checker each time`,
    attempt: async () => {
      check = createServerCheck({ clock: systemClock });
      try {
        return await attemptCheck(check, 'netns-first', 'answering', port, netns);
      } catch (err) {
        check.close();
        throw err;
      }
    },
    after: async () => {
      if (check === undefined) return;
      const pid = onlyChild(check, 'netns-first');
      check.close();
      check = undefined;
      // Reaped, so that its CPU is in this process's cutime + cstime.
      if (!(await poll(() => !fs.existsSync(`/proc/${pid}`), 5000))) throw new Error(`netns-first: child ${pid} not reaped`);
    },
  };
}

/** CPU on a CPU so far of every thread of `pid` (schedstat), ms. */
function liveCpuMs(pid: number): number {
  return threadStats(pid).reduce((a, t) => a + t.cpuNs, 0) / 1e6;
}

/** The numeric fields of /proc/PID/smaps_rollup, kB. */
function smapsRollup(pid: number): Record<string, number> {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return Object.fromEntries([...text.matchAll(/^(\w+):\s+(\d+) kB$/gm)].map((m) => [m[1] ?? '', Number(m[2])]));
  } catch {
    return {};
  }
}

/** A stretch of `seconds` with a check every INTERVAL_S by `attempt` (none without one), measured on the child `pid` and this process. */
async function stretch(pid: number, seconds: number, attempt: (() => Promise<unknown>) | null): Promise<Stretch> {
  const switchesOf = (): number => threadStats(pid).reduce((a, t) => a + t.switches, 0);
  const cpu = process.cpuUsage();
  const childBefore = liveCpuMs(pid);
  const switchesBefore = switchesOf();
  const started = performance.now();
  let checks = 0;
  for (let at = 0; at < seconds * 1000; at += INTERVAL_S * 1000) {
    await sleep(Math.max(0, started + at - performance.now()));
    if (attempt === null) continue;
    await attempt();
    checks += 1;
  }
  await sleep(Math.max(0, started + seconds * 1000 - performance.now()));
  const used = process.cpuUsage(cpu);
  const childCpuMs = liveCpuMs(pid) - childBefore;
  const selfCpuMs = (used.user + used.system) / 1000;
  const perMinute = ((childCpuMs + selfCpuMs) * 60) / seconds;
  return {
    seconds,
    checks,
    childCpuMs: round3(childCpuMs),
    childSwitches: switchesOf() - switchesBefore,
    selfCpuMs: round3(selfCpuMs),
    cpuMsPerMinute: round2(perMinute),
    corePercent: round3((perMinute / 60_000) * 100),
  };
}

/**
 * A fresh checker's child through `netns` as the daemon uses it: started by a first check, settled by
 * `settleS` seconds at the daemon's pace (not measured), measured for `seconds` more at that pace, then
 * idle; its memory read last. The checker is closed in any case.
 */
async function childFacts(port: number, netns: string, settleS: number, seconds: number): Promise<NamespaceChildFacts> {
  const check = createServerCheck({ clock: systemClock });
  try {
    const attempt = () => attemptCheck(check, 'netns-answering', 'answering', port, netns);
    await attempt();
    const pid = onlyChild(check, 'netns-answering');
    await stretch(pid, settleS, attempt);
    const paced = await stretch(pid, seconds, attempt);
    const idle = await stretch(pid, Math.min(seconds, 20), null);
    if (onlyChild(check, 'netns-answering') !== pid) throw new Error('the namespace child changed while paced');
    const smaps = smapsRollup(pid);
    const priv = smaps.Private_Clean === undefined || smaps.Private_Dirty === undefined ? null : smaps.Private_Clean + smaps.Private_Dirty;
    return {
      pid,
      threads: threadStats(pid).length,
      settleS,
      paced,
      idle,
      rssKb: statusFields(pid)?.VmRSS ?? null,
      pssKb: smaps.Pss ?? null,
      privateKb: priv,
    };
  } finally {
    check.close();
  }
}

/** For scale: a child Node that does nothing (`node -e 0`), started by the same runner, no namespace. */
function bareNodeCase(run: RunCommand): Case {
  const argv = [process.execPath, '-e', '0'];
  return {
    key: 'bare-node',
    path: 'child',
    expected: 'exit 0',
    target: argv.join(' '),
    attempt: async () => {
      const o = await run(argv, SERVER_CHECK_TIMEOUT_MS + 2000);
      if (o.status !== 'ok') throw new Error(`bare-node: ${JSON.stringify(o)}`);
      return null;
    },
  };
}

/** N attempts of one case, one at a time, after `warmup` more. */
async function measure(c: Case, warmup: number, n: number, clkTck: number): Promise<ServerCaseRow> {
  const once = async (): Promise<{ connect: number | null; wall: number; self: number }> => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    const connect = await c.attempt();
    const wall = performance.now() - t;
    await c.after?.();
    const used = process.cpuUsage(cpu);
    return { connect, wall, self: (used.user + used.system) / 1000 };
  };
  for (let i = 0; i < warmup; i++) {
    await once();
    await sleep(GAP_MS);
  }
  const walls: number[] = [];
  const selfs: number[] = [];
  const connects: number[] = [];
  const ticksBefore = childTicksNow();
  // The namespace child up since the warm-up: the same one must answer to the last check.
  const livePid = c.child?.();
  const liveBefore = livePid === undefined ? 0 : liveCpuMs(livePid);
  for (let i = 0; i < n; i++) {
    const { connect, wall, self } = await once();
    walls.push(wall);
    selfs.push(self);
    if (connect !== null) connects.push(connect);
    await sleep(GAP_MS);
  }
  const liveAfter = livePid === undefined ? 0 : liveCpuMs(livePid);
  if (livePid !== undefined && c.child?.() !== livePid) throw new Error(`${c.key}: the namespace child changed during the row`);
  const childTicks = childTicksNow() - ticksBefore;
  const selfCpuMsPerCheck = selfs.reduce((a, b) => a + b, 0) / n;
  const childCpuMsPerCheck = (childTicks * 1000) / clkTck / n;
  const liveChildCpuMsPerCheck = (liveAfter - liveBefore) / n;
  const cpuMsPerCheck = selfCpuMsPerCheck + childCpuMsPerCheck + liveChildCpuMsPerCheck;
  const cpuMsPerMinute = cpuMsPerCheck * (60 / INTERVAL_S);
  return {
    key: c.key,
    path: c.path,
    expected: c.expected,
    target: c.target,
    warmup,
    n,
    wallMs: { median: quantile(walls, 0.5), p99: quantile(walls, 0.99), max: walls.length ? Math.max(...walls) : null },
    connectMs: { median: quantile(connects, 0.5), max: connects.length ? Math.max(...connects) : null },
    selfCpuMsPerCheck: round3(selfCpuMsPerCheck),
    childTicks,
    childCpuMsPerCheck: round3(childCpuMsPerCheck),
    liveChildCpuMsPerCheck: round3(liveChildCpuMsPerCheck),
    liveChildPids: livePid === undefined ? [] : [livePid],
    cpuMsPerCheck: round3(cpuMsPerCheck),
    cpuMsPerMinute: round2(cpuMsPerMinute),
    corePercent: round3((cpuMsPerMinute / 60_000) * 100),
    samples: { wallMs: walls.map(round3), selfCpuMs: selfs.map(round3) },
  };
}

/** Why the namespace rows cannot run here, or undefined. */
function namespaceMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns add, nsenter --net)';
  if (findExecutable('ip') === undefined) return 'ip not found (Debian: apt-get install iproute2)';
  if (findExecutable('nsenter') === undefined) return 'nsenter not found (Debian: apt-get install util-linux)';
  return undefined;
}

/** A fresh network namespace with lo up; `remove` is idempotent and also runs at exit. */
function addNamespace(): { name: string; remove: () => void } {
  const name = `nhc-bench-srv-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    process.off('exit', remove);
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  // Ctrl-C: run.ts's handler exits the process, and the namespace goes with it.
  process.on('exit', remove);
  try {
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    remove();
    throw err;
  }
  return { name, remove };
}

const stderrOf = (err: unknown): string => {
  const e = err as { stderr?: Buffer | string; message?: string };
  return (e.stderr?.toString().trim() || e.message) ?? String(err);
};

export async function runServers(_dir: string, opts: BenchOptions): Promise<ServersResult> {
  const hereN = opts.quick ? 50 : 200;
  const hereWarmup = opts.quick ? 10 : 20;
  const nsN = opts.quick ? 50 : 200;
  const nsWarmup = opts.quick ? 2 : 3;
  const firstN = opts.quick ? 5 : 15;
  const bareN = opts.quick ? 10 : 30;
  const pacedS = opts.quick ? 10 : 60;
  const settleS = opts.quick ? 4 : 10;
  const clkTck = clockTicks();
  const loadBefore = os.loadavg()[0] ?? 0;
  const run = createRunner(systemClock, { launcher: 'node' });
  const check = createServerCheck({ clock: systemClock });
  const rows: ServerCaseRow[] = [];
  const listeners: ChildProcess[] = [];
  let ns: { name: string; remove: () => void } | undefined;
  let namespaceSkipped: string | null = null;
  let namespaceChild: NamespaceChildFacts | null = null;
  try {
    const here = await startListener([process.execPath, '-e', LISTENER], listeners);
    const refused = await closedPort();
    progress(`servers: in-process, ${hereWarmup} + ${hereN} checks each (answering :${here.port}, refused :${refused})`);
    rows.push(await measure(checkCase(check, 'here-answering', 'answering', here.port, null), hereWarmup, hereN, clkTck));
    rows.push(await measure(checkCase(check, 'here-refused', 'refused', refused, null), hereWarmup, hereN, clkTck));

    const missing = namespaceMissing();
    if (missing === undefined) {
      try {
        ns = addNamespace();
      } catch (err) {
        namespaceSkipped = `ip netns add failed: ${stderrOf(err)}`;
      }
    } else namespaceSkipped = missing;
    if (ns) {
      const inside = await startListener(['ip', 'netns', 'exec', ns.name, process.execPath, '-e', LISTENER], listeners);
      // `ip netns exec` execs the command: this is the listening Node, and its namespace link is
      // the form the daemon uses (the automount daemon's /proc/PID/ns/net).
      const netns = `/proc/${inside.child.pid ?? -1}/ns/net`;
      if (fs.readlinkSync(netns) === fs.readlinkSync('/proc/self/ns/net')) throw new Error(`${netns} is this process's own namespace`);
      // The NFS port: nothing listens on it in the fresh namespace but our listener, on its own port.
      const nsRefused = inside.port === 2049 ? 2050 : 2049;
      progress(
        `servers: through ${netns} (${ns.name}), ${nsWarmup} + ${nsN} checks each (answering :${inside.port}, refused :${nsRefused})`,
      );
      rows.push(await measure(checkCase(check, 'netns-answering', 'answering', inside.port, netns), nsWarmup, nsN, clkTck));
      rows.push(await measure(checkCase(check, 'netns-refused', 'refused', nsRefused, netns), nsWarmup, nsN, clkTck));
      check.close();
      progress(`servers: first checks through ${netns}, each by a fresh checker starting its child, 1 + ${firstN}`);
      rows.push(await measure(firstCheckCase(inside.port, netns), 1, firstN, clkTck));
      progress(
        `servers: a fresh namespace child at the daemon's pace (a check every ${INTERVAL_S} s): ${settleS} s to settle, ${pacedS} s measured, then idle, then its memory`,
      );
      namespaceChild = await childFacts(inside.port, netns, settleS, pacedS);
    } else progress(`servers: namespace rows skipped — ${namespaceSkipped ?? ''}`);
    progress(`servers: for scale, a bare child Node (node -e 0) through the same runner, ${nsWarmup} + ${bareN} times`);
    rows.push(await measure(bareNodeCase(run), nsWarmup, bareN, clkTck));
  } finally {
    check.close();
    await Promise.all(listeners.map((c) => endGroup(c)));
    ns?.remove();
  }
  for (const r of rows)
    progress(
      `servers: ${r.key}: wall ${r.wallMs.median?.toFixed(3)} / ${r.wallMs.p99?.toFixed(3)} / ${r.wallMs.max?.toFixed(3)} ms, CPU ${r.selfCpuMsPerCheck} + ${r.childCpuMsPerCheck} + ${r.liveChildCpuMsPerCheck} ms a check (${r.childTicks} child ticks), ${r.cpuMsPerMinute} ms/min, ${r.corePercent} % of a core`,
    );
  if (namespaceChild) progress(`servers: namespace child: ${JSON.stringify(namespaceChild)}`);
  return {
    node: process.version,
    intervalS: INTERVAL_S,
    checksPerMinute: 60 / INTERVAL_S,
    timeoutMs: SERVER_CHECK_TIMEOUT_MS,
    gapMs: GAP_MS,
    clkTck,
    rows,
    namespaceSkipped,
    namespaceChild,
    loadAvg: { before: round2(loadBefore), after: round2(os.loadavg()[0] ?? 0) },
  };
}
