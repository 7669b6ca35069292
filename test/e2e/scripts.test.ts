// The e2e suite's shell: the image build, the guest's helpers and every scenario script (each
// checked as the guest runs it: after lib.sh) are shellcheck-clean; every scenario the runner
// names has its script, and writes its fault's event; the image carries no Node.js.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { executable, requires } from '../helpers/prerequisite.js';
import { findExecutable } from '../helpers/tools.js';
import { REMOVAL, SCENARIOS } from './scenarios.js';

const E2E = path.join(import.meta.dirname, '.');
const scenarioDir = path.join(E2E, 'scenarios');
const guestBin = ['usr/local/sbin', 'usr/local/bin'].flatMap((d) =>
  fs.readdirSync(path.join(E2E, 'vm/guest', d)).map((f) => path.join(E2E, 'vm/guest', d, f)),
);

describe('e2e scripts', () => {
  it('every scenario the runner names has its script, and the install and removal boots have theirs', () => {
    for (const s of [...SCENARIOS, REMOVAL]) expect(fs.existsSync(path.join(scenarioDir, s.script)), s.script).toBe(true);
    expect(fs.existsSync(path.join(scenarioDir, 'install.sh'))).toBe(true);
  });

  it("every scenario's fault is an event its script writes (the needless-recovery count stops there)", () => {
    for (const s of SCENARIOS) {
      if (s.fault === null) continue;
      expect(fs.readFileSync(path.join(scenarioDir, s.script), 'utf8'), `${s.name}: ev ${s.fault}`).toMatch(
        new RegExp(`^\\s*ev ${s.fault}$`, 'm'),
      );
    }
  });

  it('the image build puts no node or npm in the guest (the .deb brings its runtime)', () => {
    const build = fs.readFileSync(path.join(E2E, 'vm/build.sh'), 'utf8');
    expect(build).not.toMatch(/command -v (node|npm)|\/usr\/bin\/(node|npm)\b|node_modules/);
  });

  it('the install boot installs the .deb with dpkg -i and records that the guest has no node', () => {
    const install = fs.readFileSync(path.join(scenarioDir, 'install.sh'), 'utf8');
    expect(install).toMatch(/^dpkg -i "\/mnt\/src\/\$DEB"/m);
    expect(install).toMatch(/^val guest_node "\$\(command -v node \|\| echo none\)"$/m);
    expect(install).not.toMatch(/packaging\/install\.sh/);
  });

  it('a scenario that installs the .deb again mounts the src share read-only and runs dpkg -i on $DEB', () => {
    const again = SCENARIOS.filter((s) => s.deb === true);
    expect(again.map((s) => s.name)).toEqual(['holders-daemon-restart']);
    for (const s of again) {
      const text = fs.readFileSync(path.join(scenarioDir, s.script), 'utf8');
      expect(text, s.name).toMatch(/^\s*mount -t 9p -o [^\n]*\bro src \/mnt\/src\b/m);
      expect(text, s.name).toMatch(/dpkg -i [^\n]*"\/mnt\/src\/\$DEB"/);
    }
  });

  const shellcheck = findExecutable('shellcheck');
  requires(executable('shellcheck', 'shellcheck')).it('are shellcheck-clean', () => {
    const lint = (files: string[]): string => {
      const r = spawnSync(shellcheck ?? 'shellcheck', ['-s', 'bash', ...files], { encoding: 'utf8', timeout: 60_000 });
      return `${r.stdout}${r.stderr}`.trim();
    };
    expect(lint([path.join(E2E, 'vm/build.sh'), ...guestBin, path.join(scenarioDir, 'lib.sh')])).toBe('');
    const lib = fs.readFileSync(path.join(scenarioDir, 'lib.sh'), 'utf8');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nhc-e2e-sh-'));
    try {
      for (const f of fs.readdirSync(scenarioDir).filter((n) => n.endsWith('.sh') && n !== 'lib.sh')) {
        const joined = path.join(tmp, f);
        fs.writeFileSync(joined, `${lib}\n${fs.readFileSync(path.join(scenarioDir, f), 'utf8')}`);
        expect(lint([joined]), f).toBe('');
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
