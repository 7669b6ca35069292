// When to recover, decided from probe results and the time alone: no effects, so every rule here
// is tested with scripted results and a hand-moved clock.
//
// Rules: a result listed in `triggers` asks for a recovery — a timeout only once the call behind it
// has been blocked for `hangAfter` (a call that returns first is a slow mount, and umount -f would
// abort every process's calls on it), the call's own age deciding; one recovery at a time (the caller
// awaits it); a mount recovered is not recovered again within `cooldown`; and a mount that is
// still failing after a recovery waits longer each time (doubling from the cooldown, at least 1 s,
// up to `maxBackoff`), so a dead server is not unmounted every tick. Both are per mount: a failover
// seen on one mount this round and on another the next recovers the second at once (a shared
// cooldown made it wait 30 s on real NFS). A blocked call within HANG_JOIN_MS of hang_after joins a
// recovery that starts anyway.
import { BLOCKED_RESULTS, type ProbeClass } from '../probe/classify.js';

/**
 * How near hang_after a blocked call may be to join a recovery another mount starts. Calls that
 * hung in one round start up to a few of the pool's 50 ms slow marks apart (the second waits for
 * the first to turn slow); judged to the millisecond, a server gone silent under two mounts was
 * recovered twice, 15 s apart, the second `umount -a` waiting out its deadline again.
 */
export const HANG_JOIN_MS = 1_000;

export interface PolicyConfig {
  enabled: boolean;
  triggers: readonly string[];
  /** Age a blocked call must reach before its timeout is a trigger. */
  hangAfterMs: number;
  cooldownMs: number;
  maxBackoffMs: number;
}

export interface Observation {
  mount: string;
  result: ProbeClass;
  /** For a timeout: how long the call behind it has been blocked (0 when not known). */
  blockedMs?: number | null;
}

export type HealthEvent =
  /** First result seen for the mount. */
  | { kind: 'initial'; mount: string; result: ProbeClass }
  /** ok → not ok. */
  | { kind: 'failing'; mount: string; result: ProbeClass; previous: ProbeClass }
  /** not ok → another not-ok result. */
  | { kind: 'changed'; mount: string; result: ProbeClass; previous: ProbeClass }
  /** not ok → ok; `downMs` runs from the first failed probe. */
  | { kind: 'recovered'; mount: string; previous: ProbeClass; downMs: number };

export type Decision =
  | { kind: 'none' }
  | { kind: 'recover'; targets: string[] }
  | { kind: 'hold'; reason: 'disabled' | 'cooldown' | 'backoff'; targets: string[]; untilMs: number | null };

interface MountHealth {
  result: ProbeClass;
  /** When the blocked call behind a timeout reaches hangAfter; null: no call blocks (returned, or none). */
  hangAt: number | null;
  failingSince: number | null;
  failedRecoveries: number;
  nextRecoveryAt: number;
  /** Why nextRecoveryAt is where it is. */
  wait: 'cooldown' | 'backoff';
}

const MIN_BACKOFF_MS = 1000;

export class RecoveryPolicy {
  private readonly mounts = new Map<string, MountHealth>();

  constructor(private readonly cfg: PolicyConfig) {}

  /** Takes in one round of results; returns the changes worth telling people about. */
  observe(results: readonly Observation[], now: number): HealthEvent[] {
    const events: HealthEvent[] = [];
    for (const { mount, result, blockedMs } of results) {
      const prev = this.mounts.get(mount);
      const ok = result === 'ok';
      const hangAt = BLOCKED_RESULTS.has(result) ? now - (blockedMs ?? 0) + this.cfg.hangAfterMs : null;
      if (!prev) {
        this.mounts.set(mount, { result, hangAt, failingSince: ok ? null : now, failedRecoveries: 0, nextRecoveryAt: 0, wait: 'cooldown' });
        events.push({ kind: 'initial', mount, result });
        continue;
      }
      prev.hangAt = hangAt;
      if (ok && prev.failingSince !== null) {
        events.push({ kind: 'recovered', mount, previous: prev.result, downMs: now - prev.failingSince });
        Object.assign(prev, { failingSince: null, failedRecoveries: 0, nextRecoveryAt: 0 });
      } else if (!ok && prev.failingSince === null) {
        events.push({ kind: 'failing', mount, result, previous: prev.result });
        prev.failingSince = now;
      } else if (!ok && result !== prev.result) {
        events.push({ kind: 'changed', mount, result, previous: prev.result });
      }
      prev.result = result;
    }
    return events;
  }

  /**
   * The call behind a mount's timeout has returned: the mount is slow, not hung. Its result stays
   * until the next probe, but it no longer becomes a trigger by age.
   */
  released(mount: string): void {
    const h = this.mounts.get(mount);
    if (h) h.hangAt = null;
  }

  /** How long the call behind a mount's timeout has been blocked by `now`; null when none blocks. */
  blockedMs(mount: string, now: number): number | null {
    const hangAt = this.mounts.get(mount)?.hangAt ?? null;
    return hangAt === null ? null : Math.round(now - (hangAt - this.cfg.hangAfterMs));
  }

  /** Mounts whose blocked call becomes a trigger later, and when: what to wake up for. */
  pendingHangs(now: number): { mount: string; at: number }[] {
    return [...this.mounts]
      .filter(([, h]) => this.cfg.triggers.includes(h.result) && h.hangAt !== null && h.hangAt > now)
      .map(([mount, h]) => ({ mount, at: h.hangAt! }));
  }

  /** `slackMs`: a blocked call this near hang_after counts as there. */
  private isTrigger(h: MountHealth, now: number, slackMs = 0): boolean {
    if (!this.cfg.triggers.includes(h.result)) return false;
    return !BLOCKED_RESULTS.has(h.result) || (h.hangAt !== null && now + slackMs >= h.hangAt);
  }

  decide(now: number): Decision {
    const triggered = [...this.mounts].filter(([, h]) => this.isTrigger(h, now));
    if (triggered.length === 0) return { kind: 'none' };
    const all = triggered.map(([m]) => m);
    if (!this.cfg.enabled) return { kind: 'hold', reason: 'disabled', targets: all, untilMs: null };

    if (!triggered.some(([, h]) => now >= h.nextRecoveryAt)) {
      const [, first] = triggered.reduce((a, b) => (b[1].nextRecoveryAt < a[1].nextRecoveryAt ? b : a));
      return { kind: 'hold', reason: first.wait, targets: all, untilMs: first.nextRecoveryAt };
    }
    // One outage, one recovery: mounts whose calls are about to be hangs join the one starting now.
    const targets = [...this.mounts].filter(([, h]) => now >= h.nextRecoveryAt && this.isTrigger(h, now, HANG_JOIN_MS)).map(([m]) => m);
    return { kind: 'recover', targets };
  }

  /** Records a finished recovery (or a dry run) so cooldown and backoff apply to the next. */
  recorded(targets: readonly string[], stillFailing: ReadonlySet<string>, now: number): void {
    const base = Math.max(this.cfg.cooldownMs, MIN_BACKOFF_MS);
    for (const mount of targets) {
      const h = this.mounts.get(mount);
      if (!h) continue;
      if (!stillFailing.has(mount)) {
        Object.assign(h, { nextRecoveryAt: now + this.cfg.cooldownMs, wait: 'cooldown' });
        continue;
      }
      h.failedRecoveries += 1;
      const wait = Math.min(base * 2 ** (h.failedRecoveries - 1), this.cfg.maxBackoffMs);
      Object.assign(h, { nextRecoveryAt: now + wait, wait: 'backoff' });
    }
  }
}
