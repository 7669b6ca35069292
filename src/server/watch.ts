// Checks a set of NFS servers periodically and says when each starts or stops answering: the daemon
// clears autofs' negative cache as soon as a mount's server is back, rather than waiting it out.
// One check in flight per server at most, one unref'd timer for the set.
import type { Clock, TimerHandle } from '../clock.js';
import type { ServerAddress } from './address.js';
import type { CheckOutcome, CheckServer } from './check.js';

/** Each try to reach a server gives up after this long at most (servers.check_interval if shorter). */
export const SERVER_CHECK_TIMEOUT_MS = 1_000;

export interface WatchedServer {
  readonly key: string;
  readonly address: ServerAddress;
  /** Where to connect from: 'autofs' (the automount daemon's namespace) or 'self'. */
  readonly from: 'autofs' | 'self';
}

export interface ServerReport {
  key: string;
  address: ServerAddress;
  answering: boolean;
  /** Clock time the check that found this ended. */
  at: number;
  /** For answering after unanswered checks: when the first unanswered check of that spell started; null otherwise. */
  downSince: number | null;
  /** Unanswered checks in a row; for a server answering again, those of the spell just ended: for the log. */
  unanswered: number;
  reason: string | null;
}

export interface ServerWatchDeps {
  clock: Clock;
  check: CheckServer;
  intervalMs: number;
  timeoutMs: number;
  /** The namespace for `from` (computed at each check: the automount daemon may have restarted). */
  netns: (from: WatchedServer['from']) => string | null;
  onReport: (r: ServerReport) => void;
}

/** What the watch knows of one server. A new object whenever the server is (re)added: a check's result counts only for the object it was started for. */
interface Entry {
  readonly server: WatchedServer;
  /** Clock time the last check started; null before the first. */
  lastStart: number | null;
  /** The last outcome; null before the first. */
  answering: boolean | null;
  /** When the first unanswered check of the current spell started. */
  downSince: number | null;
  unanswered: number;
}

/** Whether two descriptions of a server would be checked alike. */
function sameServer(a: WatchedServer, b: WatchedServer): boolean {
  return a.address.host === b.address.host && a.address.port === b.address.port && a.from === b.from;
}

export class ServerWatch {
  private entries = new Map<string, Entry>();
  /** Per key, the entry whose check is running: kept for a dropped one too, so a server dropped and added again never has two. */
  private running = new Map<string, Entry>();
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly deps: ServerWatchDeps) {}

  /**
   * Replaces the set watched: a new server is checked at once; a dropped one is forgotten (a check in flight for it is ignored when it ends).
   * Same set again: no change, no new checks. A repeated key: the last one counts. A key whose ignored check is still running (dropped
   * and added again, or given a new address) is checked when that check ends.
   */
  watch(servers: readonly WatchedServer[]): void {
    if (this.stopped) return;
    const next = new Map<string, Entry>();
    let changed = false;
    for (const server of servers) {
      const kept = this.entries.get(server.key);
      if (kept && sameServer(kept.server, server)) next.set(server.key, kept);
      else {
        next.set(server.key, { server, lastStart: null, answering: null, downSince: null, unanswered: 0 });
        changed = true;
      }
    }
    if (!changed && next.size === this.entries.size) return;
    this.entries = next;
    this.plan();
  }

  /** Servers watched now (keys). */
  watched(): string[] {
    return [...this.entries.keys()];
  }

  /** Ends the watch for good: no timer, no more checks, no report from a check still in flight. */
  stop(): void {
    this.stopped = true;
    this.entries.clear();
    this.running.clear();
    this.clearTimer();
  }

  /** Starts every check due, then sets the timer for the next one due, if any. */
  private plan(): void {
    this.clearTimer();
    if (this.stopped) return;
    const now = this.deps.clock.now();
    let next: number | undefined;
    for (const entry of this.entries.values()) {
      if (this.running.has(entry.server.key)) continue; // its end plans again
      const due = entry.lastStart === null ? now : entry.lastStart + this.deps.intervalMs;
      if (due <= now) this.start(entry, now);
      else next = next === undefined ? due : Math.min(next, due);
    }
    if (next === undefined) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.plan();
    }, next - now);
    // The daemon's other work keeps the process alive; this watch alone must not.
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private start(entry: Entry, now: number): void {
    const { deps } = this;
    const { address, from } = entry.server;
    this.running.set(entry.server.key, entry);
    entry.lastStart = now;
    let checked: Promise<CheckOutcome>;
    try {
      checked = deps.check(address, deps.netns(from), deps.timeoutMs);
    } catch (err) {
      // A seam that throws still ends as an outcome, never as an entry stuck in flight.
      checked = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    void checked.then(
      (outcome) => this.ended(entry, now, outcome),
      (err: unknown) => this.ended(entry, now, { answering: false, ms: 0, reason: `check failed: ${String(err)}` }),
    );
  }

  /** A check's end: recorded, the next one planned, and a report when the answer changed. */
  private ended(entry: Entry, startedAt: number, outcome: CheckOutcome): void {
    if (this.stopped) return;
    const { key } = entry.server;
    this.running.delete(key);
    const current = this.entries.get(key) === entry;
    const report = current ? judge(entry, startedAt, outcome, this.deps.clock.now()) : null;
    // A server added again while this one ran may be waiting for it.
    this.plan();
    if (report) this.deps.onReport(report);
  }
}

/** Records an outcome on its entry; the report it makes, when it is the first or a change. */
function judge(entry: Entry, startedAt: number, outcome: CheckOutcome, at: number): ServerReport | null {
  const { key, address } = entry.server;
  const previous = entry.answering;
  entry.answering = outcome.answering;
  if (outcome.answering) {
    const downSince = previous === false ? entry.downSince : null;
    const unanswered = previous === false ? entry.unanswered : 0;
    entry.downSince = null;
    entry.unanswered = 0;
    return previous === true ? null : { key, address, answering: true, at, downSince, unanswered, reason: null };
  }
  if (previous !== false) entry.downSince = startedAt;
  entry.unanswered += 1;
  return previous === false
    ? null
    : { key, address, answering: false, at, downSince: null, unanswered: entry.unanswered, reason: outcome.reason };
}
