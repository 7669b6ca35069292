// Guards for tests that need something of the machine: no silent skips under CI.
//
//   const promtool = prerequisite('promtool', promtoolAvailable(), 'install');
//   if (skips(promtool)) console.warn(`promtool tests skipped: ${promtool.reason}`);
//   requires(promtool).describe('promtool', () => { ... });   // or requires(...).it(name, fn)
//
// With everything there, that is a plain describe (it). Otherwise:
// - under CI (CI=true or CI=1) a missing 'install' prerequisite, which .ci/run installs, fails:
//   one test in place of the group ("prerequisite missing: promtool") whose error names it and
//   the Debian package, or, for an it, the test itself;
// - anything else missing (kernel, privilege, optional; or install outside CI) skips, and the
//   skipped tests carry it in their meta (`prerequisite`), which test/helpers/summary-reporter.ts
//   counts in the closing line: "tests: … 9 skipped (autofs: 9 — the kernel has no autofs …)".
import { spawnSync } from 'node:child_process';
import { describe, it, type SuiteFactory, type TestFunction } from 'vitest';
import { CLI, cliBuilt } from './cli.js';
import { findExecutable, underCI, type Availability, type PrerequisiteKind } from './tools.js';

export type { PrerequisiteKind };

/** Something a group of tests needs, and whether this machine has it. */
export interface Prerequisite {
  /** What is missing, as the summary names it: 'promtool', 'root', 'autofs'. */
  readonly name: string;
  readonly kind: PrerequisiteKind;
  readonly ok: boolean;
  /** Why it is missing, with the Debian package for an install (empty when ok). */
  readonly reason: string;
}

/** What a skipped test carries in its meta: the prerequisite it lacked. */
export interface SkipRecord {
  name: string;
  kind: PrerequisiteKind;
  reason: string;
}

declare module 'vitest' {
  interface TaskMeta {
    /** Set on tests skipped by requires(): what they lacked. */
    prerequisite?: SkipRecord;
  }
}

/**
 * A prerequisite from a check: an Availability (whose own `missing` and `kind`, when it has
 * them, win: fuseAvailable() knows "root" from "/dev/fuse") or a boolean with the reason it
 * is false. An install's reason names the Debian package.
 */
export function prerequisite(name: string, availability: Availability | boolean, kind: PrerequisiteKind, reason = ''): Prerequisite {
  if (availability === true || (typeof availability === 'object' && availability.ok)) return { name, kind, ok: true, reason: '' };
  if (availability === false) return { name, kind, ok: false, reason: reason || `${name} is missing` };
  return { name: availability.missing ?? name, kind: availability.kind ?? kind, ok: false, reason: availability.reason };
}

/** An executable .ci/run installs with Debian package `pkg`. */
export function executable(name: string, pkg: string): Prerequisite {
  return prerequisite(name, findExecutable(name) !== undefined, 'install', `${name} not found (Debian: apt-get install ${pkg})`);
}

/** A command .ci/run installs with Debian package `pkg` that must run (exit 0) with these arguments. */
export function runs(command: string, args: string[], pkg: string): Prerequisite {
  const ok = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
  return prerequisite(
    command,
    ok,
    'install',
    `\`${[command, ...args].join(' ')}\` fails or ${command} is missing (Debian: apt-get install ${pkg})`,
  );
}

/** The built CLI (dist/src/cli.js): npm test builds first, so under CI its absence is a failure. */
export function built(): Prerequisite {
  return prerequisite('dist build', cliBuilt(), 'install', `${CLI} not built (npm test builds first; npm run build)`);
}

/** Running as root. */
export function runningAsRoot(why: string): Prerequisite {
  return prerequisite('root', process.getuid?.() === 0, 'privilege', why);
}

export type Decision =
  { action: 'run' } | { action: 'fail'; missing: Prerequisite[]; message: string } | { action: 'skip'; skip: SkipRecord };

/** What requires() does with these prerequisites; `ci` is underCI() unless a test says. */
export function decide(prerequisites: readonly Prerequisite[], ci = underCI()): Decision {
  const missing = prerequisites.filter((p) => !p.ok);
  const first = missing[0];
  if (first === undefined) return { action: 'run' };
  const broken = missing.filter((p) => p.kind === 'install');
  if (ci && broken.length > 0) {
    const message =
      `prerequisite missing under CI: ${broken.map((p) => `${p.name}: ${p.reason}`).join('; ')}. ` +
      '.ci/run provides it (apt-get install, then npm test builds), so a step of it is broken; outside CI this is a skip.';
    return { action: 'fail', missing: broken, message };
  }
  return { action: 'skip', skip: { name: first.name, kind: first.kind, reason: first.reason } };
}

/** Whether requires() will skip (rather than run or fail): when to print the skip message. */
export function skips(...prerequisites: Prerequisite[]): boolean {
  return decide(prerequisites).action === 'skip';
}

/** What requires() registers tests with; a test of this module passes its own. */
export interface Registrar {
  describe: (name: string, options: { skip?: boolean; meta?: { prerequisite: SkipRecord } }, factory: SuiteFactory) => void;
  it: (name: string, options: { skip?: boolean; meta?: { prerequisite: SkipRecord } }, fn: TestFunction) => void;
}

const vitest: Registrar = { describe: (n, o, f) => describe(n, o, f), it: (n, o, f) => it(n, o, f) };

export interface Guarded {
  /** describe(name, factory) if every prerequisite is there; see the top of this file otherwise. */
  describe(name: string, factory: SuiteFactory): void;
  /** it(name, fn) if every prerequisite is there; see the top of this file otherwise. */
  it(name: string, fn: TestFunction): void;
}

/** Tests that need these prerequisites. */
export function requires(...prerequisites: Prerequisite[]): Guarded {
  return guard(prerequisites, underCI(), vitest);
}

/** requires(), with CI and the registrar given: for test/helpers/prerequisite.test.ts. */
export function guard(prerequisites: readonly Prerequisite[], ci: boolean, registrar: Registrar): Guarded {
  const d = decide(prerequisites, ci);
  const failing =
    (message: string): TestFunction =>
    () => {
      throw new Error(message);
    };
  return {
    describe(name, factory) {
      if (d.action === 'run') registrar.describe(name, {}, factory);
      else if (d.action === 'skip') registrar.describe(name, { skip: true, meta: { prerequisite: d.skip } }, factory);
      else {
        registrar.describe(name, {}, () => {
          registrar.it(`prerequisite missing: ${d.missing.map((p) => p.name).join(', ')}`, {}, failing(d.message));
        });
      }
    },
    it(name, fn) {
      if (d.action === 'run') registrar.it(name, {}, fn);
      else if (d.action === 'skip') registrar.it(name, { skip: true, meta: { prerequisite: d.skip } }, fn);
      else registrar.it(name, {}, failing(d.message));
    },
  };
}
