// Which units to restart for the processes left on a detached mount. Pure. A unit is restarted
// only when it matches holders.restart_units, is not the daemon's own, and every path whose detached
// mount its processes hold is healthy again (so the restarted processes land on the new mounts,
// not on one still being recovered); at most once per unit per detachment batch (one recovery), so
// a unit that still holds the mount afterwards is reported, never restarted in a loop. Processes
// outside any unit are never touched.
import type { RestartKey, RestartRecord } from './restart-record.js';
import type { HolderReport } from './tracker.js';

export interface FormerMount {
  path: string;
  /** The recovery (or the mount, when it went away on its own) that detached it. */
  batch: string;
}

export interface RestartPlanInput {
  holders: Iterable<HolderReport>;
  formers: ReadonlyMap<number, FormerMount>;
  healthyPaths: ReadonlySet<string>;
  matches: (unit: string) => boolean;
  ownUnit: string | null;
  /** Units already restarted, per batch. */
  restarted: Pick<RestartRecord, 'wasRestarted'>;
}

export interface PlannedRestart extends RestartKey {
  /** Configured paths whose detached mounts the unit's processes hold. */
  paths: string[];
  pids: number[];
}

/** A unit restarted for this batch whose processes still hold its mount. */
export interface DidNotHelp extends RestartKey {
  holders: HolderReport[];
}

export interface RestartPlan {
  restart: PlannedRestart[];
  didNotHelp: DidNotHelp[];
}

export function planRestarts(input: RestartPlanInput): RestartPlan {
  const restart = new ByRestartKey<PlannedRestart>();
  const didNotHelp = new ByRestartKey<DidNotHelp>();
  const notYet = new ByRestartKey<RestartKey>();
  for (const h of input.holders) {
    const former = input.formers.get(h.mountId);
    const unit = h.unit;
    if (h.state !== 'detached' || !former || unit === null || unit === input.ownUnit || !input.matches(unit)) continue;
    const key: RestartKey = { unit, batch: former.batch };
    if (input.restarted.wasRestarted(key)) {
      didNotHelp.entry(key, () => ({ ...key, holders: [] })).holders.push(h);
      continue;
    }
    if (!input.healthyPaths.has(former.path)) {
      notYet.entry(key, () => key); // not yet: it would start on a broken mount
      continue;
    }
    const entry = restart.entry(key, () => ({ ...key, paths: [], pids: [] }));
    if (!entry.paths.includes(former.path)) entry.paths.push(former.path);
    if (!entry.pids.includes(h.pid)) entry.pids.push(h.pid);
  }
  return { restart: restart.values().filter((r) => !notYet.has(r)), didNotHelp: didNotHelp.values() };
}

// Entries by batch, then unit, in the order first met: the order restarts run and reports go out in.
class ByRestartKey<T> {
  private readonly byBatch = new Map<string, Map<string, T>>();
  private readonly inOrder: T[] = [];

  has(key: RestartKey): boolean {
    return this.byBatch.get(key.batch)?.has(key.unit) ?? false;
  }

  /** The entry for `key`, made first when there is none. */
  entry(key: RestartKey, make: () => T): T {
    const units = this.byBatch.get(key.batch) ?? new Map<string, T>();
    const found = units.get(key.unit);
    if (found !== undefined) return found;
    const made = make();
    this.byBatch.set(key.batch, units.set(key.unit, made));
    this.inOrder.push(made);
    return made;
  }

  values(): T[] {
    return [...this.inOrder];
  }
}
