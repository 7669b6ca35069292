// Is the probe loop alive? For /healthz and the systemd watchdog: a cycle must have finished within
// three schedule intervals plus the probe timeout (a cycle can take that long).
export interface Health {
  ok: boolean;
  /** Why not, or a short status. */
  reason: string;
  lastCycleAgeSeconds: number | null;
}

export interface LoopTimes {
  now: number;
  startedAt: number;
  /** When the last cycle finished, null before the first. */
  lastCycleAt: number | null;
  intervalMs: number;
  probeTimeoutMs: number;
  stopping: boolean;
}

export function loopHealth(t: LoopTimes): Health {
  const ageMs = t.now - (t.lastCycleAt ?? t.startedAt);
  const limitMs = 3 * t.intervalMs + t.probeTimeoutMs;
  const lastCycleAgeSeconds = t.lastCycleAt === null ? null : Math.round(ageMs) / 1000;
  if (t.stopping) return { ok: false, reason: 'stopping', lastCycleAgeSeconds };
  if (ageMs > limitMs) {
    const reason = `no probe cycle finished for ${Math.round(ageMs / 1000)} s (limit ${limitMs / 1000} s)`;
    return { ok: false, reason, lastCycleAgeSeconds };
  }
  return { ok: true, reason: t.lastCycleAt === null ? 'starting' : 'probe loop alive', lastCycleAgeSeconds };
}
