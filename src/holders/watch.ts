// Watches the processes on failing and detached mounts: told of every probe round, it scans /proc
// for their holders beside the cycles, one scan at a time, never delaying a probe round; when
// holders.restart_units says so, it restarts the units left on a detached mount once the path is
// healthy again. What to scan and when is the scan plan's; who was restarted, the restart record's.
import type { Clock } from '../clock.js';
import type { HoldersConfig } from '../config/types.js';
import type { HolderSink } from '../observe/sink.js';
import type { MountTable } from '../probe/mountinfo.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { RunCommand } from '../exec/runner.js';
import { planRestarts, type PlannedRestart } from './restart.js';
import { RestartRecord, type RestartKey } from './restart-record.js';
import type { DirMemory, Holder, WatchedMount } from './scan.js';
import {
  askScan,
  emptyScanPlan,
  formerBatches,
  planRound,
  releaseFormers,
  sameFormers,
  scanDone,
  watchedMounts,
  UNKNOWN_PATH,
  type FormerWatched,
} from './scan-plan.js';
import type { ScanHolders, ScanOutcome } from './scanner.js';
import { detachedCounts, trackHolders, type HolderReport } from './tracker.js';
import { unitMatcher } from './unit-glob.js';

export interface HolderWatchDeps {
  config: HoldersConfig;
  /** recovery.dry_run: restarts are logged, not run. */
  dryRun: boolean;
  paths: readonly string[];
  scan: ScanHolders;
  table: MountTable;
  run: RunCommand;
  clock: Clock;
  sink: HolderSink;
  /** Left out of every scan: the daemon's own threads are reported by the prober. */
  selfPid: number;
  /** The daemon's own unit: never restarted, whatever the globs say. */
  ownUnit: string | null;
  /** Told when what `incident()` returns may have changed (the daemon keeps it in its state file). */
  onChange?: () => void;
  /** The mount namespace the mount table is read in (/proc/self/ns/mnt): the start-up scan's own. */
  ownMountNamespace?: string | null;
}

/** What the watch carries from one process of the daemon to the next (src/state/). */
export interface HolderIncident {
  formers: readonly FormerWatched[];
  restarted: readonly RestartKey[];
  /** What was tied by text to the former mounts: a cwd on one reads as a path relative to its root. */
  memory: readonly DirMemory[];
}

export class HolderWatch {
  private readonly matches: (unit: string) => boolean;
  private readonly record = new RestartRecord();
  private plan = emptyScanPlan();
  private memory: DirMemory[] = [];
  private known = new Map<string, HolderReport>();
  private scanning: Promise<void> | undefined;
  private restarting: Promise<void> | undefined;
  private stopped = false;
  private unknownCounted = false;

  constructor(private readonly deps: HolderWatchDeps) {
    this.matches = unitMatcher(deps.config.restartUnits);
  }

  /**
   * What an earlier process of the daemon left: its former mounts are watched, and scanned for
   * at the first round, as if this process had detached them. Before the first round only.
   */
  restore(incident: HolderIncident): void {
    this.plan = emptyScanPlan(incident.formers);
    this.record.markRestarted(incident.restarted);
    this.memory = [...incident.memory];
  }

  incident(): HolderIncident {
    const formers = [...this.plan.formers.values()];
    const ids = new Set(formers.map((f) => f.mountId));
    return { formers, restarted: this.record.restartedUnits(), memory: this.memory.filter((m) => ids.has(m.mountId)) };
  }

  /**
   * At a start that knows nothing of an earlier process (no state file): one scan for processes on
   * mounts in no mount table — detached before this process began. Those tied by an fd's mount ID
   * are followed as a former mount of an unknown path; those tied only by their mapped files'
   * device are said once (a device names no mount to follow).
   */
  lookForOrphans(): void {
    if (this.stopped || this.scanning) return;
    this.scanning = this.orphanScan().finally(() => {
      this.scanning = undefined;
      if (this.plan.again) this.requestScan();
    });
  }

  /** Holders as of the last scan. */
  holders(): HolderReport[] {
    return [...this.known.values()];
  }

  /**
   * Takes in a probe round; `batch` names the recovery that ran before it (mounts it detached are
   * restarted for once per unit). Starts a scan when anything is watched or was held.
   */
  observe(results: readonly ProbeResult[], batch: string | null = null): void {
    const round = { results, table: this.deps.table(), batch, now: this.deps.clock.now(), held: this.known.size > 0 };
    const next = planRound(this.plan, round);
    // Every round makes a new plan: only new or dropped former mounts change what incident() says.
    const changed = !sameFormers(this.plan, next.plan);
    this.plan = next.plan;
    if (changed) this.deps.onChange?.();
    if (next.scan) this.requestScan();
  }

  /** Resolves once the scan under way (and one asked for meanwhile) is done: each has its deadline. */
  async settled(): Promise<void> {
    while (this.scanning) await this.scanning;
  }

  async idle(): Promise<void> {
    while (this.scanning || this.restarting) await Promise.all([this.scanning, this.restarting]);
  }

  stop(): void {
    this.stopped = true;
  }

  private requestScan(): void {
    if (this.stopped) return;
    const ask = askScan(this.plan, this.scanning !== undefined);
    this.plan = ask.plan;
    if (ask.start === 'after') return;
    this.scanning = this.scanOnce().finally(() => {
      this.scanning = undefined;
      if (this.plan.again) this.requestScan(); // asked for while this one ran: its news is newer
    });
  }

  private async scanOnce(): Promise<void> {
    const watched = watchedMounts(this.plan);
    if (watched.length === 0) {
      this.apply([], watched); // nothing watched any more: whoever was held is released
      return;
    }
    const outcome = await this.deps.scan({ watched, table: this.deps.table(), skipPids: [this.deps.selfPid], memory: this.memory });
    if (!this.scanned(outcome)) return;
    const { output } = outcome;
    this.plan = scanDone(this.plan, this.deps.clock.now(), outcome.ms);
    this.memory = output.memory;
    this.apply(output.holders, watched);
  }

  private async orphanScan(): Promise<void> {
    const { sink, clock } = this.deps;
    const ns = this.deps.ownMountNamespace;
    const input = { watched: [], table: this.deps.table(), skipPids: [this.deps.selfPid], memory: [], orphans: true };
    const outcome = await this.deps.scan(ns ? { ...input, ownMountNamespace: ns } : input);
    if (!this.scanned(outcome)) return;
    const orphans = outcome.output.orphans ?? [];
    for (const o of orphans) if (o.mountId === null) sink.orphanByDevice(o);
    const formers = new Map(this.plan.formers);
    const followed: Holder[] = [];
    for (const o of orphans) {
      if (o.mountId === null) continue;
      const { mountId } = o;
      followed.push({ ...o, mountId });
      if (!formers.has(mountId)) {
        formers.set(mountId, { path: UNKNOWN_PATH, mountId, dev: '', state: 'detached', batch: 'before start', since: clock.now() });
      }
    }
    if (followed.length === 0) return;
    this.plan = { ...this.plan, formers };
    this.apply(followed, watchedMounts(this.plan));
  }

  /** Says how a scan went; true when it is done. */
  private scanned(outcome: ScanOutcome): outcome is Extract<ScanOutcome, { kind: 'done' }> {
    const { sink } = this.deps;
    if (outcome.kind === 'unavailable') sink.scanned({ result: 'unavailable', ms: 0, reason: outcome.reason });
    else if (outcome.kind === 'timeout') sink.scanned({ result: 'timeout', ms: outcome.ms, blockedPid: outcome.blockedPid });
    else sink.scanned({ result: 'ok', ms: outcome.ms, scanned: outcome.output.scanned, unreadable: outcome.output.unreadable });
    return outcome.kind === 'done';
  }

  /** The configured paths, and the unknown one once a mount of it is followed: its gauge then stays, reading 0 when done. */
  private countedPaths(): readonly string[] {
    if (!this.unknownCounted && [...this.plan.formers.values()].some((f) => f.path === UNKNOWN_PATH)) this.unknownCounted = true;
    return this.unknownCounted ? [...this.deps.paths, UNKNOWN_PATH] : this.deps.paths;
  }

  private apply(found: readonly Holder[], watched: readonly WatchedMount[]): void {
    const { sink } = this.deps;
    const changes = trackHolders(this.known, found, watched);
    for (const h of changes.seen) sink.holderSeen(h);
    for (const h of changes.detached) sink.holderDetached(h);
    for (const h of changes.gone) sink.holderGone(h);
    this.known = changes.current;
    this.plan = releaseFormers(this.plan, watched, new Set([...this.known.values()].map((h) => h.mountId)));
    this.record.keepBatches(formerBatches(this.plan));
    sink.holdersCounted(detachedCounts(this.countedPaths(), this.known.values()));
    this.planRestarts();
    this.deps.onChange?.();
  }

  private planRestarts(): void {
    if (this.restarting || this.stopped) return; // the scan after the restarts plans again
    const plan = planRestarts({
      holders: this.known.values(),
      formers: this.plan.formers,
      healthyPaths: this.plan.healthy,
      matches: this.matches,
      ownUnit: this.deps.ownUnit,
      restarted: this.record,
    });
    for (const { unit, holders } of this.record.untold(plan.didNotHelp)) this.deps.sink.restartDidNotHelp(unit, holders);
    if (plan.restart.length === 0) return;
    this.record.markRestarted(plan.restart);
    this.deps.onChange?.();
    this.restarting = this.restart(plan.restart).finally(() => {
      this.restarting = undefined;
      this.requestScan(); // see at once whether the old processes let go
    });
  }

  // One unit at a time: a restart waits for the unit's stop (up to its TimeoutStopSec).
  private async restart(planned: readonly PlannedRestart[]): Promise<void> {
    const { sink, config } = this.deps;
    for (const p of planned) {
      if (this.stopped) return;
      const about = { unit: p.unit, paths: p.paths, pids: p.pids };
      if (this.deps.dryRun) {
        sink.restart({ ...about, result: 'dry_run' });
        continue;
      }
      const outcome = await this.deps.run(['systemctl', 'try-restart', '--', p.unit], config.restartTimeoutMs);
      sink.restart({ ...about, result: outcome.status, outcome });
    }
  }
}
