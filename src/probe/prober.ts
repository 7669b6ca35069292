// Runs probes on a shared, elastic pool of workers, with a deadline per call and the bookkeeping
// of calls left blocked in the kernel ("stuck"). A few warm workers serve every path in turn; when
// work waits behind a call that has turned slow (it may be hung), idle extras and new workers take
// it so the other paths are probed on time; fast rounds keep to the warm ones, so extras end once
// idle a while. A worker whose call passes its timeout leaves the pool, tied to the path and the
// mount the call blocks on: while the path still holds that mount no new call is started there,
// so a hung mount holds one blocked thread, not one a round.
import type { Clock, TimerHandle } from '../clock.js';
import type { ProbeConfig } from '../config/types.js';
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

export interface PoolOptions {
  /** Workers kept between rounds, even when idle. */
  warm: number;
  /** Most calls at once that are not yet slow; slow and stuck calls do not count. */
  max: number;
  /** An idle worker beyond the warm ones ends after this long unused. */
  idleMs: number;
  /**
   * A call running this long is slow: it may be hung, so it stops counting toward `max` and a
   * waiting probe may get a new worker instead of waiting behind it.
   */
  slowMs: number;
}

/** A call running this long may be hung: probes waiting behind it get a worker of their own. */
export const SLOW_CALL_MS = 50;

/** The pool the configuration asks for; the slow mark never past half the probe timeout. */
export function poolOptions(probe: ProbeConfig): PoolOptions {
  const { warm, max, idleMs } = probe.workers;
  return { warm, max, idleMs, slowMs: Math.min(SLOW_CALL_MS, probe.timeoutMs / 2) };
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

interface Pending {
  path: string;
  mountId: number;
  resolve: (outcome: ProbeOutcome) => void;
}

interface IdleWorker {
  worker: ProbeWorker;
  since: number;
}

export class Prober {
  private readonly paths = new Map<string, PathState>();
  private readonly queue: Pending[] = [];
  /** Most recently used last: work takes the freshest, so extras age out from the front. */
  private readonly idle: IdleWorker[] = [];
  /** The calls under way that have not timed out; `online` is when their worker began running code. */
  private readonly running = new Set<{ online: number | undefined }>();
  private growTimer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;
  private closed = false;

  constructor(private readonly opts: ProberOptions) {}

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
    const call = new Promise<ProbeOutcome>((resolve) => this.queue.push({ path, mountId, resolve })).finally(
      () => (state.inFlight = undefined),
    );
    state.inFlight = call;
    this.pump();
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
    return { idle: this.idle.length, busy: this.running.size, stuck };
  }

  /** Ends idle workers. Stuck ones cannot be ended; they are unref'd so they never hold the process. */
  close(): void {
    this.closed = true;
    this.clearTimer('growTimer');
    this.clearTimer('expiryTimer');
    for (const { worker } of this.idle.splice(0)) worker.terminate();
    for (const state of this.paths.values()) for (const s of state.stuck) s.worker.terminate();
  }

  /**
   * Starts waiting probes while the pool may grow: on idle workers first, then on new ones. Idle
   * extras are taken only then, not whenever idle: a round of fast calls keeps to `warm` workers,
   * so a pool grown for one slow round goes idle and shrinks, instead of every round handing work
   * to every thread and keeping them all.
   */
  private pump(): void {
    if (this.closed) return;
    while (this.queue.length > 0 && this.mayStartCall()) {
      this.start(this.queue.shift()!, this.takeIdle() ?? this.opts.spawn());
    }
    this.armGrowth();
    this.armExpiry();
  }

  /** The most recently used idle worker that is still alive (a thread may die while idle). */
  private takeIdle(): ProbeWorker | undefined {
    for (let w = this.idle.pop(); w; w = this.idle.pop()) {
      if (w.worker.usable()) return w.worker;
      w.worker.terminate();
    }
    return undefined;
  }

  /**
   * A call is slow once it has run `slowMs` on a worker that is up. A call whose new worker is
   * still starting is not: were it, every thread slower to start than `slowMs` would start another.
   */
  private isSlow(r: { online: number | undefined }, now: number): boolean {
    return r.online !== undefined && now - r.online >= this.opts.pool.slowMs;
  }

  /** Another call may start: fewer than `warm` are under way, or one has turned slow and fewer than `max` have not. */
  private mayStartCall(): boolean {
    const { warm, max } = this.opts.pool;
    if (this.running.size < warm) return true;
    const now = this.opts.clock.now();
    let fresh = 0;
    for (const r of this.running) if (!this.isSlow(r, now)) fresh++;
    return fresh < this.running.size && fresh < max;
  }

  /** While probes wait, look again when the next call under way turns slow. */
  private armGrowth(): void {
    this.clearTimer('growTimer');
    if (this.queue.length === 0 || this.running.size === 0) return;
    const { clock } = this.opts;
    const { slowMs } = this.opts.pool;
    const now = clock.now();
    let next = Infinity;
    for (const r of this.running) if (r.online !== undefined && !this.isSlow(r, now)) next = Math.min(next, r.online + slowMs);
    // Every call is slow and the pool at its cap (wait for one to end), or the rest are on workers
    // still starting (each looks again once up).
    if (next === Infinity) return;
    this.growTimer = clock.setTimeout(() => {
      this.growTimer = undefined;
      this.pump();
    }, next - now);
  }

  /** Ends idle workers beyond the warm ones once they have been idle `idleMs`; one timer for all. */
  private armExpiry(): void {
    const { clock } = this.opts;
    const { warm, idleMs } = this.opts.pool;
    if (this.expiryTimer || this.idle.length <= warm) return;
    const oldest = this.idle[0]!.since;
    this.expiryTimer = clock.setTimeout(
      () => {
        this.expiryTimer = undefined;
        const now = clock.now();
        while (this.idle.length > warm && now - this.idle[0]!.since >= idleMs) this.idle.shift()!.worker.terminate();
        this.armExpiry();
      },
      Math.max(0, oldest + idleMs - clock.now()),
    );
    // Nothing waits on it: it must neither keep the process alive nor count as work.
    this.expiryTimer.unref?.();
  }

  private start(job: Pending, worker: ProbeWorker): void {
    const { clock, timeoutMs } = this.opts;
    const state = this.state(job.path);
    const started = clock.now();
    const entry: { online: number | undefined } = { online: undefined };
    this.running.add(entry);
    worker.whenOnline(() => {
      entry.online = clock.now();
      if (this.running.has(entry) && !this.closed) this.armGrowth();
    });
    worker.setRef(false);
    let timedOut = false;
    const timer = clock.setTimeout(() => {
      timedOut = true;
      this.running.delete(entry);
      state.stuck.push({ worker, mountId: job.mountId, since: started });
      job.resolve({ raw: { kind: 'timeout' }, ms: timeoutMs, stuck: true, skipped: null, blockedSince: started });
      this.pump();
    }, timeoutMs);
    worker.start(job.path, (raw) => {
      if (!timedOut) {
        clock.clearTimeout(timer);
        this.running.delete(entry);
        this.release(worker);
        job.resolve({ raw, ms: clock.now() - started, stuck: false, skipped: null, blockedSince: null });
        return;
      }
      // The blocked call came back (server answered, or `umount -f` aborted it).
      state.stuck = state.stuck.filter((s) => s.worker !== worker);
      this.release(worker);
      this.opts.onReleased?.({ path: job.path, blockedMs: clock.now() - started, raw, stillStuck: state.stuck.length });
    });
  }

  /** A worker whose call returned goes back to the pool, and takes the next waiting probe. */
  private release(worker: ProbeWorker): void {
    if (this.closed || !worker.usable()) {
      worker.terminate();
      return;
    }
    this.idle.push({ worker, since: this.opts.clock.now() });
    this.pump();
  }

  private clearTimer(name: 'growTimer' | 'expiryTimer'): void {
    const timer = this[name];
    if (timer) this.opts.clock.clearTimeout(timer);
    this[name] = undefined;
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
