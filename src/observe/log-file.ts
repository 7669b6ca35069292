// The log file as a pino destination: synchronous appends (fs.writeSync on the calling thread, so
// never queued behind hung calls on libuv's pool), reopened on demand for logrotate, and a failing
// disk never throws into the daemon: the failure is told once (to stdout) and writing resumes by
// itself when the file takes lines again.
import { closeSync, openSync, writeSync } from 'node:fs';

export interface LogFileEvents {
  /** Writing failed; said once until a write succeeds again. */
  failed(err: NodeJS.ErrnoException): void;
  /** A write succeeded after failures; `lost` lines were not written. */
  resumed(lost: number): void;
}

export class LogFile {
  private fd: number;
  private lost = 0;
  /** A failed write left part of a line: the next write first ends it, keeping later lines whole. */
  private fragment = false;

  /** Opens (creating, mode 0640) for appending; throws when it cannot — a start-up error. */
  constructor(
    readonly path: string,
    private readonly events: LogFileEvents,
  ) {
    this.fd = openSync(path, 'a', 0o640);
  }

  write(line: string): boolean {
    let off = 0;
    try {
      if (this.fragment) {
        writeSync(this.fd, '\n');
        this.fragment = false;
      }
      const buf = Buffer.from(line);
      for (; off < buf.length;) off += writeSync(this.fd, buf, off);
      if (this.lost > 0) {
        const lost = this.lost;
        this.lost = 0;
        this.events.resumed(lost);
      }
    } catch (err) {
      if (off > 0) this.fragment = true;
      if (this.lost++ === 0) this.events.failed(err as NodeJS.ErrnoException);
    }
    return true;
  }

  /** Opens the path afresh (logrotate has renamed the old file). Throws, keeping the old file, when it cannot. */
  reopen(): void {
    const fd = openSync(this.path, 'a', 0o640);
    const old = this.fd;
    this.fd = fd;
    closeSync(old);
  }

  close(): void {
    closeSync(this.fd);
  }
}
