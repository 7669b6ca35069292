// package.json's allowScripts covers every dependency with an install script, so `npm ci` (here,
// in .ci/run and in the Dockerfile) installs without the advisory of unreviewed scripts. The real
// npm reads the real package.json and lockfile: a dry run, offline with an empty cache, so nothing
// is fetched or installed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { findExecutable } from '../helpers/tools.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
// The first npm with the allowScripts field and its install advisory.
const POLICY_SINCE = { major: 11, minor: 16 };

function npmVersion(bin: string): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)\./.exec(spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '');
  return m === null ? undefined : { major: Number(m[1]), minor: Number(m[2]) };
}

const npm = findExecutable('npm') ?? 'npm';
const version = npmVersion(npm);
const hasPolicy =
  version !== undefined &&
  (version.major > POLICY_SINCE.major || (version.major === POLICY_SINCE.major && version.minor >= POLICY_SINCE.minor));
const policy = prerequisite(
  'npm allowScripts',
  hasPolicy,
  'optional',
  `npm ${version === undefined ? '(none that runs)' : `${version.major}.${version.minor}`} predates package.json allowScripts (npm ${POLICY_SINCE.major}.${POLICY_SINCE.minor})`,
);
if (skips(policy)) console.warn(`npm install-scripts test skipped: ${policy.reason}`);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** `npm ci --dry-run` on this package.json (as given) and the checkout's lockfile: its output. */
function dryRunCi(manifest: Record<string, unknown>): { status: number | null; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nhc-npm-ci-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.copyFileSync(path.join(ROOT, 'package-lock.json'), path.join(dir, 'package-lock.json'));
  // Not the npm_* variables `npm test` sets for its scripts: this npm reads only its arguments.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const r = spawnSync(npm, ['ci', '--dry-run', '--offline', '--no-audit', '--no-fund', '--cache', path.join(dir, 'cache')], {
    cwd: dir,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

requires(policy).it('npm ci reports no dependency install script left unreviewed (and would, without allowScripts)', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const ours = dryRunCi(manifest);
  expect(ours.status, ours.output).toBe(0);
  expect(ours.output).toMatch(/^added \d+ packages/m);
  expect(ours.output).not.toMatch(/install-scripts/);

  // The same without the field: this npm does warn, naming the package, so the silence above is the field's.
  const { allowScripts: _reviewed, ...unreviewed } = manifest;
  const without = dryRunCi(unreviewed);
  expect(without.status, without.output).toBe(0);
  expect(without.output).toMatch(/install-scripts .*\besbuild@/);
});
