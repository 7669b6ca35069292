// Turns a raw probe outcome and the mount table into the one word operators see: ok, timeout,
// automount_timeout, unmounted, automount_failed, or the errno name.
import { ERRNO_NAMES, errnoName, type ErrnoResult } from './errno.js';
import type { PathMountState } from './mountinfo.js';

/** The probe's own words for what went wrong, as a config's triggers may list them. */
export const NON_ERRNO_RESULTS = ['timeout', 'unmounted', 'automount_failed', 'automount_timeout'] as const;

/** What a probe found: ok, a word of its own, or the failed call's errno name (ESTALE, EIO, …). */
export type ProbeClass = 'ok' | (typeof NON_ERRNO_RESULTS)[number] | ErrnoResult;

/** A word a probe could have given: how a saved result is told from anything else. */
export function isProbeClass(word: string): word is ProbeClass {
  return (
    word === 'ok' ||
    word === 'error' ||
    (NON_ERRNO_RESULTS as readonly string[]).includes(word) ||
    ERRNO_NAMES.has(word) ||
    /^errno_[0-9]+$/.test(word)
  );
}

/** What the probe itself saw, before the mount table is consulted. */
export type RawProbe = { kind: 'ok' } | { kind: 'timeout' } | { kind: 'error'; errno: number | undefined; code: string | undefined };

/** Results of a call that did not return in time: the call may still be blocked. */
export const BLOCKED_RESULTS: ReadonlySet<ProbeClass> = new Set(['timeout', 'automount_timeout']);

/**
 * `state` is the table after the probe, `before` the table when its call started. A call that
 * started on a path under autofs with nothing mounted on it made the automount: its timeout is
 * the mount being made (slow first mount), not a mount that hangs — unmounting cannot help it.
 */
export function classify(
  raw: RawProbe,
  state: PathMountState,
  before: PathMountState = state,
): { result: ProbeClass; errno?: ErrnoResult } {
  if (raw.kind === 'timeout') return { result: before.underAutofs && !before.mounted ? 'automount_timeout' : 'timeout' };
  const managed = state.mounted || state.underAutofs;
  if (raw.kind === 'ok') return { result: managed ? 'ok' : 'unmounted' };
  const errno = errnoName(raw.errno, raw.code);
  // Under autofs, ENOENT means the automount failed (autofs then caches that for negative_timeout).
  if (errno === 'ENOENT' && state.underAutofs && !state.mounted) return { result: 'automount_failed', errno };
  if (!managed) return { result: 'unmounted', errno };
  return { result: errno, errno };
}
