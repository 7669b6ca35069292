// Reads what is mounted where from /proc/self/mountinfo — never by touching the path, which may hang.
import { readFileSync } from 'node:fs';

export interface MountEntry {
  id: number;
  parentId: number;
  /** st_dev as "major:minor"; for FUSE the minor is the connection id under /sys/fs/fuse/connections. */
  dev: string;
  mountPoint: string;
  /** Per-mount options (rw, nosuid, relatime, …). */
  mountOptions: string;
  fstype: string;
  source: string;
  /** Per-superblock options (for autofs: fd=, pgrp= of its automount daemon, timeout=, …). */
  superOptions: string;
}

/** What the mount table says of one configured path at one moment. */
export interface PathMountState {
  /** A mount other than autofs sits exactly on the path. */
  mounted: boolean;
  /** fstype of the mount on the path (autofs included), null when the path is not a mount point. */
  fstype: string | null;
  /** ID of the top mount on the path, null when the path is not a mount point. */
  mountIdAtPath: number | null;
  /** ID of the mount that holds the path (the top mount on it, else the nearest ancestor's). */
  containingMountId: number;
  /** An autofs mount sits on the path or an ancestor: an access may mount it. */
  underAutofs: boolean;
}

const NFS_FSTYPES: ReadonlySet<string> = new Set(['nfs', 'nfs4']);

/** An NFS mount's fstype, as the mount table and autofs' maps name it. */
export const isNfsFstype = (fstype: string): boolean => NFS_FSTYPES.has(fstype);

/** Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    // Optional fields (shared:N, master:N …) come between field 6 and the "-" separator.
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 3) continue;
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      dev: fields[2] ?? '',
      mountPoint: unescapeMountField(fields[4] ?? ''),
      mountOptions: fields[5] ?? '',
      fstype: fields[sep + 1] ?? '',
      source: unescapeMountField(fields[sep + 2] ?? ''),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return entries;
}

/** `path` is the mount point or lies below it (by text: nothing is touched). */
export function isAtOrBelow(path: string, mountPoint: string): boolean {
  if (mountPoint === '/') return true;
  return path === mountPoint || path.startsWith(mountPoint + '/');
}

/** The top mount sitting exactly on `path`, if any (mounts stacked on one point: the last one listed). */
export function mountAt(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  let top: MountEntry | undefined;
  for (const e of entries) if (e.mountPoint === path) top = e;
  return top;
}

export function pathMountState(entries: readonly MountEntry[], path: string): PathMountState {
  let containing: MountEntry | undefined;
  let underAutofs = false;
  for (const e of entries) {
    if (!isAtOrBelow(path, e.mountPoint)) continue;
    if (e.fstype === 'autofs') underAutofs = true;
    // Longest mount point wins; on a tie the later entry is mounted over the earlier one.
    if (!containing || e.mountPoint.length >= containing.mountPoint.length) containing = e;
  }
  const at = containing && containing.mountPoint === path ? containing : undefined;
  return {
    mounted: at !== undefined && at.fstype !== 'autofs',
    fstype: at?.fstype ?? null,
    mountIdAtPath: at?.id ?? null,
    containingMountId: containing?.id ?? -1,
    underAutofs,
  };
}

export type MountTable = () => MountEntry[];

/** The text of this process's mount namespace's table, as the kernel writes it. */
export const readMountinfo = (): string => readFileSync('/proc/self/mountinfo', 'utf8');

/** The real mount table of this process's mount namespace. */
export const readMountTable: MountTable = () => parseMountinfo(readMountinfo());
