// Every kind of config error, asserted on the full one-line message. Each case writes a user file
// that is merged over the packaged defaults, as the daemon does.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/schema.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfs-hc-errors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(text: string): string {
  const file = join(dir, `config-${++counter}.yaml`);
  writeFileSync(file, text);
  return file;
}

function load(text: string) {
  return loadConfig({ file: write(text), etcFile: join(dir, 'absent.yaml') });
}

/** The error for `text` as a user file, with the file name replaced by FILE. */
function errorFor(text: string): string {
  const file = write(text);
  try {
    loadConfig({ file });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const error = err as ConfigError;
    expect(error.file).toBe(file);
    expect(error.message).not.toContain('\n');
    return error.message.split(file).join('FILE');
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

describe('mounts', () => {
  it('rejects a relative path', () => {
    expect(errorFor('mounts:\n  - path: /airflow/dags\n  - path: airflow/logs\n')).toBe(
      'FILE: mounts[1].path: expected an absolute path, got "airflow/logs"',
    );
  });

  it('normalises paths', () => {
    expect(load('mounts:\n  - path: /airflow//dags/\n  - path: /a/./b/../c\n').config.mounts).toEqual([
      { path: '/airflow/dags' },
      { path: '/a/c' },
    ]);
  });

  it('rejects duplicates after normalisation, naming both', () => {
    expect(errorFor('mounts:\n  - path: /a/b/\n  - path: /a//b\n')).toBe(
      'FILE: mounts[1].path: expected a path not already listed (mounts[0].path is also "/a/b"), got "/a//b"',
    );
  });

  it.each(['/', '//', '/a/..'])('rejects %j, which is the root', (path) => {
    expect(errorFor(`mounts:\n  - path: ${path}\n`)).toBe(
      `FILE: mounts[0].path: expected a mount point other than /, got ${JSON.stringify(path)}`,
    );
  });

  it('rejects an empty list', () => {
    expect(errorFor('mounts: []\n')).toBe('FILE: mounts: expected a non-empty list (of {path: /absolute/path}), got []');
  });

  it('rejects a bare string instead of {path}', () => {
    expect(errorFor('mounts:\n  - /airflow/dags\n')).toBe('FILE: mounts[0]: expected a mapping, got "/airflow/dags"');
  });

  it('rejects a missing path', () => {
    expect(errorFor('mounts:\n  - {}\n')).toBe('FILE: mounts[0].path: expected an absolute path, got nothing (the key is missing)');
  });
});

describe('schedule', () => {
  it('rejects a 5-field expression, asking for a seconds field', () => {
    expect(errorFor('schedule: "*/5 * * * *"\n')).toBe(
      'FILE: schedule: expected a cron expression with a seconds field (6 fields, e.g. "*/30 * * * * *"), got "*/5 * * * *"',
    );
  });

  it('rejects a 6-field expression node-cron does not accept', () => {
    expect(errorFor('schedule: "61 * * * * *"\n')).toBe(
      'FILE: schedule: expected a valid cron expression (second: 61 is a invalid expression for second), got "61 * * * * *"',
    );
  });

  it('rejects other field counts', () => {
    expect(errorFor('schedule: hourly\n')).toBe(
      'FILE: schedule: expected a cron expression of 6 fields, seconds first (e.g. "*/30 * * * * *"), got "hourly"',
    );
  });

  it.each(['0 0 0 L * *', '0 0 0 15W * *', '0 0 0 * * 1#2'])('rejects the day token in %s, which the schedule does not support', (expr) => {
    expect(errorFor(`schedule: "${expr}"\n`)).toBe(
      `FILE: schedule: expected a cron expression of numbers, ranges, lists and steps (the L, W and # day tokens are not supported), got "${expr}"`,
    );
  });

  it('accepts another 6-field expression', () => {
    expect(load('schedule: "0 */2 * * * *"\n').config.schedule).toBe('0 */2 * * * *');
  });
});

describe('durations and numbers', () => {
  it('rejects a bare number', () => {
    expect(errorFor('probe:\n  timeout: 5\n')).toBe(
      'FILE: probe.timeout: expected a duration such as 500ms, 5s, 1.5s, 2m or 1h; a bare number is ambiguous, got 5',
    );
  });

  it('rejects a malformed duration', () => {
    expect(errorFor('recovery:\n  cooldown: -1s\n')).toBe(
      'FILE: recovery.cooldown: expected a duration such as 500ms, 5s, 1.5s, 2m or 1h (units: ms, s, m, h), got "-1s"',
    );
  });

  it.each(['0s', '0', '6m'])('bounds probe.timeout: %s', (value) => {
    const shown = value === '0' ? '0' : `"${value}"`;
    expect(errorFor(`probe:\n  timeout: ${value}\n`)).toBe(
      `FILE: probe.timeout: expected a duration more than 0 and at most 5m, got ${shown}`,
    );
  });

  it('bounds recovery.timeout', () => {
    expect(errorFor('recovery:\n  timeout: 50ms\n')).toBe(
      'FILE: recovery.timeout: expected a duration at least 100ms and at most 1h, got "50ms"',
    );
  });

  it('bounds jitter and accepts 0', () => {
    expect(errorFor('jitter: 2h\n')).toBe('FILE: jitter: expected a duration at most 1h, got "2h"');
    expect(load('jitter: 0\n').config.jitterMs).toBe(0);
    expect(load('jitter: 1.5s\n').config.jitterMs).toBe(1_500);
  });

  it('accepts a cooldown of 0 with any max_backoff', () => {
    const { recovery } = load('recovery:\n  cooldown: 0s\n  max_backoff: 0s\n').config;
    expect([recovery.cooldownMs, recovery.maxBackoffMs]).toEqual([0, 0]);
  });

  it('rejects max_backoff below cooldown in the same file', () => {
    expect(errorFor('recovery:\n  cooldown: 1m\n  max_backoff: 30s\n')).toBe(
      'FILE: recovery.max_backoff: expected a duration at least cooldown (1m) and at most 24h, got "30s"',
    );
  });

  it.each(['0', '65', '2.5', '"3"'])('bounds max_stuck: %s', (value) => {
    expect(errorFor(`probe:\n  max_stuck: ${value}\n`)).toBe(`FILE: probe.max_stuck: expected a whole number from 1 to 64, got ${value}`);
  });

  it('bounds the worker pool', () => {
    expect(errorFor('probe:\n  workers:\n    warm: 0\n')).toBe('FILE: probe.workers.warm: expected a whole number from 1 to 64, got 0');
    expect(errorFor('probe:\n  workers:\n    warm: 4\n    max: 3\n')).toBe(
      'FILE: probe.workers.max: expected a whole number at least warm (4) and at most 256, got 3',
    );
    expect(errorFor('probe:\n  workers:\n    idle: 500ms\n')).toBe(
      'FILE: probe.workers.idle: expected a duration at least 1s and at most 1h, got "500ms"',
    );
  });
});

describe('recovery', () => {
  it.each(['yes', '"true"', '1'])('wants a real boolean, not %s', (value) => {
    const shown = value === 'yes' ? '"yes"' : value;
    expect(errorFor(`recovery:\n  enabled: ${value}\n`)).toBe(`FILE: recovery.enabled: expected true or false, got ${shown}`);
  });

  it('rejects an unknown trigger', () => {
    expect(errorFor('recovery:\n  triggers: [timeout, estale]\n')).toBe(
      'FILE: recovery.triggers[1]: expected timeout, unmounted, automount_failed, automount_timeout or an errno name such as ESTALE, got "estale"',
    );
  });

  it('rejects a duplicate trigger', () => {
    expect(errorFor('recovery:\n  triggers: [EIO, ESTALE, EIO]\n')).toBe(
      'FILE: recovery.triggers[2]: expected a trigger not already listed (same as recovery.triggers[0]), got "EIO"',
    );
  });

  it('rejects no triggers', () => {
    expect(errorFor('recovery:\n  triggers: []\n')).toBe('FILE: recovery.triggers: expected a non-empty list (of probe results), got []');
  });

  it('accepts every kind of trigger', () => {
    const triggers = ['timeout', 'unmounted', 'automount_failed', 'EHOSTDOWN', 'ENOENT'];
    expect(load(`recovery:\n  triggers: [${triggers.join(', ')}]\n`).config.recovery.triggers).toEqual(triggers);
  });

  it('rejects a command given as one string', () => {
    expect(errorFor('recovery:\n  command: umount -a\n')).toBe(
      'FILE: recovery.command: expected a list (a command and its arguments), got "umount -a"',
    );
  });

  it('rejects a hang_after shorter than the probe timeout, or not a duration or multiple', () => {
    const what =
      'expected a multiple of probe.timeout such as 3x (1x to 100x), or a duration of at least probe.timeout (5s) and at most 1h';
    expect(errorFor('recovery:\n  hang_after: 4s\n')).toBe(`FILE: recovery.hang_after: ${what}, got "4s"`);
    expect(errorFor('recovery:\n  hang_after: 0.5x\n')).toBe(`FILE: recovery.hang_after: ${what}, got "0.5x"`);
    expect(errorFor('recovery:\n  hang_after: 15\n')).toBe(`FILE: recovery.hang_after: ${what}, got 15`);
    expect(errorFor('recovery:\n  hang_after: 2h\n')).toBe(`FILE: recovery.hang_after: ${what}, got "2h"`);
  });

  it('asks for numbers in a command to be quoted', () => {
    expect(errorFor('recovery:\n  command: [sleep, 5]\n')).toBe(
      'FILE: recovery.command[1]: expected a non-empty string (quote numbers), got 5',
    );
  });

  it('rejects an empty argument', () => {
    expect(errorFor('recovery:\n  remount: [mount, ""]\n')).toBe('FILE: recovery.remount[1]: expected a non-empty string, got ""');
  });

  it('rejects an empty escalation step', () => {
    expect(errorFor('recovery:\n  escalation:\n    - [umount, -f]\n    - []\n')).toBe(
      'FILE: recovery.escalation[1]: expected a non-empty list (a command and its arguments), got []',
    );
  });
});

describe('holders', () => {
  it('rejects a restart glob that names no service, with what is wrong', () => {
    expect(errorFor('holders:\n  restart_units: ["airflow-*"]\n')).toBe(
      'FILE: holders.restart_units[0]: expected a unit glob such as "airflow-*.service" (a glob ending in .service (only services can be restarted)), got "airflow-*"',
    );
    expect(errorFor('holders:\n  restart_units: [airflow-*.service, "airflow scheduler.service"]\n')).toBe(
      'FILE: holders.restart_units[1]: expected a unit glob such as "airflow-*.service" (only letters, digits, ":_.\\@-" and the glob characters * ? [ ]), got "airflow scheduler.service"',
    );
    expect(errorFor('holders:\n  restart_units: ["w[0-9.service"]\n')).toMatch(
      /^FILE: holders\.restart_units\[0\]: .*every "\[" closed by a "\]"/,
    );
  });

  it('rejects restart_units that is not a list, and an empty name', () => {
    expect(errorFor('holders:\n  restart_units: airflow-scheduler.service\n')).toBe(
      'FILE: holders.restart_units: expected a list (of unit globs such as "airflow-*.service"), got "airflow-scheduler.service"',
    );
    expect(errorFor('holders:\n  restart_units: [""]\n')).toBe(
      'FILE: holders.restart_units[0]: expected a unit glob such as "airflow-*.service", got ""',
    );
  });

  it('bounds the deadlines and knows its keys', () => {
    expect(errorFor('holders:\n  scan_timeout: 2m\n')).toBe(
      'FILE: holders.scan_timeout: expected a duration at least 100ms and at most 1m, got "2m"',
    );
    expect(errorFor('holders:\n  restart_timeout: 10ms\n')).toBe(
      'FILE: holders.restart_timeout: expected a duration at least 1s and at most 1h, got "10ms"',
    );
    expect(errorFor('holders:\n  enabled: yes please\n')).toBe('FILE: holders.enabled: expected true or false, got "yes please"');
    expect(errorFor('holders:\n  restart: []\n')).toBe(
      'FILE: holders.restart: unknown key (expected one of: enabled, scan_timeout, restart_units, restart_timeout)',
    );
  });
});

describe('log', () => {
  it('rejects an unknown level', () => {
    expect(errorFor('log:\n  level: verbose\n')).toBe(
      'FILE: log.level: expected one of fatal, error, warn, info, debug, trace, got "verbose"',
    );
  });
});

describe('keys', () => {
  it('rejects an unknown key, listing the known ones', () => {
    expect(errorFor('recovery:\n  comand: [umount]\n')).toBe(
      'FILE: recovery.comand: unknown key (expected one of: enabled, dry_run, triggers, hang_after, command, timeout, escalation, cooldown, max_backoff, remount, namespace)',
    );
  });

  it('rejects an unknown top-level key', () => {
    expect(errorFor('mount:\n  - path: /x\n')).toBe(
      'FILE: mount: unknown key (expected one of: mounts, schedule, jitter, probe, recovery, holders, evidence, servers, metrics, log, state)',
    );
  });

  it('rejects an unknown key in a mount', () => {
    expect(errorFor('mounts:\n  - path: /x\n    options: ro\n')).toBe('FILE: mounts[0].options: unknown key (expected one of: path)');
  });

  it('rejects camelCase spellings', () => {
    expect(errorFor('recovery:\n  dryRun: true\n')).toMatch(/^FILE: recovery\.dryRun: unknown key \(expected one of: enabled, dry_run,/);
  });

  it.each([
    ['9100', '9100'],
    ['0.0.0.0', '"0.0.0.0"'],
    [':::12049', '":::12049"'],
    ['host:99999', '"host:99999"'],
    ['[::1]', '"[::1]"'],
  ])('rejects metrics.listen %s', (value, shown) => {
    expect(errorFor(`metrics:\n  listen: ${JSON.stringify(value)}\n`.replace('"9100"', '9100'))).toBe(
      `FILE: metrics.listen: expected an address like "0.0.0.0:12049", "127.0.0.1:12049" or "[::]:12049", got ${shown}`,
    );
  });

  it('rejects a recovery.namespace that is neither self, host nor a path', () => {
    expect(errorFor('recovery:\n  namespace: container\n')).toBe(
      'FILE: recovery.namespace: expected self, host, or the absolute path of a mount namespace file (/proc/PID/ns/mnt), got "container"',
    );
  });

  it('rejects an unknown key under metrics', () => {
    expect(errorFor('metrics:\n  port: 9100\n')).toBe(
      'FILE: metrics.port: unknown key (expected one of: enabled, listen, web_config_file)',
    );
  });

  it.each([
    ['relative', 'logs/nfs.log', '"logs/nfs.log"'],
    ['a directory', '/var/log/', '"/var/log/"'],
    ['not a string', '5', '5'],
  ])('rejects log.file that is %s', (_what, value, shown) => {
    expect(errorFor(`log:\n  file: ${value}\n`)).toBe(
      `FILE: log.file: expected an absolute file path, or "" for no log file, got ${shown}`,
    );
  });

  it('rejects a metrics.web_config_file that is not an absolute path', () => {
    expect(errorFor('metrics:\n  web_config_file: web.yml\n')).toBe(
      'FILE: metrics.web_config_file: expected an absolute file path, or "" for plain HTTP without authentication, got "web.yml"',
    );
  });

  it('quotes keys that are not identifiers', () => {
    expect(errorFor('probe:\n  "time out": 5s\n')).toBe(
      'FILE: probe["time out"]: unknown key (expected one of: timeout, max_stuck, workers)',
    );
  });

  it('does not let __proto__ through', () => {
    expect(errorFor('__proto__:\n  schedule: x\n')).toBe(
      'FILE: __proto__: unknown key (expected one of: mounts, schedule, jitter, probe, recovery, holders, evidence, servers, metrics, log, state)',
    );
  });

  it('rejects an empty section', () => {
    expect(errorFor('probe:\n  # timeout: 5s\n')).toBe('FILE: probe: expected a mapping, got null');
  });
});

describe('file-level errors', () => {
  it('reports YAML syntax errors with line and column', () => {
    expect(errorFor('probe:\n  timeout: 5s\n max_stuck: 3\n')).toBe(
      'FILE:3:1: invalid YAML: All mapping items must start at the same column',
    );
  });

  it('reports duplicate keys as YAML errors', () => {
    expect(errorFor('jitter: 1s\nlog:\n  level: info\njitter: 2s\n')).toBe('FILE:4:1: invalid YAML: Map keys must be unique');
  });

  it('reports an unresolved alias where it is', () => {
    expect(errorFor('jitter: 1s\nprobe:\n  timeout: *nope\n')).toMatch(/^FILE:3:12: invalid YAML: Unresolved alias/);
  });

  it('rejects several documents in one file', () => {
    expect(errorFor('jitter: 1s\n---\njitter: 2s\n')).toMatch(/^FILE:2:1: invalid YAML: Source contains multiple documents/);
  });

  it.each(['', '# only a comment\n'])('rejects an empty file: %j', (text) => {
    expect(errorFor(text)).toBe('FILE: expected a mapping of settings at the top level, got an empty file');
  });

  it('rejects a non-mapping top level', () => {
    expect(errorFor('- path: /airflow/dags\n')).toBe(
      'FILE: expected a mapping of settings at the top level, got [{"path":"/airflow/dags"}]',
    );
  });

  it('truncates long values to one short line', () => {
    const long = `/${'x'.repeat(100)}`;
    const message = errorFor(`mounts:\n  - path: /${long}\n  - path: ${long}\n`);
    expect(message).toMatch(
      /^FILE: mounts\[1\]\.path: expected a path not already listed \(mounts\[0\]\.path is also "\/x{57}…\), got "\/x{57}…$/,
    );
  });

  it('shows .inf as Infinity', () => {
    expect(errorFor('probe:\n  max_stuck: .inf\n')).toBe('FILE: probe.max_stuck: expected a whole number from 1 to 64, got Infinity');
  });
});

describe('validateConfig on its own', () => {
  it('names the single source for a non-mapping root', () => {
    expect(() => validateConfig(42, 'x.yaml')).toThrow(/^x\.yaml: expected a mapping, got 42$/);
  });
});
