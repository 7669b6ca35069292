// Ties each configured path to the NFS mount holding it: its mount ID from mountinfo, its counters
// from mountstats (which names mounts by mount point only). Pure: both texts are parsed already.
import { pathMountState, type MountEntry } from '../probe/mountinfo.js';
import type { PathSample } from './evidence.js';
import type { NfsMountStats } from './mountstats.js';

/** The NFS mounts holding the configured paths, by ID: the only ones whose counters are read. */
export function nfsHolders(paths: readonly string[], entries: readonly MountEntry[]): Map<string, MountEntry> {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const holders = new Map<string, MountEntry>();
  for (const path of paths) {
    const holder = byId.get(pathMountState(entries, path).containingMountId);
    if (holder && holder.fstype.startsWith('nfs')) holders.set(path, holder);
  }
  return holders;
}

/** Each configured path's sample, from its holder (nfsHolders) and the counters read. */
export function pathSamples(
  paths: readonly string[],
  holders: ReadonlyMap<string, MountEntry>,
  stats: readonly NfsMountStats[],
): PathSample[] {
  // Mounts stacked on one point: the last listed is on top, in both files.
  const byMountPoint = new Map<string, NfsMountStats>();
  for (const s of stats) byMountPoint.set(s.mountPoint, s);
  return paths.map((path) => {
    const holder = holders.get(path);
    if (!holder) return { path, mountId: null, stats: null };
    return { path, mountId: holder.id, stats: byMountPoint.get(holder.mountPoint) ?? null };
  });
}
