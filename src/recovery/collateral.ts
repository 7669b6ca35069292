// What a recovery must not leave behind. `umount -a -t nfs,nfs4` unmounts every idle NFS mount on
// the host, not just the failing ones: autofs brings back what it manages on the next access, but
// a static mount (fstab: /home, /data, a plugins share) stays unmounted, and whatever writes there
// next writes to the local disk under it. So the NFS mounts not under autofs are noted before the
// command, and each one gone afterwards is mounted again — from its fstab line, else with the
// source and options it had. Pure but for the plan's inputs: tested on recorded tables.
import type { RecoveryConfig } from '../config/types.js';
import { isAtOrBelow, isNfsFstype, type MountEntry } from '../probe/mountinfo.js';
import type { FstabEntry } from './fstab.js';
import type { CommandOutcome } from '../exec/runner.js';
import type { ServerAddress } from '../server/address.js';

/** A mount the recovery took away that autofs will not bring back, and how putting it back went. */
export interface CollateralReport {
  mountPoint: string;
  fstype: string;
  source: string;
  /** fstab: `mount PATH` from its fstab line; recorded: the source and options it had. */
  via: 'fstab' | 'recorded';
  outcome: 'remounted' | 'failed' | 'timeout' | 'spawn_error';
  command: CommandOutcome;
  /** The mount command as given to the runner (no namespace prefix): what a later try runs again. */
  argv: string[];
  /** The server it was mounted from: a mount not put back is tried again when that answers. */
  server: ServerAddress | null;
}

/** A static mount a recovery may take away, with what puts it back: noted before it unmounts anything. */
export interface AtRiskMount {
  mountPoint: string;
  argv: string[];
  server: ServerAddress;
}

/** A target as the collateral check needs it (see RecoveryTarget). */
interface Target {
  path: string;
  underAutofs: boolean;
}

/**
 * NFS mounts that no automounter brings back: not at or below an autofs mount (autofs', or
 * systemd's x-systemd.automount), and not a target that `recovery.remount` is configured to
 * mount again itself. In mount order, so a parent is put back before what is mounted below it.
 */
export function collateralAtRisk(
  table: readonly MountEntry[],
  targets: readonly Target[],
  cfg: Pick<RecoveryConfig, 'remount'>,
): MountEntry[] {
  const autofs = table.filter((e) => e.fstype === 'autofs').map((e) => e.mountPoint);
  const ownRemount = new Set(cfg.remount.length > 0 ? targets.filter((t) => !t.underAutofs).map((t) => t.path) : []);
  return table.filter((e) => isNfsFstype(e.fstype) && !ownRemount.has(e.mountPoint) && !autofs.some((a) => isAtOrBelow(e.mountPoint, a)));
}

/** Those of `atRisk` that are gone from `after`, unless an NFS mount is on their mount point again. */
export function takenAway(atRisk: readonly MountEntry[], after: readonly MountEntry[]): MountEntry[] {
  const ids = new Set(after.map((e) => e.id));
  return atRisk.filter((e) => !ids.has(e.id) && !nfsMountedAt(after, e.mountPoint));
}

/** An NFS mount sits on `mountPoint` (put back, by the recovery or anyone else). */
export function nfsMountedAt(table: readonly MountEntry[], mountPoint: string): boolean {
  return table.some((e) => e.mountPoint === mountPoint && isNfsFstype(e.fstype));
}

/**
 * The mount command that puts `m` back: `mount -- PATH` when fstab lists the path (its options
 * are the operator's), else `mount -t TYPE -o OPTIONS -- SOURCE PATH` with the per-mount and
 * filesystem options the kernel reported for it.
 */
export function remountCommand(m: MountEntry, fstab: readonly FstabEntry[]): { argv: string[]; via: CollateralReport['via'] } {
  if (fstab.some((f) => f.mountPoint === m.mountPoint)) return { argv: ['mount', '--', m.mountPoint], via: 'fstab' };
  return {
    argv: ['mount', '-t', m.fstype, '-o', mergeOptions(m.mountOptions, m.superOptions), '--', m.source, m.mountPoint],
    via: 'recorded',
  };
}

/** Per-mount options, then the filesystem's, each option once (both lists carry rw/ro). */
export function mergeOptions(...lists: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const option of lists.flatMap((l) => l.split(',')).filter((o) => o !== '')) {
    const key = option.split('=')[0]!;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(option);
  }
  return out.join(',');
}

export function collateralOutcome(outcome: CommandOutcome): CollateralReport['outcome'] {
  return outcome.status === 'ok' ? 'remounted' : outcome.status;
}
