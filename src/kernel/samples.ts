// Ties each configured path to the NFS mount holding it: its mount ID from mountinfo, its counters
// from mountstats (which names mounts by mount point only). Pure: both texts are parsed already.
import { pathMountState, type MountEntry } from '../probe/mountinfo.js';
import type { PathSample } from './evidence.js';
import type { NfsMountStats } from './mountstats.js';

export function pathSamples(paths: readonly string[], entries: readonly MountEntry[], stats: readonly NfsMountStats[]): PathSample[] {
  // Mounts stacked on one point: the last listed is on top, in both files.
  const byMountPoint = new Map<string, NfsMountStats>();
  for (const s of stats) byMountPoint.set(s.mountPoint, s);
  const byId = new Map(entries.map((e) => [e.id, e]));
  return paths.map((path) => {
    const holder = byId.get(pathMountState(entries, path).containingMountId);
    if (!holder || !holder.fstype.startsWith('nfs')) return { path, mountId: null, stats: null };
    return { path, mountId: holder.id, stats: byMountPoint.get(holder.mountPoint) ?? null };
  });
}
