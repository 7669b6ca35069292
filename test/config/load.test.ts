import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, loadConfig, packagedDefaultsPath, renderConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/schema.js';
import type { Config } from '../../src/config/types.js';
import { defaultConfig } from '../helpers/config.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The values documented in config/default.yaml. */
const DOCUMENTED = defaultConfig;

let dir: string;
let counter = 0;
let noEtc: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfs-hc-load-'));
  noEtc = join(dir, 'no-such-etc.yaml');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(text: string, name = `user-${++counter}.yaml`): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('packaged defaults', () => {
  it('are found from the package root', () => {
    expect(packagedDefaultsPath()).toBe(join(repoRoot, 'config', 'default.yaml'));
    expect(existsSync(packagedDefaultsPath())).toBe(true);
  });

  it('load alone and equal the documented values', () => {
    const loaded = loadConfig({ etcFile: noEtc });
    expect(loaded.config).toEqual(DOCUMENTED);
    expect(loaded.sources).toEqual([packagedDefaultsPath()]);
  });

  it('comment every key', () => {
    // Each key line carries a comment on the same line or on the line(s) just above it.
    const lines = readFileSync(packagedDefaultsPath(), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!/^\s*[a-z_]+:/.test(line)) return;
      const commented = line.includes('#') || (lines[i - 1]?.trim().startsWith('#') ?? false);
      const isSection = /^\s*[a-z_]+:\s*$/.test(line); // mounts:, probe:, recovery:, log:
      if (!isSection) expect(commented, `line ${i + 1}: ${line}`).toBe(true);
    });
  });
});

describe('merging a user file over the defaults', () => {
  it('overrides key by key', () => {
    const file = write('probe:\n  timeout: 1s\n');
    const loaded = loadConfig({ file, etcFile: noEtc });
    // hang_after is 3x the probe timeout: it follows.
    expect(loaded.config).toEqual({
      ...DOCUMENTED,
      probe: { ...DOCUMENTED.probe, timeoutMs: 1_000 },
      recovery: { ...DOCUMENTED.recovery, hangAfterMs: 3_000 },
    });
    expect(loaded.sources).toEqual([packagedDefaultsPath(), file]);
  });

  it('replaces a list as a whole', () => {
    const file = write('mounts:\n  - path: /srv/data/\nrecovery:\n  escalation: [[umount, -l]]\n');
    const { config } = loadConfig({ file });
    expect(config.mounts).toEqual([{ path: '/srv/data' }]);
    expect(config.recovery.escalation).toEqual([['umount', '-l']]);
    expect(config.recovery.command).toEqual(DOCUMENTED.recovery.command);
  });

  it('accepts an empty list where one is allowed', () => {
    const file = write('recovery:\n  command: []\n  escalation: []\n  remount: [mount]\n');
    const { config } = loadConfig({ file });
    expect(config.recovery.command).toEqual([]);
    expect(config.recovery.escalation).toEqual([]);
    expect(config.recovery.remount).toEqual(['mount']);
  });

  it('names the defaults file for a bad value that came from it', () => {
    const defaultsFile = write(readFileSync(packagedDefaultsPath(), 'utf8').replace('timeout: 5s', 'timeout: 0s'));
    const file = write('jitter: 1s\n');
    expect(messageOf(() => loadConfig({ file, defaultsFile }))).toBe(
      `${defaultsFile}: probe.timeout: expected a duration more than 0 and at most 5m, got "0s"`,
    );
  });

  it('names the user file for a bad value it set', () => {
    const defaultsFile = write(readFileSync(packagedDefaultsPath(), 'utf8'));
    const file = write('probe:\n  max_stuck: 0\n');
    expect(messageOf(() => loadConfig({ file, defaultsFile }))).toBe(
      `${file}: probe.max_stuck: expected a whole number from 1 to 64, got 0`,
    );
  });

  it('blames the user file when its cooldown exceeds the default max_backoff', () => {
    const file = write('recovery:\n  cooldown: 10m\n');
    expect(messageOf(() => loadConfig({ file }))).toBe(
      `${file}: recovery.cooldown: expected a duration at most max_backoff (5m, from ${packagedDefaultsPath()}), got "10m"`,
    );
  });

  it('blames the user file when its max_backoff is below the default cooldown', () => {
    const file = write('recovery:\n  max_backoff: 10s\n');
    expect(messageOf(() => loadConfig({ file }))).toBe(
      `${file}: recovery.max_backoff: expected a duration at least cooldown (30s) and at most 24h, got "10s"`,
    );
  });
});

describe('choosing the user file', () => {
  it('picks the etc file when present', () => {
    const etcFile = write('log:\n  level: debug\n', 'etc-config.yaml');
    const loaded = loadConfig({ etcFile });
    expect(loaded.config.log.level).toBe('debug');
    expect(loaded.sources).toEqual([packagedDefaultsPath(), etcFile]);
  });

  it('ignores the etc file when absent', () => {
    expect(loadConfig({ etcFile: noEtc }).sources).toEqual([packagedDefaultsPath()]);
  });

  it('prefers a given file over the etc file', () => {
    const etcFile = write('log:\n  level: debug\n');
    const file = write('log:\n  level: warn\n');
    const loaded = loadConfig({ file, etcFile });
    expect(loaded.config.log.level).toBe('warn');
    expect(loaded.sources).toEqual([packagedDefaultsPath(), file]);
  });

  it('fails on a given file that is missing', () => {
    const file = join(dir, 'missing.yaml');
    expect(messageOf(() => loadConfig({ file, etcFile: noEtc }))).toBe(`${file}: cannot read: no such file or directory (ENOENT)`);
  });

  it('fails on an etc file that exists but cannot be read', () => {
    const etcFile = join(dir, 'a-directory.yaml');
    mkdirSync(etcFile);
    expect(messageOf(() => loadConfig({ etcFile }))).toBe(`${etcFile}: cannot read: illegal operation on a directory (EISDIR)`);
  });

  it('takes hang_after as a multiple of the probe timeout or as a duration', () => {
    expect(loadConfig({ file: write('probe:\n  timeout: 2s\nrecovery:\n  hang_after: 2.5x\n') }).config.recovery.hangAfterMs).toBe(5_000);
    expect(loadConfig({ file: write('recovery:\n  hang_after: 1m\n') }).config.recovery.hangAfterMs).toBe(60_000);
    expect(loadConfig({ file: write('recovery:\n  hang_after: 1x\n') }).config.recovery.hangAfterMs).toBe(5_000);
  });

  it('resolves a relative file name', () => {
    const file = write('jitter: 2s\n');
    expect(loadConfig({ file: relative(process.cwd(), file) }).sources[1]).toBe(file);
  });
});

describe('renderConfig', () => {
  const custom: Config = {
    mounts: [{ path: '/srv/a' }, { path: '/srv/b c' }],
    schedule: '0 */5 * * * *',
    jitterMs: 1_500,
    probe: { timeoutMs: 250, maxStuckPerMount: 64, workers: { warm: 1, max: 32, idleMs: 90_000 } },
    recovery: {
      enabled: false,
      dryRun: true,
      triggers: ['unmounted', 'automount_failed', 'ESTALE'],
      hangAfterMs: 1_750,
      command: ['/usr/local/bin/recover', '--all', '#not-a-comment', 'yes', '5', ''.padEnd(3, '-')],
      timeoutMs: 100,
      escalation: [],
      cooldownMs: 0,
      maxBackoffMs: 5_400_000,
      remount: ['mount', '-o', 'vers=4.1'],
      mountNamespace: '/proc/4242/ns/mnt',
    },
    holders: { enabled: false, scanTimeoutMs: 250, restartUnits: ['airflow-*.service', 'worker@[0-9].service'], restartTimeoutMs: 90_000 },
    evidence: { enabled: false, intervalMs: 250, earlyProbeGapMs: 90_000 },
    servers: {
      watch: false,
      checkIntervalMs: 750,
      resetStalled: false,
      autofsReload: ['/usr/local/sbin/flush-autofs', '--now'],
      reloadIntervalMs: 45_000,
    },
    metrics: { enabled: false, listen: { host: '::1', port: 0 }, webConfigFile: null },
    log: { level: 'trace', file: null },
    state: { file: '/var/tmp/nfs state.json' },
  };

  it('writes the file form: snake_case keys, durations with units', () => {
    const text = renderConfig(DOCUMENTED);
    expect(text).toContain('max_backoff: 5m\n');
    expect(text).toContain('max_stuck: 3\n');
    expect(text).toContain('dry_run: false\n');
    expect(text).toContain('jitter: 0s\n');
    expect(text).toContain('command: [umount, -a, -t, "nfs,nfs4"]\n');
    expect(text).toContain('  escalation:\n    - [umount, -f]\n    - [umount, -l]\n');
    expect(text).toContain('  listen: 0.0.0.0:12049\n');
    expect(text).toContain('  file: /var/log/nfs-health-check.log\n');
  });

  it('reads recovery.namespace: self, host (PID 1), or a namespace file', () => {
    const ns = (v: string) => loadConfig({ file: write(`recovery:\n  namespace: ${v}\n`), etcFile: noEtc }).config.recovery.mountNamespace;
    expect(ns('self')).toBeNull();
    expect(ns('host')).toBe('/proc/1/ns/mnt');
    expect(ns('/proc/77/ns/mnt')).toBe('/proc/77/ns/mnt');
    expect(renderConfig({ ...DOCUMENTED, recovery: { ...DOCUMENTED.recovery, mountNamespace: '/proc/1/ns/mnt' } })).toContain(
      '  namespace: host\n',
    );
  });

  it('reads IPv6 listen addresses and "" for no log file', () => {
    const { config } = loadConfig({ file: write('metrics:\n  listen: "[::]:0"\nlog:\n  file: ""\n'), etcFile: noEtc });
    expect(config.metrics.listen).toEqual({ host: '::', port: 0 });
    expect(config.log.file).toBeNull();
  });

  it.each([
    ['defaults', DOCUMENTED],
    ['custom', custom],
  ])('round-trips the %s', (_name, config) => {
    const text = renderConfig(config);
    expect(validateConfig(parse(text), 'rendered.yaml')).toEqual(config);
    // Loading it as a user file over the defaults changes nothing either: every key is set.
    const reloaded = loadConfig({ file: write(text) }).config;
    expect(reloaded).toEqual(config);
    expect(renderConfig(reloaded)).toBe(text);
  });
});

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}
