// Watches the processes on failing and detached mounts. Told of every probe round, it keeps the
// failing mounts (mount ID and st_dev, taken while they are still in the table) and the former
// mounts that left the table while failing — detached by a lazy unmount, yet alive for every
// process still on them — and scans /proc for their holders beside the cycles: one scan at a
// time, never delaying a probe round. A former mount is watched until a scan finds nobody on it.
// When holders.restart_units says so, the units left on a detached mount are restarted once the
// path is healthy again.
import type { Clock } from '../clock.js';
import type { HoldersConfig } from '../config/types.js';
import type { HolderSink } from '../observe/sink.js';
import type { MountTable } from '../probe/mountinfo.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { RunCommand } from '../exec/runner.js';
import { planRestarts, type FormerMount, type PlannedRestart } from './restart.js';
import type { DirMemory, WatchedMount } from './scan.js';
import type { ScanHolders } from './scanner.js';
import { detachedCounts, trackHolders, type HolderReport } from './tracker.js';
import { unitMatcher } from './unit-glob.js';

// A scan reads every process (2,000 take 0.25-0.6 s on 2 cores: bench/, figure 6). Rescanning an
// unchanged set of mounts every round would cost half a core at a 1 s schedule, so a rescan waits
// at least this long, and at least ten times the last scan's own duration.
const MIN_RESCAN_GAP_MS = 5_000;
const RESCAN_GAP_FACTOR = 10;

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
}

export class HolderWatch {
  private readonly failing = new Map<number, WatchedMount>();
  private readonly formers = new Map<number, WatchedMount & FormerMount>();
  private readonly healthy = new Set<string>();
  private readonly restarted = new Map<string, Set<string>>();
  private readonly toldDidNotHelp = new Set<string>();
  private readonly matches: (unit: string) => boolean;
  private memory: DirMemory[] = [];
  private known = new Map<string, HolderReport>();
  private scanning: Promise<void> | undefined;
  private again = false;
  private restarting: Promise<void> | undefined;
  private stopped = false;
  private nextRescanAt = 0;

  constructor(private readonly deps: HolderWatchDeps) {
    this.matches = unitMatcher(deps.config.restartUnits);
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
    const before = this.watchedKey();
    const table = this.deps.table();
    const ids = new Set(table.map((e) => e.id));
    for (const r of results) {
      if (r.result === 'ok') this.healthy.add(r.mount);
      else this.healthy.delete(r.mount);
      if (r.result === 'ok' || !r.mounted || r.mountId === null || this.failing.has(r.mountId)) continue;
      const entry = table.find((e) => e.id === r.mountId);
      if (entry) this.failing.set(r.mountId, { path: r.mount, mountId: r.mountId, dev: entry.dev, state: 'failing' });
    }
    for (const [id, w] of this.failing) {
      const now = results.find((r) => r.mount === w.path);
      if (!ids.has(id)) {
        this.failing.delete(id);
        this.formers.set(id, { ...w, state: 'detached', batch: batch ?? `mount ${id}` });
      } else if (now?.result === 'ok' && now.mountId === id) {
        this.failing.delete(id); // healthy again in place: the server came back
      }
    }
    // A detached mount keeps its ID while anyone holds it: an ID back in the table is a new mount.
    for (const id of this.formers.keys()) if (ids.has(id)) this.formers.delete(id);
    if (this.failing.size + this.formers.size + this.known.size === 0) return;
    // A mount newly failing or newly detached is scanned at once (before the recovery unmounts it,
    // right after it is detached); the same set again no sooner than the rescan gap.
    if (this.watchedKey() !== before || this.deps.clock.now() >= this.nextRescanAt) this.requestScan();
  }

  /** Which mounts are watched, in which state. */
  private watchedKey(): string {
    return [...[...this.failing.keys()].map((id) => `f${id}`), ...[...this.formers.keys()].map((id) => `d${id}`)].sort().join(' ');
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
    if (this.scanning) {
      this.again = true;
      return;
    }
    this.again = false;
    this.scanning = this.scanOnce().finally(() => {
      this.scanning = undefined;
      if (this.again) this.requestScan(); // asked for while this one ran: its news is newer
    });
  }

  private async scanOnce(): Promise<void> {
    const { sink } = this.deps;
    const watched: WatchedMount[] = [
      ...this.failing.values(),
      ...[...this.formers.values()].map(({ path, mountId, dev, state }) => ({ path, mountId, dev, state })),
    ];
    if (watched.length === 0) {
      this.apply([], watched); // nothing watched any more: whoever was held is released
      return;
    }
    const outcome = await this.deps.scan({ watched, table: this.deps.table(), skipPids: [this.deps.selfPid], memory: this.memory });
    if (outcome.kind === 'unavailable') {
      sink.scanned({ result: 'unavailable', ms: 0, reason: outcome.reason });
      return;
    }
    if (outcome.kind === 'timeout') {
      sink.scanned({ result: 'timeout', ms: outcome.ms, blockedPid: outcome.blockedPid });
      return;
    }
    const { output } = outcome;
    this.nextRescanAt = this.deps.clock.now() + Math.max(MIN_RESCAN_GAP_MS, RESCAN_GAP_FACTOR * outcome.ms);
    sink.scanned({ result: 'ok', ms: outcome.ms, scanned: output.scanned, unreadable: output.unreadable });
    this.memory = output.memory;
    this.apply(output.holders, watched);
  }

  private apply(found: Parameters<typeof trackHolders>[1], watched: readonly WatchedMount[]): void {
    const { sink } = this.deps;
    const changes = trackHolders(this.known, found, watched);
    for (const h of changes.seen) sink.holderSeen(h);
    for (const h of changes.detached) sink.holderDetached(h);
    for (const h of changes.gone) sink.holderGone(h);
    this.known = changes.current;
    const held = new Set([...this.known.values()].map((h) => h.mountId));
    for (const w of watched) {
      if (w.state === 'detached' && !held.has(w.mountId)) this.formers.delete(w.mountId);
    }
    const batches = new Set([...this.formers.values()].map((f) => f.batch));
    for (const batch of this.restarted.keys()) if (!batches.has(batch)) this.restarted.delete(batch);
    for (const key of this.toldDidNotHelp) if (!batches.has(key.split('\n')[0] ?? '')) this.toldDidNotHelp.delete(key);
    sink.holdersCounted(detachedCounts(this.deps.paths, this.known.values()));
    this.planRestarts();
  }

  private planRestarts(): void {
    if (this.restarting || this.stopped) return; // the scan after the restarts plans again
    const plan = planRestarts({
      holders: this.known.values(),
      formers: this.formers,
      healthyPaths: this.healthy,
      matches: this.matches,
      ownUnit: this.deps.ownUnit,
      restarted: this.restarted,
    });
    for (const { unit, batch, holders } of plan.didNotHelp) {
      const key = `${batch}\n${unit}`;
      if (this.toldDidNotHelp.has(key)) continue;
      this.toldDidNotHelp.add(key);
      this.deps.sink.restartDidNotHelp(unit, holders);
    }
    if (plan.restart.length === 0) return;
    for (const r of plan.restart) {
      const units = this.restarted.get(r.batch) ?? new Set<string>();
      units.add(r.unit);
      this.restarted.set(r.batch, units);
    }
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
      const about = { unit: p.unit, mounts: p.mounts, pids: p.pids };
      if (this.deps.dryRun) {
        sink.restart({ ...about, result: 'dry_run' });
        continue;
      }
      const outcome = await this.deps.run(['systemctl', 'try-restart', '--', p.unit], config.restartTimeoutMs);
      sink.restart({ ...about, result: outcome.status, outcome });
    }
  }
}
