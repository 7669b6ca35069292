// Figure 11: what one server check costs (src/server/check.ts). While a mount is down the daemon
// tries its NFS server's port every servers.check_interval: in-process when the automount daemon
// shares the daemon's network namespace, else through nsenter and a short-lived child Node. Side
// by side in one run, each path to a listener that accepts and to a port nothing listens on: the
// wall time of each check, and its CPU — this process's own and its reaped children's.
//
// The listeners are processes of their own (a Node in this namespace, one in a fresh `ip netns`
// namespace), so that accepting a connection is not counted as the check's CPU. Checks run one at
// a time with a short idle gap between them, as the daemon's come, after a few of warm-up; every
// outcome is checked (answering or refused, as the case says) so that a broken check cannot report
// a fast nothing. The namespace rows need root, ip and nsenter; without them they are skipped,
// saying why, and the in-process rows still run. For scale, a last row starts a child Node that
// does nothing through the same runner: how much of the namespace path is Node's own start.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { systemClock } from '../src/clock.js';
import { SERVER_CHECK_TIMEOUT_MS } from '../src/controller/server-return.js';
import { createRunner, type RunCommand } from '../src/exec/runner.js';
import { createServerCheck, type CheckOutcome, type CheckServer } from '../src/server/check.js';
import { findExecutable } from '../test/helpers/tools.js';
import { endGroup, own, progress, quantile, sleep, type BenchOptions } from './common.js';

/** servers.check_interval's default: one check of a down mount's server this often. */
export const INTERVAL_S = 2;
/** Between two checks: the event loop idle again, as between the daemon's. */
const GAP_MS = 10;

export type ServerCaseKey = 'here-answering' | 'here-refused' | 'netns-answering' | 'netns-refused' | 'bare-node';

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
  loadAvg: { before: number; after: number };
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
}

const matches = (o: CheckOutcome, expected: ServerCaseRow['expected']): boolean =>
  expected === 'answering' ? o.answering : expected === 'refused' && !o.answering && o.reason === 'refused';

/** A case of the server check to 127.0.0.1:PORT, in-process (netns null) or through `netns`. */
function checkCase(check: CheckServer, key: ServerCaseKey, expected: 'answering' | 'refused', port: number, netns: string | null): Case {
  return {
    key,
    path: netns === null ? 'in-process' : 'namespace',
    expected,
    target: `127.0.0.1:${port}${netns === null ? '' : ` via ${netns}`}`,
    attempt: async () => {
      const o = await check({ host: '127.0.0.1', port }, netns, SERVER_CHECK_TIMEOUT_MS);
      if (!matches(o, expected)) throw new Error(`${key}: expected ${expected}, got ${JSON.stringify(o)}`);
      return o.ms;
    },
  };
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
  for (let i = 0; i < n; i++) {
    const { connect, wall, self } = await once();
    walls.push(wall);
    selfs.push(self);
    if (connect !== null) connects.push(connect);
    await sleep(GAP_MS);
  }
  const childTicks = childTicksNow() - ticksBefore;
  const selfCpuMsPerCheck = selfs.reduce((a, b) => a + b, 0) / n;
  const childCpuMsPerCheck = (childTicks * 1000) / clkTck / n;
  const cpuMsPerCheck = selfCpuMsPerCheck + childCpuMsPerCheck;
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
  const nsN = opts.quick ? 10 : 30;
  const nsWarmup = opts.quick ? 2 : 3;
  const clkTck = clockTicks();
  const loadBefore = os.loadavg()[0] ?? 0;
  const run = createRunner(systemClock, { launcher: 'node' });
  const check = createServerCheck({ clock: systemClock, run });
  const rows: ServerCaseRow[] = [];
  const listeners: ChildProcess[] = [];
  let ns: { name: string; remove: () => void } | undefined;
  let namespaceSkipped: string | null = null;
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
    } else progress(`servers: namespace rows skipped — ${namespaceSkipped ?? ''}`);
    progress(`servers: for scale, a bare child Node (node -e 0) through the same runner, ${nsWarmup} + ${nsN} times`);
    rows.push(await measure(bareNodeCase(run), nsWarmup, nsN, clkTck));
  } finally {
    await Promise.all(listeners.map((c) => endGroup(c)));
    ns?.remove();
  }
  for (const r of rows)
    progress(
      `servers: ${r.key}: wall ${r.wallMs.median?.toFixed(3)} / ${r.wallMs.p99?.toFixed(3)} / ${r.wallMs.max?.toFixed(3)} ms, CPU ${r.selfCpuMsPerCheck} + ${r.childCpuMsPerCheck} ms a check (${r.childTicks} child ticks), ${r.cpuMsPerMinute} ms/min, ${r.corePercent} % of a core`,
    );
  return {
    node: process.version,
    intervalS: INTERVAL_S,
    checksPerMinute: 60 / INTERVAL_S,
    timeoutMs: SERVER_CHECK_TIMEOUT_MS,
    gapMs: GAP_MS,
    clkTck,
    rows,
    namespaceSkipped,
    loadAvg: { before: round2(loadBefore), after: round2(os.loadavg()[0] ?? 0) },
  };
}
