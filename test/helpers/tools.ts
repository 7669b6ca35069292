// Finding the system tools tests need, and saying why a test cannot run when one is missing.
// No vitest here: the e2e runner (test/e2e/run.ts, plain node) uses it too.
import fs from 'node:fs';
import path from 'node:path';

/**
 * What a missing prerequisite is, which decides what a CI run does without it:
 * - install: a tool or package .ci/run installs (apt-get), or the build npm test runs first.
 *   Missing under CI is a broken install step: the tests that need it fail, naming it.
 * - kernel: what the machine's kernel or devices may lack (autofs, /dev/fuse). A skip, even under CI.
 * - privilege: running as root (mounting, unshare). A skip, even under CI.
 * - optional: a tool .ci/run does not install (no Debian package). A skip, even under CI.
 * Every skip is named in the closing summary line (test/helpers/summary-reporter.ts).
 */
export type PrerequisiteKind = 'install' | 'kernel' | 'privilege' | 'optional';

/**
 * Whether a group of tests can run here, and if not, the reason they print when skipping. A
 * check that knows better than its caller says what is missing (`missing`, e.g. 'root' from a
 * FUSE check) and of which kind; see test/helpers/prerequisite.ts.
 */
export type Availability = { ok: true } | { ok: false; reason: string; missing?: string; kind?: PrerequisiteKind };

/** A CI run: CI=true or CI=1, as CI systems set it for .ci/run. */
export function underCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1';
}

// sbin first: mount helpers and automount live there, and root's PATH may lack it under CI.
const SEARCH_PATH = [
  '/usr/local/sbin',
  '/usr/sbin',
  '/sbin',
  ...(process.env.PATH ?? '').split(':').filter(Boolean),
  '/usr/local/bin',
  '/usr/bin',
];

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
