// The real clock, counting its timers still pending: what a test uses to show that a check or a
// checker leaves no timer behind.
import { systemClock, type Clock, type TimerHandle } from '../../src/clock.js';

export function countingClock(): Clock & { pending: () => number } {
  const live = new Set<TimerHandle>();
  return {
    now: () => systemClock.now(),
    wallNow: () => systemClock.wallNow(),
    setTimeout(fn, ms) {
      const handle: TimerHandle = systemClock.setTimeout(() => {
        live.delete(handle);
        fn();
      }, ms);
      live.add(handle);
      return handle;
    },
    clearTimeout(handle) {
      live.delete(handle);
      systemClock.clearTimeout(handle);
    },
    pending: () => live.size,
  };
}
