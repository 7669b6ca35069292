// Runs holder scans off the main thread, with a deadline. A scan that passes it is given up and its
// thread abandoned (a read blocked in the kernel cannot be interrupted); the process it was reading
// is left out of later scans until that thread comes back, and a new thread scans the rest. At most
// MAX_STUCK threads are ever left blocked; past that, scans wait for one to return.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Clock } from '../clock.js';
import type { ScanInput, ScanOutput } from './scan.js';
import type { ScanRequest } from './scan-worker.js';

export type ScanOutcome =
  | { kind: 'done'; output: ScanOutput; ms: number }
  /** Given up at the deadline; `blockedPid` is the process it was reading (left out from now on). */
  | { kind: 'timeout'; blockedPid: number | null; ms: number }
  | { kind: 'unavailable'; reason: string };

/** The scan seam. */
export type ScanHolders = (input: ScanInput) => Promise<ScanOutcome>;

const MAX_STUCK = 2;
/** An idle scan thread (an isolate, ~5 MB) ends this long after its last scan: most days have none. */
const IDLE_END_MS = 60_000;

/** The compiled worker script (from src/ under the test runner: the copy `npm test` built in dist/). */
export function scanWorkerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return here.replace(/\/src\/holders\/scanner\.ts$/, '/dist/src/holders/scan-worker.js');
  return join(dirname(here), 'scan-worker.js');
}

interface Thread {
  worker: Worker;
  progress: SharedArrayBuffer;
  dead: boolean;
  /** Resolves the scan in flight; replaced per scan. */
  answer?: (output: ScanOutput | null) => void;
}

function isScanOutput(value: unknown): value is ScanOutput {
  return typeof value === 'object' && value !== null && 'holders' in value && 'memory' in value;
}

function startThread(file: string): Thread {
  const thread: Thread = {
    worker: new Worker(file, { resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8, stackSizeMb: 1 } }),
    progress: new SharedArrayBuffer(4),
    dead: false,
  };
  thread.worker.unref();
  thread.worker.on('message', (msg: unknown) => thread.answer?.(isScanOutput(msg) ? msg : null));
  const died = (): void => {
    thread.dead = true;
    thread.answer?.(null);
  };
  thread.worker.on('error', died);
  thread.worker.on('exit', died);
  return thread;
}

export interface ThreadScanner {
  scan: ScanHolders;
  /** Starts the thread ahead of a scan that may come (it ends unused after the idle time). */
  warm(): void;
  /** Threads left blocked in the kernel now. */
  stuck(): number;
  close(): void;
}

/** The daemon's scanner: one reused worker thread. */
export function createThreadScanner(opts: { timeoutMs: number; clock: Clock; file?: string }): ThreadScanner {
  const file = opts.file ?? scanWorkerFile();
  const { clock } = opts;
  let idle: Thread | undefined;
  let idleTimer: ReturnType<Clock['setTimeout']> | undefined;
  /** Threads given up at the deadline, with the pid each was reading. */
  const stuck = new Map<Thread, number | null>();
  let closed = false;

  const take = (): Thread => {
    const thread = idle && !idle.dead ? idle : startThread(file);
    idle = undefined;
    if (idleTimer) clock.clearTimeout(idleTimer);
    idleTimer = undefined;
    return thread;
  };
  const park = (thread: Thread): void => {
    idle = thread;
    idleTimer = clock.setTimeout(() => {
      idleTimer = undefined;
      if (idle !== thread) return;
      idle = undefined;
      void thread.worker.terminate();
    }, IDLE_END_MS);
    idleTimer.unref?.();
  };

  const scan: ScanHolders = (input) => {
    if (closed) return Promise.resolve({ kind: 'unavailable', reason: 'stopping' });
    if (stuck.size >= MAX_STUCK) {
      return Promise.resolve({ kind: 'unavailable', reason: `${stuck.size} earlier scans are still blocked in the kernel` });
    }
    const thread = take();
    const blocked = [...stuck.values()].filter((pid): pid is number => pid !== null);
    return scanOnThread(thread, { ...input, skipPids: [...input.skipPids, ...blocked] }, opts, {
      givenUp: (pid) => stuck.set(thread, pid),
      returned: (late) => {
        // Came back late: its process may be read again, and the thread reused.
        if (late) stuck.delete(thread);
        if (closed || thread.dead || idle) void thread.worker.terminate();
        else park(thread);
      },
    });
  };

  return {
    scan,
    warm() {
      if (!closed && !idle) park(startThread(file));
    },
    stuck: () => stuck.size,
    close() {
      closed = true;
      if (idleTimer) clock.clearTimeout(idleTimer);
      if (idle) void idle.worker.terminate();
      idle = undefined;
    },
  };
}

/**
 * One scan on a thread, against the deadline: `givenUp` names the pid the thread was reading when
 * the deadline passed; `returned` runs when the thread answers or dies, in time or late.
 */
function scanOnThread(
  thread: Thread,
  input: ScanInput,
  opts: { timeoutMs: number; clock: Clock },
  on: { givenUp: (blockedPid: number | null) => void; returned: (late: boolean) => void },
): Promise<ScanOutcome> {
  const { clock } = opts;
  const started = clock.now();
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = clock.setTimeout(() => {
      timedOut = true;
      const pid = Atomics.load(new Int32Array(thread.progress), 0);
      on.givenUp(pid > 0 ? pid : null);
      resolve({ kind: 'timeout', blockedPid: pid > 0 ? pid : null, ms: opts.timeoutMs });
    }, opts.timeoutMs);
    thread.answer = (output) => {
      thread.answer = undefined;
      if (!timedOut) {
        clock.clearTimeout(timer);
        resolve(output ? { kind: 'done', output, ms: clock.now() - started } : { kind: 'unavailable', reason: 'the scan thread died' });
      }
      on.returned(timedOut);
    };
    Atomics.store(new Int32Array(thread.progress), 0, 0);
    const request: ScanRequest = { input, progress: thread.progress };
    thread.worker.postMessage(request);
  });
}

/**
 * `check`'s scanner: a child process per scan, so the command exits with its status even when a
 * scan is blocked (Node's exit would wait for a blocked thread forever).
 */
export function createProcessScanner(opts: { timeoutMs: number; clock: Clock; file?: string }): ScanHolders {
  const file = opts.file ?? scanWorkerFile();
  return (input) =>
    new Promise((resolve) => {
      const started = opts.clock.now();
      const child = spawn(process.execPath, [file], { stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      let settled = false;
      const finish = (outcome: ScanOutcome): void => {
        if (settled) return;
        settled = true;
        opts.clock.clearTimeout(timer);
        child.unref();
        child.stdout?.destroy();
        resolve(outcome);
      };
      const timer = opts.clock.setTimeout(() => {
        child.kill('SIGKILL');
        finish({ kind: 'timeout', blockedPid: null, ms: opts.timeoutMs });
      }, opts.timeoutMs);
      child.on('error', (err) => finish({ kind: 'unavailable', reason: err.message }));
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.on('close', () => {
        try {
          const parsed: unknown = JSON.parse(out);
          if (isScanOutput(parsed)) finish({ kind: 'done', output: parsed, ms: opts.clock.now() - started });
          else finish({ kind: 'unavailable', reason: 'the scan process answered nothing usable' });
        } catch {
          finish({ kind: 'unavailable', reason: 'the scan process died' });
        }
      });
      child.stdin?.end(JSON.stringify(input));
    });
}
