// What the controller and the holder watch tell the outside world. They only report; sinks (the log,
// the metrics) record. Nothing here may call back into them.
import type { ReleasedCall } from '../probe/prober.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { HealthEvent, Hold } from '../controller/policy.js';
import type { CollateralReport } from '../recovery/collateral.js';
import type { DryRunReport } from '../recovery/plan.js';
import type { RecoveryReport, RecoveryTarget, StepReport } from '../recovery/procedure.js';
import type { CommandOutcome, CommandStatus } from '../exec/runner.js';
import type { HolderReport } from '../holders/tracker.js';
import type { OrphanHolder } from '../holders/orphans.js';
import type { Evidence } from '../kernel/evidence.js';
import type { ServerReport } from '../server/watch.js';
import type { PutBackReport } from '../controller/server-return.js';
import type { StalledReport } from '../server/reset-stalled.js';

export interface ControllerSink {
  /** A probe round finished: a cycle's (scheduled, first or wake-up), or the re-probe after a recovery. */
  probed(results: readonly ProbeResult[], cycleMs: number): void;
  health(event: HealthEvent, result: ProbeResult | undefined): void;
  held(hold: Hold): void;
  recoveryStarted(targets: readonly RecoveryTarget[]): void;
  step(step: StepReport): void;
  recoveryFinished(report: RecoveryReport | DryRunReport, targets: readonly RecoveryTarget[]): void;
  /** A mount the recovery took away that no automounter brings back, and mounting it again. */
  collateral(report: CollateralReport): void;
  /** A probe blocked past its timeout has returned; `hung`: after hang_after (else merely slow). */
  released(call: ReleasedCall, hung: boolean): void;
  /** A tick came while the previous cycle was still running, and was skipped. */
  overlapped(): void;
  /** A cycle's probe round is done (its recovery, if any, runs on). */
  cycleFinished(info: CycleInfo): void;
  /** `check --recover` waits `ms` for blocked calls on `paths` to reach hang_after before it decides. */
  waitingForHangs(paths: readonly string[], ms: number): void;
  /** The kernel's counters moved on a mount: its path is probed now, ahead of the schedule. */
  earlyProbe(evidence: Evidence): void;
  /** The early probe's result, with the evidence that caused it. */
  earlyProbed(evidence: Evidence, result: ProbeResult): void;
  /**
   * A down mount's server stopped answering, or answers again; `paths`: the down paths (and static
   * mounts) it serves; `goneMs`: for one answering again, how long it was gone.
   */
  server(report: ServerReport, paths: readonly string[], goneMs: number | null): void;
  /** autofs is reloaded to clear its negative cache for `paths`, whose `servers` answer again. */
  autofsReload(paths: readonly string[], servers: readonly string[], dryRun: boolean): void;
  /** The reload's command is done; null: a dry run, nothing ran. */
  autofsReloaded(paths: readonly string[], outcome: CommandOutcome | null): void;
  /** A static mount a recovery could not put back, tried again now that its server answers. */
  putBack(report: PutBackReport): void;
  /** The client's connections to a server answering again, found waiting to retransmit, and reset. */
  stalledReset(report: StalledReport): void;
}

export interface CycleInfo {
  /** Whether automount is running, checked once a cycle; null when not checked. */
  autofsRunning: boolean | null;
  /** A scheduled round (or the first), not one of the controller's own wake-ups: the loop is alive. */
  scheduled: boolean;
}

/**
 * Fans one report out to several sinks of one interface. `methods` names every method, and its
 * type makes the compiler reject a list that misses one.
 */
function fanOutOf<S extends object>(sinks: readonly S[], methods: Record<keyof S, true>): S {
  const out: Partial<Record<keyof S, (...args: unknown[]) => void>> = {};
  for (const key of Object.keys(methods) as (keyof S)[]) {
    out[key] = (...args) => {
      for (const sink of sinks) (sink[key] as (...a: unknown[]) => void)(...args);
    };
  }
  return out as S;
}

export function fanOut(sinks: readonly ControllerSink[]): ControllerSink {
  return fanOutOf(sinks, {
    probed: true,
    health: true,
    held: true,
    recoveryStarted: true,
    step: true,
    recoveryFinished: true,
    collateral: true,
    released: true,
    overlapped: true,
    cycleFinished: true,
    waitingForHangs: true,
    earlyProbe: true,
    earlyProbed: true,
    server: true,
    autofsReload: true,
    autofsReloaded: true,
    putBack: true,
    stalledReset: true,
  });
}

/** What the holder watch reports: processes still on a failing or detached mount, and restarts. */
export interface HolderSink {
  holderSeen(h: HolderReport): void;
  /** A holder seen on the failing mount is now on it detached (the recovery's lazy unmount). */
  holderDetached(h: HolderReport): void;
  holderGone(h: HolderReport): void;
  /** After every scan: processes holding a detached former mount, per configured path. */
  holdersCounted(detached: ReadonlyMap<string, number>): void;
  scanned(report: ScanReport): void;
  restart(report: RestartReport): void;
  /** A unit restarted for a detached mount still holds it: reported once, not restarted again. */
  restartDidNotHelp(unit: string, holders: readonly HolderReport[]): void;
  /** At start: a process whose mapped files lie on a device no mount table shows (a mount detached before this process). */
  orphanByDevice(o: OrphanHolder): void;
}

export interface ScanReport {
  result: 'ok' | 'timeout' | 'unavailable';
  ms: number;
  scanned?: number;
  unreadable?: number;
  /** The process a timed-out scan was blocked on (left out from then on). */
  blockedPid?: number | null;
  reason?: string;
}

export interface RestartReport {
  unit: string;
  result: CommandStatus | 'dry_run';
  /** Configured paths whose detached mounts the unit's processes held. */
  paths: string[];
  pids: number[];
  outcome?: CommandOutcome;
}

export function fanOutHolders(sinks: readonly HolderSink[]): HolderSink {
  return fanOutOf(sinks, {
    holderSeen: true,
    holderDetached: true,
    holderGone: true,
    holdersCounted: true,
    scanned: true,
    restart: true,
    restartDidNotHelp: true,
    orphanByDevice: true,
  });
}
