// The controller's vocabulary: its one state value, the events that come in and the actions that go
// out. src/controller/transition.ts maps (state, event, now) to the next state and its actions;
// src/controller/controller.ts carries the actions out and feeds their outcomes back as events.
import type { Config } from '../config/types.js';
import type { ReleasedCall } from '../probe/prober.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { AtRiskMount, CollateralReport } from '../recovery/collateral.js';
import type { DryRunReport } from '../recovery/plan.js';
import type { RecoveryReport, RecoveryTarget, StepReport } from '../recovery/procedure.js';
import type { Health, HealthEvent, Hold, PolicyConfig } from './policy.js';
import type { Evidence } from '../kernel/evidence.js';
import type { Wake } from './wake-plan.js';
import type { ServerAddress } from '../server/address.js';
import type { ServerReport, WatchedServer } from '../server/watch.js';
import type { CommandOutcome } from '../exec/runner.js';
import type { PutBack, PutBackReport, ReloadState, ServerView } from './server-return.js';
import type { StalledReport } from '../server/reset-stalled.js';

/**
 * first: at start; scheduled: a tick's; wake: one of the controller's own, for some paths; early:
 * for paths the kernel's counters say may be failing.
 */
export type CycleKind = 'first' | 'scheduled' | 'wake' | 'early';

export interface Cycle {
  readonly kind: CycleKind;
  readonly paths: readonly string[];
  /** An early round's reasons, one per path: its results are reported with them. */
  readonly evidence?: readonly Evidence[];
}

export interface Recovery {
  readonly targets: readonly RecoveryTarget[];
  /** Names the recovery for the holder watch: mounts that leave the table meanwhile were detached by it. */
  readonly batch: string;
}

export interface ControllerState {
  /** The latest result per path. */
  readonly latest: ReadonlyMap<string, ProbeResult>;
  /** Per path, the servers it is mounted from: the mount table's while mounted, else autofs' maps'. */
  readonly serversOf: ReadonlyMap<string, readonly ServerAddress[]>;
  /** What the server watch last said of each server it watches, by key. */
  readonly servers: ReadonlyMap<string, ServerView>;
  /** The servers the watch was last asked to watch (src/controller/server-return.ts). */
  readonly watching: readonly WatchedServer[];
  /** autofs reloads that clear its negative cache once a server answers again. */
  readonly reload: ReloadState;
  /** Static mounts a recovery took away and could not put back: tried again when their server answers. */
  readonly putBack: readonly PutBack[];
  /**
   * Static mounts the recovery under way may take away, noted before its first unmount: kept in
   * the state file, so a process killed before putting them back has the next one do it.
   */
  readonly atRisk: readonly PutBack[];
  /** Per path: failing since, the blocked call's hang mark, cooldown and backoff. */
  readonly health: Health;
  /** The probe round under way; one at a time. */
  readonly cycle: Cycle | null;
  /** Paths a tick found the running cycle not probing: their round runs as soon as it ends. */
  readonly tickWaiting: readonly string[] | null;
  /** Evidence that came while a round for other paths ran: probed as soon as it ends. */
  readonly earlyWaiting: readonly Evidence[];
  /** When each path was last probed early: at most one early probe per early_probe_gap. */
  readonly earlyAt: ReadonlyMap<string, number>;
  /** The last decision, when it held a recovery (cooldown, backoff, disabled). */
  readonly hold: Hold | null;
  /** The recovery under way; one at a time, beside the cycles. */
  readonly recovery: Recovery | null;
  /** Real recoveries started so far. */
  readonly recoveries: number;
  /** The controller's own next cycle, between ticks. */
  readonly wake: Wake | null;
  /** Once mode: the wait for blocked calls to reach hang_after has been made. */
  readonly hangWaitDone: boolean;
  readonly stopping: boolean;
  /**
   * When the last scheduled round (or the first) finished, null before: what /healthz and the
   * watchdog judge. Wake-ups do not count, or their retries would keep a dead schedule looking alive.
   */
  readonly lastScheduledCycleAt: number | null;
}

export interface ControllerConfig {
  /** Every configured path, in order. */
  readonly paths: readonly string[];
  readonly policy: PolicyConfig;
  readonly dryRun: boolean;
  /** Least time between two early probes of one path (evidence.early_probe_gap). */
  readonly earlyProbeGapMs: number;
  /** servers: what is done when a down mount's server answers again. */
  readonly serverReturn: ServerReturnConfig;
  /**
   * `check`: one decision, after blocked calls have had their chance to reach hang_after, and no
   * cycles of its own after it. The daemon: forever, waking for holds, hangs and automounts.
   */
  readonly once: boolean;
}

export interface ServerReturnConfig {
  /** Watch the servers of down mounts at all. */
  readonly enabled: boolean;
  /** The command that clears autofs' negative cache; empty: never run. */
  readonly reloadCommand: readonly string[];
  /** Reset the client's connections still waiting to retransmit to a server answering again. */
  readonly resetStalled: boolean;
  /** Least time between two reloads (doubling while the paths stay down, up to policy.maxBackoffMs). */
  readonly reloadIntervalMs: number;
  /** recovery.remount, for putting back a configured path not under autofs. */
  readonly remount: readonly string[];
  /** Servers autofs' file maps name per configured path, for a path never seen mounted. */
  readonly mapServers: ReadonlyMap<string, readonly ServerAddress[]>;
}

export type ControllerEvent =
  | { kind: 'start' }
  | { kind: 'tick' }
  /** The wake-up the controller asked for is due. */
  | { kind: 'wake' }
  /** The running cycle's probe round is done. */
  | { kind: 'probed'; results: readonly ProbeResult[]; cycleMs: number; autofsRunning: boolean | null }
  /** The kernel's counters say a path may be failing (src/kernel/watch.ts). */
  | { kind: 'evidence'; evidence: Evidence }
  /** A call given up as timed out has returned. */
  | { kind: 'released'; call: ReleasedCall }
  | { kind: 'step'; step: StepReport }
  | { kind: 'collateral'; report: CollateralReport }
  /** The static mounts the recovery under way may take away, before it unmounts anything. */
  | { kind: 'at-risk'; mounts: readonly AtRiskMount[] }
  /** The recovery under way is done. */
  | { kind: 'recovered'; report: RecoveryReport | DryRunReport }
  /** The server watch found a server answering, or not, for the first time or anew. */
  | { kind: 'server'; report: ServerReport }
  /** The autofs reload is done; null: a dry run, nothing ran. */
  | { kind: 'reloaded'; outcome: CommandOutcome | null }
  /** Putting a static mount back is done. */
  | { kind: 'put-back'; report: PutBackReport }
  /** Looking for (and resetting) the client's stalled connections to a server is done. */
  | { kind: 'stalled-reset'; report: StalledReport }
  | { kind: 'stop' };

/** What is told to the outside world (src/observe/sink.ts): one variant per sink method. */
export type Report =
  | { kind: 'probed'; results: readonly ProbeResult[]; cycleMs: number }
  | { kind: 'health'; event: HealthEvent; result: ProbeResult | undefined }
  | { kind: 'held'; hold: Hold }
  | { kind: 'recovery-started'; targets: readonly RecoveryTarget[] }
  | { kind: 'step'; step: StepReport }
  | { kind: 'recovery-finished'; report: RecoveryReport | DryRunReport; targets: readonly RecoveryTarget[] }
  | { kind: 'collateral'; report: CollateralReport }
  | { kind: 'released'; call: ReleasedCall; hung: boolean }
  | { kind: 'overlapped' }
  | { kind: 'cycle-finished'; autofsRunning: boolean | null; scheduled: boolean }
  | { kind: 'waiting-for-hangs'; paths: readonly string[]; ms: number }
  | { kind: 'early-probe'; evidence: Evidence }
  | { kind: 'early-probed'; evidence: Evidence; result: ProbeResult }
  | { kind: 'server'; report: ServerReport; paths: readonly string[]; goneMs: number | null }
  | { kind: 'autofs-reload'; paths: readonly string[]; servers: readonly string[]; dryRun: boolean }
  | { kind: 'autofs-reloaded'; paths: readonly string[]; outcome: CommandOutcome | null }
  | { kind: 'put-back'; report: PutBackReport }
  | { kind: 'stalled-reset'; report: StalledReport };

export type ControllerAction =
  /** Probe these paths as one round; answer with `probed`. */
  | { kind: 'probe'; paths: readonly string[] }
  /** Run (or, dry, plan) a recovery of these targets; answer with `step`s and `recovered`. */
  | { kind: 'recover'; targets: readonly RecoveryTarget[]; dryRun: boolean }
  /** Load what a recovery starts with: the kernel's evidence says one may follow. */
  | { kind: 'prepare' }
  /** Tell the holder watch of a round; `batch` names the recovery running, if any. */
  | { kind: 'observe-holders'; results: readonly ProbeResult[]; batch: string | null }
  /** Watch these servers (replacing the set): answer with `server` events. */
  | { kind: 'watch-servers'; servers: readonly WatchedServer[] }
  /** Run the autofs reload (dry: only say so); answer with `reloaded`. */
  | { kind: 'reload-autofs'; argv: readonly string[]; dryRun: boolean }
  /** Reset the client's connections to this server still waiting to retransmit (dry: only look); answer with `stalled-reset`. */
  | { kind: 'reset-stalled'; server: WatchedServer; dryRun: boolean }
  /** Mount these static mounts again; answer with a `put-back` each. */
  | { kind: 'put-back'; mounts: readonly PutBack[] }
  /** The one wake-up timer: set (replacing any), or cleared. */
  | { kind: 'set-wake'; at: number }
  | { kind: 'clear-wake' }
  | { kind: 'report'; report: Report };

export interface Transition {
  state: ControllerState;
  actions: ControllerAction[];
}

export function initialState(): ControllerState {
  return {
    latest: new Map(),
    serversOf: new Map(),
    servers: new Map(),
    watching: [],
    reload: { lastAt: null, inARow: 0, running: null, settleUntil: null },
    putBack: [],
    atRisk: [],
    health: new Map(),
    cycle: null,
    tickWaiting: null,
    earlyWaiting: [],
    earlyAt: new Map(),
    hold: null,
    recovery: null,
    recoveries: 0,
    wake: null,
    hangWaitDone: false,
    stopping: false,
    lastScheduledCycleAt: null,
  };
}

/** The controller's settings from the config; `once` for `check`. */
export function controllerConfig(
  config: Config,
  once = false,
  mapServers: ReadonlyMap<string, readonly ServerAddress[]> = new Map(),
): ControllerConfig {
  const r = config.recovery;
  return {
    paths: config.mounts.map((m) => m.path),
    policy: {
      enabled: r.enabled,
      triggers: r.triggers,
      hangAfterMs: r.hangAfterMs,
      cooldownMs: r.cooldownMs,
      maxBackoffMs: r.maxBackoffMs,
    },
    dryRun: r.dryRun,
    earlyProbeGapMs: config.evidence.earlyProbeGapMs,
    serverReturn: {
      enabled: config.servers.watch,
      reloadCommand: config.servers.autofsReload,
      resetStalled: config.servers.resetStalled,
      reloadIntervalMs: config.servers.reloadIntervalMs,
      remount: r.remount,
      mapServers,
    },
    once,
  };
}
