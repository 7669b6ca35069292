// Which units to restart for the processes left on a detached mount. Pure. A unit is restarted
// only when it matches holders.restart_units, is not the daemon's own, and every path whose detached
// mount its processes hold is healthy again (so the restarted processes land on the new mounts,
// not on one still being recovered); at most once per unit
// per detachment batch (one recovery), so a unit that still holds the mount afterwards is
// reported, never restarted in a loop. Processes outside any unit are never touched.
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
  restarted: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface PlannedRestart {
  unit: string;
  batch: string;
  mounts: string[];
  pids: number[];
}

export interface RestartPlan {
  restart: PlannedRestart[];
  /** Units restarted for this batch whose processes still hold its mount. */
  didNotHelp: { unit: string; batch: string; holders: HolderReport[] }[];
}

export function planRestarts(input: RestartPlanInput): RestartPlan {
  const restart = new Map<string, PlannedRestart>();
  const didNotHelp = new Map<string, { unit: string; batch: string; holders: HolderReport[] }>();
  const notYet = new Set<string>();
  for (const h of input.holders) {
    const former = input.formers.get(h.mountId);
    const unit = h.unit;
    if (h.state !== 'detached' || !former || unit === null || unit === input.ownUnit || !input.matches(unit)) continue;
    const key = `${former.batch}\n${unit}`;
    if (input.restarted.get(former.batch)?.has(unit)) {
      const entry = didNotHelp.get(key) ?? { unit, batch: former.batch, holders: [] };
      entry.holders.push(h);
      didNotHelp.set(key, entry);
      continue;
    }
    if (!input.healthyPaths.has(former.path)) {
      notYet.add(key); // not yet: it would start on a broken mount
      continue;
    }
    const entry = restart.get(key) ?? { unit, batch: former.batch, mounts: [], pids: [] };
    if (!entry.mounts.includes(former.path)) entry.mounts.push(former.path);
    if (!entry.pids.includes(h.pid)) entry.pids.push(h.pid);
    restart.set(key, entry);
  }
  return { restart: [...restart].filter(([key]) => !notYet.has(key)).map(([, r]) => r), didNotHelp: [...didNotHelp.values()] };
}
