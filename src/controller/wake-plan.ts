// When the controller next runs a round of its own, between scheduled ticks, and for which paths.
// Pure: given the policy's decision, the waits it knows of and the latest results, it picks the
// one wake-up; the controller's driver only sets the timer.
import type { ProbeClass } from '../probe/classify.js';
import type { Decision } from './policy.js';
import { RELOAD_RETRY_MS } from './server-return.js';

// A probe of a path in autofs' negative cache costs nothing (ENOENT at once, no mount attempt),
// so it is repeated this often: the path is back within this much of the cache's end (60 s by
// default) instead of up to a whole interval later. A path whose automount outlasted the probe
// is probed again as often: the call still blocked there is not repeated (the prober skips it),
// and the first probe after the mount is made says how it is.
export const AUTOMOUNT_RETRY_MS = 5_000;

/** Results re-probed every AUTOMOUNT_RETRY_MS: autofs has not mounted the path (yet). */
const AUTOMOUNT_PENDING: ReadonlySet<ProbeClass> = new Set(['automount_failed', 'automount_timeout']);

export interface WakeReason {
  /** Clock time the wait ends. */
  at: number;
  /** Paths the cycle then probes. */
  paths: readonly string[];
}

export interface Wake {
  readonly at: number;
  readonly paths: readonly string[];
}

export interface WakeInputs {
  now: number;
  /** Every configured path, in order: a hold's end re-probes them all. */
  paths: readonly string[];
  /** The last decision; a hold (cooldown, backoff) ends at its untilMs. Null: none in force. */
  decision: Decision | null;
  /** Blocked calls and the moment each becomes a hang (RecoveryPolicy.pendingHangs). */
  hangs: readonly { path: string; at: number }[];
  /** The latest result per path. */
  results: readonly { path: string; result: ProbeClass }[];
  /** After an autofs reload, until when paths it has not mounted are retried every RELOAD_RETRY_MS; null: none. */
  settleUntil?: number | null;
}

/**
 * The next cycle of the controller's own: when a hold ends, when a blocked call becomes a hang, and
 * every AUTOMOUNT_RETRY_MS for a path autofs has not mounted (RELOAD_RETRY_MS just after a reload). Waiting for the next tick instead would
 * add up to a whole interval to a hold's end, and to the moment a blocked call becomes a hang.
 */
export function planNextCycle(i: WakeInputs): Wake | null {
  const pending = i.results.filter((r) => AUTOMOUNT_PENDING.has(r.result)).map((r) => r.path);
  const settling = i.settleUntil != null && i.now < i.settleUntil;
  return planWake([
    i.decision?.kind === 'hold' && i.decision.untilMs !== null ? { at: i.decision.untilMs, paths: i.paths } : null,
    ...i.hangs.map((h) => ({ at: h.at, paths: [h.path] })),
    { at: i.now + (settling ? RELOAD_RETRY_MS : AUTOMOUNT_RETRY_MS), paths: pending },
  ]);
}

/**
 * The earliest wait's end, probing the paths of every wait that ends by then (so a hold and a
 * hang due at one moment make one cycle, not two); paths in the order first given.
 */
export function planWake(reasons: readonly (WakeReason | null)[]): Wake | null {
  const waits = reasons.filter((r): r is WakeReason => r !== null && r.paths.length > 0);
  if (waits.length === 0) return null;
  const at = Math.min(...waits.map((r) => r.at));
  const paths = [...new Set(waits.filter((r) => r.at <= at).flatMap((r) => r.paths))];
  return { at, paths };
}
