// The schedule on the real timer (a 1 s expression): ticks come on the second, jitter delays them
// by the drawn fraction, and stop() also cancels a tick waiting out its jitter. Then on a hand-moved
// clock: one timer to each match, a wall clock stepped back or jumped forward.
import { describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../src/clock.js';
import { FakeClock } from './helpers/fake-clock.js';
import { createLogger } from '../src/observe/log.js';
import { startSchedule } from '../src/schedule.js';

const log = createLogger('fatal');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('startSchedule', () => {
  it('ticks every second on "* * * * * *", each delayed by random × jitter', async () => {
    const ticks: number[] = [];
    const s = startSchedule({ expression: '* * * * * *', jitterMs: 400, random: () => 0.5, clock: systemClock, log, tick: () => ticks.push(Date.now()) });
    await sleep(2600);
    s.stop();
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    // Each tick fires 200 ms (0.5 × 400) after a whole second, give or take the timer's slack.
    for (const t of ticks) expect(t % 1000).toBeGreaterThanOrEqual(190);
  });

  it('stop() cancels a tick that is waiting out its jitter', async () => {
    const ticks: number[] = [];
    let fired = 0;
    const s = startSchedule({
      expression: '* * * * * *',
      jitterMs: 900,
      random: () => 0.99,
      clock: {
        ...systemClock,
        setTimeout: (fn, ms) => {
          fired++;
          return systemClock.setTimeout(fn, ms);
        },
      },
      log,
      tick: () => ticks.push(Date.now()),
    });
    while (fired === 0) await sleep(50);
    s.stop();
    await sleep(1200);
    expect(ticks).toEqual([]);
  });
});

/** A hand-moved clock whose wall time can also be stepped, as NTP or a resumed VM does. */
function steppedClock(): { fake: FakeClock; clock: Clock; step(ms: number): void } {
  const fake = new FakeClock();
  let offset = 0;
  const clock: Clock = {
    now: () => fake.now(),
    wallNow: () => fake.wallNow() + offset,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (h) => fake.clearTimeout(h),
  };
  return { fake, clock, step: (ms) => (offset += ms) };
}

describe('startSchedule on a hand-moved clock', () => {
  // FakeClock's wall time starts at 1_700_000_000_000: 22:13:20 UTC, 10 s before a :30.
  it('holds one timer, to the next match, and ticks on each', () => {
    const { fake, clock } = steppedClock();
    const ticks: number[] = [];
    const s = startSchedule({ expression: '*/30 * * * * *', jitterMs: 0, clock, log, tick: () => ticks.push(clock.wallNow()) });
    expect(s.intervalMs).toBe(30_000);
    expect(fake.pending()).toBe(1);
    fake.advance(9_999);
    expect(ticks).toEqual([]);
    fake.advance(1);
    fake.advance(60_000);
    expect(ticks.map((t) => t % 60_000)).toEqual([30_000, 0, 30_000]);
    expect(fake.pending()).toBe(1);
    s.stop();
    expect(fake.pending()).toBe(0);
  });

  it('waits at most a minute at a time, so a sparse schedule notices a clock stepped back', () => {
    const { fake, clock, step } = steppedClock();
    const ticks: number[] = [];
    startSchedule({ expression: '0 0 * * * *', jitterMs: 0, clock, log, tick: () => ticks.push(clock.wallNow()) });
    fake.advance(60_000); // 22:14:20, the next match 23:00
    step(-30 * 60_000); // the wall clock goes back to 21:44:20: 22:00 now comes first
    fake.advance(15 * 60_000);
    expect(ticks).toEqual([]);
    fake.advance(60_000);
    expect(ticks).toEqual([Date.UTC(2023, 10, 14, 22)]);
  });

  it('after the clock steps back an hour, ticks resume within one interval, not an hour later', () => {
    const { fake, clock, step } = steppedClock();
    const ticks: number[] = [];
    startSchedule({ expression: '*/30 * * * * *', jitterMs: 0, clock, log, tick: () => ticks.push(clock.wallNow()) });
    fake.advance(10_000);
    expect(ticks).toHaveLength(1);
    step(-3_600_000);
    fake.advance(60_000);
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.slice(1).every((t) => t % 30_000 === 0)).toBe(true);
  });

  it('a wake long past its match (a suspended VM) ticks once, not once per missed match', () => {
    const { fake, clock, step } = steppedClock();
    const ticks: number[] = [];
    startSchedule({ expression: '*/30 * * * * *', jitterMs: 0, clock, log, tick: () => ticks.push(clock.wallNow()) });
    step(5 * 60_000); // five minutes pass on the wall clock while the timer sleeps
    fake.advance(10_000);
    expect(ticks).toHaveLength(1);
    fake.advance(30_000);
    expect(ticks).toHaveLength(2);
    expect(ticks[1]! - ticks[0]!).toBeLessThanOrEqual(30_000);
  });
});
