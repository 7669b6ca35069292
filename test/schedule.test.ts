// The schedule on a hand-moved clock: ticks come on the second, jitter delays them by the drawn
// fraction, and stop() also cancels a tick waiting out its jitter; one timer to each match, a wall
// clock stepped back or jumped forward. Then the timing decision alone, on fixed dates.
import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { cronFields, type CronFields } from '../src/cron-match.js';
import { createLogger } from '../src/observe/log.js';
import { scheduleIntervalMs, scheduleStep, startSchedule } from '../src/schedule.js';
import { FakeClock } from './helpers/fake-clock.js';

const log = createLogger('fatal');

describe('startSchedule', () => {
  it('ticks every second on "* * * * * *", each delayed by random × jitter', () => {
    const clock = new FakeClock();
    const ticks: number[] = [];
    const s = startSchedule({
      expression: '* * * * * *',
      jitterMs: 400,
      random: () => 0.5,
      clock,
      log,
      tick: () => ticks.push(clock.wallNow()),
    });
    clock.advance(2600);
    s.stop();
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    // Each tick fires 200 ms (0.5 × 400) after a whole second.
    for (const t of ticks) expect(t % 1000).toBeGreaterThanOrEqual(190);
    expect(ticks.map((t) => t % 1000)).toEqual(ticks.map(() => 200));
  });

  it('stop() cancels a tick that is waiting out its jitter', () => {
    const clock = new FakeClock();
    const ticks: number[] = [];
    const s = startSchedule({
      expression: '* * * * * *',
      jitterMs: 900,
      random: () => 0.99,
      clock,
      log,
      tick: () => ticks.push(clock.wallNow()),
    });
    clock.advance(1000); // the second's match: its tick now waits 891 ms of jitter
    expect(clock.pending()).toBe(2); // the jitter's timer and the next match's
    s.stop();
    expect(clock.pending()).toBe(0);
    clock.advance(1200);
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

describe('scheduleStep, on fixed dates', () => {
  const fields = (e: string): CronFields => {
    const f = cronFields(e);
    if ('error' in f) throw new Error(f.error);
    return f;
  };
  const every30s = fields('*/30 * * * * *');
  const at = (iso: string) => new Date(iso).getTime();
  // Local time is the process's; these dates are read back as local, as the schedule does.
  const local = (y: number, mo: number, d: number, h: number, mi: number, sec: number, ms = 0) =>
    new Date(y, mo - 1, d, h, mi, sec, ms).getTime();

  it('on time: fires, aims at the next match, waits the 30 s to it', () => {
    const due = local(2026, 12, 3, 8, 0, 30);
    expect(scheduleStep(every30s, due, due + 5)).toEqual({ fire: true, lateMs: null, due: local(2026, 12, 3, 8, 1, 0), waitMs: 29_995 });
  });

  it('a capped wait ends before the match: no fire, same match, the rest of the wait', () => {
    const hourly = fields('0 0 * * * *');
    const now = local(2026, 12, 3, 8, 1, 0);
    expect(scheduleStep(hourly, local(2026, 12, 3, 9, 0, 0), now)).toEqual({
      fire: false,
      lateMs: null,
      due: local(2026, 12, 3, 9, 0, 0),
      waitMs: 60_000,
    });
  });

  it('the wall clock stepped back an hour: no fire, aims at the next match from the new now', () => {
    const due = local(2026, 12, 3, 9, 0, 30);
    const now = local(2026, 12, 3, 8, 0, 10);
    expect(scheduleStep(every30s, due, now)).toEqual({ fire: false, lateMs: null, due: local(2026, 12, 3, 8, 0, 30), waitMs: 20_000 });
  });

  it('woken five minutes late (a suspended VM): fires once, says how late, aims after now', () => {
    const due = local(2026, 12, 3, 8, 0, 30);
    const now = due + 5 * 60_000 + 250;
    expect(scheduleStep(every30s, due, now)).toEqual({ fire: true, lateMs: 300_250, due: local(2026, 12, 3, 8, 6, 0), waitMs: 29_750 });
  });

  it('late by less than a second is not said', () => {
    const due = local(2026, 12, 3, 8, 0, 30);
    expect(scheduleStep(every30s, due, due + 999).lateMs).toBeNull();
    expect(scheduleStep(every30s, due, due + 1001).lateMs).toBe(1001);
  });

  it('no match left: nothing fires, nothing is armed', () => {
    expect(scheduleStep(every30s, null, at('2026-12-03T08:00:00Z'))).toEqual({ fire: false, lateMs: null, due: null, waitMs: null });
  });

  it('the interval is the longest gap between the next matches', () => {
    const now = local(2026, 12, 3, 8, 0, 0);
    expect(scheduleIntervalMs('*/30 * * * * *', now)).toBe(30_000);
    expect(scheduleIntervalMs('0,10 * * * * *', now)).toBe(50_000);
    expect(scheduleIntervalMs('0 0 3 * * *', now)).toBe(86_400_000);
  });
});
