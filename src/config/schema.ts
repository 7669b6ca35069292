// Validation of the merged YAML tree into a Config. Strict on purpose: an unknown key is most
// likely a typo that would silently leave a default in force, so it is an error, as is any value
// of the wrong type. The first problem found is thrown as a one-line ConfigError naming the file
// the bad value came from.

import { posix } from 'node:path';
import { validateDetailed } from 'node-cron';
import { cronFields, nextMatch } from '../cron-match.js';
import { unitGlobProblem } from '../holders/unit-glob.js';
import { ERRNO_NAMES } from '../probe/errno.js';
import { DurationError, formatDuration, parseDuration } from './duration.js';
import type { Config, ListenAddress, LogLevel, MountConfig } from './types.js';

/** Where a value sits in the YAML tree: mapping keys and list indices. */
export type KeyPath = readonly (string | number)[];

/** The file a value at a key path came from (for merged configs, the last file that set it). */
export type SourceOf = (keyPath: KeyPath) => string;

/** A config problem, reported as one line: `<file>[:line:col]: [<key path>: ]<detail>`. */
export class ConfigError extends Error {
  readonly file: string;
  readonly keyPath: string | undefined;

  constructor(opts: { file: string; detail: string; keyPath?: string; line?: number; col?: number }) {
    const where = opts.line === undefined ? opts.file : `${opts.file}:${opts.line}:${opts.col ?? 1}`;
    const key = opts.keyPath ? `${opts.keyPath}: ` : '';
    super(`${where}: ${key}${opts.detail}`);
    this.name = 'ConfigError';
    this.file = opts.file;
    this.keyPath = opts.keyPath || undefined;
  }
}

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** Probe outcomes that are not errno names. */
export const NON_ERRNO_TRIGGERS = ['timeout', 'unmounted', 'automount_failed', 'automount_timeout'] as const;

/** Keys that a later release will give a meaning: rejected now rather than silently ignored. */

const MAX_VALUE_TEXT = 60;

/** `recovery.escalation[1]`; keys that are not identifiers are bracketed and quoted. */
export function formatKeyPath(path: KeyPath): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) text += text ? `.${part}` : part;
    else text += `[${JSON.stringify(part)}]`;
  }
  return text;
}

/** A value as it would read in JSON (≈ flow YAML), cut to one short line. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing (the key is missing)';
  let text: string;
  if (typeof value === 'number')
    text = String(value); // Infinity and NaN, which JSON hides
  else if (value instanceof Uint8Array) text = `binary data (${value.length} bytes)`;
  else {
    text =
      JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'number' && !Number.isFinite(inner) ? String(inner) : inner)) ??
      String(value);
  }
  return text.length > MAX_VALUE_TEXT ? `${text.slice(0, MAX_VALUE_TEXT - 1)}…` : text;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Validates a whole YAML tree (defaults already merged in). `source` is a file name or a SourceOf. */
export function validateConfig(raw: unknown, source: string | SourceOf): Config {
  const sourceOf: SourceOf = typeof source === 'string' ? () => source : source;
  const v = new Validator(sourceOf);
  const top = v.mapping([], raw, ['mounts', 'schedule', 'jitter', 'probe', 'recovery', 'holders', 'metrics', 'log']);
  const probe = v.mapping(['probe'], top.probe, ['timeout', 'max_stuck', 'workers']);
  const workers = v.mapping(['probe', 'workers'], probe.workers, ['warm', 'max', 'idle']);
  const recovery = v.mapping(['recovery'], top.recovery, [
    'enabled',
    'dry_run',
    'triggers',
    'hang_after',
    'command',
    'timeout',
    'escalation',
    'cooldown',
    'max_backoff',
    'remount',
    'namespace',
  ]);
  const holders = v.mapping(['holders'], top.holders, ['enabled', 'scan_timeout', 'restart_units', 'restart_timeout']);
  const metrics = v.mapping(['metrics'], top.metrics, ['enabled', 'listen']);
  const log = v.mapping(['log'], top.log, ['level', 'file']);

  // Values are checked in file order so the first error reported is the first in the file.
  const mounts = v.mounts(['mounts'], top.mounts);
  const schedule = v.schedule(['schedule'], top.schedule);
  const jitterMs = v.duration(['jitter'], top.jitter, 0, HOUR);
  const timeoutMs = v.duration(['probe', 'timeout'], probe.timeout, 1, 5 * MINUTE);
  const maxStuckPerMount = v.integer(['probe', 'max_stuck'], probe.max_stuck, 1, 64);
  const warmWorkers = v.integer(['probe', 'workers', 'warm'], workers.warm, 1, 64);
  const maxWorkers = v.integer(['probe', 'workers', 'max'], workers.max, 1, 256);
  if (maxWorkers < warmWorkers) {
    v.expected(['probe', 'workers', 'max'], `a whole number at least warm (${warmWorkers}) and at most 256`, workers.max);
  }
  const idleWorkerMs = v.duration(['probe', 'workers', 'idle'], workers.idle, SECOND, HOUR);
  const enabled = v.boolean(['recovery', 'enabled'], recovery.enabled);
  const dryRun = v.boolean(['recovery', 'dry_run'], recovery.dry_run);
  const triggers = v.triggers(['recovery', 'triggers'], recovery.triggers);
  const hangAfterMs = v.hangAfter(['recovery', 'hang_after'], recovery.hang_after, timeoutMs);
  const command = v.argv(['recovery', 'command'], recovery.command, 0);
  const commandTimeoutMs = v.duration(['recovery', 'timeout'], recovery.timeout, 100, HOUR);
  const escalation = v.list(['recovery', 'escalation'], recovery.escalation, 0, 'of commands', (path, item) => v.argv(path, item, 1));
  const cooldownPath = ['recovery', 'cooldown'];
  const backoffPath = ['recovery', 'max_backoff'];
  const cooldownMs = v.duration(cooldownPath, recovery.cooldown, 0, DAY);
  const maxBackoffMs = v.duration(backoffPath, recovery.max_backoff, 0, DAY);
  if (maxBackoffMs < cooldownMs) {
    // Blame whichever of the two a user file set: the root's source is the base (defaults) layer,
    // and "max_backoff is too low" in default.yaml would send the reader to the wrong file.
    const backoffFile = sourceOf(backoffPath);
    if (sourceOf(cooldownPath) !== backoffFile && backoffFile === sourceOf([])) {
      const bound = `${formatDuration(maxBackoffMs)}, from ${backoffFile}`;
      v.expected(cooldownPath, `a duration at most max_backoff (${bound})`, recovery.cooldown);
    }
    const bound = `at least cooldown (${formatDuration(cooldownMs)}) and at most ${formatDuration(DAY)}`;
    v.expected(backoffPath, `a duration ${bound}`, recovery.max_backoff);
  }
  const remount = v.argv(['recovery', 'remount'], recovery.remount, 0);
  const mountNamespace = v.namespace(['recovery', 'namespace'], recovery.namespace);
  const holdersEnabled = v.boolean(['holders', 'enabled'], holders.enabled);
  const scanTimeoutMs = v.duration(['holders', 'scan_timeout'], holders.scan_timeout, 100, MINUTE);
  const restartUnits = v.list(
    ['holders', 'restart_units'],
    holders.restart_units,
    0,
    'of unit globs such as "airflow-*.service"',
    (p, item) => v.unitGlob(p, item),
  );
  const restartTimeoutMs = v.duration(['holders', 'restart_timeout'], holders.restart_timeout, SECOND, HOUR);
  const metricsEnabled = v.boolean(['metrics', 'enabled'], metrics.enabled);
  const listen = v.listen(['metrics', 'listen'], metrics.listen);
  const level = v.oneOf(['log', 'level'], log.level, LOG_LEVELS);
  const file = v.logFile(['log', 'file'], log.file);
  return {
    mounts,
    schedule,
    jitterMs,
    probe: { timeoutMs, maxStuckPerMount, workers: { warm: warmWorkers, max: maxWorkers, idleMs: idleWorkerMs } },
    recovery: {
      enabled,
      dryRun,
      triggers,
      hangAfterMs,
      command,
      timeoutMs: commandTimeoutMs,
      escalation,
      cooldownMs,
      maxBackoffMs,
      remount,
      mountNamespace,
    },
    holders: { enabled: holdersEnabled, scanTimeoutMs, restartUnits, restartTimeoutMs },
    metrics: { enabled: metricsEnabled, listen },
    log: { level, file },
  };
}

/** PID 1's mount namespace: the host's, seen from a container sharing the host's PID namespace. */
export const HOST_MOUNT_NAMESPACE = '/proc/1/ns/mnt';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR; // also keeps every delay well inside setTimeout's 2^31-1 ms range

class Validator {
  constructor(private readonly sourceOf: SourceOf) {}

  fail(path: KeyPath, detail: string): never {
    throw new ConfigError({ file: this.sourceOf(path), keyPath: formatKeyPath(path), detail });
  }

  expected(path: KeyPath, what: string, value: unknown): never {
    this.fail(path, `expected ${what}, got ${showValue(value)}`);
  }

  /** A mapping holding only `keys` (unknown keys are reported before any value is checked). */
  mapping(path: KeyPath, value: unknown, keys: readonly string[]): Record<string, unknown> {
    if (!isMapping(value)) this.expected(path, 'a mapping', value);
    for (const key of Object.keys(value)) {
      if (keys.includes(key)) continue;
      this.fail([...path, key], `unknown key (expected one of: ${keys.join(', ')})`);
    }
    return value;
  }

  /** A list of at least `min` items, each checked by `item`; `what` describes the items. */
  list<T>(path: KeyPath, value: unknown, min: number, what: string, item: (at: KeyPath, v: unknown) => T): T[] {
    if (!Array.isArray(value) || value.length < min) {
      this.expected(path, min > 0 ? `a non-empty list (${what})` : `a list (${what})`, value);
    }
    return value.map((v: unknown, i) => item([...path, i], v));
  }

  string(path: KeyPath, value: unknown, what = 'a non-empty string'): string {
    if (typeof value !== 'string' || value === '') this.expected(path, what, value);
    return value;
  }

  /** "host:port", "[v6]:port"; port 0 to 65535 (0: any free port). */
  listen(path: KeyPath, value: unknown): ListenAddress {
    const what = 'an address like "0.0.0.0:12049", "127.0.0.1:12049" or "[::]:12049"';
    if (typeof value !== 'string') this.expected(path, what, value);
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(value);
    const host = m?.[1] ?? m?.[2];
    const port = Number(m?.[3]);
    if (!m || host === undefined || port > 65535) this.expected(path, what, value);
    return { host, port };
  }

  /** self (null), host (PID 1's mount namespace), or the absolute path of a namespace file. */
  namespace(path: KeyPath, value: unknown): string | null {
    if (value === 'self') return null;
    if (value === 'host') return HOST_MOUNT_NAMESPACE;
    if (typeof value !== 'string' || !posix.isAbsolute(value)) {
      this.expected(path, 'self, host, or the absolute path of a mount namespace file (/proc/PID/ns/mnt)', value);
    }
    return posix.normalize(value);
  }

  /** An absolute file path, or "" for none. */
  logFile(path: KeyPath, value: unknown): string | null {
    if (value === '') return null;
    if (typeof value !== 'string' || !posix.isAbsolute(value) || value.endsWith('/')) {
      this.expected(path, 'an absolute file path, or "" for no log file', value);
    }
    return posix.normalize(value);
  }

  boolean(path: KeyPath, value: unknown): boolean {
    if (typeof value !== 'boolean') this.expected(path, 'true or false', value);
    return value;
  }

  integer(path: KeyPath, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.expected(path, `a whole number from ${min} to ${max}`, value);
    }
    return value;
  }

  oneOf<T extends string>(path: KeyPath, value: unknown, allowed: readonly T[]): T {
    const found = allowed.find((a) => a === value);
    if (found === undefined) this.expected(path, `one of ${allowed.join(', ')}`, value);
    return found;
  }

  /** Milliseconds from min to max. */
  duration(path: KeyPath, value: unknown, min: number, max: number): number {
    let ms: number;
    if (value === 0) ms = 0;
    else if (typeof value === 'string') {
      try {
        ms = parseDuration(value);
      } catch (err) {
        if (err instanceof DurationError) this.expected(path, err.expected, value);
        throw err;
      }
    } else {
      const bare = typeof value === 'number' ? '; a bare number is ambiguous' : '';
      this.expected(path, `a duration such as 500ms, 5s, 1.5s, 2m or 1h${bare}`, value);
    }
    if (ms < min || ms > max) {
      const low = min === 0 ? '' : min === 1 ? 'more than 0 and ' : `at least ${formatDuration(min)} and `;
      this.expected(path, `a duration ${low}at most ${formatDuration(max)}`, value);
    }
    return ms;
  }

  /**
   * A duration of at least the probe timeout, or a multiple of it ("3x": three probe timeouts), so
   * the default follows a changed probe.timeout.
   */
  hangAfter(path: KeyPath, value: unknown, probeTimeoutMs: number): number {
    const what = `a multiple of probe.timeout such as 3x (1x to 100x), or a duration of at least probe.timeout (${formatDuration(probeTimeoutMs)}) and at most 1h`;
    if (typeof value === 'string') {
      const times = /^(\d+(?:\.\d+)?)x$/.exec(value);
      if (times) {
        const factor = Number(times[1]);
        if (factor < 1 || factor > 100) this.expected(path, what, value);
        return Math.round(factor * probeTimeoutMs);
      }
      let ms: number | undefined;
      try {
        ms = parseDuration(value);
      } catch (err) {
        if (!(err instanceof DurationError)) throw err;
      }
      if (ms !== undefined && ms >= probeTimeoutMs && ms <= HOUR) return ms;
    }
    this.expected(path, what, value);
  }

  /** A command line: program first, then arguments; `min` 0 allows "none". */
  argv(path: KeyPath, value: unknown, min: number): string[] {
    return this.list(path, value, min, 'a command and its arguments', (p, v) =>
      // YAML reads `sleep 5`'s 5 as a number; say how to fix it rather than just "not a string".
      this.string(p, v, typeof v === 'number' ? 'a non-empty string (quote numbers)' : 'a non-empty string'),
    );
  }

  schedule(path: KeyPath, value: unknown): string {
    const expr = this.string(path, value, 'a cron expression');
    const fields = expr.trim().split(/\s+/).length;
    if (fields === 5) {
      this.expected(path, 'a cron expression with a seconds field (6 fields, e.g. "*/30 * * * * *")', value);
    }
    const example = 'e.g. "*/30 * * * * *"';
    if (fields !== 6) this.expected(path, `a cron expression of 6 fields, seconds first (${example})`, value);
    const check = validateDetailed(expr);
    if (!check.valid) {
      const first = check.errors[0];
      const why = first ? ` (${first.field}: ${first.message})` : '';
      this.expected(path, `a valid cron expression${why}`, value);
    }
    const cron = cronFields(expr);
    if ('error' in cron) this.expected(path, `a cron expression of numbers, ranges, lists and steps (${cron.error})`, value);
    if (nextMatch(cron, Date.now()) === null) this.expected(path, 'a cron expression that matches within 30 years', value);
    return expr;
  }

  /** A systemd unit glob that can only name services, e.g. "airflow-*.service". */
  unitGlob(path: KeyPath, value: unknown): string {
    const glob = this.string(path, value, 'a unit glob such as "airflow-*.service"');
    const problem = unitGlobProblem(glob);
    if (problem !== null) this.expected(path, `a unit glob such as "airflow-*.service" (${problem})`, value);
    return glob;
  }

  triggers(path: KeyPath, value: unknown): string[] {
    const what = `${NON_ERRNO_TRIGGERS.join(', ')} or an errno name such as ESTALE`;
    const seen = new Map<string, number>();
    return this.list(path, value, 1, 'of probe results', (p, v) => {
      const name = this.string(p, v, what);
      const known = (NON_ERRNO_TRIGGERS as readonly string[]).includes(name) || ERRNO_NAMES.has(name);
      if (!known) this.expected(p, what, v);
      const first = seen.get(name);
      if (first !== undefined) {
        this.expected(p, `a trigger not already listed (same as ${formatKeyPath([...path, first])})`, v);
      }
      seen.set(name, Number(p[p.length - 1]));
      return name;
    });
  }

  mounts(path: KeyPath, value: unknown): MountConfig[] {
    const seen = new Map<string, number>();
    return this.list(path, value, 1, 'of {path: /absolute/path}', (p, v) => {
      const mount = this.mapping(p, v, ['path']);
      const at = [...p, 'path'];
      const raw = this.string(at, mount.path, 'an absolute path');
      if (!raw.startsWith('/') || raw.includes('\0')) this.expected(at, 'an absolute path', raw);
      const normal = posix.normalize(raw).replace(/\/+$/, '');
      // "/" would let a recovery unmount the root filesystem.
      if (normal === '') this.expected(at, 'a mount point other than /', raw);
      const index = Number(p[p.length - 1]);
      const first = seen.get(normal);
      if (first !== undefined) {
        const other = `${formatKeyPath([...path, first, 'path'])} is also ${showValue(normal)}`;
        this.expected(at, `a path not already listed (${other})`, raw);
      }
      seen.set(normal, index);
      return { path: normal };
    });
  }
}
