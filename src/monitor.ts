// One cycle: probe every mount, tell the policy, and when it says so start a recovery (or, dry, say
// what would run). A recovery runs beside the cycles, never inside one: its steps may take their
// full deadlines, and meanwhile every mount is still probed on schedule. One recovery at a time.
// Between ticks the monitor runs cycles of its own (src/recovery/wake-plan.ts): when a hold by
// cooldown or backoff ends, when a blocked probe call reaches hang_after (the moment it becomes a
// hang, not the next tick), and every few seconds for a path autofs is still mounting or refuses
// to mount (its negative cache), so it is back as soon as autofs is.
// Effects come in through seams (probe, command runner, mount table, clock), so tests drive whole
// cycles with scripted results and no sleeping.
import type { Clock, TimerHandle } from './clock.js';
import type { Config } from './config/types.js';
import type { MonitorSink } from './observe/sink.js';
import type { MountTable } from './probe/mountinfo.js';
import type { ReleasedCall } from './probe/prober.js';
import type { ProbeMounts, ProbeResult } from './probe/probe-mounts.js';
import { collateralAtRisk } from './recovery/collateral.js';
import { RecoveryPolicy } from './recovery/policy.js';
import { recoveryTarget, runRecovery, withPath, type RecoveryTarget } from './recovery/procedure.js';
import type { RunCommand } from './exec/runner.js';
import { planWake, type WakeReason } from './recovery/wake-plan.js';

/** The holder watch, as the monitor uses it (src/holders/watch.ts). */
export interface HolderObserver {
  observe(results: readonly ProbeResult[], batch?: string | null): void;
  /** The scan under way is done: holders of the failing mounts are known before anything is unmounted. */
  settled(): Promise<void>;
}

// A probe of a path in autofs' negative cache costs nothing (ENOENT at once, no mount attempt),
// so it is repeated this often: the path is back within this much of the cache's end (60 s by
// default) instead of up to a whole interval later. A path whose automount outlasted the probe
// is probed again as often: the call still blocked there is not repeated (the prober skips it),
// and the first probe after the mount is made says how it is.
export const AUTOMOUNT_RETRY_MS = 5_000;

/** Results re-probed every AUTOMOUNT_RETRY_MS: autofs has not mounted the path (yet). */
const AUTOMOUNT_PENDING = new Set(['automount_failed', 'automount_timeout']);

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
  private running: Promise<void> | undefined;
  /** The running cycle is the first or a wake-up's: a tick meeting it is not a skipped round. */
  private runningQuiet = false;
  /** Until when the last decision held a recovery (cooldown, backoff), null when none. */
  private holdUntil: number | null = null;
  private recovering: Promise<void> | undefined;
  private wake: TimerHandle | undefined;
  private stopped = false;
  private recoveries = 0;
  /** Monotonic time the last cycle finished, null before the first. */
  lastCycleAt: number | null = null;

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
    return this.startCycle(this.paths, true);
  }

  /** Runs a cycle unless one is running; a tick that finds one running is reported and dropped. */
  tick(): Promise<void> {
    if (this.running) {
      if (!this.runningQuiet) this.deps.sink.overlapped();
      return this.running;
    }
    return this.startCycle(this.paths, false);
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

  private startCycle(paths: readonly string[], quiet: boolean): Promise<void> {
    this.runningQuiet = quiet;
    this.running = this.cycle(paths).finally(() => (this.running = undefined));
    return this.running;
  }

  /** Resolves when no cycle and no recovery is running (shutdown waits a little for this). */
  async idle(): Promise<void> {
    while (this.running || this.recovering) await Promise.all([this.running, this.recovering]);
  }

  /** No more cycles of its own (held recoveries' wake-ups); the schedule is stopped by its owner. */
  stop(): void {
    this.stopped = true;
    this.clearWake();
  }

  private async cycle(paths: readonly string[]): Promise<void> {
    const { clock, sink } = this.deps;
    const started = clock.now();
    const results = await this.deps.probe(paths);
    this.take(results, clock.now() - started);

    this.lastCycleAt = clock.now();
    sink.cycleFinished({ autofsRunning: this.deps.autofsRunning?.() ?? null });
    if (this.recovering) return; // one at a time: the running one re-probes what it recovers
    const decision = this.policy.decide(clock.now());
    this.holdUntil = decision.kind === 'hold' ? decision.untilMs : null;
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

  // Sets the one wake-up from what the monitor waits for. A 30 s cooldown that ends 1 s after a
  // tick would otherwise cost a whole interval more, and a hang 10 s more than hang_after.
  private replan(): void {
    const now = this.deps.clock.now();
    const pending = this.results().filter((r) => AUTOMOUNT_PENDING.has(r.result)).map((r) => r.mount);
    const reasons: (WakeReason | null)[] = [
      this.holdUntil === null ? null : { at: this.holdUntil, paths: this.paths },
      ...this.policy.pendingHangs(now).map((h) => ({ at: h.at, paths: [h.mount] })),
      { at: now + AUTOMOUNT_RETRY_MS, paths: pending },
    ];
    const wake = planWake(reasons);
    if (wake) this.wakeAt(wake.at, wake.paths);
    else this.clearWake();
  }

  // The wake-up is a cycle of its own, so the decision is made on fresh probes; if a cycle is
  // already running, that one decides. One wake-up at a time: a new one replaces the last.
  private wakeAt(at: number, paths: readonly string[]): void {
    const { clock } = this.deps;
    this.clearWake();
    this.wake = clock.setTimeout(() => {
      this.wake = undefined;
      if (!this.stopped && !this.running) void this.startCycle(paths, true);
    }, Math.max(0, at - clock.now()));
    this.wake.unref?.();
  }

  // A mount that started failing while the recovery ran waited for it (one at a time); it gets a
  // cycle now, on fresh probes, instead of at the next tick.
  private afterRecovery(): void {
    const { clock } = this.deps;
    if (this.stopped) return;
    const decision = this.policy.decide(clock.now());
    if (decision.kind === 'recover') return this.wakeAt(clock.now(), this.paths);
    this.holdUntil = decision.kind === 'hold' ? decision.untilMs : null;
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
    const targets: RecoveryTarget[] = paths.flatMap((path) => {
      const r = this.latest.get(path);
      // A blocked call has aged since its path was last probed (a wake-up probes only some): its age now.
      return r ? [{ ...recoveryTarget(r), blockedMs: this.policy.blockedMs(path, clock.now()) }] : [];
    });
    sink.recoveryStarted(targets);

    if (config.recovery.dryRun) {
      const wouldRun = [
        ...(config.recovery.command.length > 0 ? [config.recovery.command] : []),
        ...targets.flatMap((t) => (t.mountId === null ? [] : config.recovery.escalation.map((e) => withPath(e, t.path)))),
      ];
      const collateral = collateralAtRisk(this.deps.table(), targets, config.recovery).map((m) => m.mountPoint);
      sink.recoveryFinished({ result: 'dry_run', wouldRun, collateral }, targets);
      this.policy.recorded(paths, new Set(paths), clock.now());
      return;
    }

    // Who is on the failing mounts is read before anything is unmounted: after a lazy unmount the
    // path names the new mount, and a cwd on the old one reads as a path relative to its root.
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
