// Owns the probe workers: one reused worker per path, a deadline per probe, and the bookkeeping of
// workers left blocked in the kernel ("stuck"). A hung mount holds one blocked thread, not one more
// each tick: while the path still holds the mount a stuck call was made on, no new call is started.
import type { Clock } from '../clock.js';
import type { RawProbe } from './classify.js';
import type { ProbeWorker, SpawnWorker } from './worker.js';

export interface ProbeOutcome {
  raw: RawProbe;
  /** How long the call took, or the timeout when it did not return in time. */
  ms: number;
  /** A call on this path is blocked past its timeout (this one or an earlier one). */
  stuck: boolean;
  /** No call was started: an earlier one still blocks on this mount, or the path hit the stuck cap. */
  skipped: 'same_mount' | 'stuck_cap' | null;
  /**
   * When the call that blocks the path started (clock time), for a timed-out or skipped probe: its
   * age tells a hung mount from a slow one. For the stuck cap, the youngest call's.
   */
  blockedSince: number | null;
}

/** A call that returned after its probe had been given up as timed out. */
export interface ReleasedCall {
  path: string;
  blockedMs: number;
  raw: RawProbe;
  /** Calls still blocked on this path. */
  stillStuck: number;
}

interface StuckCall {
  worker: ProbeWorker;
  mountId: number;
  since: number;
}

interface PathWorkers {
  idle: ProbeWorker | undefined;
  stuck: StuckCall[];
  inFlight: Promise<ProbeOutcome> | undefined;
}

export interface ProberOptions {
  timeoutMs: number;
  /** Most calls left blocked per path; past it the path is reported stuck without a new call. */
  maxStuck: number;
  spawn: SpawnWorker;
  clock: Clock;
  onReleased?: (call: ReleasedCall) => void;
}

export class Prober {
  private readonly paths = new Map<string, PathWorkers>();
  private closed = false;

  constructor(private readonly opts: ProberOptions) {}

  /**
   * Probes `path` once. `mountId` is the mount that holds the path now (mountinfo), which ties a
   * blocked call to the mount it blocks on: once the path holds another mount (after a lazy
   * unmount, autofs mounts afresh) a new worker may probe it.
   */
  probe(path: string, mountId: number): Promise<ProbeOutcome> {
    const slot = this.slot(path);
    // Never two calls at once on one path: a caller arriving mid-probe shares the one in flight.
    if (slot.inFlight) return slot.inFlight;
    const same = slot.stuck.find((s) => s.mountId === mountId);
    if (same) return Promise.resolve(this.skipped('same_mount', same.since));
    if (slot.stuck.length >= this.opts.maxStuck) {
      return Promise.resolve(this.skipped('stuck_cap', Math.max(...slot.stuck.map((s) => s.since))));
    }

    const worker = slot.idle ?? this.opts.spawn();
    slot.idle = undefined;
    worker.setRef(false);
    const call = this.run(path, slot, worker, mountId).finally(() => (slot.inFlight = undefined));
    slot.inFlight = call;
    return call;
  }

  stuckCount(path: string): number {
    return this.paths.get(path)?.stuck.length ?? 0;
  }

  /** Threads (or processes) blocked in the kernel right now, over all paths. */
  stuckTotal(): number {
    let n = 0;
    for (const slot of this.paths.values()) n += slot.stuck.length;
    return n;
  }

  /** Calls under way or blocked, over all paths: while any, the process cannot exit normally. */
  busyTotal(): number {
    let n = 0;
    for (const slot of this.paths.values()) n += slot.stuck.length + (slot.inFlight ? 1 : 0);
    return n;
  }

  /** Ends idle workers. Stuck ones cannot be ended; they are unref'd so they never hold the process. */
  close(): void {
    this.closed = true;
    for (const slot of this.paths.values()) {
      slot.idle?.terminate();
      slot.idle = undefined;
      for (const s of slot.stuck) s.worker.terminate();
    }
  }

  private run(path: string, slot: PathWorkers, worker: ProbeWorker, mountId: number): Promise<ProbeOutcome> {
    const { clock, timeoutMs } = this.opts;
    const started = clock.now();
    return new Promise((resolve) => {
      let timedOut = false;
      const timer = clock.setTimeout(() => {
        timedOut = true;
        slot.stuck.push({ worker, mountId, since: started });
        resolve({ raw: { kind: 'timeout' }, ms: timeoutMs, stuck: true, skipped: null, blockedSince: started });
      }, timeoutMs);
      worker.start(path, (raw) => {
        if (!timedOut) {
          clock.clearTimeout(timer);
          this.keepIdle(slot, worker);
          resolve({ raw, ms: clock.now() - started, stuck: false, skipped: null, blockedSince: null });
          return;
        }
        // The blocked call came back (server answered, or `umount -f` aborted it).
        slot.stuck = slot.stuck.filter((s) => s.worker !== worker);
        this.keepIdle(slot, worker);
        this.opts.onReleased?.({ path, blockedMs: clock.now() - started, raw, stillStuck: slot.stuck.length });
      });
    });
  }

  private keepIdle(slot: PathWorkers, worker: ProbeWorker): void {
    if (this.closed || slot.idle || !worker.usable()) worker.terminate();
    else slot.idle = worker;
  }

  private skipped(reason: 'same_mount' | 'stuck_cap', blockedSince: number): ProbeOutcome {
    return { raw: { kind: 'timeout' }, ms: 0, stuck: true, skipped: reason, blockedSince };
  }

  private slot(path: string): PathWorkers {
    let slot = this.paths.get(path);
    if (!slot) {
      slot = { idle: undefined, stuck: [], inFlight: undefined };
      this.paths.set(path, slot);
    }
    return slot;
  }
}
