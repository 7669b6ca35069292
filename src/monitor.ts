// One cycle: probe every mount, tell the policy, and when it says so start a recovery (or, dry, say
// what would run). A recovery runs beside the cycles, never inside one: its steps may take their
// full deadlines, and meanwhile every mount is still probed on schedule. One recovery at a time.
// Between ticks the monitor runs cycles of its own, when src/recovery/wake-plan.ts says: when a
// hold by cooldown or backoff ends, when a blocked probe call reaches hang_after (the moment it
// becomes a hang, not the next tick), and every few seconds for a path autofs is still mounting or
// refuses to mount (its negative cache), so it is back as soon as autofs is.
// Effects come in through seams (probe, command runner, mount table, clock), so tests drive whole
// cycles with scripted results and no sleeping.
import type { Clock, TimerHandle } from './clock.js';
import type { Config } from './config/types.js';
import type { RunCommand } from './exec/runner.js';
import type { MonitorSink } from './observe/sink.js';
import type { MountTable } from './probe/mountinfo.js';
import type { ReleasedCall } from './probe/prober.js';
import type { ProbeMounts, ProbeResult } from './probe/probe-mounts.js';
import { dryRunPlan, recoveryTargets } from './recovery/plan.js';
import { RecoveryPolicy, type Decision } from './recovery/policy.js';
import { runRecovery } from './recovery/procedure.js';
import { planNextCycle } from './recovery/wake-plan.js';

export { AUTOMOUNT_RETRY_MS } from './recovery/wake-plan.js';

/** The holder watch, as the monitor uses it (src/holders/watch.ts). */
export interface HolderObserver {
  observe(results: readonly ProbeResult[], batch?: string | null): void;
  /** The scan under way is done: holders of the failing mounts are known before anything is unmounted. */
  settled(): Promise<void>;
}

/** first: at start; scheduled: a tick's; wake: one of the monitor's own, for some paths. */
type CycleKind = 'first' | 'scheduled' | 'wake';

interface RunningCycle {
  kind: CycleKind;
  paths: readonly string[];
  done: Promise<void>;
}

export interface MonitorDeps {
  config: Config;
  clock: Clock;
  probe: ProbeMounts;
  run: RunCommand;
  table: MountTable;
  sink: MonitorSink;
  /** Whether the automounter runs; checked once a cycle, by the loop (never by a scrape). */
  autofsRunning?: () => boolean;
  /** Told of every probe round; absent when holders.enabled is off. */
  holders?: HolderObserver;
  /** /etc/fstab as the recovery commands see it; null when it cannot be read. */
  fstab?: () => string | null;
}

export class Monitor {
  private readonly policy: RecoveryPolicy;
  private readonly paths: string[];
  private latest = new Map<string, ProbeResult>();
  private running: RunningCycle | undefined;
  /** Paths a tick found a wake-up cycle not probing: their round runs as soon as it ends. */
  private tickWaiting: string[] | null = null;
  /** The last decision, when it held a recovery (cooldown, backoff, disabled); null when none. */
  private hold: Decision | null = null;
  private recovering: Promise<void> | undefined;
  private wake: TimerHandle | undefined;
  private stopped = false;
  private recoveries = 0;
  /**
   * Monotonic time the last scheduled round (or the first) finished, null before the first: what
   * /healthz and the watchdog judge. The monitor's own wake-ups do not count, or their 5 s retries
   * would keep a dead schedule looking alive.
   */
  lastScheduledCycleAt: number | null = null;

  constructor(private readonly deps: MonitorDeps) {
    const r = deps.config.recovery;
    this.policy = new RecoveryPolicy({
      enabled: r.enabled,
      triggers: r.triggers,
      hangAfterMs: r.hangAfterMs,
      cooldownMs: r.cooldownMs,
      maxBackoffMs: r.maxBackoffMs,
    });
    this.paths = deps.config.mounts.map((m) => m.path);
  }

  /** The latest result per mount, in configured order. */
  results(): ProbeResult[] {
    return this.paths.flatMap((p) => this.latest.get(p) ?? []);
  }

  /**
   * The first cycle, at start. A tick arriving while it runs (a slow first automount) is not a
   * skipped round: nothing was missed yet.
   */
  start(): Promise<void> {
    return this.startCycle(this.paths, 'first');
  }

  /**
   * Runs the scheduled round. A tick that finds a scheduled cycle still running is reported and
   * dropped; one that finds the first cycle or a wake-up running lets it serve the paths it probes
   * and probes the others as soon as it ends, so no mount misses the round.
   */
  tick(): Promise<void> {
    const r = this.running;
    if (!r) return this.startCycle(this.paths, 'scheduled');
    if (r.kind === 'scheduled' || this.tickWaiting) {
      this.deps.sink.overlapped();
      return r.done;
    }
    const missed = this.paths.filter((p) => !r.paths.includes(p));
    if (missed.length === 0) {
      r.kind = 'scheduled'; // it probes every path: it is this round
      return r.done;
    }
    this.tickWaiting = missed;
    return r.done.then(() => this.running?.done);
  }

  /**
   * A call given up as timed out has returned. With none left blocked on the path, the mount was
   * slow, not hung: it is not recovered for that call's age.
   */
  released(call: ReleasedCall): void {
    this.deps.sink.released(call, call.blockedMs >= this.deps.config.recovery.hangAfterMs);
    if (call.stillStuck > 0 || this.stopped) return;
    this.policy.released(call.path);
    this.replan();
  }

  private startCycle(paths: readonly string[], kind: CycleKind): Promise<void> {
    const cycle: RunningCycle = { kind, paths, done: Promise.resolve() };
    this.running = cycle;
    cycle.done = this.cycle(cycle).finally(() => {
      this.running = undefined;
      const waiting = this.tickWaiting;
      this.tickWaiting = null;
      if (waiting && !this.stopped) void this.startCycle(waiting, 'scheduled');
    });
    return cycle.done;
  }

  /** Resolves when no cycle and no recovery is running (shutdown waits a little for this). */
  async idle(): Promise<void> {
    while (this.running || this.recovering) await Promise.all([this.running?.done, this.recovering]);
  }

  /** No more cycles of its own (held recoveries' wake-ups); the schedule is stopped by its owner. */
  stop(): void {
    this.stopped = true;
    this.clearWake();
  }

  private async cycle(c: RunningCycle): Promise<void> {
    const { clock, sink } = this.deps;
    const started = clock.now();
    const results = await this.deps.probe(c.paths);
    this.take(results, clock.now() - started);

    // Read after the probes: a tick may have adopted this cycle as its round meanwhile.
    const scheduled = c.kind !== 'wake';
    if (scheduled) this.lastScheduledCycleAt = clock.now();
    sink.cycleFinished({ autofsRunning: this.deps.autofsRunning?.() ?? null, scheduled });
    if (this.recovering) return; // one at a time: the running one re-probes what it recovers
    const decision = this.policy.decide(clock.now());
    this.hold = decision.kind === 'hold' ? decision : null;
    if (decision.kind === 'hold') sink.held(decision);
    if (decision.kind === 'recover') {
      this.clearWake();
      this.recovering = this.recover(decision.targets).finally(() => {
        this.recovering = undefined;
        this.afterRecovery();
      });
      return;
    }
    this.replan();
  }

  // Sets the one wake-up from what the monitor waits for (src/recovery/wake-plan.ts).
  private replan(): void {
    const now = this.deps.clock.now();
    const wake = planNextCycle({
      now,
      paths: this.paths,
      decision: this.hold,
      hangs: this.policy.pendingHangs(now),
      results: this.results(),
    });
    if (wake) this.wakeAt(wake.at, wake.paths);
    else this.clearWake();
  }

  // The wake-up is a cycle of its own, so the decision is made on fresh probes; if a cycle is
  // already running, that one decides. One wake-up at a time: a new one replaces the last.
  private wakeAt(at: number, paths: readonly string[]): void {
    const { clock } = this.deps;
    this.clearWake();
    this.wake = clock.setTimeout(
      () => {
        this.wake = undefined;
        if (!this.stopped && !this.running) void this.startCycle(paths, 'wake');
      },
      Math.max(0, at - clock.now()),
    );
    this.wake.unref?.();
  }

  // A mount that started failing while the recovery ran waited for it (one at a time); it gets a
  // cycle now, on fresh probes, instead of at the next tick.
  private afterRecovery(): void {
    const { clock } = this.deps;
    if (this.stopped) return;
    const decision = this.policy.decide(clock.now());
    if (decision.kind === 'recover') return this.wakeAt(clock.now(), this.paths);
    this.hold = decision.kind === 'hold' ? decision : null;
    this.replan();
  }

  private clearWake(): void {
    if (this.wake) this.deps.clock.clearTimeout(this.wake);
    this.wake = undefined;
  }

  private take(results: readonly ProbeResult[], cycleMs: number): void {
    for (const r of results) this.latest.set(r.mount, r);
    this.deps.sink.probed(results, cycleMs);
    // A mount that leaves the table while a recovery runs was detached by it, whichever round sees it.
    this.deps.holders?.observe(results, this.recovering ? `recovery ${this.recoveries}` : null);
    for (const event of this.policy.observe(results, this.deps.clock.now())) {
      this.deps.sink.health(event, this.latest.get(event.mount));
    }
  }

  private async recover(paths: readonly string[]): Promise<void> {
    const { config, clock, sink } = this.deps;
    // Targets come from triggering results, so each has one.
    const targets = recoveryTargets(
      paths,
      (p) => this.latest.get(p),
      (p) => this.policy.blockedMs(p, clock.now()),
    );
    sink.recoveryStarted(targets);

    if (config.recovery.dryRun) {
      sink.recoveryFinished(dryRunPlan(targets, config.recovery, this.deps.table()), targets);
      this.policy.recorded(paths, new Set(paths), clock.now());
      return;
    }

    // Who is on the failing mounts is read before anything is unmounted: after a lazy unmount the
    // path names the new mount, and a cwd on the old one reads as a path relative to its root.
    // The command launcher loads meanwhile.
    this.deps.run.prepare?.();
    await this.deps.holders?.settled();
    this.recoveries += 1;
    const report = await runRecovery(targets, config.recovery, {
      run: this.deps.run,
      table: this.deps.table,
      probe: this.deps.probe,
      clock,
      fstab: this.deps.fstab ?? (() => null),
      onStep: (step) => sink.step(step),
      onCollateral: (c) => sink.collateral(c),
    });
    this.take(report.reprobe, 0);
    sink.recoveryFinished(report, targets);
    this.policy.recorded(paths, new Set(report.stillFailing), clock.now());
  }
}
