// The code that makes the blocking call. It runs its call synchronously on a thread (or process) of
// its own — never on libuv's shared pool of 4 threads, which a few hung calls would exhaust for the
// whole process — and it is plain JavaScript in a string so that it runs the same from src/ under
// the test runner and from dist/ in production.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { RawProbe } from './classify.js';

// opendir + one read: the open and the READDIR the server must answer, without listing a huge
// directory (/airflow/logs can hold many thousands of entries).
const PROBE_FUNCTION = `
function probe(path) {
  const fs = require('node:fs');
  let dir;
  try {
    dir = fs.opendirSync(path);
    dir.readSync();
    return { kind: 'ok' };
  } catch (err) {
    return { kind: 'error', errno: err.errno, code: err.code };
  } finally {
    try { if (dir) dir.closeSync(); } catch {}
  }
}
`;

const THREAD_SOURCE = `${PROBE_FUNCTION}
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (path) => parentPort.postMessage(probe(path)));
`;

const PROCESS_SOURCE = `${PROBE_FUNCTION}
process.stdout.write(JSON.stringify(probe(process.argv[1])));
`;

/** Runs probes, one at a time. A call may never return: then the worker is abandoned, not reused. */
export interface ProbeWorker {
  /** Starts one probe; `done` runs when the call returns, which for a hung mount may be never. */
  start(path: string, done: (raw: RawProbe) => void): void;
  /**
   * Runs `fn` once the worker runs code (at once if it already does): a new thread takes tens of
   * milliseconds to start, which must not be mistaken for a slow mount.
   */
  whenOnline(fn: () => void): void;
  /** Whether this worker should keep the process alive. A stuck one must not. */
  setRef(ref: boolean): void;
  /** Ends the worker; a thread blocked in the kernel goes only once its call returns. */
  terminate(): void;
  /** False once the worker has died (crashed, hit its resource limits): it must not be reused. */
  usable(): boolean;
}

export type SpawnWorker = () => ProbeWorker;

function isRawProbe(value: unknown): value is RawProbe {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

const workerFailed = (code: string): RawProbe => ({ kind: 'error', errno: undefined, code });

/** A long-lived worker thread, reused probe after probe: starting a thread costs far more than a probe. */
export const spawnThreadWorker: SpawnWorker = () => {
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    // A probe needs almost no heap; small limits keep each thread's footprint small.
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 },
  });
  let pending: ((raw: RawProbe) => void) | undefined;
  let dead = false;
  let online = false;
  const waiting: (() => void)[] = [];
  worker.once('online', () => {
    online = true;
    for (const fn of waiting.splice(0)) fn();
  });
  const finish = (raw: RawProbe): void => {
    const done = pending;
    pending = undefined;
    done?.(raw);
  };
  worker.on('message', (msg: unknown) => finish(isRawProbe(msg) ? msg : workerFailed('EBADMSG')));
  const died = (): void => {
    dead = true;
    finish(workerFailed('EWORKER'));
  };
  worker.on('error', died);
  worker.on('exit', died);
  return {
    start(path, done) {
      pending = done;
      worker.postMessage(path);
    },
    whenOnline(fn) {
      if (online) fn();
      else waiting.push(fn);
    },
    setRef(ref) {
      if (ref) worker.ref();
      else worker.unref();
    },
    terminate() {
      pending = undefined;
      dead = true;
      void worker.terminate();
    },
    usable: () => !dead,
  };
};

/**
 * A one-shot child process per probe, for the `check` command: a process must be able to exit
 * with its status while a probe is still blocked, and Node's exit joins worker threads (it would
 * hang), whereas a blocked child is simply left behind.
 */
export const spawnProcessWorker: SpawnWorker = () => {
  let child: ReturnType<typeof spawn> | undefined;
  return {
    start(path, done) {
      const proc = spawn(process.execPath, ['-e', PROCESS_SOURCE, path], { stdio: ['ignore', 'pipe', 'ignore'] });
      child = proc;
      let out = '';
      let settled = false;
      const finish = (raw: RawProbe): void => {
        if (settled) return;
        settled = true;
        done(raw);
      };
      proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      proc.on('error', () => finish(workerFailed('EWORKER')));
      proc.on('close', () => {
        try {
          const parsed: unknown = JSON.parse(out);
          finish(isRawProbe(parsed) ? parsed : workerFailed('EBADMSG'));
        } catch {
          finish(workerFailed('EWORKER'));
        }
      });
    },
    // A child per probe, for a command whose pool never grows (warm = max = the mounts).
    whenOnline(fn) {
      fn();
    },
    setRef(ref) {
      // The stdout pipe is a socket and holds the event loop as much as the child does.
      const pipe = child?.stdout as { ref?(): void; unref?(): void } | null | undefined;
      if (ref) {
        child?.ref();
        pipe?.ref?.();
      } else {
        child?.unref();
        pipe?.unref?.();
      }
    },
    terminate() {
      child?.kill('SIGKILL');
    },
    // Each probe spawns its own child: the worker itself is always fit to start another.
    usable: () => true,
  };
};
