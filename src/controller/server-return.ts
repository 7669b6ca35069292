// What the controller does when a down mount's NFS server answers again, as pure functions over its
// state: which servers to watch, when to clear autofs' negative cache (a reload), and when to put
// back a static mount a recovery could not. autofs answers ENOENT for its negative_timeout after a
// failed mount attempt, however long the server has been back; only a map re-read clears that, and
// one made before the server answers is undone by the next failed attempt — so the reload waits
// for the server, not for the clock.
import { serverKey, type ServerAddress } from '../server/address.js';
import type { WatchedServer } from '../server/watch.js';
import type { CommandOutcome } from '../exec/runner.js';
import type { ControllerConfig, ControllerState } from './state.js';
import type { ProbeResult } from '../probe/probe-mounts.js';

/** What the server watch last said of one server. */
export interface ServerView {
  readonly address: ServerAddress;
  readonly answering: boolean;
  /** When the check that found it ended. */
  readonly at: number;
}

export interface ReloadState {
  /** When the last reload started; null: none yet. */
  readonly lastAt: number | null;
  /** Reloads since their paths were last all back: the wait before the next doubles with each. */
  readonly inARow: number;
  /** The paths the reload under way is for; null: none runs. */
  readonly running: readonly string[] | null;
  /** Until when the paths of the last reload are probed every RELOAD_RETRY_MS (autofs re-reads its maps after the command returns). */
  readonly settleUntil: number | null;
}

/** A static mount a recovery took away and could not put back. */
export interface PutBack {
  readonly mountPoint: string;
  /** The mount command, as the recovery gave it to its runner. */
  readonly argv: readonly string[];
  readonly server: ServerAddress;
  /** When it was found not put back. */
  readonly since: number;
  /** Tries since then, and when the last one started. */
  readonly tries: number;
  readonly lastTryAt: number | null;
  readonly running: boolean;
}

export interface PutBackReport {
  readonly mountPoint: string;
  readonly server: ServerAddress;
  /** already_mounted: something else mounted it meanwhile; nothing was run. */
  readonly outcome: 'remounted' | 'failed' | 'timeout' | 'spawn_error' | 'already_mounted';
  readonly command: CommandOutcome | null;
  /** Since the recovery took it away. */
  readonly downMs: number;
  readonly tries: number;
}

// autofs re-reads its maps on the SIGHUP after `systemctl reload` has returned: a probe in between
// still meets the cache. Its paths are probed this often for this long after a reload, at no cost
// (a cached refusal answers at once), before the next reload may be due.
export const RELOAD_RETRY_MS = 1_000;
export const RELOAD_SETTLE_MS = 5_000;

/** The servers a path is mounted from: the mount table's while it was mounted, else autofs' maps'. */
export function serversOfPath(s: ControllerState, cfg: ControllerConfig, path: string): readonly ServerAddress[] {
  return s.serversOf.get(path) ?? cfg.serverReturn.mapServers.get(path) ?? [];
}

/**
 * Where a path's server is reached from: autofs' namespace, unless the path's latest probe found it
 * outside autofs (a static mount, put back by the daemon's own mount command).
 */
function reachedFrom(r: ProbeResult | undefined): WatchedServer['from'] {
  return r?.underAutofs === false ? 'self' : 'autofs';
}

/** The watch's key of a server, per namespace it is reached from. */
export function watchKey(from: WatchedServer['from'], address: ServerAddress): string {
  return `${from} ${serverKey(address)}`;
}

/**
 * The servers to watch: those of every configured path whose latest probe failed (reached from
 * autofs' namespace when autofs mounts it), and those of static mounts waiting to be put back
 * (from the daemon's own, where its mount command runs).
 */
export function serversToWatch(s: ControllerState, cfg: ControllerConfig): WatchedServer[] {
  if (!cfg.serverReturn.enabled || s.stopping) return [];
  const out = new Map<string, WatchedServer>();
  const add = (from: WatchedServer['from'], address: ServerAddress): void => {
    const key = watchKey(from, address);
    if (!out.has(key)) out.set(key, { key, address, from });
  };
  for (const path of cfg.paths) {
    const r = s.latest.get(path);
    if (!r || r.result === 'ok') continue;
    for (const a of serversOfPath(s, cfg, path)) add(reachedFrom(r), a);
  }
  for (const p of s.putBack) add('self', p.server);
  return [...out.values()];
}

/** Whether the set differs from the one the watch was last given. */
export function sameWatch(a: readonly WatchedServer[], b: readonly WatchedServer[]): boolean {
  return a.length === b.length && a.every((w, i) => w.key === b[i]?.key);
}

/** Whether one of a path's servers was last found answering, from where it is reached. */
export function pathServerAnswering(s: ControllerState, cfg: ControllerConfig, path: string): boolean {
  const from = reachedFrom(s.latest.get(path));
  return serversOfPath(s, cfg, path).some((a) => s.servers.get(watchKey(from, a))?.answering === true);
}

/** Paths autofs refuses (its negative cache, or a failed attempt) while their server answers. */
export function reloadCandidates(s: ControllerState, cfg: ControllerConfig): string[] {
  return cfg.paths.filter((p) => s.latest.get(p)?.result === 'automount_failed' && pathServerAnswering(s, cfg, p));
}

/** The wait after the `n`th try in a row before the next: the interval, doubling, up to `maxMs`. */
export function backoffMs(n: number, intervalMs: number, maxMs: number): number {
  if (n <= 0) return 0;
  return Math.min(intervalMs * 2 ** (n - 1), Math.max(intervalMs, maxMs));
}

/** The paths to reload autofs for now, or null: none refused while its server answers, or not yet due. */
export function planReload(s: ControllerState, now: number, cfg: ControllerConfig): string[] | null {
  const c = cfg.serverReturn;
  if (!c.enabled || c.reloadCommand.length === 0 || !cfg.policy.enabled) return null;
  if (s.stopping || s.recovery || s.reload.running) return null;
  const paths = reloadCandidates(s, cfg);
  if (paths.length === 0) return null;
  const { lastAt, inARow } = s.reload;
  if (lastAt !== null && now < lastAt + backoffMs(inARow, c.reloadIntervalMs, cfg.policy.maxBackoffMs)) return null;
  return paths;
}

/** Static mounts to mount again now: their server answers and their last try is a backoff old. */
export function planPutBack(s: ControllerState, now: number, cfg: ControllerConfig): PutBack[] {
  const c = cfg.serverReturn;
  if (!c.enabled || !cfg.policy.enabled || s.stopping || s.recovery) return [];
  return s.putBack.filter(
    (p) =>
      !p.running &&
      s.servers.get(watchKey('self', p.server))?.answering === true &&
      (p.lastTryAt === null || now >= p.lastTryAt + backoffMs(p.tries, c.reloadIntervalMs, cfg.policy.maxBackoffMs)),
  );
}

/** The configured paths a server is for that are down now, and how long the earliest has been. */
export function downPathsOf(s: ControllerState, cfg: ControllerConfig, key: string): { paths: string[]; since: number | null } {
  const paths: string[] = [];
  let since: number | null = null;
  for (const path of cfg.paths) {
    const r = s.latest.get(path);
    if (!r || r.result === 'ok') continue;
    const from = reachedFrom(r);
    if (!serversOfPath(s, cfg, path).some((a) => watchKey(from, a) === key)) continue;
    paths.push(path);
    const failing = s.health.get(path)?.failingSince ?? null;
    if (failing !== null && (since === null || failing < since)) since = failing;
  }
  for (const p of s.putBack) {
    if (watchKey('self', p.server) !== key) continue;
    paths.push(p.mountPoint);
    if (since === null || p.since < since) since = p.since;
  }
  return { paths, since };
}
