// The date the packages are stamped with, and CHANGELOG.md it comes from where there is no git
// history: `packaging/release/build.sh --source-date` (the date choice build.sh makes, then a stop
// before the build) run for real in this checkout, in a git repository of its own with a known
// commit time, and in this source tree copied without .git as a release's source archive is —
// alone, and unpacked inside another repository. The changelogs changelog.sh writes for the
// packages are read back by dpkg-parsechangelog and rpmspec; the scripts are shellcheck-clean.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { executable, prerequisite, requires } from '../helpers/prerequisite.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const RELEASE = path.join(ROOT, 'packaging/release');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const HEADING = /^## \[?(\d+\.\d+\.\d+)\]? +[—–-] +(\d{4})-(\d\d)-(\d\d) *$/;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Run {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: 30_000,
    cwd: opts.cwd,
    input: opts.input,
    env: { ...process.env, ...opts.env },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function must(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const r = run(command, args, opts);
  expect(r.status, `${command} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

const tempDir = tempDirs();

// The build's environment without a date of its own, whatever the test's.
const noDate: NodeJS.ProcessEnv = { SOURCE_DATE_EPOCH: '' };

/** build.sh --source-date in the tree at root: the date and where it came from, or the error. */
function sourceDate(root: string, env: NodeJS.ProcessEnv = noDate): { epoch?: number; from?: string; error?: string } {
  const r = run('bash', [path.join(root, 'packaging/release/build.sh'), '--source-date'], { env, cwd: os.tmpdir() });
  if (r.status !== 0) {
    expect(r.stdout).toBe('');
    return { error: r.stderr };
  }
  const m = /^SOURCE_DATE_EPOCH=(\d+) \(from (.+)\)\n$/.exec(r.stdout);
  if (!m) throw new Error(`build.sh --source-date printed: ${r.stdout}`);
  return { epoch: Number(m[1]), from: m[2] };
}

/** The newest entry of a CHANGELOG.md, read here on its own: its version, and its day's midnight UTC. */
function newestEntry(text: string): { version: string; date: string; epoch: number } {
  const heading = text.split('\n').find((l) => l.startsWith('## '));
  const m = heading === undefined ? null : HEADING.exec(heading);
  if (!m) throw new Error(`no entry heading in CHANGELOG.md: ${heading}`);
  const [, version = '', y = '', mo = '', d = ''] = m;
  return { version, date: `${y}-${mo}-${d}`, epoch: Date.UTC(Number(y), Number(mo) - 1, Number(d)) / 1000 };
}

/**
 * This source tree as a release's source archive holds it: the files git tracks, and new ones it
 * does not ignore, as they are now (what `git archive` gives once they are committed), no .git.
 */
function exportTree(into?: string): string {
  const dir = into ?? tempDir('nhc-export-');
  const listed = must('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT });
  let copied = 0;
  for (const f of listed.split('\0').filter(Boolean)) {
    const from = path.join(ROOT, f);
    const st = fs.lstatSync(from, { throwIfNoEntry: false });
    if (!st?.isFile()) continue; // deleted since, or the node_modules link of a worktree
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(from, path.join(dir, f));
    fs.chmodSync(path.join(dir, f), st.mode & 0o777);
    copied++;
  }
  expect(copied).toBeGreaterThan(50);
  expect(fs.existsSync(path.join(dir, '.git'))).toBe(false);
  return dir;
}

/** A git repository at dir with everything in it committed once, at epoch. */
function commitAll(dir: string, epoch: number): void {
  const env = {
    GIT_AUTHOR_NAME: 'Release Test',
    GIT_AUTHOR_EMAIL: 'release@example.org',
    GIT_COMMITTER_NAME: 'Release Test',
    GIT_COMMITTER_EMAIL: 'release@example.org',
    GIT_AUTHOR_DATE: `@${epoch} +0000`,
    GIT_COMMITTER_DATE: `@${epoch} +0000`,
  };
  must('git', ['init', '-q', dir]);
  must('git', ['add', '.'], { cwd: dir, env });
  must('git', ['-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'release'], { cwd: dir, env });
}

/** Rewrites dir's CHANGELOG.md. */
function editChangelog(dir: string, edit: (text: string) => string): void {
  const file = path.join(dir, 'CHANGELOG.md');
  fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf8')));
}

const oneLine = (s: string | undefined): string[] => (s ?? '').trim().split('\n');
const otherVersion = VERSION.replace(/^\d+/, (major) => String(Number(major) + 1));
const git = executable('git', 'git');
// The exported trees are copied from this checkout, by what git lists.
const checkout = prerequisite('a git checkout', fs.existsSync(path.join(ROOT, '.git')), 'optional', `${ROOT} has no .git`);
const CHANGELOG = fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8');

describe('CHANGELOG.md', () => {
  it("its newest entry is package.json's version, dated by a real day", () => {
    const newest = newestEntry(CHANGELOG);
    expect(newest.version).toBe(VERSION);
    expect(new Date(newest.epoch * 1000).toISOString().slice(0, 10)).toBe(newest.date);
  });
});

requires(git, checkout).describe('SOURCE_DATE_EPOCH: build.sh --source-date', () => {
  const newest = newestEntry(CHANGELOG);

  it("this checkout: its last commit's time", () => {
    const last = Number(must('git', ['log', '-1', '--format=%ct'], { cwd: ROOT }).trim());
    const got = sourceDate(ROOT);
    expect(got.epoch).toBe(last);
    expect(got.from).toMatch(/^the last commit, [0-9a-f]{7,}$/);
  });

  it("the environment's SOURCE_DATE_EPOCH comes first, in a checkout and in an exported tree; one that is not seconds is one line", () => {
    const exported = exportTree();
    for (const root of [ROOT, exported]) {
      expect(sourceDate(root, { SOURCE_DATE_EPOCH: '1700000000' })).toEqual({ epoch: 1700000000, from: 'the environment' });
      const bad = sourceDate(root, { SOURCE_DATE_EPOCH: 'yesterday' });
      expect(oneLine(bad.error)).toEqual([
        "build.sh: error: SOURCE_DATE_EPOCH must be seconds since 1970, got 'yesterday' (from the environment)",
      ]);
    }
  });

  it("a git repository of its own: its last commit's time, not the changelog's day", () => {
    const repo = exportTree();
    commitAll(repo, 1234567890);
    const got = sourceDate(repo);
    expect(got.epoch).toBe(1234567890);
    expect(got.from).toMatch(/^the last commit, [0-9a-f]{7,}$/);
  });

  it("the tree without .git (a source archive): the newest CHANGELOG.md entry's day, at midnight UTC", () => {
    const got = sourceDate(exportTree());
    expect(got).toEqual({ epoch: newest.epoch, from: `CHANGELOG.md, ${newest.date}` });
  });

  it("unpacked inside another git repository: still the changelog's day, not that repository's commit", () => {
    const outer = tempDir('nhc-outer-');
    fs.writeFileSync(path.join(outer, 'README'), 'another project\n');
    commitAll(outer, 1111111111);
    const inner = exportTree(path.join(outer, 'vendor', 'nfs-health-checkd'));
    // The outer repository does see the tree: git would answer for it.
    expect(must('git', ['rev-parse', '--show-toplevel'], { cwd: inner }).trim()).toBe(fs.realpathSync(outer));
    expect(sourceDate(inner)).toEqual({ epoch: newest.epoch, from: `CHANGELOG.md, ${newest.date}` });
  });

  it('a changelog whose newest entry is for another version: one line naming the file, the line, both versions, in any tree', () => {
    const exported = exportTree();
    editChangelog(exported, (t) => t.replace(`## ${VERSION} `, `## ${otherVersion} `));
    const repo = exportTree();
    editChangelog(repo, (t) => t.replace(`## ${VERSION} `, `## ${otherVersion} `));
    commitAll(repo, 1234567890);
    for (const [root, env] of [
      [exported, noDate],
      [repo, noDate],
      [exported, { SOURCE_DATE_EPOCH: '1700000000' }],
    ] as const) {
      const got = sourceDate(root, env);
      expect(got.epoch).toBeUndefined();
      const lines = oneLine(got.error);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(
          `^build\\.sh: error: \\S+/CHANGELOG\\.md:\\d+: the newest entry is for ${otherVersion}, package\\.json's version is ${VERSION}: add '## ${VERSION} — YYYY-MM-DD' .*above it$`,
        ),
      );
    }
  });

  it('no CHANGELOG.md, or one without an entry: one line naming the file and the heading it needs', () => {
    const missing = exportTree();
    fs.rmSync(path.join(missing, 'CHANGELOG.md'));
    expect(oneLine(sourceDate(missing).error)).toEqual([
      `build.sh: error: ${fs.realpathSync(missing)}/CHANGELOG.md is missing: its newest entry must read '## ${VERSION} — YYYY-MM-DD' (the version in package.json, the day it was released)`,
    ]);
    const empty = exportTree();
    editChangelog(empty, (t) => t.slice(0, t.indexOf('\n## ')));
    expect(oneLine(sourceDate(empty).error)[0]).toMatch(/CHANGELOG\.md has no entry: its newest must read '## \d+\.\d+\.\d+ — YYYY-MM-DD'/);
  });

  it('a heading that is not an entry, a day that does not exist, entries out of order: one line each, with the line number', () => {
    const cases: [string, (t: string) => string, RegExp][] = [
      [
        'unreleased',
        (t) => t.replace('\n## ', '\n## Unreleased\n\n- Soon.\n\n## '),
        /CHANGELOG\.md:\d+: '## Unreleased' is not an entry heading: the newest entry must read/,
      ],
      [
        'no day',
        (t) => t.replace(/^## (.*) — \d{4}-\d\d-\d\d$/m, '## $1 — 2026-02-30'),
        /CHANGELOG\.md:\d+: 2026-02-30 is not a date \(YYYY-MM-DD\)$/,
      ],
      [
        'out of order',
        (t) => `${t}\n## 0.0.1 — 2099-01-01\n\n- From the future.\n`,
        /CHANGELOG\.md:\d+: entries go newest first, each version once: 0\.0\.1 \(2099-01-01\) is below/,
      ],
      [
        'no changes',
        (t) => t.replace(/^(## .*)$/m, `## ${VERSION} — 2027-01-01\n\n$1`),
        /CHANGELOG\.md: the entry for \S+ lists no changes$/,
      ],
    ];
    for (const [name, edit, want] of cases) {
      const tree = exportTree();
      editChangelog(tree, edit);
      const lines = oneLine(sourceDate(tree).error);
      expect(lines, name).toHaveLength(1);
      expect(lines[0], name).toMatch(want);
    }
  });

  it("Keep a Changelog's heading, '## [VERSION] - YYYY-MM-DD', reads the same", () => {
    const tree = exportTree();
    editChangelog(tree, (t) => t.replace(/^## (\S+) — (\S+)$/m, '## [$1] - $2'));
    expect(sourceDate(tree)).toEqual({ epoch: newest.epoch, from: `CHANGELOG.md, ${newest.date}` });
  });
});

const SAMPLE = `# Changelog

Preamble: not an entry.

## [2.1.0] - 2027-03-04

### Fixed

- A fix worth 100% of \`%{name}\`, described at such length that its line in the package changelogs must be wrapped.
- A change written over
  two lines.

## 2.0.0 — 2027-01-02

- The first.
`;

requires(executable('dpkg-parsechangelog', 'dpkg-dev'), executable('rpmspec', 'rpm')).describe(
  "the packages' changelogs, written from CHANGELOG.md (changelog.sh)",
  () => {
    /** changelog.sh's changelog_read of dir's CHANGELOG.md, then SCRIPT, in bash as build.sh sources it. */
    function withChangelog(dir: string, version: string, script: string): string {
      return must('bash', [
        '-c',
        `set -euo pipefail; die() { echo "build.sh: error: $*" >&2; exit 1; }; . "$1/changelog.sh"; changelog_read "$2/CHANGELOG.md" "$3"; ${script}`,
        'bash',
        RELEASE,
        dir,
        version,
      ]);
    }

    const MAINTAINER = 'Release Team <release@example.org>';
    const NOTE = 'Packaged with the Node.js 24.0.0 runtime.';

    it('Debian: every entry, dpkg-parsechangelog reads its version and its day as the date (the timestamp an exported tree builds with), lines within 80 columns', () => {
      const dir = tempDir('nhc-changelog-');
      fs.writeFileSync(path.join(dir, 'CHANGELOG.md'), SAMPLE);
      const deb = withChangelog(dir, '2.1.0', `changelog_deb nfs-health-checkd "${MAINTAINER}" "${NOTE}"`);
      fs.writeFileSync(path.join(dir, 'changelog'), deb);
      const field = (f: string, more: string[] = []) =>
        must('dpkg-parsechangelog', ['-l', path.join(dir, 'changelog'), ...more, '-S', f]).trim();
      expect(field('Version')).toBe('2.1.0');
      expect(field('Timestamp')).toBe(String(Date.UTC(2027, 2, 4) / 1000));
      expect(field('Date')).toBe('Thu, 04 Mar 2027 00:00:00 +0000');
      expect(field('Maintainer')).toBe(MAINTAINER);
      expect(field('Version', ['--offset', '1', '--count', '1'])).toBe('2.0.0');
      expect(field('Date', ['--offset', '1', '--count', '1'])).toBe('Sat, 02 Jan 2027 00:00:00 +0000');
      const changes = field('Changes', ['--count', '1']);
      // The long change wrapped under its bullet; the two-line one joined; the note last.
      expect(changes).toMatch(
        /\n {2}\* A fix worth 100% of `%\{name\}`, described at such length that its line in\n {4}the package changelogs must be wrapped\.\n/,
      );
      expect(changes).toMatch(/\n {2}\* A change written over two lines\.\n {2}\* Packaged with the Node\.js 24\.0\.0 runtime\.$/);
      // The note is the newest entry's alone.
      expect(field('Changes', ['--offset', '1', '--count', '1'])).not.toContain('Node.js');
      expect(deb.split('\n').filter((l) => l.length > 80)).toEqual([]);
    });

    it('RPM: every entry, newest first, rpmspec reads its day, version-release and the text with its % as written', () => {
      const dir = tempDir('nhc-changelog-');
      fs.writeFileSync(path.join(dir, 'CHANGELOG.md'), SAMPLE);
      const rpm = withChangelog(dir, '2.1.0', `changelog_rpm "${MAINTAINER}" 1 "${NOTE}"`);
      const spec = path.join(dir, 'x.spec');
      fs.writeFileSync(spec, `Name: x\nVersion: 2.1.0\nRelease: 1\nSummary: x\nLicense: MIT\n%description\nx\n\n%changelog\n${rpm}`);
      const q = (fmt: string) => must('rpmspec', ['-q', '--qf', fmt, spec]);
      expect(q('[%{CHANGELOGNAME}\\n]').trim().split('\n')).toEqual([`${MAINTAINER} - 2.1.0-1`, `${MAINTAINER} - 2.0.0-1`]);
      expect(q('[%{CHANGELOGTIME:day}\\n]').trim().split('\n')).toEqual(['Thu Mar 04 2027', 'Sat Jan 02 2027']);
      const text = q('[%{CHANGELOGTEXT}\\n@@\\n]').split('\n@@\n');
      expect(text[0]).toMatch(/^- A fix worth 100% of `%\{name\}`, described at such length/);
      expect(text[0]).toMatch(/\n- A change written over two lines\.\n- Packaged with the Node\.js 24\.0\.0 runtime\.$/);
      expect(text[1]).toBe('- The first.');
    });

    it("this CHANGELOG.md gives a Debian changelog for package.json's version, dated by the day an exported tree builds with", () => {
      const deb = withChangelog(ROOT, VERSION, `changelog_deb nfs-health-checkd "${MAINTAINER}" "${NOTE}"`);
      const dir = tempDir('nhc-changelog-');
      fs.writeFileSync(path.join(dir, 'changelog'), deb);
      const field = (f: string) => must('dpkg-parsechangelog', ['-l', path.join(dir, 'changelog'), '-S', f]).trim();
      expect(field('Version')).toBe(VERSION);
      expect(Number(field('Timestamp'))).toBe(newestEntry(CHANGELOG).epoch);
      expect(deb.split('\n').filter((l) => l.length > 80)).toEqual([]);
    });
  },
);

requires(executable('shellcheck', 'shellcheck')).it('build.sh and the scripts it sources are shellcheck-clean', () => {
  const scripts = ['build.sh', 'deb.sh', 'rpm.sh', 'changelog.sh', 'source-date.sh'];
  const r = run('shellcheck', ['-x', ...scripts], { cwd: RELEASE });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
});
