// Probes paths on the shared worker pool, one call at a time per path, with a deadline per call and
// the bookkeeping of calls left blocked in the kernel ("stuck"). A call past its timeout keeps its
// worker, tied to the path and the mount it blocks on: while the path still holds that mount no
// new call is started there, so a hung mount holds one blocked thread, not one a round.
import type { Clock } from '../clock.js';
import type { RawProbe } from './classify.js';
import { WorkerPool, type PoolOptions } from './pool.js';
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

export interface ProberOptions {
  timeoutMs: number;
  /** Most calls left blocked per path; past it the path is reported stuck without a new call. */
  maxStuck: number;
  pool: PoolOptions;
  spawn: SpawnWorker;
  clock: Clock;
  onReleased?: (call: ReleasedCall) => void;
}

interface StuckCall {
  worker: ProbeWorker;
  mountId: number;
  since: number;
}

interface PathState {
  stuck: StuckCall[];
  inFlight: Promise<ProbeOutcome> | undefined;
}

export class Prober {
  private readonly paths = new Map<string, PathState>();
  private readonly pool: WorkerPool;

  constructor(private readonly opts: ProberOptions) {
    this.pool = new WorkerPool(opts.pool, opts.spawn, opts.clock);
  }

  /**
   * Probes `path` once. `mountId` is the mount that holds the path now (mountinfo), which ties a
   * blocked call to the mount it blocks on: once the path holds another mount (after a lazy
   * unmount, autofs mounts afresh) a new worker may probe it.
   */
  probe(path: string, mountId: number): Promise<ProbeOutcome> {
    const state = this.state(path);
    // Never two calls at once on one path: a caller arriving mid-probe shares the one in flight.
    if (state.inFlight) return state.inFlight;
    const same = state.stuck.find((s) => s.mountId === mountId);
    if (same) return Promise.resolve(this.skipped('same_mount', same.since));
    if (state.stuck.length >= this.opts.maxStuck) {
      return Promise.resolve(this.skipped('stuck_cap', Math.max(...state.stuck.map((s) => s.since))));
    }
    const call = new Promise<ProbeOutcome>((resolve) => this.pool.run((worker) => this.start(path, mountId, worker, resolve))).finally(
      () => (state.inFlight = undefined),
    );
    state.inFlight = call;
    return call;
  }

  /** Calls waiting, under way or blocked, over all paths: while any, the process cannot exit normally. */
  busyTotal(): number {
    let n = 0;
    for (const state of this.paths.values()) n += state.stuck.length + (state.inFlight ? 1 : 0);
    return n;
  }

  /** The threads by state, for the metrics. */
  threads(): { idle: number; busy: number; stuck: number } {
    let stuck = 0;
    for (const state of this.paths.values()) stuck += state.stuck.length;
    return { ...this.pool.threads(), stuck };
  }

  /** Ends idle workers. Stuck ones cannot be ended; they are unref'd so they never hold the process. */
  close(): void {
    this.pool.close();
    for (const state of this.paths.values()) for (const s of state.stuck) s.worker.terminate();
  }

  /** Runs one call on the worker the pool handed it; past the timeout the worker stays with the path as stuck. */
  private start(path: string, mountId: number, worker: ProbeWorker, resolve: (outcome: ProbeOutcome) => void): void {
    const { clock, timeoutMs } = this.opts;
    const state = this.state(path);
    const started = clock.now();
    let timedOut = false;
    const deadline = clock.setTimeout(() => {
      timedOut = true;
      state.stuck.push({ worker, mountId, since: started });
      resolve({ raw: { kind: 'timeout' }, ms: timeoutMs, stuck: true, skipped: null, blockedSince: started });
      this.pool.abandon(worker);
    }, timeoutMs);
    worker.start(path, (raw) => {
      if (!timedOut) {
        clock.clearTimeout(deadline);
        this.pool.returned(worker);
        resolve({ raw, ms: clock.now() - started, stuck: false, skipped: null, blockedSince: null });
        return;
      }
      // The blocked call came back (server answered, or `umount -f` aborted it).
      state.stuck = state.stuck.filter((s) => s.worker !== worker);
      this.pool.returned(worker);
      this.opts.onReleased?.({ path, blockedMs: clock.now() - started, raw, stillStuck: state.stuck.length });
    });
  }

  private skipped(reason: 'same_mount' | 'stuck_cap', blockedSince: number): ProbeOutcome {
    return { raw: { kind: 'timeout' }, ms: 0, stuck: true, skipped: reason, blockedSince };
  }

  private state(path: string): PathState {
    let state = this.paths.get(path);
    if (!state) {
      state = { stuck: [], inFlight: undefined };
      this.paths.set(path, state);
    }
    return state;
  }
}
