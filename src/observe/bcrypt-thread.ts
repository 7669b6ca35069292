// bcrypt comparisons on one worker thread (src/observe/bcrypt-worker.ts), started at the first
// comparison and ended after an idle time: a daemon checks passwords about once per start, and
// should not keep a thread's memory for it. A thread that dies or errs fails the comparisons it
// had; the next comparison starts another. No message here carries a password.
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { CompareAnswer, CompareRequest } from './bcrypt-worker.js';

/** Long enough that Prometheus's first scrapes and a user's retries reuse the thread, short enough to give its ~5 MB back soon. */
const IDLE_END_MS = 60_000;

/**
 * The compiled worker script (from src/ under the test runner: the copy `npm test` built in dist/).
 * In a release this module sits in a chunk under app/lib/ (it is imported on demand), the script in app/.
 */
export function bcryptWorkerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return here.replace(/\/src\/observe\/bcrypt-thread\.ts$/, '/dist/src/observe/bcrypt-worker.js');
  const dir = dirname(here);
  return join(basename(dir) === 'lib' ? dirname(dir) : dir, 'bcrypt-worker.js');
}

export interface ThreadCompare {
  /** bcrypt's comparison of a password with a hash, on the thread; rejects if the thread fails. */
  compare(password: string, hash: string): Promise<boolean>;
  /** Ends the thread now: comparisons in flight fail, the next one starts a thread. */
  end(): Promise<void>;
  /** Whether a thread is running now. */
  running(): boolean;
}

interface Pending {
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

export function createThreadCompare(opts: { file?: string; clock?: Clock } = {}): ThreadCompare {
  const file = opts.file ?? bcryptWorkerFile();
  const clock = opts.clock ?? systemClock;
  let worker: Worker | undefined;
  let idleTimer: TimerHandle | undefined;
  const pending = new Map<number, Pending>();
  let nextId = 0;

  const fail = (w: Worker, reason: string): void => {
    if (worker !== w) return;
    worker = undefined;
    const failed = [...pending.values()];
    pending.clear();
    for (const p of failed) p.reject(new Error(`bcrypt thread ${reason}`));
  };

  const start = (): Worker => {
    const w = new Worker(file, { resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8, stackSizeMb: 1 } });
    w.on('message', (msg: CompareAnswer) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (pending.size === 0) idle(w);
      if (msg.ok === null) p.reject(new Error('bcrypt comparison failed'));
      else p.resolve(msg.ok);
    });
    w.on('error', () => fail(w, 'failed'));
    w.on('exit', (code) => fail(w, `exited (${code})`));
    return w;
  };

  // Held (ref'd) only while it compares: the answer is awaited; idle, it never keeps the process up.
  const idle = (w: Worker): void => {
    w.unref();
    idleTimer = clock.setTimeout(() => {
      idleTimer = undefined;
      if (worker === w && pending.size === 0) {
        worker = undefined;
        void w.terminate();
      }
    }, IDLE_END_MS);
    idleTimer.unref?.();
  };

  return {
    compare(password, hash) {
      if (idleTimer) clock.clearTimeout(idleTimer);
      idleTimer = undefined;
      worker ??= start();
      const w = worker;
      w.ref();
      const id = nextId++;
      return new Promise<boolean>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage({ id, password, hash } satisfies CompareRequest);
      });
    },
    async end() {
      if (idleTimer) clock.clearTimeout(idleTimer);
      idleTimer = undefined;
      const w = worker;
      if (!w) return;
      fail(w, 'ended');
      await w.terminate();
    },
    running: () => worker !== undefined,
  };
}
