// Connects from another network namespace through one long-lived child Node per namespace, entered
// by nsenter and asked over its stdin: starting a Node for every check costs far more than the check.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Clock, TimerHandle } from '../clock.js';
import type { ServerAddress } from './address.js';

/** What the child said of one connect ('connect', an error code or 'timeout'), or why it said nothing. */
export type ChildAnswer = { said: true; result: string; ms: number } | { said: false; reason: string; ms: number };

export interface NetnsCheckerOptions {
  clock: Clock;
  /** The Node the child runs (default process.execPath). */
  nodePath?: string;
  /** A child with no check in flight for this long is ended (default 30 s). */
  idleMs?: number;
  /** Children kept at most, one per namespace path; past it the least recently used is ended (default 4). */
  maxChildren?: number;
  /** Added to a check's bound while its child has not answered yet: a Node starting (default 2000 ms). */
  startAllowanceMs?: number;
  /** Added to a check's bound once its child has answered: the reply's way back (default 500 ms). */
  answerAllowanceMs?: number;
  /** How often the child looks whether its parent is gone (default 5 s); its stdin closing ends it at once. */
  parentPollMs?: number;
}

// The child's whole program, plain JavaScript so that it runs the same from src/ under the test
// runner and from dist/. One request a line on stdin, {"id","host","port","timeoutMs"}, one answer a
// line on stdout, {"id","result","ms"}, in whatever order the connects end. It ends when its stdin
// does (the parent closed it, or died: the kernel closes the pipe), when stdout is gone, and when it
// finds itself handed to another parent (its stdin's write end kept open by someone else).
export const CHILD_SOURCE = `
const net = require('node:net');
const parent = process.ppid;
const pollMs = Number(process.argv[1]) || 5000;
const answer = (id, result, started) => {
  process.stdout.write(JSON.stringify({ id, result, ms: Math.round(performance.now() - started) }) + '\\n');
};
const check = (id, host, port, timeoutMs) => {
  const started = performance.now();
  let done = false;
  let socket;
  const finish = (result) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (socket) socket.destroy();
    answer(id, result, started);
  };
  const timer = setTimeout(() => finish('timeout'), Number(timeoutMs));
  try {
    socket = net.connect({ host: String(host), port: Number(port) });
    socket.once('connect', () => finish('connect'));
    socket.on('error', (err) => finish(String(err.code || err.message)));
  } catch (err) {
    finish(String(err.code || err.message));
  }
};
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  for (let at = pending.indexOf('\\n'); at >= 0; at = pending.indexOf('\\n')) {
    const line = pending.slice(0, at);
    pending = pending.slice(at + 1);
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    if (r && typeof r === 'object' && Number.isInteger(r.id)) check(r.id, r.host, r.port, r.timeoutMs);
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdout.on('error', () => process.exit(0));
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, pollMs).unref();
`;

// The child needs almost no heap, and one V8 helper thread is plenty for it.
export const CHILD_NODE_FLAGS = ['--max-old-space-size=16', '--max-semi-space-size=1', '--v8-pool-size=1'];

const MAX_REASON_OUTPUT = 200;
// Far longer than any answer: a child writing more without a newline is not speaking the protocol.
const MAX_LINE = 4096;

/** An answer line of the child's: its id, result and duration; undefined for anything else. */
export function parseAnswer(line: string): { id: number; result: string; ms: number } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, result, ms } = value as { id?: unknown; result?: unknown; ms?: unknown };
  if (typeof id !== 'number' || !Number.isInteger(id)) return undefined;
  if (typeof result !== 'string' || result === '') return undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return undefined;
  return { id, result, ms };
}

/** Text a child wrote, on one line and bounded, for a reason. */
function said(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(-MAX_REASON_OUTPUT);
}

interface Request {
  readonly started: number;
  readonly resolve: (a: ChildAnswer) => void;
  timer: TimerHandle | undefined;
}

/** One child in one namespace: its requests in flight by id, and how it ends. */
class NamespaceChild {
  readonly proc: ChildProcess;
  private readonly requests = new Map<number, Request>();
  private answered = false;
  private ended = false;
  private stdout = '';
  private stderr = '';
  private idleTimer: TimerHandle | undefined;

  constructor(
    readonly netns: string,
    private readonly opts: Required<NetnsCheckerOptions>,
    /** Told once the child can take no more requests, so that the next check starts another. */
    private readonly gone: (child: NamespaceChild) => void,
  ) {
    this.proc = spawn(
      'nsenter',
      [`--net=${netns}`, '--', opts.nodePath, ...CHILD_NODE_FLAGS, '-e', CHILD_SOURCE, '--', String(opts.parentPollMs)],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    );
    // Neither the child nor its pipes keep the daemon alive; a request's deadline does while it waits.
    this.proc.unref();
    for (const stream of [this.proc.stdin, this.proc.stdout, this.proc.stderr]) {
      if (stream instanceof net.Socket) stream.unref();
      // A write to a child that has gone fails here; its exit (or the deadline) says why.
      stream?.on('error', () => undefined);
    }
    this.proc.stdout?.setEncoding('utf8');
    this.proc.stdout?.on('data', (chunk: string) => this.read(chunk));
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-MAX_REASON_OUTPUT * 2);
    });
    this.proc.once('error', (err) => this.end(`check process did not start: ${err.message}`));
    // Gone at its exit; its requests end once its pipes are drained, so that what it wrote last
    // (an answer, nsenter's complaint) still counts.
    this.proc.once('exit', () => this.gone(this));
    this.proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      const how = code !== null ? `exit ${code}` : `signal ${signal ?? '?'}`;
      const text = said(this.stderr);
      this.end(`check process failed (${how})${text ? `: ${text}` : ''}`);
    });
  }

  /** Whether it may take another request. */
  usable(): boolean {
    return !this.ended && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Sends one request; resolves with the child's answer, or a failure of the child's. Never rejects. */
  ask(id: number, server: ServerAddress, timeoutMs: number): Promise<ChildAnswer> {
    const { clock } = this.opts;
    return new Promise((resolve) => {
      const request: Request = { started: clock.now(), resolve, timer: undefined };
      this.requests.set(id, request);
      this.clearIdle();
      const allowance = this.answered ? this.opts.answerAllowanceMs : this.opts.startAllowanceMs;
      request.timer = clock.setTimeout(() => {
        request.timer = undefined;
        const text = said(this.stderr);
        this.end(`check process timed out${text ? `: ${text}` : ''}`);
      }, timeoutMs + allowance);
      this.proc.stdin?.write(`${JSON.stringify({ id, host: server.host, port: server.port, timeoutMs })}\n`);
    });
  }

  /** Ends the child for good: killed, forgotten, every request in flight answered with `reason`. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.clearIdle();
    this.proc.stdin?.destroy();
    this.proc.kill('SIGKILL');
    this.gone(this);
    const now = this.opts.clock.now();
    for (const request of this.requests.values()) {
      if (request.timer) this.opts.clock.clearTimeout(request.timer);
      request.resolve({ said: false, reason, ms: Math.round(now - request.started) });
    }
    this.requests.clear();
  }

  /** What the child wrote: whole lines are answers, anything else ends it. */
  private read(chunk: string): void {
    if (this.ended) return;
    this.stdout += chunk;
    for (let at = this.stdout.indexOf('\n'); at >= 0 && !this.ended; at = this.stdout.indexOf('\n')) {
      const line = this.stdout.slice(0, at);
      this.stdout = this.stdout.slice(at + 1);
      this.settle(line);
    }
    if (!this.ended && this.stdout.length > MAX_LINE) this.end(`check process printed garbage: ${said(this.stdout)}`);
  }

  private settle(line: string): void {
    const answer = parseAnswer(line);
    const request = answer && this.requests.get(answer.id);
    if (!answer || !request) {
      this.end(`check process printed garbage: ${said(line)}`);
      return;
    }
    this.answered = true;
    this.requests.delete(answer.id);
    if (request.timer) this.opts.clock.clearTimeout(request.timer);
    request.resolve({ said: true, result: answer.result, ms: answer.ms });
    if (this.requests.size === 0) this.armIdle();
  }

  private armIdle(): void {
    this.clearIdle();
    this.idleTimer = this.opts.clock.setTimeout(() => {
      this.idleTimer = undefined;
      this.end('check process ended: idle');
    }, this.opts.idleMs);
    // An idle child's timer never keeps the daemon alive.
    this.idleTimer.unref?.();
  }

  private clearIdle(): void {
    if (this.idleTimer) this.opts.clock.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** Checks from other network namespaces, one lazily started child per namespace path. */
export class NetnsChecker {
  private readonly opts: Required<NetnsCheckerOptions>;
  /** In least recently used order: the first is the first ended when too many are kept. */
  private readonly children = new Map<string, NamespaceChild>();
  private nextId = 1;
  private closed = false;

  constructor(options: NetnsCheckerOptions) {
    this.opts = {
      clock: options.clock,
      nodePath: options.nodePath ?? process.execPath,
      idleMs: options.idleMs ?? 30_000,
      maxChildren: Math.max(1, options.maxChildren ?? 4),
      startAllowanceMs: options.startAllowanceMs ?? 2000,
      answerAllowanceMs: options.answerAllowanceMs ?? 500,
      parentPollMs: options.parentPollMs ?? 5000,
    };
  }

  /** One bounded connect to `server` from namespace `netns`, by that namespace's child (started if need be). Never rejects. */
  check(netns: string, server: ServerAddress, timeoutMs: number): Promise<ChildAnswer> {
    if (this.closed) return Promise.resolve({ said: false, reason: 'check process closed', ms: 0 });
    let child: NamespaceChild;
    try {
      child = this.childFor(netns);
    } catch (err) {
      // spawn throws for what it cannot even try (a namespace path with a NUL in it).
      return Promise.resolve({
        said: false,
        reason: `check process did not start: ${err instanceof Error ? err.message : String(err)}`,
        ms: 0,
      });
    }
    return child.ask(this.nextId++, server, timeoutMs);
  }

  /** The children running now, with their pids: what a test or a benchmark counts. */
  running(): { netns: string; pid: number }[] {
    return [...this.children.values()].flatMap((c) =>
      c.usable() && c.proc.pid !== undefined ? [{ netns: c.netns, pid: c.proc.pid }] : [],
    );
  }

  /** Ends every child, answering what is in flight; later checks answer at once that the checker is closed. */
  close(): void {
    this.closed = true;
    for (const child of [...this.children.values()]) child.end('check process closed');
    this.children.clear();
  }

  /** The namespace's child, started if there is none that can take a request, made the most recently used. */
  private childFor(netns: string): NamespaceChild {
    let child = this.children.get(netns);
    if (child && !child.usable()) {
      this.children.delete(netns);
      child = undefined;
    }
    if (child) this.children.delete(netns);
    else
      child = new NamespaceChild(netns, this.opts, (c) => {
        if (this.children.get(c.netns) === c) this.children.delete(c.netns);
      });
    this.children.set(netns, child);
    for (const [path, oldest] of this.children) {
      if (this.children.size <= this.opts.maxChildren) break;
      this.children.delete(path);
      oldest.end(`check process ended: more than ${this.opts.maxChildren} namespaces`);
    }
    return child;
  }
}
