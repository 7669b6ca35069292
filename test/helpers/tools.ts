// Finding the system tools tests need, and saying why a test cannot run when one is missing.
import fs from 'node:fs';
import path from 'node:path';

/** Whether a group of tests can run here, and if not, the reason they print when skipping. */
export type Availability = { ok: true } | { ok: false; reason: string };

// sbin first: mount helpers and automount live there, and root's PATH may lack it under CI.
const SEARCH_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin', ...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/bin', '/usr/bin'];

/** Absolute path of an executable, or undefined. */
export function findExecutable(name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}
