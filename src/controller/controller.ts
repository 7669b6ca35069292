// Drives the transition (src/controller/transition.ts) with the real effects: it holds the one
// state, runs each action (a probe round, a recovery, the wake-up timer, a report to the sinks) and
// feeds each outcome back as an event. Events raised while actions run queue behind them, so every
// transition sees the state the previous one left. The daemon drives it forever; `check`, once.
import type { Clock, TimerHandle } from '../clock.js';
import type { Config } from '../config/types.js';
import type { RunCommand } from '../exec/runner.js';
import type { Evidence } from '../kernel/evidence.js';
import type { ControllerSink } from '../observe/sink.js';
import type { MountTable } from '../probe/mountinfo.js';
import type { ReleasedCall } from '../probe/prober.js';
import type { ProbeMounts, ProbeResult } from '../probe/probe-mounts.js';
import { dryRunPlan } from '../recovery/plan.js';
import { runRecovery, type RecoveryTarget } from '../recovery/procedure.js';
import { controllerConfig, initialState, type ControllerConfig, type ControllerEvent, type ControllerState, type Report } from './state.js';
import { transition } from './transition.js';
import type { ServerReport, WatchedServer } from '../server/watch.js';
import type { ServerAddress } from '../server/address.js';
import { nfsMountedAt } from '../recovery/collateral.js';
import type { ResetStalled } from '../server/reset-stalled.js';
import type { PutBack, PutBackReport } from './server-return.js';
import type { Health } from './policy.js';

export { AUTOMOUNT_RETRY_MS } from './wake-plan.js';

/** The holder watch, as the controller uses it (src/holders/watch.ts). */
export interface HolderObserver {
  observe(results: readonly ProbeResult[], batch?: string | null): void;
  /** The scan under way is done: holders of the failing mounts are known before anything is unmounted. */
  settled(): Promise<void>;
}

export interface ControllerDeps {
  config: Config;
  clock: Clock;
  probe: ProbeMounts;
  run: RunCommand;
  table: MountTable;
  sink: ControllerSink;
  /** Whether the automounter runs; checked once a round, by the loop (never by a scrape). */
  autofsRunning?: () => boolean;
  /** Told of every probe round; absent when holders.enabled is off. */
  holders?: HolderObserver;
  /** /etc/fstab as the recovery commands see it; null when it cannot be read. */
  fstab?: () => string | null;
  /** `check`: one decision, then done (src/controller/state.ts). */
  once?: boolean;
  /** Loads what a recovery starts with (the command launcher, the holder scan's thread). */
  prepare?: () => void;
  /** The server watch (src/server/watch.ts); absent when servers.watch is off, and in `check`. */
  servers?: { watch(servers: readonly WatchedServer[]): void };
  /** Resets the client's stalled connections to a server answering again (src/server/reset-stalled.ts). */
  resetStalled?: ResetStalled;
  /** Servers autofs' file maps name per configured path (src/server/autofs-map.ts). */
  mapServers?: ReadonlyMap<string, readonly ServerAddress[]>;
  /** Told when what `incident()` returns has changed (the daemon keeps it in its state file). */
  onIncidentChange?: () => void;
}

/** What the controller carries from one process of the daemon to the next (src/state/). */
export interface ControllerIncident {
  health: Health;
  putBack: readonly PutBack[];
  atRisk: readonly PutBack[];
  recoveries: number;
  /** The recovery under way: cut short by the process's end, it counts as failed (src/state/resume.ts). */
  recovering: { paths: readonly string[]; startedAt: number } | null;
}

export class Controller {
  private readonly cfg: ControllerConfig;
  private state: ControllerState = initialState();
  private readonly queue: ControllerEvent[] = [];
  private dispatching = false;
  private round: Promise<void> | undefined;
  private recovery: Promise<void> | undefined;
  /** Reloads and put-backs under way: shutdown waits a little for them too. */
  private readonly chores = new Set<Promise<void>>();
  private timer: TimerHandle | undefined;
  private woken: (() => void) | undefined;

  constructor(private readonly deps: ControllerDeps) {
    this.cfg = controllerConfig(deps.config, deps.once ?? false, deps.mapServers);
  }

  /** The latest result per path, in configured order. */
  results(): ProbeResult[] {
    return this.cfg.paths.flatMap((p) => this.state.latest.get(p) ?? []);
  }

  /** When the last scheduled round (or the first) finished; null before (src/controller/state.ts). */
  get lastScheduledCycleAt(): number | null {
    return this.state.lastScheduledCycleAt;
  }

  /** What an earlier process of the daemon left, checked already (src/state/resume.ts). Before start only. */
  restore(incident: Omit<ControllerIncident, 'atRisk' | 'recovering'>): void {
    this.state = { ...this.state, health: incident.health, putBack: incident.putBack, recoveries: incident.recoveries };
  }

  incident(): ControllerIncident {
    const { health, putBack, atRisk, recoveries, recovery } = this.state;
    const recovering = recovery && { paths: recovery.targets.map((t) => t.path), startedAt: recovery.startedAt };
    return { health, putBack, atRisk, recoveries, recovering };
  }

  /** The first round, at start; resolves when it is done. */
  start(): Promise<void> {
    this.dispatch({ kind: 'start' });
    return this.round ?? Promise.resolve();
  }

  /** The scheduled round; resolves when it (and a round it had to wait for) is done. */
  tick(): Promise<void> {
    const before = this.round;
    this.dispatch({ kind: 'tick' });
    if (!before) return this.round ?? Promise.resolve();
    return before.then(() => this.round);
  }

  /** The kernel's counters say a path may be failing (the kernel watch's onEvidence). */
  evidence(evidence: Evidence): void {
    this.dispatch({ kind: 'evidence', evidence });
  }

  /** The server watch's news: a server answers, or not (its onReport). */
  server(report: ServerReport): void {
    this.dispatch({ kind: 'server', report });
  }

  /** A call given up as timed out has returned (the prober's onReleased). */
  released(call: ReleasedCall): void {
    this.dispatch({ kind: 'released', call });
  }

  /** No more rounds of its own; the schedule is stopped by its owner. */
  stop(): void {
    this.dispatch({ kind: 'stop' });
  }

  /** Resolves when no round and no recovery is running (shutdown waits a little for this). */
  async idle(): Promise<void> {
    while (this.round || this.recovery || this.chores.size > 0) await Promise.all([this.round, this.recovery, ...this.chores]);
  }

  /** Once mode: resolves when the one decision has been carried out, waits included. */
  async finished(): Promise<void> {
    for (;;) {
      await this.idle();
      if (!this.state.wake) return;
      await new Promise<void>((resolve) => (this.woken = resolve));
    }
  }

  private dispatch(event: ControllerEvent): void {
    this.queue.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let e = this.queue.shift(); e; e = this.queue.shift()) {
        const before = this.state;
        const { state, actions } = transition(before, e, this.deps.clock.now(), this.cfg);
        this.state = state;
        if (incidentChanged(before, state)) this.deps.onIncidentChange?.();
        if (!state.cycle) this.round = undefined;
        if (!state.recovery) this.recovery = undefined;
        for (const action of actions) {
          switch (action.kind) {
            case 'probe':
              this.round = this.probeRound(action.paths);
              break;
            case 'recover':
              this.recovery = this.recover(action.targets, action.dryRun);
              break;
            case 'prepare':
              this.deps.prepare?.();
              break;
            case 'watch-servers':
              this.deps.servers?.watch(action.servers);
              break;
            case 'reload-autofs':
              this.chore(this.reloadAutofs(action.argv, action.dryRun));
              break;
            case 'put-back':
              for (const m of action.mounts) this.chore(this.putBack(m));
              break;
            case 'reset-stalled':
              if (this.deps.resetStalled) this.chore(this.resetStalled(this.deps.resetStalled, action.server, action.dryRun));
              break;
            case 'observe-holders':
              this.deps.holders?.observe(action.results, action.batch);
              break;
            case 'set-wake':
              this.setWake(action.at);
              break;
            case 'clear-wake':
              this.clearWake();
              break;
            case 'report':
              deliver(this.deps.sink, action.report);
              break;
          }
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  private async probeRound(paths: readonly string[]): Promise<void> {
    const { clock } = this.deps;
    const started = clock.now();
    const results = await this.deps.probe(paths);
    const cycleMs = clock.now() - started;
    this.dispatch({ kind: 'probed', results, cycleMs, autofsRunning: this.deps.autofsRunning?.() ?? null });
  }

  private async recover(targets: readonly RecoveryTarget[], dryRun: boolean): Promise<void> {
    const { config, clock } = this.deps;
    if (dryRun) {
      this.dispatch({ kind: 'recovered', report: dryRunPlan(targets, config.recovery, this.deps.table()) });
      return;
    }
    // Who is on the failing mounts is read before anything is unmounted: after a lazy unmount the
    // path names the new mount. The command launcher loads meanwhile.
    this.deps.run.prepare?.();
    await this.deps.holders?.settled();
    const report = await runRecovery(targets, config.recovery, {
      run: this.deps.run,
      table: this.deps.table,
      probe: this.deps.probe,
      clock,
      fstab: this.deps.fstab ?? (() => null),
      onStep: (step) => this.dispatch({ kind: 'step', step }),
      onCollateral: (report) => this.dispatch({ kind: 'collateral', report }),
      onAtRisk: (mounts) => this.dispatch({ kind: 'at-risk', mounts }),
    });
    this.dispatch({ kind: 'recovered', report });
  }

  private chore(work: Promise<void>): void {
    this.chores.add(work);
    void work.finally(() => this.chores.delete(work));
  }

  private async reloadAutofs(argv: readonly string[], dryRun: boolean): Promise<void> {
    const outcome = dryRun ? null : await this.deps.run(argv, this.deps.config.recovery.timeoutMs);
    this.dispatch({ kind: 'reloaded', outcome });
  }

  private async resetStalled(reset: ResetStalled, server: WatchedServer, dryRun: boolean): Promise<void> {
    this.dispatch({ kind: 'stalled-reset', report: await reset(server, dryRun) });
  }

  /** Mounts a static mount again, unless something already has (an NFS mount is on its mount point). */
  private async putBack(m: PutBack): Promise<void> {
    const { clock, config, table } = this.deps;
    const base = { mountPoint: m.mountPoint, server: m.server, downMs: Math.round(clock.now() - m.since), tries: m.tries + 1 };
    let report: PutBackReport;
    if (nfsMountedAt(table(), m.mountPoint)) {
      report = { ...base, outcome: 'already_mounted', command: null };
    } else {
      const command = await this.deps.run(m.argv, config.recovery.timeoutMs);
      report = { ...base, outcome: command.status === 'ok' ? 'remounted' : command.status, command };
    }
    this.dispatch({ kind: 'put-back', report });
  }

  private setWake(at: number): void {
    const { clock } = this.deps;
    this.clearWake();
    this.timer = clock.setTimeout(
      () => {
        this.timer = undefined;
        this.dispatch({ kind: 'wake' });
        this.woken?.();
      },
      Math.max(0, at - clock.now()),
    );
    // The daemon's schedule keeps the process alive; a wake-up alone must not.
    if (!this.cfg.once) this.timer.unref?.();
  }

  private clearWake(): void {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function incidentChanged(a: ControllerState, b: ControllerState): boolean {
  return (
    a.health !== b.health || a.putBack !== b.putBack || a.atRisk !== b.atRisk || a.recoveries !== b.recoveries || a.recovery !== b.recovery
  );
}

/** One report to the sink method of its kind. */
function deliver(sink: ControllerSink, r: Report): void {
  switch (r.kind) {
    case 'probed':
      return sink.probed(r.results, r.cycleMs);
    case 'health':
      return sink.health(r.event, r.result);
    case 'held':
      return sink.held(r.hold);
    case 'recovery-started':
      return sink.recoveryStarted(r.targets);
    case 'step':
      return sink.step(r.step);
    case 'recovery-finished':
      return sink.recoveryFinished(r.report, r.targets);
    case 'collateral':
      return sink.collateral(r.report);
    case 'released':
      return sink.released(r.call, r.hung);
    case 'overlapped':
      return sink.overlapped();
    case 'cycle-finished':
      return sink.cycleFinished({ autofsRunning: r.autofsRunning, scheduled: r.scheduled });
    case 'waiting-for-hangs':
      return sink.waitingForHangs(r.paths, r.ms);
    case 'early-probe':
      return sink.earlyProbe(r.evidence);
    case 'early-probed':
      return sink.earlyProbed(r.evidence, r.result);
    case 'server':
      return sink.server(r.report, r.paths, r.goneMs);
    case 'autofs-reload':
      return sink.autofsReload(r.paths, r.servers, r.dryRun);
    case 'autofs-reloaded':
      return sink.autofsReloaded(r.paths, r.outcome);
    case 'put-back':
      return sink.putBack(r.report);
    case 'stalled-reset':
      return sink.stalledReset(r.report);
  }
}
