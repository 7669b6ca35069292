// What the holder watch scans, and when. Pure: each probe round and each finished scan moves an
// explicit plan to the next one. Watched are the failing mounts (mount ID and st_dev, taken while
// they are still in the table) and the former mounts that left the table while failing: detached
// by a lazy unmount, yet alive for every process still on them, until a scan finds nobody there.
import type { MountEntry } from '../probe/mountinfo.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { FormerMount } from './restart.js';
import type { WatchedMount } from './scan.js';

// A scan reads every process (its cost: bench/README.md, figure 6), too much to repeat every round
// for an unchanged set of mounts: a rescan waits this long, and ten times the last scan's duration.
const MIN_RESCAN_GAP_MS = 5_000;
const RESCAN_GAP_FACTOR = 10;

/** The path of a former mount found at start with nothing saved of it: which configured path it was on is not known. */
export const UNKNOWN_PATH = 'unknown';

export type FormerWatched = WatchedMount &
  FormerMount & {
    /** When it was found detached (clock ms). */
    since: number;
  };

export interface ScanPlan {
  /** Failing mounts still in the table, by mount ID. */
  failing: ReadonlyMap<number, WatchedMount>;
  /** Former mounts, by mount ID, with the batch that detached them. */
  formers: ReadonlyMap<number, FormerWatched>;
  /** Paths whose last result was ok: a unit is restarted only once its paths are. */
  healthy: ReadonlySet<string>;
  /** An unchanged set of mounts is not scanned again before this (clock ms). */
  nextRescanAt: number;
  /** A scan was asked for while one ran: it runs once that one ends. */
  again: boolean;
}

export interface Round {
  results: readonly ProbeResult[];
  /** The mount table after the round. */
  table: readonly MountEntry[];
  /** The recovery that ran before the round: it detached the mounts that left the table. */
  batch: string | null;
  now: number;
  /** The last scan found someone: a scan with nothing watched tells they are gone. */
  held: boolean;
}

export const emptyScanPlan = (formers: readonly FormerWatched[] = []): ScanPlan => ({
  failing: new Map(),
  formers: new Map(formers.map((f) => [f.mountId, f])),
  healthy: new Set(),
  nextRescanAt: 0,
  again: false,
});

/** Takes in a probe round: the next plan, and whether a scan is due ("not yet" when it is not). */
export function planRound(plan: ScanPlan, round: Round): { plan: ScanPlan; scan: boolean } {
  const { results, table, batch } = round;
  const ids = new Set(table.map((e) => e.id));
  const failing = new Map(plan.failing);
  const formers = new Map(plan.formers);
  const healthy = new Set(plan.healthy);
  for (const r of results) {
    if (r.result === 'ok') healthy.add(r.path);
    else healthy.delete(r.path);
    if (r.result === 'ok' || !r.mounted || r.mountId === null || failing.has(r.mountId)) continue;
    const entry = table.find((e) => e.id === r.mountId);
    if (entry) failing.set(r.mountId, { path: r.path, mountId: r.mountId, dev: entry.dev, state: 'failing' });
  }
  for (const [id, w] of failing) {
    const now = results.find((r) => r.path === w.path);
    if (!ids.has(id)) {
      failing.delete(id);
      formers.set(id, { ...w, state: 'detached', batch: batch ?? `mount ${id}`, since: round.now });
    } else if (now?.result === 'ok' && now.mountId === id) {
      failing.delete(id); // healthy again in place: the server came back
    }
  }
  // A detached mount keeps its ID while anyone holds it: an ID back in the table is a new mount.
  for (const id of formers.keys()) if (ids.has(id)) formers.delete(id);
  const next = { ...plan, failing, formers, healthy };
  if (failing.size + formers.size === 0 && !round.held) return { plan: next, scan: false };
  // A mount newly failing or newly detached is scanned at once (before the recovery unmounts it,
  // right after it is detached); the same set again no sooner than the rescan gap.
  return { plan: next, scan: !sameWatched(plan, next) || round.now >= plan.nextRescanAt };
}

/** The same mounts watched, each in the same state. */
function sameWatched(a: ScanPlan, b: ScanPlan): boolean {
  return sameKeys(a.failing, b.failing) && sameFormers(a, b);
}

/** The same former mounts (a former's fields never change once it is one). */
export function sameFormers(a: ScanPlan, b: ScanPlan): boolean {
  return sameKeys(a.formers, b.formers);
}

const sameKeys = (x: ReadonlyMap<number, unknown>, y: ReadonlyMap<number, unknown>): boolean =>
  x.size === y.size && [...x.keys()].every((id) => y.has(id));

/** A scan asked for: it starts now, or after the one under way (whose news is older). */
export function askScan(plan: ScanPlan, scanning: boolean): { plan: ScanPlan; start: 'now' | 'after' } {
  return scanning ? { plan: { ...plan, again: true }, start: 'after' } : { plan: { ...plan, again: false }, start: 'now' };
}

/** The mounts a scan starting now looks for. */
export function watchedMounts(plan: ScanPlan): WatchedMount[] {
  return [...plan.failing.values(), ...[...plan.formers.values()].map(({ path, mountId, dev, state }) => ({ path, mountId, dev, state }))];
}

/** A scan took `ms` and ended at `now`: the next rescan of the same set waits for the gap. */
export function scanDone(plan: ScanPlan, now: number, ms: number): ScanPlan {
  return { ...plan, nextRescanAt: now + Math.max(MIN_RESCAN_GAP_MS, RESCAN_GAP_FACTOR * ms) };
}

/** After a scan of `watched`: a former mount nobody holds any more is no longer watched. */
export function releaseFormers(plan: ScanPlan, watched: readonly WatchedMount[], heldIds: ReadonlySet<number>): ScanPlan {
  const formers = new Map(plan.formers);
  for (const w of watched) if (w.state === 'detached' && !heldIds.has(w.mountId)) formers.delete(w.mountId);
  return { ...plan, formers };
}

/** The batches of the former mounts still watched. */
export function formerBatches(plan: ScanPlan): Set<string> {
  return new Set([...plan.formers.values()].map((f) => f.batch));
}
