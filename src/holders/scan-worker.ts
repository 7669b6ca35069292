// The holder scan's own thread (the daemon) or process (`check`). /proc reads can block: reading
// the maps of a process stuck in a page fault on a hung NFS file waits for its mmap lock. So the
// scan never runs on the main thread or on libuv's shared pool, and it publishes the pid it is
// reading, so that a scan given up as stuck names the process it is stuck on.
import { isMainThread, parentPort } from 'node:worker_threads';
import { realProc } from './proc.js';
import { scanHolders, type ScanInput } from './scan.js';

export interface ScanRequest {
  input: ScanInput;
  /** Int32Array over it: [0] = the pid being read. */
  progress: SharedArrayBuffer;
}

const proc = realProc();

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', ({ input, progress }: ScanRequest) => {
    const current = new Int32Array(progress);
    port.postMessage(scanHolders(proc, input, (pid) => Atomics.store(current, 0, pid)));
  });
} else {
  // Run as a process of its own (never imported): ScanInput as JSON on stdin, ScanOutput on stdout.
  let text = '';
  process.stdin.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  process.stdin.on('end', () => {
    const input = JSON.parse(text) as ScanInput;
    process.stdout.write(JSON.stringify(scanHolders(proc, input)));
  });
}
