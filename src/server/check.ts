// Does an NFS server answer? One bounded TCP connect to its NFS port — never a touch of a mount —
// made from the network namespace the mounts are made in: the automount daemon's, entered through
// nsenter by a tiny child Node when it is not the daemon's own.
import { readlinkSync } from 'node:fs';
import net from 'node:net';
import type { Clock } from '../clock.js';
import type { CommandOutcome, RunCommand } from '../exec/runner.js';

import type { ServerAddress } from './address.js';

export type CheckOutcome =
  | { answering: true; ms: number }
  // 'refused' | 'timeout' | 'unreachable' | an errno code | a child's failure
  | { answering: false; ms: number; reason: string };

/** One bounded connect to `server` from network namespace `netns` (a /proc/PID/ns/net path) or, with null, from the daemon's own. Never rejects. */
export type CheckServer = (server: ServerAddress, netns: string | null, timeoutMs: number) => Promise<CheckOutcome>;

export interface ServerCheckDeps {
  clock: Clock;
  /** A runner with launcher 'node': a check may run every few seconds, so no execa heap for it. */
  run: RunCommand;
  /** The Node the child runs (default process.execPath). */
  nodePath?: string;
}

/** The reason for a connect's error code: the common ones in words, any other as its code. */
export function reasonOf(code: string): string {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'unreachable';
  return code;
}

// The child's whole program, plain JavaScript so that it runs the same from src/ under the test
// runner and from dist/. It prints what happened ('connect', an error code or 'timeout') and the
// connect's own duration; the parent names the reason, so both paths name it alike. Its arguments
// follow `--`, so that no host is taken for a node option.
const CHILD_SOURCE = `
const net = require('node:net');
const [host, port, timeoutMs] = process.argv.slice(1);
const started = performance.now();
let done = false;
let socket;
let timer;
const finish = (result) => {
  if (done) return;
  done = true;
  clearTimeout(timer);
  if (socket) socket.destroy();
  process.stdout.write(JSON.stringify({ result, ms: Math.round(performance.now() - started) }) + '\\n');
};
timer = setTimeout(() => finish('timeout'), Number(timeoutMs));
try {
  socket = net.connect({ host, port: Number(port) });
  socket.on('connect', () => finish('connect'));
  socket.on('error', (err) => finish(String(err.code || err.message)));
} catch (err) {
  finish(String(err.code || err.message));
}
`;

// A child Node starts well within this even on a loaded node; one slower still is reported as a
// failed check (saying so) rather than waited on.
const CHILD_START_ALLOWANCE_MS = 2000;

// The child needs almost no heap; a small one keeps a check's footprint small.
const CHILD_NODE_FLAGS = ['--max-old-space-size=16', '--max-semi-space-size=1'];

const MAX_REASON_OUTPUT = 200;

/** The checker: in-process without a namespace, through nsenter and a child Node with one. */
export function createServerCheck(deps: ServerCheckDeps): CheckServer {
  const nodePath = deps.nodePath ?? process.execPath;
  return (server, netns, timeoutMs) =>
    netns === null ? connectHere(deps.clock, server, timeoutMs) : connectFrom(deps.run, nodePath, netns, server, timeoutMs);
}

/** The connect in this process: settles once, leaving no socket or timer behind. */
function connectHere(clock: Clock, server: ServerAddress, timeoutMs: number): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const started = clock.now();
    let settled = false;
    let socket: net.Socket | undefined;
    const finish = (reason: string | null): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      socket?.destroy();
      const ms = Math.round(clock.now() - started);
      resolve(reason === null ? { answering: true, ms } : { answering: false, ms, reason });
    };
    const timer = clock.setTimeout(() => finish('timeout'), timeoutMs);
    try {
      socket = net.connect({ host: server.host, port: server.port });
    } catch (err) {
      // An address net refuses outright (a port out of range) is thrown, not emitted.
      finish(reasonOf(errorCode(err)));
      return;
    }
    socket.once('connect', () => finish(null));
    // Kept after settling: an error the destroyed socket still emits must find a listener.
    socket.on('error', (err) => finish(reasonOf(errorCode(err))));
  });
}

/** An error's code, or its message when it has none. */
function errorCode(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}

/** The connect from another network namespace, by a child Node entered into it. */
async function connectFrom(
  run: RunCommand,
  nodePath: string,
  netns: string,
  server: ServerAddress,
  timeoutMs: number,
): Promise<CheckOutcome> {
  const argv = [
    'nsenter',
    `--net=${netns}`,
    '--',
    nodePath,
    ...CHILD_NODE_FLAGS,
    '-e',
    CHILD_SOURCE,
    '--',
    server.host,
    String(server.port),
    String(timeoutMs),
  ];
  try {
    return childOutcome(await run(argv, timeoutMs + CHILD_START_ALLOWANCE_MS));
  } catch (err) {
    // A runner never rejects; this one promised so too.
    return { answering: false, ms: 0, reason: `check process: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** What the child's run says: its printed outcome, or why it printed none. */
export function childOutcome(o: CommandOutcome): CheckOutcome {
  const said = o.output.replace(/\s+/g, ' ').slice(0, MAX_REASON_OUTPUT);
  if (o.status === 'timeout') return { answering: false, ms: o.durationMs, reason: `check process timed out${said ? `: ${said}` : ''}` };
  if (o.status === 'spawn_error') return { answering: false, ms: o.durationMs, reason: `check process did not start: ${said}` };
  if (o.status === 'failed') {
    const how = o.exitCode !== null ? `exit ${o.exitCode}` : `signal ${o.signal ?? '?'}`;
    return { answering: false, ms: o.durationMs, reason: `check process failed (${how})${said ? `: ${said}` : ''}` };
  }
  const printed = printedResult(o.output);
  if (printed === undefined) return { answering: false, ms: o.durationMs, reason: `check process printed no outcome: ${said}` };
  return printed.result === 'connect'
    ? { answering: true, ms: printed.ms }
    : { answering: false, ms: printed.ms, reason: reasonOf(printed.result) };
}

/** The child's line among what it wrote (stderr shares the output: a warning may come first). */
function printedResult(output: string): { result: string; ms: number } | undefined {
  for (const line of output.split('\n').reverse()) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    const { result, ms } = value as { result?: unknown; ms?: unknown };
    if (typeof result === 'string' && result !== '' && typeof ms === 'number' && Number.isFinite(ms)) return { result, ms };
  }
  return undefined;
}

/** The network namespace to connect from for mounts made by process `pid`: its /proc/PID/ns/net when that differs from this process's own, else null (connect in-process); null when either link cannot be read. */
export function netnsOfPid(pid: number, proc = '/proc'): string | null {
  const path = `${proc}/${pid}/ns/net`;
  try {
    return readlinkSync(path) === readlinkSync(`${proc}/self/ns/net`) ? null : path;
  } catch {
    return null;
  }
}
