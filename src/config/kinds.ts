// The kinds of value a config key holds: how each is read from the YAML tree (with the one-line
// error a bad value gets), written back in the file's own form for `validate`, and shown as a
// default in the README's key table.

import { posix } from 'node:path';
import { validateDetailed } from 'node-cron';
import { cronFields, nextMatch } from '../cron-match.js';
import { unitGlobProblem } from '../holders/unit-glob.js';
import { formatListen } from '../observe/http.js';
import { NON_ERRNO_RESULTS } from '../probe/classify.js';
import { ERRNO_NAMES } from '../probe/errno.js';
import { formatKeyPath, isMapping, showValue, type KeyPath } from './config-error.js';
import { DurationError, formatDuration, parseDuration } from './duration.js';
import type { ListenAddress, LogLevel, MountConfig } from './types.js';

/** What reading a value needs: the errors to throw, and the values of keys read before it. */
export interface ParseContext {
  fail(at: KeyPath, detail: string): never;
  expected(at: KeyPath, what: string, value: unknown): never;
  /** The value read at an earlier key in file order, by dotted path (`probe.timeout`). */
  earlier(path: string): unknown;
}

/** A kind of value: T in Config, R as written in the YAML file. */
export interface Kind<T, R> {
  parse(value: unknown, at: KeyPath, ctx: ParseContext): T;
  render(value: T): R;
  /** A default as the README's key table shows it (markdown). */
  show(raw: R): string;
  /** Lists printed on one line (`list`) or one line per item (`items`), as in config/default.yaml. */
  flow?: 'list' | 'items';
  /** What follows the key in the README: `[].path` for the list of mounts. */
  docSuffix?: string;
  /** The range of a number or duration (ms), for the messages of rules between keys. */
  bounds?: { min: number; max: number };
}

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** PID 1's mount namespace: the host's, seen from a container sharing the host's PID namespace. */
export const HOST_MOUNT_NAMESPACE = '/proc/1/ns/mnt';

const code = (text: string): string => `\`${text}\``;
const showItems = (items: readonly string[], join: string): string => code(items.length === 0 ? '[]' : items.join(join));

/** A mapping holding only `keys` (unknown keys are reported before any value is checked). */
export function mapping(ctx: ParseContext, at: KeyPath, value: unknown, keys: readonly string[]): Record<string, unknown> {
  if (!isMapping(value)) ctx.expected(at, 'a mapping', value);
  for (const key of Object.keys(value)) {
    if (keys.includes(key)) continue;
    ctx.fail([...at, key], `unknown key (expected one of: ${keys.join(', ')})`);
  }
  return value;
}

/** A list of at least `min` items, each checked by `item`; `what` describes the items. */
function list<T>(ctx: ParseContext, at: KeyPath, value: unknown, min: number, what: string, item: (at: KeyPath, v: unknown) => T): T[] {
  if (!Array.isArray(value) || value.length < min) {
    ctx.expected(at, min > 0 ? `a non-empty list (${what})` : `a list (${what})`, value);
  }
  return value.map((v: unknown, i) => item([...at, i], v));
}

function nonEmptyString(ctx: ParseContext, at: KeyPath, value: unknown, what = 'a non-empty string'): string {
  if (typeof value !== 'string' || value === '') ctx.expected(at, what, value);
  return value;
}

/** A command line: program first, then arguments; `min` 0 allows "none". */
function readArgv(ctx: ParseContext, at: KeyPath, value: unknown, min: number): string[] {
  return list(ctx, at, value, min, 'a command and its arguments', (p, v) =>
    // YAML reads `sleep 5`'s 5 as a number; say how to fix it rather than just "not a string".
    nonEmptyString(ctx, p, v, typeof v === 'number' ? 'a non-empty string (quote numbers)' : 'a non-empty string'),
  );
}

/** Milliseconds from min to max, written with a unit. */
export function duration(min: number, max: number): Kind<number, string> {
  return {
    bounds: { min, max },
    parse(value: unknown, at: KeyPath, ctx: ParseContext) {
      let ms: number;
      if (value === 0) ms = 0;
      else if (typeof value === 'string') {
        try {
          ms = parseDuration(value);
        } catch (err) {
          if (err instanceof DurationError) ctx.expected(at, err.expected, value);
          throw err;
        }
      } else {
        const bare = typeof value === 'number' ? '; a bare number is ambiguous' : '';
        ctx.expected(at, `a duration such as 500ms, 5s, 1.5s, 2m or 1h${bare}`, value);
      }
      if (ms < min || ms > max) {
        const low = min === 0 ? '' : min === 1 ? 'more than 0 and ' : `at least ${formatDuration(min)} and `;
        ctx.expected(at, `a duration ${low}at most ${formatDuration(max)}`, value);
      }
      return ms;
    },
    render: formatDuration,
    show: code,
  };
}

/**
 * A multiple of the duration at an earlier key ("3x"), so that a default follows a change of it,
 * or a duration of at least that one and at most `max` ms.
 */
export function multipleOf(base: string, times: { min: number; max: number }, max: number): Kind<number, string> {
  return {
    parse(value: unknown, at: KeyPath, ctx: ParseContext) {
      const baseMs = ctx.earlier(base);
      if (typeof baseMs !== 'number') throw new Error(`${base} must be read before ${formatKeyPath(at)}`);
      const what = `a multiple of ${base} such as 3x (${times.min}x to ${times.max}x), or a duration of at least ${base} (${formatDuration(baseMs)}) and at most ${formatDuration(max)}`;
      if (typeof value === 'string') {
        const factor = /^(\d+(?:\.\d+)?)x$/.exec(value);
        if (factor) {
          const n = Number(factor[1]);
          if (n < times.min || n > times.max) ctx.expected(at, what, value);
          return Math.round(n * baseMs);
        }
        let ms: number | undefined;
        try {
          ms = parseDuration(value);
        } catch (err) {
          if (!(err instanceof DurationError)) throw err;
        }
        if (ms !== undefined && ms >= baseMs && ms <= max) return ms;
      }
      ctx.expected(at, what, value);
    },
    render: formatDuration,
    show: code,
  };
}

export function integer(min: number, max: number): Kind<number, number> {
  return {
    bounds: { min, max },
    parse(value: unknown, at: KeyPath, ctx: ParseContext) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        ctx.expected(at, `a whole number from ${min} to ${max}`, value);
      }
      return value;
    },
    render: (n) => n,
    show: (n) => code(String(n)),
  };
}

export const boolean: Kind<boolean, boolean> = {
  parse(value: unknown, at: KeyPath, ctx: ParseContext) {
    if (typeof value !== 'boolean') ctx.expected(at, 'true or false', value);
    return value;
  },
  render: (b) => b,
  show: (b) => code(String(b)),
};

export function oneOf<T extends string>(allowed: readonly T[]): Kind<T, T> {
  return {
    parse(value: unknown, at: KeyPath, ctx: ParseContext) {
      const found = allowed.find((a) => a === value);
      if (found === undefined) ctx.expected(at, `one of ${allowed.join(', ')}`, value);
      return found;
    },
    render: (v) => v,
    show: code,
  };
}

/** A node-cron expression with a seconds field that the schedule can run. */
export const cronSchedule: Kind<string, string> = {
  parse(value: unknown, at: KeyPath, ctx: ParseContext) {
    const expr = nonEmptyString(ctx, at, value, 'a cron expression');
    const fields = expr.trim().split(/\s+/).length;
    if (fields === 5) {
      ctx.expected(at, 'a cron expression with a seconds field (6 fields, e.g. "*/30 * * * * *")', value);
    }
    const example = 'e.g. "*/30 * * * * *"';
    if (fields !== 6) ctx.expected(at, `a cron expression of 6 fields, seconds first (${example})`, value);
    const check = validateDetailed(expr);
    if (!check.valid) {
      const first = check.errors[0];
      const why = first ? ` (${first.field}: ${first.message})` : '';
      ctx.expected(at, `a valid cron expression${why}`, value);
    }
    const cron = cronFields(expr);
    if ('error' in cron) ctx.expected(at, `a cron expression of numbers, ranges, lists and steps (${cron.error})`, value);
    if (nextMatch(cron, Date.now()) === null) ctx.expected(at, 'a cron expression that matches within 30 years', value);
    return expr;
  },
  render: (expr) => expr,
  show: code,
};

/** "host:port", "[v6]:port"; port 0 to 65535 (0: any free port). */
export const listenAddress: Kind<ListenAddress, string> = {
  parse(value: unknown, at: KeyPath, ctx: ParseContext) {
    const what = 'an address like "0.0.0.0:12049", "127.0.0.1:12049" or "[::]:12049"';
    if (typeof value !== 'string') ctx.expected(at, what, value);
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(value);
    const host = m?.[1] ?? m?.[2];
    const port = Number(m?.[3]);
    if (!m || host === undefined || port > 65535) ctx.expected(at, what, value);
    return { host, port };
  },
  render: formatListen,
  show: code,
};

/** self (null), host (PID 1's mount namespace), or the absolute path of a namespace file. */
export const mountNamespace: Kind<string | null, string> = {
  parse(value: unknown, at: KeyPath, ctx: ParseContext) {
    if (value === 'self') return null;
    if (value === 'host') return HOST_MOUNT_NAMESPACE;
    if (typeof value !== 'string' || !posix.isAbsolute(value)) {
      ctx.expected(at, 'self, host, or the absolute path of a mount namespace file (/proc/PID/ns/mnt)', value);
    }
    return posix.normalize(value);
  },
  render: (ns) => (ns === null ? 'self' : ns === HOST_MOUNT_NAMESPACE ? 'host' : ns),
  show: code,
};

/** An absolute file path, or "" for none (null); `none` says what "" means. */
function optionalFile(none: string): Kind<string | null, string> {
  return {
    parse(value: unknown, at: KeyPath, ctx: ParseContext) {
      if (value === '') return null;
      if (typeof value !== 'string' || !posix.isAbsolute(value) || value.endsWith('/')) {
        ctx.expected(at, `an absolute file path, or "" ${none}`, value);
      }
      return posix.normalize(value);
    },
    render: (file) => file ?? '',
    show: (file) => code(file === '' ? '""' : file),
  };
}

export const logFile = optionalFile('for no log file');
/** Where the incident state is kept (src/state/). */
export const stateFile = optionalFile('to keep no incident state');
/** TLS and basic authentication of the HTTP server, in the Prometheus exporter-toolkit's format. */
export const webConfigFile = optionalFile('for plain HTTP without authentication');

/** A command line, never run through a shell; `min` 0 allows none. */
export function argv(min: number): Kind<string[], string[]> {
  return {
    parse: (value: unknown, at: KeyPath, ctx: ParseContext) => readArgv(ctx, at, value, min),
    render: (args) => args,
    show: (args) => showItems(args, ' '),
    flow: 'list',
  };
}

/** Command lines run one after another. */
export const commands: Kind<string[][], string[][]> = {
  parse: (value: unknown, at: KeyPath, ctx: ParseContext) => list(ctx, at, value, 0, 'of commands', (p, item) => readArgv(ctx, p, item, 1)),
  render: (lines) => lines,
  show: (lines) => (lines.length === 0 ? code('[]') : lines.map((args) => code(`[${args.join(', ')}]`)).join(', ')),
  flow: 'items',
};

/** Probe results that start a recovery: the non-errno outcomes or errno names, each once. */
export const triggers: Kind<string[], string[]> = {
  parse(value: unknown, at: KeyPath, ctx: ParseContext) {
    const what = `${NON_ERRNO_RESULTS.join(', ')} or an errno name such as ESTALE`;
    const seen = new Map<string, number>();
    return list(ctx, at, value, 1, 'of probe results', (p, v) => {
      const name = nonEmptyString(ctx, p, v, what);
      const known = (NON_ERRNO_RESULTS as readonly string[]).includes(name) || ERRNO_NAMES.has(name);
      if (!known) ctx.expected(p, what, v);
      const first = seen.get(name);
      if (first !== undefined) {
        ctx.expected(p, `a trigger not already listed (same as ${formatKeyPath([...at, first])})`, v);
      }
      seen.set(name, Number(p[p.length - 1]));
      return name;
    });
  },
  render: (names) => names,
  show: (names) => showItems(names, ', '),
  flow: 'list',
};

/** systemd unit globs that can only name services, e.g. "airflow-*.service". */
export const unitGlobs: Kind<string[], string[]> = {
  parse: (value: unknown, at: KeyPath, ctx: ParseContext) =>
    list(ctx, at, value, 0, 'of unit globs such as "airflow-*.service"', (p, v) => {
      const glob = nonEmptyString(ctx, p, v, 'a unit glob such as "airflow-*.service"');
      const problem = unitGlobProblem(glob);
      if (problem !== null) ctx.expected(p, `a unit glob such as "airflow-*.service" (${problem})`, v);
      return glob;
    }),
  render: (globs) => globs,
  show: (globs) => showItems(globs, ', '),
  flow: 'list',
};

/** Mount points, normalised, each once, never "/". */
export const mountPoints: Kind<MountConfig[], { path: string }[]> = {
  parse(value: unknown, at: KeyPath, ctx: ParseContext) {
    const seen = new Map<string, number>();
    return list(ctx, at, value, 1, 'of {path: /absolute/path}', (p, v) => {
      const mount = mapping(ctx, p, v, ['path']);
      const pathAt = [...p, 'path'];
      const raw = nonEmptyString(ctx, pathAt, mount.path, 'an absolute path');
      if (!raw.startsWith('/') || raw.includes('\0')) ctx.expected(pathAt, 'an absolute path', raw);
      const normal = posix.normalize(raw).replace(/\/+$/, '');
      // "/" would let a recovery unmount the root filesystem.
      if (normal === '') ctx.expected(pathAt, 'a mount point other than /', raw);
      const index = Number(p[p.length - 1]);
      const first = seen.get(normal);
      if (first !== undefined) {
        const other = `${formatKeyPath([...at, first, 'path'])} is also ${showValue(normal)}`;
        ctx.expected(pathAt, `a path not already listed (${other})`, raw);
      }
      seen.set(normal, index);
      return { path: normal };
    });
  },
  render: (mounts) => mounts.map((m) => ({ path: m.path })),
  show: (mounts) => mounts.map((m) => code(m.path)).join(', '),
  docSuffix: '[].path',
};
