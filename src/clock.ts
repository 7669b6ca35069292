// The clock seam: everything that measures or waits (the schedule, the controller, the prober, the
// runner's deadlines) takes time from here, so tests drive it by hand without sleeping.

export interface TimerHandle {
  unref?(): unknown;
}

export interface Clock {
  /** Monotonic milliseconds: for durations, deadlines, cooldowns. */
  now(): number;
  /** Wall-clock milliseconds since the epoch: for timestamps shown to people. */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves after `ms` on the given clock. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
