// Keeps the incident state in its file for the next process of the daemon: read back once at
// start, written whenever what the parts know of an incident has changed. A file that cannot be
// read back is one warning and a fresh start; one that cannot be written is one warning (and one
// line when writing works again), never a stop: the daemon's work does not depend on it.
import type { Logger } from '../observe/log.js';
import { decodeIncident, encodeIncident, type IncidentState } from './incident.js';
import { errMessage, type StateFile } from './state-file.js';

export type Loaded = { kind: 'none' } | { kind: 'invalid'; reason: string } | { kind: 'ok'; state: IncidentState };

export class IncidentKeeper {
  private last: string | null = null;
  private failing: string | null = null;

  constructor(
    private readonly file: StateFile,
    private readonly bootId: string,
    private readonly log: Logger,
  ) {}

  get path(): string {
    return this.file.path;
  }

  /** The file as the last process left it, said in one line when it cannot be used. */
  load(): Loaded {
    const read = this.file.read();
    if (read.kind === 'none') return read;
    const decoded = read.kind === 'text' ? decodeIncident(read.text, this.bootId) : { kind: 'invalid' as const, reason: read.reason };
    if (decoded.kind === 'invalid') {
      this.log.warn({ file: this.file.path, reason: decoded.reason }, 'incident state not resumed: starting afresh');
      return decoded;
    }
    this.last = read.kind === 'text' ? read.text : null;
    return decoded;
  }

  /** Writes `state` unless the file already says exactly that. */
  save(state: IncidentState): void {
    const text = encodeIncident(state);
    if (text === this.last) return;
    try {
      this.file.write(text);
      this.last = text;
      if (this.failing !== null) this.log.info({ file: this.file.path }, 'incident state written again');
      this.failing = null;
    } catch (err) {
      const reason = errMessage(err);
      if (reason !== this.failing)
        this.log.warn({ file: this.file.path, reason }, 'incident state not written: a restart would not resume it');
      this.failing = reason;
    }
  }
}
