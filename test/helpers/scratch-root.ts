// Runs a package's maintainer script for real, as root, but in a private mount namespace whose
// /run and /etc are empty tmpfs: what it removes or keeps there is read back, and this machine's
// own /run and /etc are never touched. The systemd helpers it calls (systemctl, deb-systemd-helper,
// deb-systemd-invoke) are stand-ins on PATH that record their arguments: this machine's systemd,
// if it has one, is not the package's to drive.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { executable, prerequisite, runningAsRoot, type Prerequisite } from './prerequisite.js';

/** What a scratch-root run needs: root, and unshare --mount that works here. */
export function scratchRootPrerequisites(): Prerequisite[] {
  const root = runningAsRoot('a private mount namespace (unshare --mount) needs root');
  const unshare = executable('unshare', 'util-linux');
  const works = prerequisite(
    'unshare --mount',
    !root.ok || !unshare.ok || spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0,
    'privilege',
    'unshare --mount fails here, as root (no CAP_SYS_ADMIN: a container?)',
  );
  return [root, unshare, works];
}

export interface ScratchRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The stand-ins' calls, one line each: `deb-systemd-helper purge nfs-health-checkd.service`. */
  calls: string[];
}

const STAND_INS = ['systemctl', 'deb-systemd-helper', 'deb-systemd-invoke'];

/**
 * `setup` (bash) prepares the scratch /run and /etc, `script` is run with `sh -s ARGS` as dpkg and
 * rpm run theirs, then `inspect` (bash) prints what the test reads back. A failing setup or
 * inspect fails the run (exit status ≠ 0); the script's own status is printed as `rc=N`.
 */
export function runInScratchRoot(p: { setup: string; script: string; args: string[]; inspect: string }): ScratchRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nhc-scratch-root-'));
  try {
    const bin = path.join(dir, 'bin');
    const calls = path.join(dir, 'calls');
    fs.mkdirSync(bin);
    fs.writeFileSync(calls, '');
    for (const tool of STAND_INS)
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >>${JSON.stringify(calls)}\nexit 0\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'script'), p.script);
    const body = [
      'set -eu',
      'mount -t tmpfs scratch /run',
      'mount -t tmpfs scratch /etc',
      p.setup,
      'set +e',
      `PATH=${bin}:/usr/sbin:/usr/bin:/sbin:/bin sh -s "$@" <${JSON.stringify(path.join(dir, 'script'))}`,
      'echo "rc=$?"',
      'set -e',
      p.inspect,
    ].join('\n');
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', body, 'scratch', ...p.args], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.error) throw r.error;
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      calls: fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
