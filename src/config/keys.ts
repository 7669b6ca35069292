// Every config key in one table: its YAML name, its kind (parser, bounds), its default as
// config/default.yaml writes it and its meaning as the README's key table states it. Validation,
// `validate`'s output and that README table are derived from it; test/config/keys.test.ts holds
// config/default.yaml and the README to it.

import { isMapping, type KeyPath } from './config-error.js';
import {
  argv,
  boolean,
  commands,
  cronSchedule,
  duration,
  integer,
  listenAddress,
  LOG_LEVELS,
  logFile,
  stateFile,
  mountNamespace,
  mountPoints,
  multipleOf,
  oneOf,
  triggers,
  unitGlobs,
  webConfigFile,
  type Kind,
  type ParseContext,
} from './kinds.js';
import type { Config, ListenAddress } from './types.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR; // also keeps every delay well inside setTimeout's 2^31-1 ms range

/** One leaf key of the YAML file, read into a Config field of type T. */
export class ConfigKey<T> {
  constructor(
    /** The YAML key, snake_case. */
    readonly name: string,
    // Function properties, not methods: their parameters are checked strictly, so a key of one type
    // cannot stand for a field of another.
    readonly parse: (value: unknown, at: KeyPath, ctx: ParseContext) => T,
    readonly render: (value: T) => unknown,
    /** As config/default.yaml writes it. */
    readonly defaultValue: unknown,
    /** The README's default cell. */
    readonly shownDefault: string,
    /** The README's meaning cell. */
    readonly doc: string,
    readonly docSuffix: string,
    readonly flow: 'list' | 'items' | undefined,
    readonly bounds: { min: number; max: number } | undefined,
  ) {}
}

/** A key `name` of `kind`; `note` follows the default in the README (e.g. what "3x" comes to). */
function key<T, R>(name: string, kind: Kind<T, R>, defaultValue: R, doc: string, note?: string): ConfigKey<T> {
  const shown = kind.show(defaultValue);
  return new ConfigKey<T>(
    name,
    (value, at, ctx) => kind.parse(value, at, ctx),
    (value) => kind.render(value),
    defaultValue,
    note === undefined ? shown : `${shown} ${note}`,
    doc,
    kind.docSuffix ?? '',
    kind.flow,
    kind.bounds,
  );
}

/** Field types that one YAML key holds; any other field is a section of keys. */
type Leaf = string | number | boolean | null | readonly unknown[] | ListenAddress;

/**
 * A key for each field of T, read into that field's own type: a Config field without a key, a key
 * without a field, or a kind of the wrong type does not compile. Sections are named as in YAML.
 */
export type KeyTable<T> = { readonly [K in keyof T]-?: T[K] extends Leaf ? ConfigKey<T[K]> : KeyTable<T[K]> };

/** In file order: values are checked in this order, so the first error reported is the first in the file. */
export const CONFIG_KEYS: KeyTable<Config> = {
  mounts: key(
    'mounts',
    mountPoints,
    [{ path: '/airflow/dags' }, { path: '/airflow/logs' }],
    'absolute paths, normalised; duplicates and `/` rejected; a symbolic link is probed as the mount point it names ([docs/recovery.md](docs/recovery.md#a-configured-path-that-is-a-symbolic-link))',
  ),
  schedule: key(
    'schedule',
    cronSchedule,
    '*/30 * * * * *',
    'node-cron expression with a seconds field (numbers, ranges, lists, steps, names; not its `L`, `W`, `#` day tokens), in local time; the first cycle runs at start',
  ),
  jitterMs: key('jitter', duration(0, HOUR), '0s', 'random delay before each cycle, to stagger a fleet'),
  probe: {
    timeoutMs: key('timeout', duration(1, 5 * MINUTE), '5s', 'a probe not answered by then is `timeout`'),
    maxStuckPerMount: key('max_stuck', integer(1, 64), 3, 'most probe threads left blocked in the kernel per path'),
    workers: {
      warm: key('warm', integer(1, 64), 1, 'probe threads kept between rounds, shared by every mount'),
      max: key('max', integer(1, 256), 8, 'most probe calls at once that have not yet run 50 ms (slower and stuck ones do not count)'),
      idleMs: key('idle', duration(SECOND, HOUR), '60s', 'a probe thread beyond the warm ones ends after this long unused'),
    },
  },
  recovery: {
    enabled: key('enabled', boolean, true, 'off: failing mounts are reported, nothing is run'),
    dryRun: key('dry_run', boolean, false, 'log what would run, run nothing'),
    triggers: key(
      'triggers',
      triggers,
      ['timeout', 'ESTALE', 'EIO', 'ENOTCONN', 'ETIMEDOUT', 'EHOSTDOWN', 'ENODEV'],
      'results that start a recovery; `automount_timeout` may be added',
    ),
    hangAfterMs: key(
      'hang_after',
      multipleOf('probe.timeout', { min: 1, max: 100 }, HOUR),
      '3x',
      'a `timeout` starts a recovery only once its call has been blocked this long: a multiple of `probe.timeout` (`1x`–`100x`) or a duration ≥ `probe.timeout`',
      '(15 s)',
    ),
    command: key(
      'command',
      argv(0),
      ['umount', '-a', '-t', 'nfs,nfs4'],
      'first step, argument array, never a shell; `[]`: none, only the failing mounts are unmounted, by the escalation',
    ),
    timeoutMs: key('timeout', duration(100, HOUR), '10s', 'deadline of each step'),
    escalation: key(
      'escalation',
      commands,
      [
        ['umount', '-f'],
        ['umount', '-l'],
      ],
      'per still-failing path, path appended after `--`',
    ),
    cooldownMs: key('cooldown', duration(0, DAY), '30s', 'least time between two recoveries of the same mount'),
    maxBackoffMs: key(
      'max_backoff',
      duration(0, DAY),
      '5m',
      'a mount still failing after a recovery waits cooldown, then twice that, … up to this',
    ),
    remount: key('remount', argv(0), [], 'e.g. `[mount]`: run with the path after unmounting a path not under autofs'),
    mountNamespace: key(
      'namespace',
      mountNamespace,
      'self',
      'mount namespace the commands run in: `self`, `host` (`nsenter --mount=/proc/1/ns/mnt`, for containers) or a namespace file',
    ),
  },
  holders: {
    enabled: key('enabled', boolean, true, 'find the processes left on a failing or detached mount ([docs/holders.md](docs/holders.md))'),
    scanTimeoutMs: key('scan_timeout', duration(100, MINUTE), '5s', 'deadline of one scan of `/proc`'),
    restartUnits: key(
      'restart_units',
      unitGlobs,
      [],
      'unit globs ending in `.service` (`["airflow-*.service"]`) restarted when they hold a detached mount; `[]` = report only',
    ),
    restartTimeoutMs: key('restart_timeout', duration(SECOND, HOUR), '2m', 'deadline of one `systemctl try-restart`'),
  },
  evidence: {
    enabled: key(
      'enabled',
      boolean,
      true,
      "read the NFS client's counters between probes; a mount they say may be failing is probed at once (never unmounted on them alone)",
    ),
    intervalMs: key('interval', duration(100, MINUTE), '1s', 'how often `/proc/self/mountstats` is read'),
    earlyProbeGapMs: key('early_probe_gap', duration(SECOND, HOUR), '5s', 'least time between two early probes of one path'),
  },
  servers: {
    watch: key(
      'watch',
      boolean,
      true,
      "while a mount is down, try its NFS server's port (a TCP connect, never the mount); once it answers, clear autofs' negative cache and put back static mounts a recovery could not ([docs/recovery.md](docs/recovery.md#when-the-server-answers-again))",
    ),
    checkIntervalMs: key(
      'check_interval',
      duration(500, MINUTE),
      '2s',
      "how often a down mount's server is tried; each try has 1 s at most",
    ),
    resetStalled: key(
      'reset_stalled',
      boolean,
      true,
      "once a server answers again, reset the NFS client's connections to it still waiting out a retransmission backoff (`ss -K`): new mounts would queue behind them",
    ),
    autofsReload: key(
      'autofs_reload',
      argv(0),
      ['systemctl', 'reload', 'autofs'],
      "clears autofs' negative cache (a re-read of every map), run once a server answers again; `[]`: never",
    ),
    reloadIntervalMs: key(
      'reload_interval',
      duration(SECOND, DAY),
      '10s',
      'least time between two reloads; doubles while the mounts stay down, up to `recovery.max_backoff`',
    ),
  },
  metrics: {
    enabled: key('enabled', boolean, true, 'serve `/metrics`, `/healthz` and `/`; off: no HTTP server at all'),
    listen: key('listen', listenAddress, '0.0.0.0:12049', '`host:port`, `[::]:12049` for IPv6; port 0 = any free port (logged)'),
    webConfigFile: key(
      'web_config_file',
      webConfigFile,
      '',
      'TLS, client certificates and basic authentication for every endpoint, in the file format of Prometheus exporters\' `--web.config.file`; re-read on SIGHUP; `""` = plain HTTP, no authentication ([docs/observability.md](docs/observability.md#tls-and-authentication))',
    ),
  },
  log: {
    level: key('level', oneOf(LOG_LEVELS), 'info', 'fatal, error, warn, info, debug, trace'),
    file: key('file', logFile, '/var/log/nfs-health-check.log', 'the JSON lines also go here; reopened on SIGHUP; `""` = stdout only'),
  },
  state: {
    file: key(
      'file',
      stateFile,
      '/run/nfs-health-checkd/state.json',
      'an incident\'s state, written at each change and resumed at start (restart, upgrade, crash); `""` = none',
    ),
  },
};

/** A leaf key with where it sits: its YAML path and its Config field path. */
export interface KeyEntry {
  path: readonly string[];
  field: readonly string[];
  key: ConfigKey<unknown>;
}

/** A YAML mapping the table describes, with the keys it may hold, in file order. */
export interface KeyMapping {
  path: readonly string[];
  keys: readonly string[];
}

function isConfigKey(value: unknown): value is ConfigKey<unknown> {
  return value instanceof ConfigKey;
}

/** The table's leaf keys and mappings, in file order (a mapping before its sections). */
function flatten(table: object, path: readonly string[] = [], field: readonly string[] = []): { keys: KeyEntry[]; mappings: KeyMapping[] } {
  const names: string[] = [];
  const keys: KeyEntry[] = [];
  const mappings: KeyMapping[] = [{ path, keys: names }];
  for (const [name, value] of Object.entries(table) as [string, unknown][]) {
    if (isConfigKey(value)) {
      names.push(value.name);
      keys.push({ path: [...path, value.name], field: [...field, name], key: value });
    } else if (typeof value === 'object' && value !== null) {
      names.push(name);
      const section = flatten(value, [...path, name], [...field, name]);
      keys.push(...section.keys);
      mappings.push(...section.mappings);
    }
  }
  return { keys, mappings };
}

const flat = flatten(CONFIG_KEYS);
/** Every leaf key, in file order. */
export const KEY_LIST: readonly KeyEntry[] = flat.keys;
/** The top level and every section, each before its own sections, in file order. */
export const KEY_MAPPINGS: readonly KeyMapping[] = flat.mappings;

/** The value at `path` in a tree of plain objects; undefined where there is none. */
export function valueAt(tree: unknown, path: readonly string[]): unknown {
  let value = tree;
  for (const name of path) value = isMapping(value) && Object.hasOwn(value, name) ? value[name] : undefined;
  return value;
}

/** Sets `path` in a tree of plain objects, making the sections on the way. */
export function setValueAt(tree: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let section = tree;
  for (const name of path.slice(0, -1)) {
    const next = section[name];
    section = isMapping(next) ? next : (section[name] = {});
  }
  const last = path[path.length - 1];
  if (last !== undefined) section[last] = value;
}
