// The .deb's postrm (packaging/release/debian/postrm, installed as it is), run for real as dpkg
// runs it, in a scratch /run and /etc (test/helpers/scratch-root.ts): remove keeps the incident
// state in /run/nfs-health-checkd (a reinstall resumes it) and masks the unit; purge removes that
// directory with what is in it, the empty config directory and the admin's enablement links.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { requires, skips } from '../helpers/prerequisite.js';
import { runInScratchRoot, scratchRootPrerequisites } from '../helpers/scratch-root.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const POSTRM = fs.readFileSync(path.join(ROOT, 'packaging', 'release', 'debian', 'postrm'), 'utf8');
const NAME = 'nfs-health-checkd';
const UNIT = `${NAME}.service`;
const RUN_DIR = `/run/${NAME}`;

const needs = scratchRootPrerequisites();
if (skips(...needs)) console.warn('[maintainer-scripts] skipped: needs root and unshare --mount (util-linux)');

// A node that ran the daemon: its incident state, the admin's enablement link, the config
// directory dpkg has emptied of its conffile, and systemd running (postrm then reloads it).
const SETUP = `
mkdir -p ${RUN_DIR} /run/systemd/system /etc/${NAME} /etc/systemd/system/multi-user.target.wants
echo '{"detached":[]}' >${RUN_DIR}/state.json
ln -s /lib/systemd/system/${UNIT} /etc/systemd/system/multi-user.target.wants/${UNIT}
`;
const INSPECT = `
for p in ${RUN_DIR} ${RUN_DIR}/state.json /etc/${NAME} /etc/systemd/system/multi-user.target.wants/${UNIT}; do
  if [ -e "$p" ] || [ -L "$p" ]; then echo "present $p"; else echo "absent $p"; fi
done
`;

const state = (stdout: string, p: string): string | undefined =>
  stdout
    .split('\n')
    .find((l) => l.endsWith(` ${p}`))
    ?.split(' ')[0];

requires(...needs).describe('packaging/release/debian/postrm', () => {
  it('purge removes /run/nfs-health-checkd and the state in it, the config directory and the enablement link', () => {
    const r = runInScratchRoot({ setup: SETUP, script: POSTRM, args: ['purge'], inspect: INSPECT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rc=0$/m);
    expect(state(r.stdout, RUN_DIR)).toBe('absent');
    expect(state(r.stdout, `/etc/${NAME}`)).toBe('absent');
    expect(state(r.stdout, `/etc/systemd/system/multi-user.target.wants/${UNIT}`)).toBe('absent');
    expect(r.calls).toEqual([`deb-systemd-helper purge ${UNIT}`, `deb-systemd-helper unmask ${UNIT}`, 'systemctl --system daemon-reload']);
  });

  it('remove keeps the incident state (a reinstall resumes it) and masks the unit', () => {
    const r = runInScratchRoot({ setup: SETUP, script: POSTRM, args: ['remove'], inspect: INSPECT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rc=0$/m);
    expect(state(r.stdout, `${RUN_DIR}/state.json`)).toBe('present');
    expect(state(r.stdout, `/etc/${NAME}`)).toBe('present');
    expect(r.calls).toEqual([`deb-systemd-helper mask ${UNIT}`, 'systemctl --system daemon-reload']);
  });

  it('upgrade touches neither the state nor systemd', () => {
    const r = runInScratchRoot({ setup: SETUP, script: POSTRM, args: ['upgrade', '0.1.0'], inspect: INSPECT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rc=0$/m);
    expect(state(r.stdout, `${RUN_DIR}/state.json`)).toBe('present');
    expect(r.calls).toEqual([]);
  });

  it('purge with no /run/nfs-health-checkd (a reboot since) succeeds', () => {
    const r = runInScratchRoot({ setup: `mkdir -p /etc/${NAME}`, script: POSTRM, args: ['purge'], inspect: INSPECT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^rc=0$/m);
    expect(state(r.stdout, RUN_DIR)).toBe('absent');
    expect(state(r.stdout, `/etc/${NAME}`)).toBe('absent');
  });
});
