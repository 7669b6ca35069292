// One cycle: probe every mount, tell the policy, and when it says so start a recovery (or, dry, say
// what would run). A recovery runs beside the cycles, never inside one: its steps may take their
// full deadlines, and meanwhile every mount is still probed on schedule. One recovery at a time.
// A recovery held by cooldown or backoff, or waiting for another to end, gets a cycle of its own
// when the wait ends, rather than at the first scheduled tick after it; a mount autofs refuses to
// mount (its negative cache) is probed again every few seconds, alone, so it is back as soon as
// autofs retries.
// Effects come in through seams (probe, command runner, mount table, clock), so tests drive whole
// cycles with scripted results and no sleeping.
import type { Clock, TimerHandle } from './clock.js';
import type { Config } from './config/types.js';
import type { MonitorSink } from './observe/sink.js';
import type { MountTable } from './probe/mountinfo.js';
import type { ProbeMounts, ProbeResult } from './probe/probe-mounts.js';
import { RecoveryPolicy } from './recovery/policy.js';
import { recoveryTarget, runRecovery, withPath, type RecoveryTarget } from './recovery/procedure.js';
import type { RunCommand } from './recovery/runner.js';

/** The holder watch, as the monitor uses it (src/holders/watch.ts). */
export interface HolderObserver {
  observe(results: readonly ProbeResult[], batch?: string | null): void;
  /** The scan under way is done: holders of the failing mounts are known before anything is unmounted. */
  settled(): Promise<void>;
}

// A probe of a path in autofs' negative cache costs nothing (ENOENT at once, no mount attempt),
// so it is repeated this often: the path is back within this much of the cache's end (60 s by
// default) instead of up to a whole interval later.
export const AUTOMOUNT_RETRY_MS = 5_000;

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
}

export class Monitor {
  private readonly policy: RecoveryPolicy;
  private readonly paths: string[];
  private latest = new Map<string, ProbeResult>();
  private running: Promise<void> | undefined;
  /** The running cycle is a wake-up's (a tick meeting it is not a skipped round). */
  private runningWake = false;
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
      cooldownMs: r.cooldownMs,
      maxBackoffMs: r.maxBackoffMs,
    });
    this.paths = deps.config.mounts.map((m) => m.path);
  }

  /** The latest result per mount, in configured order. */
  results(): ProbeResult[] {
    return this.paths.flatMap((p) => this.latest.get(p) ?? []);
  }

  /** Runs a cycle unless one is running; a tick that finds one running is reported and dropped. */
  tick(): Promise<void> {
    if (this.running) {
      if (!this.runningWake) this.deps.sink.overlapped();
      return this.running;
    }
    return this.startCycle(this.paths, false);
  }

  private startCycle(paths: readonly string[], wake: boolean): Promise<void> {
    this.runningWake = wake;
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

  /** A recovery is under way. */
  isRecovering(): boolean {
    return this.recovering !== undefined;
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
    this.clearWake();
    if (decision.kind === 'hold') sink.held(decision);
    if (decision.kind === 'recover') {
      this.recovering = this.recover(decision.targets).finally(() => {
        this.recovering = undefined;
        this.afterRecovery();
      });
    }
    const held = decision.kind === 'hold' ? decision.untilMs : null;
    const cached = this.results().filter((r) => r.result === 'automount_failed').map((r) => r.mount);
    const retryAt = cached.length > 0 ? clock.now() + AUTOMOUNT_RETRY_MS : null;
    // The earlier of the two: all mounts when a hold ends, else just the cached ones.
    if (held !== null && (retryAt === null || held <= retryAt)) this.wakeAt(held, this.paths);
    else if (retryAt !== null) this.wakeAt(retryAt, cached);
  }

  // A 30 s cooldown that ends 1 s after a tick would otherwise cost a whole interval more. The
  // wake-up is a cycle of its own, so the decision is made on fresh probes; if a cycle is already
  // running, that one decides. One wake-up at a time: a new one replaces the last.
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
    if (this.stopped || this.policy.decide(clock.now()).kind !== 'recover') return;
    this.wakeAt(clock.now(), this.paths);
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
      return r ? [recoveryTarget(r)] : [];
    });
    sink.recoveryStarted(targets);

    if (config.recovery.dryRun) {
      const wouldRun = [
        config.recovery.command,
        ...targets.flatMap((t) => (t.mountId === null ? [] : config.recovery.escalation.map((e) => withPath(e, t.path)))),
      ];
      sink.recoveryFinished({ result: 'dry_run', wouldRun }, targets);
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
      onStep: (step) => sink.step(step),
    });
    this.take(report.reprobe, 0);
    sink.recoveryFinished(report, targets);
    this.policy.recorded(paths, new Set(report.stillFailing), clock.now());
  }
}
