// When to recover, as pure functions over each path's health: results and the time in, the next
// health and a decision out.
//
// Rules: a result listed in `triggers` asks for a recovery — a timeout only once the call behind it
// has been blocked for `hangAfter` (a call that returns first is a slow mount, and umount -f would
// abort every process's calls on it), the call's own age deciding; a path recovered is not
// recovered again within `cooldown`; a path still failing after a recovery waits longer each time
// (doubling from the cooldown, at least 1 s, up to `maxBackoff`), so a dead server is not unmounted
// every tick. Both are per path, so a failover seen on one mount this round and on another the
// next recovers the second at once. One recovery at a time is the controller's rule, not this one's.
import { BLOCKED_RESULTS, type ProbeClass } from '../probe/classify.js';

/**
 * How near hang_after a blocked call may be to join a recovery another path starts: calls that hung
 * in one round start a few of the pool's slow marks apart, and judged to the millisecond one outage
 * would be recovered twice.
 */
export const HANG_JOIN_MS = 1_000;

const MIN_BACKOFF_MS = 1000;

export interface PolicyConfig {
  enabled: boolean;
  triggers: readonly string[];
  /** Age a blocked call must reach before its timeout is a trigger. */
  hangAfterMs: number;
  cooldownMs: number;
  maxBackoffMs: number;
}

export interface Observation {
  path: string;
  result: ProbeClass;
  /** For a timeout: how long the call behind it has been blocked (0 when not known). */
  blockedMs?: number | null;
}

export type HealthEvent =
  /** First result seen for the path. */
  | { kind: 'initial'; path: string; result: ProbeClass }
  /** ok → not ok. */
  | { kind: 'failing'; path: string; result: ProbeClass; previous: ProbeClass }
  /** not ok → another not-ok result. */
  | { kind: 'changed'; path: string; result: ProbeClass; previous: ProbeClass }
  /** not ok → ok; `downMs` runs from the first failed probe. */
  | { kind: 'recovered'; path: string; previous: ProbeClass; downMs: number };

export type Hold = { kind: 'hold'; reason: 'disabled' | 'cooldown' | 'backoff'; targets: string[]; untilMs: number | null };

export type Decision = { kind: 'none' } | { kind: 'recover'; targets: string[] } | Hold;

/** What the policy knows of one path. */
export interface PathHealth {
  readonly result: ProbeClass;
  /** When the blocked call behind a timeout reaches hangAfter; null: no call blocks (returned, or none). */
  readonly hangAt: number | null;
  readonly failingSince: number | null;
  readonly failedRecoveries: number;
  readonly nextRecoveryAt: number;
  /** Why nextRecoveryAt is where it is. */
  readonly wait: 'cooldown' | 'backoff';
}

export type Health = ReadonlyMap<string, PathHealth>;

/** One round of results in: the next health, and the changes worth telling people about. */
export function observe(
  health: Health,
  results: readonly Observation[],
  now: number,
  cfg: PolicyConfig,
): { health: Health; events: HealthEvent[] } {
  const next = new Map(health);
  const events: HealthEvent[] = [];
  for (const { path, result, blockedMs } of results) {
    const prev = next.get(path);
    const ok = result === 'ok';
    const hangAt = BLOCKED_RESULTS.has(result) ? now - (blockedMs ?? 0) + cfg.hangAfterMs : null;
    if (!prev) {
      next.set(path, { result, hangAt, failingSince: ok ? null : now, failedRecoveries: 0, nextRecoveryAt: 0, wait: 'cooldown' });
      events.push({ kind: 'initial', path, result });
      continue;
    }
    let h: PathHealth = { ...prev, result, hangAt };
    if (ok && prev.failingSince !== null) {
      events.push({ kind: 'recovered', path, previous: prev.result, downMs: now - prev.failingSince });
      h = { ...h, failingSince: null, failedRecoveries: 0, nextRecoveryAt: 0 };
    } else if (!ok && prev.failingSince === null) {
      events.push({ kind: 'failing', path, result, previous: prev.result });
      h = { ...h, failingSince: now };
    } else if (!ok && result !== prev.result) {
      events.push({ kind: 'changed', path, result, previous: prev.result });
    }
    next.set(path, h);
  }
  return { health: next, events };
}

/**
 * The call behind a path's timeout has returned: the mount is slow, not hung. Its result stays
 * until the next probe, but it no longer becomes a trigger by age.
 */
export function released(health: Health, path: string): Health {
  const h = health.get(path);
  if (!h || h.hangAt === null) return health;
  return new Map(health).set(path, { ...h, hangAt: null });
}

/** How long the call behind a path's timeout has been blocked by `now`; null when none blocks. */
export function blockedMs(health: Health, path: string, now: number, cfg: PolicyConfig): number | null {
  const hangAt = health.get(path)?.hangAt ?? null;
  return hangAt === null ? null : Math.round(now - (hangAt - cfg.hangAfterMs));
}

/** Paths whose blocked call becomes a trigger later, and when: what to wake up for. */
export function pendingHangs(health: Health, now: number, cfg: PolicyConfig): { path: string; at: number }[] {
  const pending: { path: string; at: number }[] = [];
  for (const [path, h] of health) {
    if (cfg.triggers.includes(h.result) && h.hangAt !== null && h.hangAt > now) pending.push({ path, at: h.hangAt });
  }
  return pending;
}

/** `slackMs`: a blocked call this near hang_after counts as there. */
function isTrigger(h: PathHealth, now: number, cfg: PolicyConfig, slackMs = 0): boolean {
  if (!cfg.triggers.includes(h.result)) return false;
  return !BLOCKED_RESULTS.has(h.result) || (h.hangAt !== null && now + slackMs >= h.hangAt);
}

export function decide(health: Health, now: number, cfg: PolicyConfig): Decision {
  const triggered = [...health].filter(([, h]) => isTrigger(h, now, cfg));
  if (triggered.length === 0) return { kind: 'none' };
  const all = triggered.map(([path]) => path);
  if (!cfg.enabled) return { kind: 'hold', reason: 'disabled', targets: all, untilMs: null };

  if (!triggered.some(([, h]) => now >= h.nextRecoveryAt)) {
    const [, first] = triggered.reduce((a, b) => (b[1].nextRecoveryAt < a[1].nextRecoveryAt ? b : a));
    return { kind: 'hold', reason: first.wait, targets: all, untilMs: first.nextRecoveryAt };
  }
  // One outage, one recovery: paths whose calls are about to be hangs join the one starting now.
  const targets = [...health].filter(([, h]) => now >= h.nextRecoveryAt && isTrigger(h, now, cfg, HANG_JOIN_MS)).map(([path]) => path);
  return { kind: 'recover', targets };
}

/** A finished recovery (or a dry run) in: cooldown and backoff set for the next one. */
export function recorded(
  health: Health,
  targets: readonly string[],
  stillFailing: ReadonlySet<string>,
  now: number,
  cfg: PolicyConfig,
): Health {
  const next = new Map(health);
  const base = Math.max(cfg.cooldownMs, MIN_BACKOFF_MS);
  for (const path of targets) {
    const h = next.get(path);
    if (!h) continue;
    if (!stillFailing.has(path)) {
      next.set(path, { ...h, nextRecoveryAt: now + cfg.cooldownMs, wait: 'cooldown' });
      continue;
    }
    const failedRecoveries = h.failedRecoveries + 1;
    const wait = Math.min(base * 2 ** (failedRecoveries - 1), cfg.maxBackoffMs);
    next.set(path, { ...h, failedRecoveries, nextRecoveryAt: now + wait, wait: 'backoff' });
  }
  return next;
}
