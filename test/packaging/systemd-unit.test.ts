// The shipped unit: verified by the real systemd-analyze (with the ExecStart path it expects in
// place), and checked for what must never be in it — any option that gives the service a mount
// namespace of its own (its unmounts would never reach the host) — and for what must.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { CLI } from '../helpers/cli.js';
import { built, requires, runningAsRoot, runs, skips } from '../helpers/prerequisite.js';

const UNIT = join(import.meta.dirname, '..', '..', 'packaging', 'systemd', 'nfs-health-checkd.service');
const EXEC_START = '/usr/local/bin/nfs-health-checkd';

/** `Key=value` settings of the unit, comments and blank lines dropped. */
function settings(): Array<[string, string]> {
  return readFileSync(UNIT, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';') && !l.startsWith('['))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i).trim(), l.slice(i + 1).trim()] as [string, string];
    });
}
const get = (key: string) =>
  settings()
    .filter(([k]) => k === key)
    .map(([, v]) => v);

// Every option that makes systemd set up a private mount namespace for the service. Not
// RuntimeDirectory=: without DynamicUser= or RootDirectory= (both listed) systemd only creates the
// directory, in the host's namespace (the e2e systemd and holders-daemon-restart boots compare the
// daemon's /proc/PID/ns/mnt with PID 1's).
const NAMESPACING = [
  'PrivateTmp',
  'PrivateMounts',
  'PrivateDevices',
  'ProtectSystem',
  'ProtectHome',
  'ReadOnlyPaths',
  'ReadWritePaths',
  'InaccessiblePaths',
  'ExecPaths',
  'NoExecPaths',
  'TemporaryFileSystem',
  'BindPaths',
  'BindReadOnlyPaths',
  'ProtectKernelTunables',
  'ProtectKernelModules',
  'ProtectKernelLogs',
  'ProtectControlGroups',
  'ProtectProc',
  'ProcSubset',
  'MountFlags',
  'DynamicUser',
  'RootDirectory',
  'RootImage',
  'PrivateNetwork',
  'NetworkNamespacePath',
  'MountAPIVFS',
  'StateDirectory',
  'CacheDirectory',
  'LogsDirectory',
  'ConfigurationDirectory',
  'ProtectClock',
  'ProtectHostname',
  'LogNamespace',
  'PrivateIPC',
  'IPCNamespacePath',
  'MountImages',
  'ExtensionImages',
  'ExtensionDirectories',
];

describe('packaging/systemd/nfs-health-checkd.service', () => {
  it('sets no option that would give it a mount namespace, and no MemoryDenyWriteExecute', () => {
    const present = settings().map(([k]) => k);
    expect(present.filter((k) => NAMESPACING.includes(k))).toEqual([]);
    expect(present).not.toContain('MemoryDenyWriteExecute');
  });

  it('says why, in a comment, for whoever comes to harden it', () => {
    const text = readFileSync(UNIT, 'utf8');
    expect(text).toMatch(/#.*mount namespace/);
    expect(text).toMatch(/#.*MemoryDenyWriteExecute/);
  });

  it('keeps /run/nfs-health-checkd (the incident state) when the service stops, for root alone', () => {
    expect(get('RuntimeDirectory')).toEqual(['nfs-health-checkd']);
    expect(get('RuntimeDirectoryPreserve')).toEqual(['yes']);
    expect(get('RuntimeDirectoryMode')).toEqual(['0700']);
    // What would make RuntimeDirectory= a bind mount in a namespace of the service's own.
    for (const k of ['DynamicUser', 'RootDirectory', 'RootImage']) expect(get(k), k).toEqual([]);
    // The directory the packaged default state.file lies in.
    const { config } = loadConfig({ etcFile: '/nonexistent' });
    expect(config.state.file).toBe('/run/nfs-health-checkd/state.json');
    expect(dirname(config.state.file ?? '')).toBe(`/run/${get('RuntimeDirectory')[0]}`);
  });

  it('is a notify service with a watchdog, restarts but not on a bad config, stops in time', () => {
    expect(get('Type')).toEqual(['notify']);
    expect(get('NotifyAccess')).toEqual(['all']);
    expect(get('WatchdogSec')).toHaveLength(1);
    expect(get('Restart')).toEqual(['always']);
    expect(get('RestartPreventExitStatus')).toEqual(['78']);
    expect(get('ExecStart')).toEqual([EXEC_START]);
    expect(get('ExecReload')[0]).toMatch(/kill -HUP \$MAINPID/);
    expect(get('After')[0]).toMatch(/autofs\.service/);
    expect(get('After')[0]).toMatch(/network-online\.target/);
    expect(get('Wants')).toEqual(['network-online.target']);
    // The daemon is gone within ~2 s of SIGTERM, blocked probes or not.
    expect(Number(get('TimeoutStopSec')[0]?.replace(/s$/, ''))).toBeGreaterThanOrEqual(5);
    expect(get('SystemCallFilter')[0]).toMatch(/@mount/);
    expect(get('CapabilityBoundingSet')[0]).toMatch(/CAP_SYS_ADMIN/);
    // The holder scan reads other users' /proc/PID/fd, fdinfo and maps (ptrace read access).
    expect(get('CapabilityBoundingSet')[0]?.split(' ')).toContain('CAP_SYS_PTRACE');
    expect(get('NoNewPrivileges')).toEqual(['yes']);
    expect(get('WantedBy')).toEqual(['multi-user.target']);
  });

  const analyze = runs('systemd-analyze', ['--version'], 'systemd');
  if (skips(analyze)) console.warn('[unit] systemd-analyze verify skipped: no systemd-analyze (Debian package systemd)');
  const root = runningAsRoot(`creating ${EXEC_START} needs root`);
  if (analyze.ok && skips(root)) console.warn(`[unit] systemd-analyze verify skipped: creating ${EXEC_START} needs root`);

  requires(analyze, root, built()).it('passes systemd-analyze verify, with its ExecStart in place', () => {
    // The path the unit expects: the installed link, or for this run a link to the built CLI.
    const created = !existsSync(EXEC_START) && !isLink(EXEC_START);
    if (created) {
      chmodSync(CLI, 0o755);
      symlinkSync(CLI, EXEC_START);
    }
    try {
      const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      // And its exposure, for the record (systemd's own hardening score, lower is better).
      const security = execFileSync('systemd-analyze', ['security', '--offline=yes', UNIT], { encoding: 'utf8' });
      expect(security).toMatch(/Overall exposure level for nfs-health-checkd\.service: \d/);
    } finally {
      if (created) unlinkSync(EXEC_START);
    }
  });
});

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
