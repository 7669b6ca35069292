// Is the automounter serving our mounts alive? Every autofs mount names, in its options, the
// process group of the automount daemon that serves it (pgrp=N); that daemon is alive when
// /proc/N exists. One procfs read of the mount table and one stat per autofs mount a cycle — never a
// touch of the mount itself, and no scan of every process on a busy node.
import { existsSync } from 'node:fs';
import type { MountEntry } from './mountinfo.js';

/** The automount process groups named by the autofs mounts in the table. */
export function automountGroups(table: readonly MountEntry[]): number[] {
  const groups = new Set<number>();
  for (const e of table) {
    if (e.fstype !== 'autofs') continue;
    const m = /(?:^|,)pgrp=(\d+)(?:,|$)/.exec(e.superOptions);
    if (m) groups.add(Number(m[1]));
  }
  return [...groups];
}

/** True when there are autofs mounts and an automount daemon serving them is alive. */
export function automountRunning(table: readonly MountEntry[], proc = '/proc'): boolean {
  return automountGroups(table).some((pgrp) => existsSync(`${proc}/${pgrp}`));
}
