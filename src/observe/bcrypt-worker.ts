// The bcrypt comparison's own thread. Under the daemon's --lite-mode one comparison is a second of
// CPU: here it blocks only this thread, never the main one (metrics, logs, probes' timers).
import { isMainThread, parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

export interface CompareRequest {
  id: number;
  password: string;
  hash: string;
}

/** The outcome, or null when bcryptjs threw (the reason is not sent: it could quote its input). */
export interface CompareAnswer {
  id: number;
  ok: boolean | null;
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', ({ id, password, hash }: CompareRequest) => {
    let ok: boolean | null;
    try {
      ok = bcrypt.compareSync(password, hash);
    } catch {
      ok = null;
    }
    port.postMessage({ id, ok } satisfies CompareAnswer);
  });
}
