// The release artifacts, built for real by packaging/release/build.sh (what `npm run package`
// runs) into temporary directories, twice: the same commit gives the same bytes; the .deb, the
// .rpm and the tarball hold the same tree; the .deb's control data, conffiles and maintainer
// scripts, and lintian on it; both packages' changelogs, written from CHANGELOG.md; the .rpm's
// file list, config files, scriptlets and requirements, read back with rpm (there is no RHEL
// machine here: installing it is not tested); the tarball's install.sh with no node and no npm to
// be found; and the daemon on its bundled runtime against a real FUSE hang. Installing the .deb on
// a machine without Node.js is the e2e suite's install boot. Where the date comes from in a tree
// without git history: source-date.test.ts.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  holdMount,
  is,
  setUpTwoMounts,
  startDaemon,
  tearDownTwoMounts,
  configYaml,
  type RunningDaemon,
  type TwoMounts,
} from '../helpers/daemon.js';
import { findMount, fuseAvailable } from '../helpers/faultfs.js';
import { executable, prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { runInScratchRoot, scratchRootPrerequisites } from '../helpers/scratch-root.js';
import { findExecutable } from '../helpers/tools.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const NAME = 'nfs-health-checkd';
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const RUNTIME = /^NODE_RUNTIME_VERSION=(.+)$/m.exec(fs.readFileSync(path.join(ROOT, 'packaging/release/runtime.env'), 'utf8'))![1]!;
const DEB = `${NAME}_${VERSION}_amd64.deb`;
const RPM = `${NAME}-${VERSION}-1.x86_64.rpm`;
const TGZ = `${NAME}-${VERSION}-linux-x64.tar.gz`;
const UNIT = `${NAME}.service`;

// Each tool the build or these tests run, and the Debian package that brings it (.ci/run installs them).
const TOOLS: Record<string, string> = {
  'dpkg-deb': 'dpkg',
  'dpkg-shlibdeps': 'dpkg-dev',
  'dpkg-parsechangelog': 'dpkg-dev',
  rpmbuild: 'rpm',
  rpm2cpio: 'rpm',
  cpio: 'cpio',
  strip: 'binutils',
  lintian: 'lintian',
  shellcheck: 'shellcheck',
};
const missing = Object.entries(TOOLS).filter(([tool]) => !findExecutable(tool));
const built = fs.existsSync(path.join(ROOT, 'dist/packaging/release/bundle.js'));
const why = !built ? 'the tree is not built (npm test builds first)' : missing.map(([t, p]) => `${t} (apt-get install ${p})`).join(', ');
const needs = [prerequisite('dist build', built, 'install', why), ...Object.entries(TOOLS).map(([tool, pkg]) => executable(tool, pkg))];
if (skips(...needs)) console.warn(`[release] release artifact tests skipped: missing ${why}`);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function sh(script: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Run {
  const r = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function must(script: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): string {
  const r = sh(script, env, timeoutMs);
  expect(r.status, `${script}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

const tempDir = tempDirs();

/** Every entry under dir: path → type, mode and (file) sha256 or (link) target. */
function treeOf(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const abs = path.join(dir, r);
      const st = fs.lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.set(r, `link ${fs.readlinkSync(abs)}`);
      else if (st.isDirectory()) {
        out.set(r, `dir ${mode}`);
        walk(r);
      } else out.set(r, `file ${mode} ${createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}`);
    }
  };
  walk('');
  return out;
}

function without(tree: Map<string, string>, drop: (p: string) => boolean): Map<string, string> {
  return new Map([...tree].filter(([p]) => !drop(p)));
}

function sizeMb(file: string): number {
  return Math.round(fs.statSync(file).size / 1e5) / 10;
}

requires(...needs).describe('release artifacts (npm run package)', () => {
  let out: string;
  let debTree: string;
  let rpmTree: string;
  let tarTree: string;
  let ctrl: string;

  beforeAll(() => {
    out = tempDir('nhc-release-');
    const t0 = performance.now();
    must(`bash ${JSON.stringify(path.join(ROOT, 'packaging/release/build.sh'))}`, { RELEASE_DIR: out }, 400_000);
    const buildS = (performance.now() - t0) / 1000;
    const sizes = [DEB, RPM, TGZ].map((f) => `${f} ${sizeMb(path.join(out, f))} MB`).join(', ');
    console.log(`[release] built in ${buildS.toFixed(1)} s: ${sizes}`);

    debTree = tempDir('nhc-deb-');
    must(`dpkg-deb -x ${out}/${DEB} ${debTree}`);
    ctrl = tempDir('nhc-deb-control-');
    must(`dpkg-deb -e ${out}/${DEB} ${ctrl}`);
    rpmTree = tempDir('nhc-rpm-');
    must(`cd ${rpmTree} && rpm2cpio ${out}/${RPM} | cpio -idm --quiet`);
    const tarDir = tempDir('nhc-tar-');
    must(`tar -xzf ${out}/${TGZ} -C ${tarDir}`);
    tarTree = path.join(tarDir, `${NAME}-${VERSION}-linux-x64`);
  }, 420_000);

  it('writes the three artifacts and a SHA256SUMS that checks; the .deb stays under 40 MB', () => {
    expect(fs.readdirSync(out).sort()).toEqual([RPM, TGZ, DEB, 'SHA256SUMS'].sort());
    expect(must(`cd ${out} && sha256sum -c SHA256SUMS`)).toMatch(new RegExp(`${DEB}: OK[\\s\\S]*${RPM}: OK[\\s\\S]*${TGZ}: OK`));
    expect(sizeMb(path.join(out, DEB))).toBeLessThan(40);
  });

  it('building again from the same commit, elsewhere and under another umask, gives the same bytes', () => {
    const again = tempDir('nhc-release-again-');
    const tmp = tempDir('nhc-release-tmp-');
    must(
      `umask 077 && bash ${JSON.stringify(path.join(ROOT, 'packaging/release/build.sh'))}`,
      { RELEASE_DIR: again, TMPDIR: tmp },
      400_000,
    );
    expect(fs.readFileSync(path.join(again, 'SHA256SUMS'), 'utf8')).toBe(fs.readFileSync(path.join(out, 'SHA256SUMS'), 'utf8'));
  }, 420_000);

  it('the .deb, the .rpm and the tarball hold the same tree (the .rpm with its unit in /usr/lib/systemd/system)', () => {
    const deb = without(treeOf(debTree), (p) => p.startsWith('usr/share/lintian'));
    const rpmRaw = treeOf(rpmTree);
    // rpm2cpio leaves out the directories the package does not own (/usr, /etc, ...): compare files and links.
    const filesOnly = (t: Map<string, string>) => new Map([...t].filter(([, v]) => !v.startsWith('dir')));
    const rpmAsDeb = new Map([...filesOnly(rpmRaw)].map(([p, v]) => [p.replace(/^usr\/lib\/systemd\/system\//, 'lib/systemd/system/'), v]));
    expect(rpmAsDeb).toEqual(filesOnly(deb));
    const tar = without(treeOf(tarTree), (p) => p === 'install.sh' || p === 'README.md' || p === 'docs' || p.startsWith('docs/'));
    expect(tar).toEqual(deb);
    for (const p of [
      'usr/lib/nfs-health-checkd/node',
      'usr/lib/nfs-health-checkd/app/cli.js',
      'usr/lib/nfs-health-checkd/app/scan-worker.js',
      'usr/lib/nfs-health-checkd/app/bcrypt-worker.js',
      'usr/share/doc/nfs-health-checkd/docs/recovery.md.gz',
      'usr/share/doc/nfs-health-checkd/docs/runbook.md.gz',
    ]) {
      expect(deb.get(p), p).toMatch(/^file /);
    }
    expect(deb.get('usr/bin/nfs-health-checkd')).toBe('link ../lib/nfs-health-checkd/bin/nfs-health-checkd');
  });

  it('the tree: the unit runs /usr/bin/nfs-health-checkd and passes systemd-analyze verify; the copyright names the runtime and every bundled package', () => {
    const unit = fs.readFileSync(path.join(debTree, 'lib/systemd/system', UNIT), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/nfs-health-checkd$/m);
    // The incident state's directory, kept when the service stops.
    expect(unit).toMatch(/^RuntimeDirectory=nfs-health-checkd$/m);
    expect(unit).toMatch(/^RuntimeDirectoryPreserve=yes$/m);
    const analyze = findExecutable('systemd-analyze');
    if (analyze) {
      // Verified where the unit will find its ExecStart: a copy whose ExecStart is this tree's wrapper.
      const dir = tempDir('nhc-unit-');
      fs.writeFileSync(path.join(dir, UNIT), unit.replace(/^ExecStart=.*$/m, `ExecStart=${path.join(debTree, 'usr/bin', NAME)}`));
      // --man=no: the man page is the package's, not installed on this machine.
      const r = sh(`${analyze} verify --man=no ${path.join(dir, UNIT)}`);
      expect(
        r.stderr.split('\n').filter((l) => l.includes(UNIT)),
        r.stderr,
      ).toEqual([]);
    }
    const copyright = fs.readFileSync(path.join(debTree, 'usr/share/doc', NAME, 'copyright'), 'utf8');
    expect(copyright).toContain(`Node.js ${RUNTIME}`);
    for (const dep of ['pino', 'prom-client', 'execa', 'yaml', 'node-cron'])
      expect(copyright).toMatch(new RegExp(`^${dep} \\d+\\.\\d+\\.\\d+ \\(`, 'm'));
    expect(must(`zcat ${path.join(debTree, 'usr/share/man/man8', `${NAME}.8.gz`)}`)).toMatch(
      /^\.TH NFS-HEALTH-CHECKD 8 "\d{4}-\d\d-\d\d" "nfs-health-checkd/m,
    );
  });

  it('.deb: control fields, the two conffiles, maintainer scripts that parse and pass shellcheck, all files root-owned', () => {
    const field = (f: string) => must(`dpkg-deb -f ${out}/${DEB} ${f}`).trim();
    expect(field('Package')).toBe(NAME);
    expect(field('Version')).toBe(VERSION);
    expect(field('Architecture')).toBe('amd64');
    // From dpkg-shlibdeps on the runtime, and umount's package.
    expect(field('Depends')).toMatch(/^libc6 \(>= 2\.\d+\), libgcc-s1 \(>= [\d.]+\), libstdc\+\+6 \(>= [\d.]+\), mount$/);
    expect(fs.readFileSync(path.join(ctrl, 'conffiles'), 'utf8')).toBe(`/etc/${NAME}/config.yaml\n/etc/logrotate.d/${NAME}\n`);
    const scripts = ['postinst', 'prerm', 'postrm'];
    for (const s of scripts) expect(fs.statSync(path.join(ctrl, s)).mode & 0o111).toBe(0o111);
    must(`shellcheck -s sh ${scripts.map((s) => path.join(ctrl, s)).join(' ')}`);
    // postinst validates before it restarts anything; prerm stops only on remove.
    const postinst = fs.readFileSync(path.join(ctrl, 'postinst'), 'utf8');
    const validate = postinst.indexOf('"$HOOK" validate || exit 1');
    expect(validate).toBeGreaterThan(0);
    expect(validate).toBeLessThan(postinst.indexOf('deb-systemd-invoke restart'));
    expect(fs.readFileSync(path.join(ctrl, 'prerm'), 'utf8')).toMatch(/"\$1" = remove[\s\S]*deb-systemd-invoke stop/);
    // The postrm run in test/packaging/maintainer-scripts.test.ts (purge removes /run/nfs-health-checkd), as it is.
    expect(fs.readFileSync(path.join(ctrl, 'postrm'), 'utf8')).toBe(
      fs.readFileSync(path.join(ROOT, 'packaging/release/debian/postrm'), 'utf8'),
    );
    expect(
      must(`dpkg-deb -c ${out}/${DEB}`)
        .trim()
        .split('\n')
        .filter((l) => !l.includes(' root/root ')),
    ).toEqual([]);
    // md5sums covers every file, as dpkg --verify needs.
    const sums = fs
      .readFileSync(path.join(ctrl, 'md5sums'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[1]);
    const files = [...treeOf(debTree)]
      .filter(([, v]) => v.startsWith('file'))
      .map(([p]) => p)
      .sort();
    expect(sums.sort()).toEqual(files);
  });

  it('.deb: lintian reports no error or warning (the tags that stay are overridden, each with its reason)', () => {
    const r = sh(`lintian --fail-on error,warning ${out}/${DEB}`, {}, 120_000);
    const tags = r.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
    expect(tags, r.stdout + r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    const overrides = fs.readFileSync(path.join(debTree, 'usr/share/lintian/overrides', NAME), 'utf8');
    // Every override line follows a comment that says why.
    const lines = overrides.split('\n');
    lines.forEach((l, i) => {
      if (l.startsWith(`${NAME}: `))
        expect(
          lines.slice(0, i).some((c) => c.startsWith('#')),
          l,
        ).toBe(true);
    });
  });

  it("both packages' changelogs: CHANGELOG.md's, the newest entry this version's, dated by its day, naming the runtime", () => {
    const newest = /^## \[?(\d+\.\d+\.\d+)\]? +[—–-] +(\d{4}-\d\d-\d\d) *$/m.exec(fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8'));
    expect(newest?.[1]).toBe(VERSION);
    const day = newest?.[2] ?? '';
    const log = path.join(tempDir('nhc-changelog-'), 'changelog');
    fs.writeFileSync(log, must(`zcat ${path.join(debTree, 'usr/share/doc', NAME, 'changelog.gz')}`));
    const field = (f: string) => must(`dpkg-parsechangelog -l ${log} -S ${f}`).trim();
    expect(field('Source')).toBe(NAME);
    expect(field('Version')).toBe(VERSION);
    expect(Number(field('Timestamp'))).toBe(Date.parse(`${day}T00:00:00Z`) / 1000);
    expect(field('Changes')).toMatch(new RegExp(`\\* Packaged with the Node\\.js ${RUNTIME.replace(/\./g, '\\.')} runtime\\.$`));
    const rpmLog = must(`rpm -qp --qf '[%{CHANGELOGTIME:day}|%{CHANGELOGNAME}\\n]' ${out}/${RPM}`).trim().split('\n');
    expect(rpmLog[0]).toBe(
      `${new Date(`${day}T00:00:00Z`).toUTCString().replace(/^(\w+), (\d+) (\w+) (\d+) .*$/, '$1 $3 $2 $4')}|${field('Maintainer')} - ${VERSION}-1`,
    );
    expect(must(`rpm -qp --changelog ${out}/${RPM}`)).toContain(`- Packaged with the Node.js ${RUNTIME} runtime.`);
  });

  it('.rpm: name, version, arch, its file list, config files (noreplace), scriptlets and requirements', () => {
    const q = (fmt: string) => must(`rpm -qp --qf ${JSON.stringify(fmt)} ${out}/${RPM}`);
    expect(q('%{NAME} %{VERSION} %{RELEASE} %{ARCH}')).toBe(`${NAME} ${VERSION} 1 x86_64`);
    const files = must(`rpm -qpl ${out}/${RPM}`).trim().split('\n');
    expect(files).toEqual(
      expect.arrayContaining([
        `/usr/bin/${NAME}`,
        `/usr/lib/${NAME}/node`,
        `/usr/lib/${NAME}/app/cli.js`,
        `/usr/lib/systemd/system/${UNIT}`,
        `/etc/${NAME}/config.yaml`,
      ]),
    );
    expect(files.filter((f) => f.startsWith('/lib/'))).toEqual([]);
    expect(must(`rpm -qpc ${out}/${RPM}`).trim().split('\n').sort()).toEqual([`/etc/logrotate.d/${NAME}`, `/etc/${NAME}/config.yaml`]);
    const flags = q('[%{FILEFLAGS:fflags} %{FILENAMES}\\n]');
    expect(flags).toMatch(new RegExp(`^cn /etc/${NAME}/config.yaml$`, 'm'));
    const owners = q('[%{FILEUSERNAME}:%{FILEGROUPNAME}\\n]').trim().split('\n');
    expect(new Set(owners)).toEqual(new Set(['root:root']));
    const scripts = must(`rpm -qp --scripts ${out}/${RPM}`);
    // Each scriptlet's first command line, after the comments that say why.
    expect(scripts).toMatch(
      /postinstall scriptlet[^\n]*\n(?:#[^\n]*\n)*[^\n]*\$1 -eq 1[^\n]*systemctl --no-reload preset nfs-health-checkd.service/,
    );
    expect(scripts).toMatch(
      /preuninstall scriptlet[^\n]*\n[^\n]*\$1 -eq 0[^\n]*systemctl --no-reload disable --now nfs-health-checkd.service/,
    );
    expect(scripts).toMatch(/postuninstall scriptlet[^\n]*\nsystemctl daemon-reload/);
    expect(scripts).toMatch(/postuninstall scriptlet[\s\S]*\$1 -eq 0[^\n]*rm -rf \/run\/nfs-health-checkd/);
    expect(scripts).toMatch(/posttrans scriptlet[\s\S]*package-hook validate; then systemctl try-restart/);
    const requires = must(`rpm -qpR ${out}/${RPM}`);
    expect(requires).toMatch(/^libc\.so\.6\(GLIBC_2\.28\)\(64bit\)$/m);
    expect(requires).toMatch(/^util-linux$/m);
    expect(must(`rpm -K --nosignature ${out}/${RPM}`)).toMatch(/digests OK/);
  });

  const scratch = scratchRootPrerequisites();
  requires(...scratch).it('.rpm: %postun removes /run/nfs-health-checkd on erase ($1 = 0), keeps it on upgrade ($1 = 1)', () => {
    const postun = must(`rpm -qp --qf '%{POSTUN}' ${out}/${RPM}`);
    const setup = `mkdir -p /run/${NAME} && echo '{}' >/run/${NAME}/state.json`;
    const inspect = `if [ -e /run/${NAME}/state.json ]; then echo state present; else echo state absent; fi`;
    const erase = runInScratchRoot({ setup, script: postun, args: ['0'], inspect });
    expect(erase.status, erase.stderr).toBe(0);
    expect(erase.stdout).toMatch(/^rc=0$/m);
    expect(erase.stdout).toMatch(/^state absent$/m);
    expect(erase.calls).toEqual(['systemctl daemon-reload']);
    const upgrade = runInScratchRoot({ setup, script: postun, args: ['1'], inspect });
    expect(upgrade.stdout).toMatch(/^rc=0$/m);
    expect(upgrade.stdout).toMatch(/^state present$/m);
  });

  it('tarball: its install.sh installs, validates and uninstalls with no node and no npm to be found', () => {
    const destdir = tempDir('nhc-tar-install-');
    const shims = tempDir('nhc-shims-');
    const calls = path.join(shims, 'calls');
    for (const tool of ['node', 'npm']) {
      fs.writeFileSync(path.join(shims, tool), `#!/bin/sh\necho "${tool} $*" >>${calls}\nexit 127\n`, { mode: 0o755 });
    }
    const env = { PATH: `${shims}:/usr/sbin:/usr/bin:/sbin:/bin`, DESTDIR: destdir };
    const installed = must(`cd / && ${tarTree}/install.sh`, env);
    expect(installed).toMatch(new RegExp(`installed ${destdir}/opt/${NAME} \\(${NAME} ${VERSION}\\)`));
    expect(fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '').toBe('');
    expect(fs.readlinkSync(path.join(destdir, 'usr/local/bin', NAME))).toBe(`/opt/${NAME}/bin/${NAME}`);
    expect(fs.readFileSync(path.join(destdir, 'etc/systemd/system', UNIT), 'utf8')).toMatch(
      /^ExecStart=\/usr\/local\/bin\/nfs-health-checkd$/m,
    );
    expect(must(`${destdir}/opt/${NAME}/bin/${NAME} --version`, env).trim()).toBe(VERSION);
    // The README the unit points to, with the docs it links to beside it.
    for (const f of ['README.md', 'docs/recovery.md', 'docs/holders.md', 'docs/runbook.md'])
      expect(fs.existsSync(path.join(destdir, 'opt', NAME, f)), f).toBe(true);

    // A config the new version rejects stops the install before anything changes.
    fs.writeFileSync(path.join(destdir, 'etc', NAME, 'config.yaml'), 'probe:\n  timeout: forever\n');
    const bad = sh(`cd / && ${tarTree}/install.sh`, env);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/probe\.timeout/);
    expect(bad.stderr).toMatch(/nothing was installed or changed/);

    // The incident state the unit kept when the service stopped.
    fs.mkdirSync(path.join(destdir, 'run', NAME), { recursive: true });
    fs.writeFileSync(path.join(destdir, 'run', NAME, 'state.json'), '{}\n');
    const removed = must(`cd / && ${tarTree}/install.sh --uninstall`, env);
    expect(removed).toContain(`removed ${destdir}/opt/${NAME}`);
    expect(removed).toContain(`removed ${destdir}/usr/local/bin/${NAME}`);
    expect(removed).toContain(`removed ${destdir}/run/${NAME}`);
    expect(fs.existsSync(path.join(destdir, 'run', NAME))).toBe(false);
    expect(fs.existsSync(path.join(destdir, 'etc', NAME, 'config.yaml'))).toBe(true);
    expect(fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '').toBe('');
  });

  it('the CLI on the bundled runtime: --version, validate, and a bad config in one line with exit 78', () => {
    const cli = path.join(debTree, 'usr/bin', NAME);
    expect(must(`${cli} --version`).trim()).toBe(VERSION);
    const dir = tempDir('nhc-config-');
    fs.writeFileSync(path.join(dir, 'good.yaml'), 'jitter: 1s\n');
    expect(must(`${cli} validate --config ${dir}/good.yaml`)).toMatch(/^jitter: 1s$/m);
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'probe:\n  max_stuck: lots\n');
    const r = sh(`${cli} validate --config ${dir}/bad.yaml`);
    expect(r.status).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad\.yaml.*probe\.max_stuck/);
  });

  const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
  requires(fuse).describe('the daemon on its bundled runtime, on real FUSE mounts', () => {
    let stage: TwoMounts | undefined;
    let daemon: RunningDaemon | undefined;
    let holders: ChildProcess[] = [];
    afterAll(async () => {
      if (stage) await tearDownTwoMounts(stage, daemon, holders);
    });

    it('a hang with a holder: recovered and detached, the holder named (the bundled scan worker), build_info names the runtime', async () => {
      stage = await setUpTwoMounts('nhc-release-daemon-');
      const { dir, a, b } = stage;
      // Both busy, as Airflow's are: umount -a takes only the hung one.
      holders = [a, b].map((m) => holdMount(m.mountpoint, path.join(m.mountpoint, 'example_dag.py')));
      const env = { ...process.env };
      delete env.MALLOC_ARENA_MAX;
      const d = startDaemon(dir, configYaml([a.mountpoint, b.mountpoint]), env, { command: [path.join(debTree, 'usr/bin', NAME)] });
      daemon = d;
      await d.waitForLine(is('mount healthy', a.mountpoint), 15_000);
      // The launcher's allocator default reaches the daemon (it execs node: the pid is the daemon's).
      expect(fs.readFileSync(`/proc/${d.pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=1');
      const text = await (await fetch(`${await d.metricsBase()}/metrics`)).text();
      expect(text).toMatch(new RegExp(`^nfs_health_checkd_build_info\\{version="${VERSION}",node_version="v${RUNTIME}"\\} 1$`, 'm'));

      const from = d.lines.length;
      a.setMode('hang');
      await d.waitForLine((l) => l.msg === 'recovery step' && l.detached === true, 30_000, from);
      await d.waitForLine(is('recovery finished'), 20_000, from);
      expect(findMount(a.mountpoint)).toBeUndefined();
      const holder = await d.waitForLine((l) => l.msg === 'holder left on detached mount' && l.pid === holders[0]!.pid, 20_000, from);
      expect(holder.mount).toBe(a.mountpoint);
      expect(findMount(b.mountpoint)).toBeDefined();
    }, 90_000);
  });
});
