// packaging/install.sh, run for real (no mocks) into temporary DESTDIRs: what it installs, what
// it keeps on upgrade, how it treats the old timer, what --uninstall removes and keeps, and that a
// bad config stops it before anything is replaced. Needs the build (npm test builds first).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable, requires } from '../helpers/prerequisite.js';
import { findExecutable } from '../helpers/tools.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const SCRIPT = path.join(ROOT, 'packaging', 'install.sh');
const BUILT_CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const NAME = 'nfs-health-checkd';
const APPDIR = `/opt/${NAME}`;
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const DEFAULT_CONFIG = fs.readFileSync(path.join(ROOT, 'config', 'default.yaml'), 'utf8');
const PACKAGED_UNIT = fs.readFileSync(path.join(ROOT, 'packaging', 'systemd', `${NAME}.service`), 'utf8');
const PACKAGED_LOGROTATE = fs.readFileSync(path.join(ROOT, 'packaging', 'logrotate', NAME), 'utf8');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

const tempDirs: string[] = [];
function tempDir(prefix = 'nfs-hc-install-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

// This test's node (and the npm beside it) first on PATH, as after a system-wide Node.js install.
const PATH_WITH_NODE = [path.dirname(process.execPath), process.env.PATH ?? ''].join(':');

/** Runs install.sh as an operator would (from an unrelated cwd), staging into destdir. */
function install(destdir: string, args: string[] = [], env: Record<string, string> = {}, script = SCRIPT): Run {
  const r = spawnSync(script, args, {
    cwd: os.tmpdir(),
    encoding: 'utf8',
    timeout: 50_000,
    env: { ...process.env, PATH: PATH_WITH_NODE, DESTDIR: destdir, PREFIX: '', APPDIR: '', ...env },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function mustInstall(destdir: string, args: string[] = [], env: Record<string, string> = {}): Run {
  const r = install(destdir, args, env);
  expect(r.status, `install.sh ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

function node(args: string[]): Run {
  const r = spawnSync(process.execPath, args, { cwd: os.tmpdir(), encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

beforeAll(() => {
  if (!fs.existsSync(BUILT_CLI)) {
    throw new Error(`${BUILT_CLI} is missing: the install tests need the build — run 'npm run build' (npm test does)`);
  }
  if ((fs.statSync(SCRIPT).mode & 0o111) === 0) {
    throw new Error(`${SCRIPT} is not executable (chmod +x): the documented usage runs it directly`);
  }
});

describe('fresh install into DESTDIR', () => {
  let dest = '';
  let app = '';
  let run: Run;
  let seconds = 0;

  beforeAll(() => {
    dest = tempDir();
    app = path.join(dest, APPDIR);
    const t0 = performance.now();
    run = mustInstall(dest);
    seconds = (performance.now() - t0) / 1000;
  });

  it('prints one line per action', () => {
    const lines = run.stdout.trim().split('\n');
    expect(lines).toEqual([
      `installed ${app} (${NAME} ${PACKAGE.version})`,
      `installed ${dest}/usr/local/bin/${NAME} -> ${APPDIR}/dist/src/cli.js`,
      `installed ${dest}/etc/systemd/system/${NAME}.service`,
      `installed ${dest}/etc/logrotate.d/${NAME}`,
      expect.stringMatching(new RegExp(`^installed ${dest}/etc/${NAME}/config\\.yaml `)) as string,
    ]);
    // Only warnings (e.g. src/ edited since the build), never errors.
    for (const line of run.stderr.split('\n').filter(Boolean)) expect(line).toMatch(/^install\.sh: warning: /);
    console.log(`install.sh into DESTDIR took ${seconds.toFixed(2)} s`);
  });

  it('installs the built app, its config, README and packaging — not the tests, not source maps', () => {
    for (const f of [
      'dist/src/cli.js',
      'package.json',
      'package-lock.json',
      'config/default.yaml',
      'README.md',
      'docs/recovery.md',
      'docs/runbook.md',
    ]) {
      expect(fs.existsSync(path.join(app, f)), f).toBe(true);
    }
    for (const f of fs.readdirSync(path.join(ROOT, 'packaging'), { recursive: true }) as string[]) {
      expect(exists(path.join(app, 'packaging', f)), `packaging/${f}`).toBe(true);
    }
    expect(exists(path.join(app, 'dist', 'test'))).toBe(false);
    expect(exists(path.join(app, 'src'))).toBe(false);
    const dist = filesUnder(path.join(app, 'dist', 'src'));
    expect(dist.filter((f) => !f.endsWith('.js'))).toEqual([]);
    const built = filesUnder(path.join(ROOT, 'dist', 'src')).filter((f) => f.endsWith('.js'));
    expect(dist.sort()).toEqual(built.sort());
    expect(fs.statSync(path.join(app, 'dist', 'src', 'cli.js')).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(app, 'dist', 'src', 'cli.js'), 'utf8')).toMatch(
      /^#!\/usr\/bin\/env -S node --lite-mode --no-node-snapshot\n/,
    );
    // Nothing left over from the staging directory swap.
    expect(fs.readdirSync(path.dirname(app))).toEqual([NAME]);
  });

  it('installs exactly the production node_modules of the lockfile', () => {
    const nm = path.join(app, 'node_modules');
    for (const dep of Object.keys(PACKAGE.dependencies)) {
      expect(fs.existsSync(path.join(nm, dep, 'package.json')), dep).toBe(true);
    }
    for (const dep of ['execa', 'pino', 'prom-client', 'yaml', 'node-cron']) {
      expect(fs.existsSync(path.join(nm, dep, 'package.json')), dep).toBe(true);
    }
    for (const dev of [...Object.keys(PACKAGE.devDependencies), 'vitest', 'typescript', 'vite', '@types/node', '.vite']) {
      expect(exists(path.join(nm, dev)), dev).toBe(false);
    }
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean }>;
    };
    for (const [key, entry] of Object.entries(lock.packages)) {
      if (!key.startsWith('node_modules/')) continue;
      if (entry.dev) expect(exists(path.join(app, key)), `dev package ${key}`).toBe(false);
      else if (!entry.optional) expect(fs.existsSync(path.join(app, key, 'package.json')), `package ${key}`).toBe(true);
    }
    // No stray top-level directories either (extraneous packages, empty @scopes).
    const expectedTop = new Set(
      Object.entries(lock.packages)
        .filter(([k, e]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(k) && !e.dev)
        .map(([k]) => k.split('/')[1] ?? ''),
    );
    for (const top of fs.readdirSync(nm)) {
      if (top === '.bin' || top === '.package-lock.json') continue;
      expect(expectedTop.has(top), `node_modules/${top}`).toBe(true);
    }
  });

  it('links PREFIX/bin to the CLI, by its path on the target', () => {
    expect(fs.readlinkSync(path.join(dest, 'usr', 'local', 'bin', NAME))).toBe(`${APPDIR}/dist/src/cli.js`);
  });

  it('installs the packaged unit, logrotate file and default config as they are', () => {
    expect(fs.readFileSync(path.join(dest, 'etc', 'systemd', 'system', `${NAME}.service`), 'utf8')).toBe(PACKAGED_UNIT);
    expect(PACKAGED_UNIT).toMatch(/^ExecStart=\/usr\/local\/bin\/nfs-health-checkd$/m);
    expect(fs.readFileSync(path.join(dest, 'etc', 'logrotate.d', NAME), 'utf8')).toBe(PACKAGED_LOGROTATE);
    expect(fs.readFileSync(path.join(dest, 'etc', NAME, 'config.yaml'), 'utf8')).toBe(DEFAULT_CONFIG);
    expect(exists(path.join(dest, 'etc', NAME, 'config.yaml.new'))).toBe(false);
  });

  it('the installed CLI runs from the staged tree, on its own node_modules', () => {
    const cli = path.join(app, 'dist', 'src', 'cli.js');
    const version = node([cli, '--version']);
    expect(version.stderr).toBe('');
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(PACKAGE.version);
    const validate = node([cli, 'validate', '--config', path.join(dest, 'etc', NAME, 'config.yaml')]);
    expect(validate.stderr).toBe('');
    expect(validate.status).toBe(0);
    // Every runtime dependency resolves from the staged tree (not from the source tree's).
    const probe = path.join(app, 'dist', 'src', 'resolve-check.mjs');
    fs.writeFileSync(
      probe,
      `for (const d of ${JSON.stringify(Object.keys(PACKAGE.dependencies))}) { await import(d); console.log(new URL(import.meta.resolve(d)).pathname); }\n`,
    );
    const resolved = node([probe]);
    fs.rmSync(probe);
    expect(resolved.stderr).toBe('');
    expect(resolved.status).toBe(0);
    for (const line of resolved.stdout.trim().split('\n')) expect(line.startsWith(`${app}/node_modules/`), line).toBe(true);
  });
});

describe('PREFIX and APPDIR', () => {
  it('PREFIX=/usr puts the link in /usr/bin and ExecStart there; APPDIR moves the app and the docs link', () => {
    const dest = tempDir();
    const appdir = '/srv/nfs-hc';
    mustInstall(dest, [], { PREFIX: '/usr', APPDIR: appdir });
    expect(fs.readlinkSync(path.join(dest, 'usr', 'bin', NAME))).toBe(`${appdir}/dist/src/cli.js`);
    expect(exists(path.join(dest, 'usr', 'local'))).toBe(false);
    expect(exists(path.join(dest, 'opt'))).toBe(false);
    expect(fs.existsSync(path.join(dest, appdir, 'dist', 'src', 'cli.js'))).toBe(true);
    const unit = fs.readFileSync(path.join(dest, 'etc', 'systemd', 'system', `${NAME}.service`), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/nfs-health-checkd$/m);
    expect(unit).toMatch(/^Documentation=file:\/srv\/nfs-hc\/README\.md$/m);
    expect(unit).not.toContain('/usr/local/bin');
    // Only those two lines differ from the packaged unit.
    const changed = unit.split('\n').filter((l, i) => l !== PACKAGED_UNIT.split('\n')[i]);
    expect(changed).toEqual(['Documentation=file:/srv/nfs-hc/README.md', 'ExecStart=/usr/bin/nfs-health-checkd']);
  });

  it('refuses a relative or unsafe path', () => {
    const dest = tempDir();
    const r = install(dest, [], { PREFIX: 'usr' });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^install\.sh: error: PREFIX must be an absolute path/);
    expect(install(dest, [], { APPDIR: '/opt' }).status).not.toBe(0);
    expect(fs.readdirSync(dest)).toEqual([]);
  });
});

describe('re-install (upgrade)', () => {
  it('replaces the app directory, keeps the config, and writes config.yaml.new only beside a changed one', () => {
    const dest = tempDir();
    const app = path.join(dest, APPDIR);
    const conf = path.join(dest, 'etc', NAME, 'config.yaml');
    mustInstall(dest);
    fs.writeFileSync(path.join(app, 'stale-file-from-old-version'), 'x');

    const same = mustInstall(dest);
    expect(same.stdout).toContain(`installed ${app} (${NAME} ${PACKAGE.version}, replacing ${PACKAGE.version})`);
    expect(same.stdout).toContain(`unchanged ${dest}/etc/systemd/system/${NAME}.service`);
    expect(same.stdout).toContain(`unchanged ${dest}/etc/logrotate.d/${NAME}`);
    expect(same.stdout).toContain(`kept ${conf} (same as the packaged default)`);
    expect(exists(path.join(app, 'stale-file-from-old-version'))).toBe(false);
    expect(exists(`${conf}.new`)).toBe(false);
    expect(fs.readdirSync(path.dirname(app))).toEqual([NAME]);

    const mine = DEFAULT_CONFIG.replace(/^ {2}level: info$/m, '  level: debug');
    expect(mine).not.toBe(DEFAULT_CONFIG);
    fs.writeFileSync(conf, mine);
    const upgrade = mustInstall(dest);
    expect(fs.readFileSync(conf, 'utf8')).toBe(mine);
    expect(fs.readFileSync(`${conf}.new`, 'utf8')).toBe(DEFAULT_CONFIG);
    expect(upgrade.stdout).toMatch(new RegExp(`^kept ${conf} `, 'm'));
    expect(upgrade.stdout).toMatch(new RegExp(`^installed ${conf}\\.new `, 'm'));
    expect(fs.readdirSync(path.dirname(app))).toEqual([NAME]);
  });

  it("a broken config.yaml stops the install with the validator's message, before anything is replaced", () => {
    const dest = tempDir();
    const conf = path.join(dest, 'etc', NAME, 'config.yaml');
    fs.mkdirSync(path.dirname(conf), { recursive: true });
    fs.writeFileSync(conf, 'probe: {timeout: soon}\n');
    const validator = node([BUILT_CLI, 'validate', '--config', conf]);
    expect(validator.status).toBe(78);
    const message = validator.stderr.trim();
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain('probe.timeout');

    const r = install(dest);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/install\.sh: error: .*config\.yaml is invalid/);
    expect(r.stdout).toBe('');
    // Nothing installed: no app (nor its staging copy), no link, no unit; the config untouched.
    expect(exists(path.join(dest, 'opt'))).toBe(true); // the parent of APPDIR, created for staging
    expect(fs.readdirSync(path.join(dest, 'opt'))).toEqual([]);
    expect(exists(path.join(dest, 'usr'))).toBe(false);
    expect(exists(path.join(dest, 'etc', 'systemd'))).toBe(false);
    expect(fs.readFileSync(conf, 'utf8')).toBe('probe: {timeout: soon}\n');
  });
});

describe('the old timer-driven script', () => {
  it('is reported with how to retire it, and --replace-timer disables it (files kept)', () => {
    const dest = tempDir();
    const units = path.join(dest, 'etc', 'systemd', 'system');
    const wants = path.join(units, 'timers.target.wants', 'nfs-health-check.timer');
    fs.mkdirSync(path.dirname(wants), { recursive: true });
    fs.writeFileSync(path.join(units, 'nfs-health-check.timer'), '[Timer]\nOnUnitActiveSec=1min\n');
    fs.writeFileSync(path.join(units, 'nfs-health-check.service'), '[Service]\nExecStart=/usr/local/bin/nfs-health-check.sh\n');
    fs.symlinkSync('/etc/systemd/system/nfs-health-check.timer', wants);
    fs.mkdirSync(path.join(dest, 'usr', 'local', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(dest, 'usr', 'local', 'bin', 'nfs-health-check.sh'), '#!/bin/bash\n', { mode: 0o755 });

    const report = mustInstall(dest);
    expect(report.stdout).toContain('note: the old nfs-health-check.timer is installed');
    expect(report.stdout).toContain('Conflicts=');
    expect(report.stdout).toContain('systemctl disable --now nfs-health-check.timer');
    expect(report.stdout).toContain(
      'rm -f /etc/systemd/system/nfs-health-check.timer /etc/systemd/system/nfs-health-check.service /usr/local/bin/nfs-health-check.sh',
    );
    expect(report.stdout).toContain('--replace-timer');
    expect(exists(wants)).toBe(true);

    const replace = mustInstall(dest, ['--replace-timer']);
    expect(replace.stdout).toContain(`removed ${wants}`);
    expect(replace.stdout).toMatch(/^kept \/etc\/systemd\/system\/nfs-health-check\.timer /m);
    expect(exists(wants)).toBe(false);
    expect(fs.existsSync(path.join(units, 'nfs-health-check.timer'))).toBe(true);
    expect(fs.existsSync(path.join(dest, 'usr', 'local', 'bin', 'nfs-health-check.sh'))).toBe(true);

    const again = mustInstall(dest, ['--replace-timer']);
    expect(again.stdout).toContain('unchanged nfs-health-check.timer (not enabled');
  });

  it('--replace-timer without an old timer says there is nothing to replace', () => {
    const r = mustInstall(tempDir(), ['--replace-timer']);
    expect(r.stdout).toContain('no old nfs-health-check.timer found');
  });
});

describe('--uninstall', () => {
  it('removes the app, link, unit, enablement and logrotate file; keeps config and logs; is idempotent', () => {
    const dest = tempDir();
    mustInstall(dest);
    const units = path.join(dest, 'etc', 'systemd', 'system');
    const enabled = path.join(units, 'multi-user.target.wants', `${NAME}.service`);
    fs.mkdirSync(path.dirname(enabled), { recursive: true });
    fs.symlinkSync(`/etc/systemd/system/${NAME}.service`, enabled);
    fs.mkdirSync(path.join(dest, 'var', 'log'), { recursive: true });
    fs.writeFileSync(path.join(dest, 'var', 'log', 'nfs-health-check.log'), '{}\n');
    fs.writeFileSync(path.join(dest, 'etc', NAME, 'config.yaml'), 'log: {level: debug}\n');
    // The incident state the unit keeps when the service stops (RuntimeDirectoryPreserve=yes).
    const runDir = path.join(dest, 'run', NAME);
    fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(runDir, 'state.json'), '{}\n');

    const r = mustInstall(dest, ['--uninstall']);
    for (const gone of [
      path.join(dest, APPDIR),
      path.join(dest, 'usr', 'local', 'bin', NAME),
      path.join(units, `${NAME}.service`),
      enabled,
      path.join(dest, 'etc', 'logrotate.d', NAME),
      runDir,
    ]) {
      expect(exists(gone), gone).toBe(false);
      expect(r.stdout).toContain(`removed ${gone}`);
    }
    expect(fs.readFileSync(path.join(dest, 'etc', NAME, 'config.yaml'), 'utf8')).toBe('log: {level: debug}\n');
    expect(fs.existsSync(path.join(dest, 'var', 'log', 'nfs-health-check.log'))).toBe(true);
    expect(r.stdout).toContain(`kept ${dest}/etc/${NAME} (config)`);
    expect(r.stdout).toContain(`kept ${dest}/var/log/nfs-health-check.log*`);

    const again = mustInstall(dest, ['--uninstall']);
    expect(again.stdout).toContain(`absent ${dest}${APPDIR}`);
    expect(again.stdout).toContain(`absent ${runDir}`);
    expect(again.stdout).not.toContain('removed');
  });

  it('leaves a link that points elsewhere, and refuses to remove an APPDIR that is not ours', () => {
    const dest = tempDir();
    const link = path.join(dest, 'usr', 'local', 'bin', NAME);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync('/usr/lib/node_modules/nfs-health-checkd/dist/src/cli.js', link);
    const foreign = path.join(dest, 'opt', NAME);
    fs.mkdirSync(foreign, { recursive: true });
    fs.writeFileSync(path.join(foreign, 'precious'), 'x');

    const r = install(dest, ['--uninstall']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^install\.sh: error: .* is not an nfs-health-checkd install/);
    expect(fs.existsSync(path.join(foreign, 'precious'))).toBe(true);
    // Installing over it is refused the same way.
    const i = install(dest);
    expect(i.status).not.toBe(0);
    expect(i.stderr).toContain('not replacing it');
    expect(fs.existsSync(path.join(foreign, 'precious'))).toBe(true);

    fs.rmSync(foreign, { recursive: true });
    const u = mustInstall(dest, ['--uninstall']);
    expect(u.stdout).toContain(`kept ${link} (points to /usr/lib/node_modules/`);
    expect(exists(link)).toBe(true);
  });
});

describe('refusals', () => {
  it('refuses an unbuilt tree with one line', () => {
    const tree = tempDir('nfs-hc-unbuilt-');
    fs.mkdirSync(path.join(tree, 'packaging'));
    fs.copyFileSync(SCRIPT, path.join(tree, 'packaging', 'install.sh'));
    fs.chmodSync(path.join(tree, 'packaging', 'install.sh'), 0o755);
    const dest = tempDir();
    const r = install(dest, [], {}, path.join(tree, 'packaging', 'install.sh'));
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      `install.sh: error: ${fs.realpathSync(tree)} is not built (no dist/src/cli.js): run 'npm ci && npm run build' there first`,
    ]);
    expect(fs.readdirSync(dest)).toEqual([]);
  });

  it('rejects unknown arguments with usage status 64, and --help prints the usage', () => {
    const dest = tempDir();
    const bad = install(dest, ['--bogus']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toContain('unknown argument: --bogus');
    const help = install(dest, ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--replace-timer');
    expect(help.stdout).toContain('--uninstall');
    expect(fs.readdirSync(dest)).toEqual([]);
  });
});

describe('the script itself', () => {
  const shellcheck = findExecutable('shellcheck');
  const shellcheckTool = executable('shellcheck', 'shellcheck');
  requires(shellcheckTool).it('is shellcheck-clean', () => {
    const r = spawnSync(shellcheck ?? 'shellcheck', [SCRIPT], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
