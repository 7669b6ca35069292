// The elastic pool of probe workers. A few warm workers serve every call in turn; when work waits
// behind a call that has turned slow (it may be hung), idle extras and new workers take it so the
// rest is not held up; fast rounds keep to the warm ones, so extras end once idle a while. What a
// call runs and when it is given up belong to the caller: an abandoned worker is the caller's.
import type { Clock, TimerHandle } from '../clock.js';
import type { ProbeConfig } from '../config/types.js';
import type { ProbeWorker, SpawnWorker } from './worker.js';

export interface PoolOptions {
  /** Workers kept between rounds, even when idle. */
  warm: number;
  /** Most calls at once that are not yet slow; slow and abandoned calls do not count. */
  max: number;
  /** An idle worker beyond the warm ones ends after this long unused. */
  idleMs: number;
  /**
   * A call running this long is slow: it may be hung, so it stops counting toward `max` and a
   * waiting job may get a new worker instead of waiting behind it.
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

/**
 * Work waiting for a worker: it starts one call on the worker it is handed, then gives the worker
 * back with `returned` once the call returns, or lets it go with `abandon` if it gives up waiting.
 */
export type Job = (worker: ProbeWorker) => void;

/** A call under way; `online` is when its worker began running code. */
interface Call {
  online: number | undefined;
}

interface IdleWorker {
  worker: ProbeWorker;
  since: number;
}

export class WorkerPool {
  private readonly queue: Job[] = [];
  /** Most recently used last: work takes the freshest, so extras age out from the front. */
  private readonly idle: IdleWorker[] = [];
  /** The calls under way, by worker, that have been neither returned nor abandoned. */
  private readonly calls = new Map<ProbeWorker, Call>();
  private growTimer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;
  private closed = false;

  constructor(
    private readonly options: PoolOptions,
    private readonly spawn: SpawnWorker,
    private readonly clock: Clock,
  ) {}

  /** Hands `job` a worker now if the pool may start a call, or once it may. */
  run(job: Job): void {
    this.queue.push(job);
    this.pump();
  }

  /** The call on `worker` returned (in time, or after it was abandoned): the worker takes the next job. */
  returned(worker: ProbeWorker): void {
    this.calls.delete(worker);
    if (this.closed || !worker.usable()) {
      worker.terminate();
      return;
    }
    this.idle.push({ worker, since: this.clock.now() });
    this.pump();
  }

  /** The caller gave up on the call on `worker`: it no longer counts, and waiting jobs may start. */
  abandon(worker: ProbeWorker): void {
    this.calls.delete(worker);
    this.pump();
  }

  /** Workers idle, and those with a call under way (abandoned ones are the caller's to count). */
  threads(): { idle: number; busy: number } {
    return { idle: this.idle.length, busy: this.calls.size };
  }

  /** Ends idle workers and starts no more jobs; a busy worker ends when its call returns. */
  close(): void {
    this.closed = true;
    this.clearTimer('growTimer');
    this.clearTimer('expiryTimer');
    for (const { worker } of this.idle.splice(0)) worker.terminate();
  }

  /**
   * Starts waiting jobs while the pool may grow: on idle workers first, then on new ones. Idle
   * extras are taken only then, not whenever idle: a round of fast calls keeps to `warm` workers,
   * so a pool grown for one slow round goes idle and shrinks, instead of every round handing work
   * to every thread and keeping them all.
   */
  private pump(): void {
    if (this.closed) return;
    while (this.queue.length > 0 && this.mayStartCall()) {
      this.hand(this.queue.shift()!, this.takeIdle() ?? this.spawn());
    }
    this.armGrowth();
    this.armExpiry();
  }

  private hand(job: Job, worker: ProbeWorker): void {
    const call: Call = { online: undefined };
    this.calls.set(worker, call);
    worker.whenOnline(() => {
      call.online = this.clock.now();
      if (this.calls.get(worker) === call && !this.closed) this.armGrowth();
    });
    worker.setRef(false);
    job(worker);
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
  private isSlow(call: Call, now: number): boolean {
    return call.online !== undefined && now - call.online >= this.options.slowMs;
  }

  /** The calls under way that have not turned slow. */
  private freshCalls(now: number): number {
    let fresh = 0;
    for (const call of this.calls.values()) if (!this.isSlow(call, now)) fresh++;
    return fresh;
  }

  /** Another call may start: fewer than `warm` are under way, or one has turned slow and fewer than `max` have not. */
  private mayStartCall(): boolean {
    const { warm, max } = this.options;
    if (this.calls.size < warm) return true;
    const fresh = this.freshCalls(this.clock.now());
    const anyCallSlow = fresh < this.calls.size;
    return anyCallSlow && fresh < max;
  }

  /** While jobs wait, look again when the next call under way turns slow. */
  private armGrowth(): void {
    this.clearTimer('growTimer');
    if (this.queue.length === 0 || this.calls.size === 0) return;
    const { slowMs } = this.options;
    const now = this.clock.now();
    let next = Infinity;
    for (const call of this.calls.values()) {
      if (call.online !== undefined && !this.isSlow(call, now)) next = Math.min(next, call.online + slowMs);
    }
    // Every call is slow and the pool at its cap (wait for one to end), or the rest are on workers
    // still starting (each looks again once up).
    if (next === Infinity) return;
    this.growTimer = this.clock.setTimeout(() => {
      this.growTimer = undefined;
      this.pump();
    }, next - now);
  }

  /** Ends idle workers beyond the warm ones once they have been idle `idleMs`; one timer for all. */
  private armExpiry(): void {
    const { warm, idleMs } = this.options;
    if (this.expiryTimer || this.idle.length <= warm) return;
    const oldest = this.idle[0]!.since;
    this.expiryTimer = this.clock.setTimeout(
      () => {
        this.expiryTimer = undefined;
        const now = this.clock.now();
        while (this.idle.length > warm && now - this.idle[0]!.since >= idleMs) this.idle.shift()!.worker.terminate();
        this.armExpiry();
      },
      Math.max(0, oldest + idleMs - this.clock.now()),
    );
    // Nothing waits on it: it must neither keep the process alive nor count as work.
    this.expiryTimer.unref?.();
  }

  private clearTimer(name: 'growTimer' | 'expiryTimer'): void {
    const timer = this[name];
    if (timer) this.clock.clearTimeout(timer);
    this[name] = undefined;
  }
}
