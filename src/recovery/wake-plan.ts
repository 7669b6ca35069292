// When the monitor next runs a cycle of its own, between scheduled ticks, and for which paths.
// Pure: the monitor gathers what it waits for, this picks the wake-up.

export interface WakeReason {
  /** Clock time the wait ends. */
  at: number;
  /** Paths the cycle then probes. */
  paths: readonly string[];
}

export interface Wake {
  at: number;
  paths: string[];
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
