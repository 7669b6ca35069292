// Is the automounter serving our mounts alive? Every autofs mount names, in its options, the
// process group of the automount daemon that serves it (pgrp=N); that daemon is alive when
// /proc/N exists. One procfs read of the mount table and one stat per autofs mount a cycle — never a
// touch of the mount itself, and no scan of every process on a busy node. Only the autofs mounts
// the configured paths lie under count: systemd's own automount points (binfmt_misc on most
// distributions) name PID 1, which is always alive and is not the automounter of our paths.
import { existsSync } from 'node:fs';
import { isAtOrBelow, type MountEntry } from './mountinfo.js';

/**
 * The automount process groups named by the autofs mounts the paths lie under; by every autofs
 * mount when none of the paths is under one (or no paths are given).
 */
export function automountGroups(table: readonly MountEntry[], paths: readonly string[] = []): number[] {
  const autofs = table.filter((e) => e.fstype === 'autofs');
  const covering = autofs.filter((e) => paths.some((p) => isAtOrBelow(p, e.mountPoint)));
  const groups = new Set<number>();
  for (const e of covering.length > 0 ? covering : autofs) {
    const m = /(?:^|,)pgrp=(\d+)(?:,|$)/.exec(e.superOptions);
    if (m) groups.add(Number(m[1]));
  }
  return [...groups];
}

/** The process group of an automount daemon serving the paths (see automountGroups) that is alive; undefined: none. */
export function liveAutomountGroup(table: readonly MountEntry[], paths: readonly string[] = [], proc = '/proc'): number | undefined {
  return automountGroups(table, paths).find((pgrp) => existsSync(`${proc}/${pgrp}`));
}

/** True when there are autofs mounts and an automount daemon serving them (those of `paths`) is alive. */
export function automountRunning(table: readonly MountEntry[], paths: readonly string[] = [], proc = '/proc'): boolean {
  return liveAutomountGroup(table, paths, proc) !== undefined;
}
