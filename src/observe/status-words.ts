// The words the status document is shown in, shared by `nfs-health-checkd status` (text) and the
// status page (HTML on GET /), so that both say the same thing of the same state.
import type { CollateralStatus, HolderStatus, MountStatus, RecoveryStatus, StatusDoc } from './status-board.js';

/** A duration in seconds to a tenth: "2.0 s". */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** How long from `from` to `to` (ISO times), as people read it: 45 s, 3 min 20 s, 2 h 5 min. */
export function age(from: string, to: string): string {
  const s = Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** A mount's state in a word or two: not probed yet, ok, or the probe's result (EIO, timeout, …). */
export function mountWhat(m: MountStatus): string {
  return m.state === 'unknown' ? 'not probed yet' : m.state === 'ok' ? 'ok' : (m.result ?? 'failing');
}

/** What the last recovery came to for this mount (running while it runs); undefined if it was no target. */
export function lastRecoveryOf(doc: StatusDoc, mount: string): string | undefined {
  const target = doc.recovery?.targets.find((t) => t.mount === mount);
  return target === undefined ? undefined : (target.outcome ?? 'running');
}

/** A recovery's state: running, or its result and duration ("failed in 1281 ms"). */
export function recoveryHow(r: RecoveryStatus): string {
  return r.running ? 'running' : `${r.result ?? '?'} in ${r.duration_ms ?? '?'} ms`;
}

/** Whether a static mount a recovery took away was mounted again. */
export function collateralWhat(c: CollateralStatus): string {
  return c.outcome === 'remounted' ? 'mounted again' : `NOT mounted again (${c.outcome})`;
}

/** Which mount a process holds: "on the detached mount 412", or one detached before this start. */
export function holderWhere(h: HolderStatus): string {
  return h.mount === 'unknown' ? 'on a mount detached before this start' : `on the ${h.state} mount ${h.mount_id ?? '?'}`;
}
