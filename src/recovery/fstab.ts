// /etc/fstab, read as the recovery commands see it: a static mount the recovery command took away
// is mounted again from its fstab line when it has one (`mount PATH`), so its options are the ones
// the operator wrote.
import { readFileSync } from 'node:fs';
import { unescapeMountField } from '../probe/mountinfo.js';

export interface FstabEntry {
  source: string;
  mountPoint: string;
  fstype: string;
  options: string;
}

export function parseFstab(text: string): FstabEntry[] {
  const entries: FstabEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2 || fields[0]!.startsWith('#')) continue;
    entries.push({
      source: unescapeMountField(fields[0]!),
      mountPoint: unescapeMountField(fields[1]!).replace(/(.)\/+$/, '$1'),
      fstype: fields[2] ?? 'auto',
      options: fields[3] ?? 'defaults',
    });
  }
  return entries;
}

/**
 * Reads the fstab of the mount namespace the commands run in: the daemon's own (null), or that of
 * the process whose namespace file it is (`/proc/PID/ns/mnt` → `/proc/PID/root/etc/fstab`); null
 * when there is none to read, and the mount is then made as it was.
 */
export function fstabReader(mountNamespace: string | null): () => string | null {
  const pid = mountNamespace === null ? null : /^\/proc\/(\d+)\/ns\/mnt$/.exec(mountNamespace)?.[1];
  if (pid === undefined) return () => null;
  const file = pid === null ? '/etc/fstab' : `/proc/${pid}/root/etc/fstab`;
  return () => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
}
