// The incident state as it is kept on disk between two processes of the daemon: its shape, and
// its reading back, which accepts only a file this version wrote in this boot and rejects anything
// else whole (one reason, no partial state). Pure. Times are wall-clock ms: the new process's own
// clock starts at zero, and the file never outlives the boot (it is under /run, and its boot ID is
// checked), so only a clock step between two processes could shift them.
import type { ServerAddress } from '../server/address.js';

export const STATE_VERSION = 1;

/** A configured path's place in an incident: since when it fails, its cooldown or backoff. */
export interface SavedPath {
  readonly path: string;
  /** The latest probe result's class ("ok", "timeout", an errno name). */
  readonly result: string;
  readonly failingSince: number | null;
  readonly failedRecoveries: number;
  readonly nextRecoveryAt: number;
  readonly wait: 'cooldown' | 'backoff';
}

/** A cwd or root on a detached mount, as the kernel prints it now (relative to the mount's root). */
export interface SavedDir {
  readonly pid: number;
  readonly start: string;
  readonly kind: 'cwd' | 'root';
  readonly rel: string;
}

/** A mount a recovery (or its own failure) detached, alive for the processes still on it. */
export interface SavedDetached {
  readonly path: string;
  readonly mountId: number;
  /** st_dev as mountinfo prints it ("0:53"): a reused mount ID names another device. */
  readonly dev: string;
  readonly since: number;
  /** The recovery that detached it. */
  readonly batch: string;
  /** Units restarted for the processes left on it: never restarted again for it. */
  readonly unitsRestarted: readonly string[];
  readonly dirs: readonly SavedDir[];
}

/** A static mount a recovery took away (or may have, while it ran) and that is not back yet. */
export interface SavedPutBack {
  readonly mountPoint: string;
  readonly argv: readonly string[];
  readonly server: ServerAddress;
  readonly since: number;
  readonly tries: number;
  /** at_risk: the recovery that could take it away was still running when this was written. */
  readonly state: 'at_risk' | 'waiting';
}

export interface IncidentState {
  /** /proc/sys/kernel/random/boot_id: mount IDs and PIDs mean nothing in another boot. */
  readonly bootId: string;
  /** Recoveries started: a new process numbers its batches on from here. */
  readonly recoveries: number;
  readonly paths: readonly SavedPath[];
  readonly detached: readonly SavedDetached[];
  readonly putBack: readonly SavedPutBack[];
}

export type Decoded = { kind: 'ok'; state: IncidentState } | { kind: 'invalid'; reason: string };

/** The file's text: one JSON document, its version first. */
export function encodeIncident(s: IncidentState): string {
  return `${JSON.stringify({ version: STATE_VERSION, ...s }, null, 1)}\n`;
}

class Invalid extends Error {}

/** Reads a file's text back; anything but this version's shape, written in this boot, is invalid. */
export function decodeIncident(text: string, bootId: string): Decoded {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'not JSON (cut short or corrupt)' };
  }
  try {
    const o = record(doc, 'the document');
    if (o.version !== STATE_VERSION) throw new Invalid(`version ${JSON.stringify(o.version)}, this daemon reads version ${STATE_VERSION}`);
    const fileBoot = str(o.bootId, 'bootId');
    if (fileBoot !== bootId) throw new Invalid('written in another boot');
    return {
      kind: 'ok',
      state: {
        bootId: fileBoot,
        recoveries: count(o.recoveries, 'recoveries'),
        paths: list(o.paths, 'paths', savedPath),
        detached: list(o.detached, 'detached', savedDetached),
        putBack: list(o.putBack, 'putBack', savedPutBack),
      },
    };
  } catch (err) {
    if (err instanceof Invalid) return { kind: 'invalid', reason: err.message };
    throw err;
  }
}

function savedPath(v: unknown, at: string): SavedPath {
  const o = record(v, at);
  return {
    path: str(o.path, `${at}.path`),
    result: str(o.result, `${at}.result`),
    failingSince: nullable(o.failingSince, `${at}.failingSince`, time),
    failedRecoveries: count(o.failedRecoveries, `${at}.failedRecoveries`),
    nextRecoveryAt: time(o.nextRecoveryAt, `${at}.nextRecoveryAt`),
    wait: oneOf(o.wait, `${at}.wait`, ['cooldown', 'backoff'] as const),
  };
}

function savedDetached(v: unknown, at: string): SavedDetached {
  const o = record(v, at);
  return {
    path: str(o.path, `${at}.path`),
    mountId: count(o.mountId, `${at}.mountId`),
    dev: str(o.dev, `${at}.dev`),
    since: time(o.since, `${at}.since`),
    batch: str(o.batch, `${at}.batch`),
    unitsRestarted: list(o.unitsRestarted, `${at}.unitsRestarted`, str),
    dirs: list(o.dirs, `${at}.dirs`, savedDir),
  };
}

function savedDir(v: unknown, at: string): SavedDir {
  const o = record(v, at);
  return {
    pid: count(o.pid, `${at}.pid`),
    start: str(o.start, `${at}.start`),
    kind: oneOf(o.kind, `${at}.kind`, ['cwd', 'root'] as const),
    rel: str(o.rel, `${at}.rel`),
  };
}

function savedPutBack(v: unknown, at: string): SavedPutBack {
  const o = record(v, at);
  const server = record(o.server, `${at}.server`);
  const argv = list(o.argv, `${at}.argv`, str);
  if (argv.length === 0) throw new Invalid(`${at}.argv is empty`);
  return {
    mountPoint: str(o.mountPoint, `${at}.mountPoint`),
    argv,
    server: { host: str(server.host, `${at}.server.host`), port: count(server.port, `${at}.server.port`) },
    since: time(o.since, `${at}.since`),
    tries: count(o.tries, `${at}.tries`),
    state: oneOf(o.state, `${at}.state`, ['at_risk', 'waiting'] as const),
  };
}

function record(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Invalid(`${at} is not an object`);
  return v as Record<string, unknown>;
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string' || v === '') throw new Invalid(`${at} is not a non-empty string`);
  return v;
}

function count(v: unknown, at: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Invalid(`${at} is not a whole number ≥ 0`);
  return v as number;
}

function time(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Invalid(`${at} is not a time in ms`);
  return v;
}

function nullable<T>(v: unknown, at: string, read: (v: unknown, at: string) => T): T | null {
  return v === null ? null : read(v, at);
}

function oneOf<T extends string>(v: unknown, at: string, values: readonly T[]): T {
  const found = values.find((x) => x === v);
  if (found === undefined) throw new Invalid(`${at} is not one of ${values.join(', ')}`);
  return found;
}

function list<T>(v: unknown, at: string, read: (v: unknown, at: string) => T): T[] {
  if (!Array.isArray(v)) throw new Invalid(`${at} is not a list`);
  return v.map((item, i) => read(item, `${at}[${i}]`));
}
