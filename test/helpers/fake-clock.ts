// A clock moved by hand: timers fire only when a test advances time.
import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t = 0;
  private timers = new Set<Timer>();

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return 1_700_000_000_000 + this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return timer as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as Timer);
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }

  pending(): number {
    return this.timers.size;
  }
}

/** Lets answered calls (a microtask away, as a thread's message would be) settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

/** Moves the clock a second at a time, letting what each second started run, as time would. */
export async function runFor(clock: FakeClock, ms: number): Promise<void> {
  await settle();
  for (let t = 0; t < ms; t += 1000) {
    clock.advance(Math.min(1000, ms - t));
    await settle();
  }
}
