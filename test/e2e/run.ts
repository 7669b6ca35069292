// npm run test:e2e [-- --only=NAME[,NAME…]]
//
// End to end on real NFS: builds (or reuses) the VM image (no Node.js in it), installs the
// project's .deb (npm run package: release/nfs-health-checkd_<version>_amd64.deb) with dpkg -i and
// `systemctl enable --now` (the install boot), then boots that disk afresh for each scenario and
// last for the removal (dpkg -r, dpkg -P), judges what each left behind, prints a table of the
// times and writes test/e2e/results/latest.json (full runs only). Exits 0 with "SKIPPED: reason"
// where the VM cannot be built or booted, 1 when a check fails or the .deb is missing, or when,
// under CI (CI=true), a VM tool .ci/run installs is missing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable, underCI } from '../helpers/tools.js';
import { analyzeInstall, needlessRecoveries, parseJob, type Analysis, type Check } from './analyze.js';
import { judge, REMOVAL, SCENARIOS, UNTIMED, type Scenario } from './scenarios.js';
import { boot, overlay, run, type BootResult, type Image } from './vm.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const E2E = path.join(ROOT, 'test', 'e2e');
const CACHE = process.env.NHC_E2E_CACHE ?? '/var/tmp/nfs-health-checkd-e2e';
// Where npm run package (packaging/release/build.sh) writes the .deb; RELEASE_DIR moves it there too.
const RELEASE = path.resolve(ROOT, process.env.RELEASE_DIR ?? 'release');
// A scenario is run once more when a check fails: TCG timing can be unlucky once; a real
// defect fails twice. Both attempts are reported.
const ATTEMPTS = 2;
// No second attempt once the run is this old: CI's limit is 90 min for everything.
const RETRY_UNTIL_MS = 45 * 60_000;

interface ScenarioOutcome {
  name: string;
  title: string;
  from: string;
  ok: boolean;
  attempts: number;
  wall_s: number;
  times: Analysis['times'];
  figures: Analysis['figures'];
  checks: Check[];
  failed_attempts: { checks: Check[]; needless_recoveries: number }[];
  run_dir: string;
  /** The kernel's NFS counters and messages the job recorded (record_kernel), in run_dir/share. */
  kernel_recordings: string[];
}

/** Recoveries before a fault (needless), in every boot of the run: the install boot's and each attempt's. */
const needlessOf = (a: Pick<Analysis, 'figures'>): number => Number(a.figures.needless_recoveries ?? 0);
const needlessTotal = (install: number, outcomes: ScenarioOutcome[]): number =>
  outcomes.reduce((n, o) => n + needlessOf(o) + o.failed_attempts.reduce((m, f) => m + f.needless_recoveries, 0), install);

const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)} s`;
const say = (msg: string): void => void process.stderr.write(`e2e [${elapsed()}]: ${msg}\n`);

function skip(reason: string): never {
  console.log(`e2e: SKIPPED: ${reason}`);
  process.exit(0);
}

function fail(msg: string, detail = ''): never {
  console.log(`e2e: FAILED: ${msg}`);
  if (detail) console.log(detail);
  process.exit(1);
}

function parseOnly(argv: string[]): Set<string> | null {
  const arg = argv.find((a) => a.startsWith('--only='));
  if (!arg) return null;
  const names = new Set(arg.slice('--only='.length).split(',').filter(Boolean));
  // --only=remove: the install and removal boots alone (the removal runs in every run anyway).
  const known = [...SCENARIOS.map((s) => s.name), REMOVAL.name];
  const unknown = [...names].filter((n) => !known.includes(n));
  if (unknown.length) {
    console.error(`e2e: unknown scenario ${unknown.join(', ')}; known: ${known.join(', ')}`);
    process.exit(64);
  }
  return names;
}

interface Deb {
  file: string;
  version: string;
}

/** The .deb of package.json's version, as npm run package leaves it; the run fails without it. */
function findDeb(): Deb {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') fail(`${path.join(ROOT, 'package.json')} has no version`);
  const file = path.join(RELEASE, `nfs-health-checkd_${pkg.version}_amd64.deb`);
  if (!fs.existsSync(file)) {
    const others = fs.existsSync(RELEASE) ? fs.readdirSync(RELEASE).filter((f) => f.endsWith('.deb')) : [];
    fail(
      `no ${file}: run npm run package first (npm run test:e2e does)${others.length ? `; ${RELEASE} has ${others.join(', ')}, not version ${pkg.version}` : ''}`,
    );
  }
  // Run without npm run package (node dist/test/e2e/run.js): the .deb may predate the build.
  const cli = path.join(ROOT, 'dist', 'src', 'cli.js');
  if (fs.existsSync(cli) && fs.statSync(file).mtimeMs < fs.statSync(cli).mtimeMs)
    say(`warning: ${file} is older than dist/src/cli.js: it may not be this tree (npm run package rebuilds it)`);
  return { file, version: pkg.version };
}

// What the VM build and boot run, and the Debian package of each (build.sh installs them when missing, if it can).
const VM_TOOLS: Array<[string, string]> = [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['qemu-img', 'qemu-utils'],
  ['debootstrap', 'debootstrap'],
  ['mkfs.ext4', 'e2fsprogs'],
];

function preflight(): Deb {
  if (process.env.NHC_E2E_SKIP) skip(`NHC_E2E_SKIP is set (${process.env.NHC_E2E_SKIP})`);
  if (process.platform !== 'linux' || process.arch !== 'x64') skip(`the VM is x86_64 Linux; this is ${process.platform}/${process.arch}`);
  if (process.getuid?.() !== 0) skip('not root: building the image (debootstrap, chroot) needs root');
  // .ci/run installs these: under CI a missing one is a broken install step, not a skip.
  const missing = underCI() ? VM_TOOLS.filter(([tool]) => !findExecutable(tool)) : [];
  if (missing.length > 0) {
    const tools = missing.map(([t, p]) => `${t} (Debian: apt-get install ${p})`).join(', ');
    fail(`prerequisite missing under CI: ${tools}; .ci/run installs them, so its install step is broken`);
  }
  return findDeb();
}

async function buildImage(runDir: string): Promise<Image> {
  say('VM image: building or reusing the cached one (a first build takes about 2 min)');
  const r = await run('bash', [path.join(E2E, 'vm', 'build.sh')], { env: { ...process.env, NHC_E2E_CACHE: CACHE } });
  fs.writeFileSync(path.join(runDir, 'build.log'), r.out);
  const lines = r.out.trim().split('\n');
  if (r.code === 77) skip(lines.filter((l) => l.startsWith('build.sh:')).pop() ?? 'the VM image cannot be built here');
  if (r.code !== 0) fail(`VM image build failed (exit ${r.code}); log: ${path.join(runDir, 'build.log')}`, lines.slice(-15).join('\n'));
  const dir = lines[lines.length - 1]!;
  say(`VM image: ${dir}`);
  return { dir };
}

function jobFiles(scriptName: string, params: Record<string, string>): Record<string, string> {
  const quote = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;
  const exports = Object.entries(params).map(([k, v]) => `export ${k}=${quote(v)}`);
  return {
    'job.sh': ['#!/bin/bash', ...exports, '. /mnt/host/lib.sh', '. /mnt/host/scenario.sh', ''].join('\n'),
    'lib.sh': fs.readFileSync(path.join(E2E, 'scenarios', 'lib.sh'), 'utf8'),
    'scenario.sh': fs.readFileSync(path.join(E2E, 'scenarios', scriptName), 'utf8'),
  };
}

function jobOf(r: BootResult): ReturnType<typeof parseJob> {
  return parseJob({
    rc: r.rc,
    events: r.read('events'),
    values: r.read('values'),
    journalJson: r.read('daemon.journal.json'),
    metrics: r.read('metrics.txt'),
  });
}

/** What record_kernel left in a boot's share: mountstats-NAME.txt and dmesg-NAME.txt. */
function kernelRecordings(share: string): string[] {
  return fs
    .readdirSync(share)
    .filter((f) => /^(mountstats|dmesg)-.+\.txt$/.test(f))
    .sort();
}

function tail(text: string, n: number): string {
  return text
    .trim()
    .split('\n')
    .slice(-n)
    .map((l) => `    | ${l}`)
    .join('\n');
}

interface Installed {
  bootId: string;
  needless: number;
  checks: Check[];
  figures: Analysis['figures'];
}

/** The directory shared with a guest that installs the .deb: the .deb alone, not the checkout (what a node would get). */
function debShare(deb: Deb, runDir: string): string {
  const src = path.join(runDir, 'deb');
  fs.mkdirSync(src, { recursive: true });
  fs.copyFileSync(deb.file, path.join(src, path.basename(deb.file)));
  return src;
}

/** The install boot: its boot ID, needless recoveries and checks. The disk it leaves is what every later boot boots. */
async function install(image: Image, deb: Deb, src: string, disk: string, runDir: string): Promise<Installed> {
  const name = path.basename(deb.file);
  say(`install boot: dpkg -i ${name} on a guest without Node.js, then systemctl enable --now nfs-health-checkd`);
  await overlay(image, disk);
  const r = await boot({
    image,
    disk,
    snapshot: false,
    src,
    files: jobFiles('install.sh', { DEB: name }),
    limitS: 600,
    runDir: path.join(runDir, 'install'),
  });
  // qemu never got a kernel going: this machine cannot boot the VM (not a defect of ours).
  if (r.rc === null && !r.kernelStarted()) skip(`qemu could not boot the VM here: ${r.qemuStderr.split('\n')[0] || 'no console output'}`);
  const job = jobOf(r);
  const a = analyzeInstall(job, { version: deb.version });
  // It has no fault: any recovery in it is needless (the first automount of the boot, say).
  const needless = needlessRecoveries(job, null).length;
  for (const c of a.checks) say(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`);
  say(
    `install boot: ${r.wallS.toFixed(0)} s; dpkg -i ${a.figures.install_s ?? '?'} s, enable --now ${a.figures.enable_now_s ?? '?'} s; needless recoveries ${needless}`,
  );
  const bad = a.checks.filter((c) => !c.ok);
  // Every later boot starts from this disk: nothing after it means anything if it failed.
  if (bad.length)
    fail(
      `the install boot failed ${bad.length} check(s): ${bad.map((c) => c.what).join('; ')} (rc ${r.rc ?? 'none'})`,
      tail(r.read('output.log') || fs.readFileSync(r.console, 'utf8'), 30),
    );
  return { bootId: r.read('install_boot_id').trim(), needless, checks: a.checks, figures: a.figures };
}

/** The .deb a scenario may install again: its share and file name. */
interface DebShare {
  src: string;
  name: string;
}

async function runScenario(
  s: Scenario,
  image: Image,
  disk: string,
  runDir: string,
  installBootId: string,
  deb: DebShare,
): Promise<ScenarioOutcome> {
  const failed: ScenarioOutcome['failed_attempts'] = [];
  const params = s.deb ? { ...s.params, DEB: deb.name } : s.params;
  for (let attempt = 1; ; attempt++) {
    const dir = path.join(runDir, `${s.name}${attempt > 1 ? `-${attempt}` : ''}`);
    say(`${s.name}: booting (attempt ${attempt})`);
    const r = await boot({
      image,
      disk,
      snapshot: true,
      ...(s.deb ? { src: deb.src } : {}),
      files: jobFiles(s.script, params),
      limitS: s.limitS,
      runDir: dir,
    });
    const a = judge(s, jobOf(r), { installBootId });
    const bad = a.checks.filter((c) => !c.ok);
    for (const c of a.checks) say(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`);
    const recordings = kernelRecordings(r.share);
    if (recordings.length) say(`  kernel recordings in ${r.share}: ${recordings.join(', ')}`);
    if (bad.length === 0 || attempt >= ATTEMPTS || Date.now() - started > RETRY_UNTIL_MS) {
      if (bad.length) say(`${s.name}: output tail (${dir}):\n${tail(r.read('output.log') || fs.readFileSync(r.console, 'utf8'), 25)}`);
      return {
        name: s.name,
        title: s.title,
        from: s.from,
        ok: bad.length === 0,
        attempts: attempt,
        wall_s: Math.round(r.wallS),
        times: a.times,
        figures: a.figures,
        checks: a.checks,
        failed_attempts: failed,
        run_dir: dir,
        kernel_recordings: recordings,
      };
    }
    failed.push({ checks: bad, needless_recoveries: needlessOf(a) });
    say(`${s.name}: ${bad.length} check(s) failed; once more`);
  }
}

const fmtS = (v: number | null): string => (v === null ? 'never' : `${v.toFixed(1)} s`);

function render(outcomes: ScenarioOutcome[]): string {
  const rows = outcomes.map((o) => {
    const t = o.times;
    const cells = o.from === UNTIMED ? ['—', '—', '—'] : [fmtS(t.detection), fmtS(t.firstStep), fmtS(t.accessible)];
    const passed = o.checks.filter((c) => c.ok).length;
    return `| ${o.title} | ${o.from} | ${cells.join(' | ')} | ${passed}/${o.checks.length}${o.attempts > 1 ? ` (attempt ${o.attempts})` : ''} |`;
  });
  return [
    '| scenario | times from | detection | first recovery step | accessible again | checks |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const only = parseOnly(process.argv.slice(2));
  const deb = preflight();
  const runs = path.join(CACHE, 'runs');
  fs.mkdirSync(runs, { recursive: true });
  // Keep the last few runs' logs, not every run's.
  for (const old of fs.readdirSync(runs).sort().slice(0, -4)) fs.rmSync(path.join(runs, old), { recursive: true, force: true });
  const runDir = fs.mkdtempSync(path.join(runs, `${new Date().toISOString().replace(/[:.]/g, '-')}-`));
  say(`run directory (console logs, journals, shares): ${runDir}`);
  const image = await buildImage(runDir);
  const disk = path.join(runDir, 'installed.qcow2');
  const share = { src: debShare(deb, runDir), name: path.basename(deb.file) };
  const installed = await install(image, deb, share.src, disk, runDir);

  const outcomes: ScenarioOutcome[] = [];
  for (const s of SCENARIOS) {
    if (only && !only.has(s.name)) continue;
    outcomes.push(await runScenario(s, image, disk, runDir, installed.bootId, share));
  }
  // Last, whichever scenarios ran: each of them booted the installed package.
  outcomes.push(await runScenario(REMOVAL, image, disk, runDir, installed.bootId, share));
  fs.rmSync(disk, { force: true }); // 1 GB of installed image; the logs stay
  fs.rmSync(share.src, { recursive: true, force: true });

  const table = render(outcomes);
  console.log(
    `\nnfs-health-checkd end to end on real NFS (qemu TCG VM: kernel NFS server and client, autofs, systemd), ${new Date().toISOString().slice(0, 10)}\n`,
  );
  console.log(table);
  for (const o of outcomes) {
    const figures = Object.entries(o.figures).map(([k, v]) => `${k}=${v ?? '—'}`);
    if (figures.length) console.log(`  ${o.name}: ${figures.join(', ')}`);
  }
  const failedChecks = outcomes.flatMap((o) => o.checks.filter((c) => !c.ok).map((c) => `${o.name}: ${c.what}: ${c.detail}`));
  if (installed.needless > 0) failedChecks.unshift(`install boot: no recovery in the whole boot (no fault): ${installed.needless}`);
  const needless = needlessTotal(installed.needless, outcomes);
  console.log(
    `\n${outcomes.length} boots after the install (scenarios and the removal), ${outcomes.filter((o) => o.ok).length} passed, in ${elapsed()}; logs in ${runDir}`,
  );
  console.log(`needless recoveries (before a scenario's fault, every boot): ${needless} (install boot ${installed.needless})`);
  if (!only) {
    const results = {
      date: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, kernel: os.release(), node: process.version, accel: 'tcg' },
      image: path.basename(image.dir),
      total_s: Math.round((Date.now() - started) / 1000),
      needless_recoveries: needless,
      deb: path.basename(deb.file),
      install: { needless_recoveries: installed.needless, figures: installed.figures, checks: installed.checks },
      table,
      scenarios: outcomes,
    };
    fs.mkdirSync(path.join(E2E, 'results'), { recursive: true });
    fs.writeFileSync(path.join(E2E, 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log('written: test/e2e/results/latest.json');
  }
  if (failedChecks.length) fail(`${failedChecks.length} check(s) failed`, failedChecks.map((l) => `  ${l}`).join('\n'));
}

await main();
