// What the kernel's counters say of a configured mount between probes. The rule that reads it
// from successive mountstats samples is in this module; the controller only ever probes on it.
import type { NfsMountStats, OpStats } from './mountstats.js';

/**
 * errors: an operation's error count rose beyond its own recent rate; timeouts: new major
 * timeouts; mount_table: the mount on the path vanished or was replaced.
 */
export type EvidenceKind = 'errors' | 'timeouts' | 'mount_table';

export const EVIDENCE_KINDS: readonly EvidenceKind[] = ['errors', 'timeouts', 'mount_table'];

/** Counters that moved on one operation since the previous sample. */
export interface OpMoved {
  readonly errors?: number;
  readonly timeouts?: number;
}

export interface Evidence {
  /** The configured path. */
  readonly path: string;
  /** The strongest kind seen: timeouts, then errors, then mount_table. */
  readonly kind: EvidenceKind;
  /** Per operation name, what moved since the previous sample (errors and timeouts only). */
  readonly moved: Readonly<Record<string, OpMoved>>;
  /** The mount ID on the path before and after, for mount_table. */
  readonly mountIds?: { readonly before: number | null; readonly after: number | null };
  /** Time between the two samples compared. */
  readonly sampleMs: number;
}

/** What one sample tells of a configured path: the NFS mount holding it, and its counters. */
export interface PathSample {
  readonly path: string;
  /** ID of the NFS mount holding the path (from mountinfo); null when none does. */
  readonly mountId: number | null;
  /** That mount's counters; null when it has none (not NFS, or not in mountstats). */
  readonly stats: NfsMountStats | null;
}

/** What the rule remembers of a path between samples. */
export interface PathMemory {
  readonly mountId: number | null;
  readonly at: number;
  /** Per operation: errors and major timeouts so far, where not 0. */
  readonly errors: ReadonlyMap<string, number>;
  readonly timeouts: ReadonlyMap<string, number>;
  /** Per operation, its recent non-zero error rates per second (newest last), within RATE_WINDOW_MS. */
  readonly recent: ReadonlyMap<string, readonly Rate[]>;
}

export interface Rate {
  readonly at: number;
  readonly perS: number;
}

export type EvidenceMemory = ReadonlyMap<string, PathMemory>;

/**
 * How far back an operation's own error rate is remembered. Importers probing a DAG folder make
 * ENOENT in bursts each parsing loop: the window spans one loop and then some, so the next burst
 * of the same size is not news.
 */
export const RATE_WINDOW_MS = 120_000;

/** Errors count as evidence only above this many times the operation's expected rate. */
export const RATE_FACTOR = 3;

/**
 * The rule, pure: the previous memory and this sample's paths in; the new memory and the paths
 * whose counters say they may be failing out. A path seen the first time, or whose mount just
 * appeared, sets its baseline and says nothing.
 */
export function judgeSamples(
  memory: EvidenceMemory,
  samples: readonly PathSample[],
  now: number,
): { memory: EvidenceMemory; evidence: Evidence[] } {
  const next = new Map<string, PathMemory>();
  const evidence: Evidence[] = [];
  for (const sample of samples) {
    const before = memory.get(sample.path);
    const { remembered, found } = judgePath(before, sample, now);
    next.set(sample.path, remembered);
    if (found) evidence.push(found);
  }
  return { memory: next, evidence };
}

function judgePath(before: PathMemory | undefined, sample: PathSample, now: number): { remembered: PathMemory; found: Evidence | null } {
  if (!before) return { remembered: baseline(sample, now), found: null };
  const sampleMs = now - before.at;
  if (before.mountId !== sample.mountId) {
    // A mount appearing (autofs mounting on access) is no trouble; one vanishing or replaced may be.
    const found: Evidence | null =
      before.mountId === null
        ? null
        : { path: sample.path, kind: 'mount_table', moved: {}, mountIds: { before: before.mountId, after: sample.mountId }, sampleMs };
    return { remembered: baseline(sample, now), found };
  }
  if (!sample.stats) return { remembered: baseline(sample, now), found: null };
  const moved: Record<string, OpMoved> = {};
  const errors = new Map<string, number>();
  const timeouts = new Map<string, number>();
  let timedOut = false;
  let erred = false;
  const recent = new Map<string, readonly Rate[]>();
  const seconds = Math.max(sampleMs, 1) / 1000;
  for (const [op, s] of sample.stats.ops) {
    // The memory keeps non-zero counts only (most operations never fail): absent is 0.
    remember(errors, timeouts, op, s);
    const dTimeouts = s.timeouts - (before.timeouts.get(op) ?? 0);
    const prevErrors = before.errors.get(op) ?? 0;
    const dErrors = s.errors === null ? 0 : s.errors - prevErrors;
    const history = withinWindow(before.recent.get(op), now);
    const rate = dErrors > 0 ? dErrors / seconds : 0;
    const unusual = rate > 0 && rate > RATE_FACTOR * expectedRate(history, prevErrors, sample.stats.ageS, seconds);
    if (dTimeouts > 0) timedOut = true;
    if (unusual) erred = true;
    if (dTimeouts > 0 || unusual)
      moved[op] = { ...(unusual ? { errors: dErrors } : {}), ...(dTimeouts > 0 ? { timeouts: dTimeouts } : {}) };
    if (rate > 0) recent.set(op, [...history, { at: now, perS: rate }]);
    else if (history.length > 0) recent.set(op, history);
  }
  const remembered: PathMemory = { mountId: sample.mountId, at: now, errors, timeouts, recent };
  if (!timedOut && !erred) return { remembered, found: null };
  return { remembered, found: { path: sample.path, kind: timedOut ? 'timeouts' : 'errors', moved, sampleMs } };
}

const NO_RATES: readonly Rate[] = [];

/** An operation's remembered rates still within RATE_WINDOW_MS (the same array when none expired). */
function withinWindow(rates: readonly Rate[] | undefined, now: number): readonly Rate[] {
  if (!rates) return NO_RATES;
  const first = rates[0];
  return first && now - first.at > RATE_WINDOW_MS ? rates.filter((r) => now - r.at <= RATE_WINDOW_MS) : rates;
}

/**
 * The rate an operation's errors are expected at: the highest of its recent rates, or its average
 * since the mount was made (before this sample), whichever is higher — so a steady stream of
 * ENOENT is expected from the first sample on.
 */
function expectedRate(history: readonly Rate[], errorsBefore: number, ageS: number | null, sampleS: number): number {
  let expected = ageS !== null && ageS > sampleS ? errorsBefore / (ageS - sampleS) : 0;
  for (const r of history) if (r.perS > expected) expected = r.perS;
  return expected;
}

function baseline(sample: PathSample, now: number): PathMemory {
  const errors = new Map<string, number>();
  const timeouts = new Map<string, number>();
  for (const [op, s] of sample.stats?.ops ?? []) remember(errors, timeouts, op, s);
  return { mountId: sample.mountId, at: now, errors, timeouts, recent: new Map() };
}

/** An operation's counts into the memory's maps, where not 0. */
function remember(errors: Map<string, number>, timeouts: Map<string, number>, op: string, s: OpStats): void {
  if (s.errors !== null && s.errors > 0) errors.set(op, s.errors);
  if (s.timeouts > 0) timeouts.set(op, s.timeouts);
}
