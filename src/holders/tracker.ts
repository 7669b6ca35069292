// What changed between two scans: holders first seen, holders whose mount went from failing to
// detached, holders gone. Pure; the watch reports what it returns.
import type { Holder, MountState, WatchedMount } from './scan.js';

/** A holder as reported: the process, the configured path and the state of its mount then. */
export interface HolderReport extends Holder {
  path: string;
  state: MountState;
}

export interface HolderChanges {
  seen: HolderReport[];
  /** Seen before on the failing mount, now on it detached. */
  detached: HolderReport[];
  gone: HolderReport[];
  current: Map<string, HolderReport>;
}

export const holderKey = (h: Pick<Holder, 'pid' | 'start' | 'mountId'>): string => `${h.pid}:${h.start}:${h.mountId}`;

export function trackHolders(
  known: ReadonlyMap<string, HolderReport>,
  found: readonly Holder[],
  watched: readonly WatchedMount[],
): HolderChanges {
  const byId = new Map(watched.map((w) => [w.mountId, w]));
  const current = new Map<string, HolderReport>();
  const seen: HolderReport[] = [];
  const detached: HolderReport[] = [];
  for (const h of found) {
    const w = byId.get(h.mountId);
    if (!w) continue;
    const report: HolderReport = { ...h, path: w.path, state: w.state };
    const key = holderKey(h);
    const before = known.get(key);
    current.set(key, report);
    if (!before) seen.push(report);
    else if (before.state !== report.state) detached.push(report);
  }
  const gone = [...known].filter(([key]) => !current.has(key)).map(([, h]) => h);
  return { seen, detached, gone, current };
}

/** Processes holding a detached former mount, per configured path. */
export function detachedCounts(paths: readonly string[], holders: Iterable<HolderReport>): Map<string, number> {
  const pids = new Map<string, Set<number>>(paths.map((p) => [p, new Set<number>()]));
  for (const h of holders) if (h.state === 'detached') pids.get(h.path)?.add(h.pid);
  return new Map([...pids].map(([path, set]) => [path, set.size]));
}

/** "cwd", "fd 7 → /airflow/logs/x.log", "mmap /f.so": what a holder holds, one string each. */
export function describeHolds(h: Pick<Holder, 'holds'>): string[] {
  return h.holds.map((hold) => {
    if (hold.kind === 'fd') return `fd ${hold.fd ?? '?'} → ${hold.target}`;
    const via = hold.inherited ? ' (inherited)' : '';
    return `${hold.kind} ${hold.target}${via}`;
  });
}
