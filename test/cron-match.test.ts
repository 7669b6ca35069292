// nextMatch against node-cron's own scheduler (its getNextRuns) over a range of expressions and
// start times, and across the DST changes of a real zone, where instants are what counts.
import cron from 'node-cron';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cronFields, nextMatch, type CronFields } from '../src/cron-match.js';

function fieldsOf(expr: string): CronFields {
  const f = cronFields(expr);
  if ('error' in f) throw new Error(f.error);
  return f;
}

function runs(expr: string, from: number, count: number): number[] {
  const fields = fieldsOf(expr);
  const out: number[] = [];
  for (let t: number | null = from; out.length < count;) {
    t = nextMatch(fields, t);
    if (t === null) break;
    out.push(t);
  }
  return out;
}

const EXPRESSIONS = [
  '*/30 * * * * *',
  '* * * * * *',
  '5 * * * * *',
  '0 */2 * * * *',
  '15,45 10-20/5 * * * *',
  '0 0 3 * * *',
  '0 30 9-17 * * mon-fri',
  '0 0 0 1 * *',
  '0 0 12 29 2 *',
  '0 0 0 13 * 5',
  '0 0 6 * jan,jul sun',
];

describe('nextMatch', () => {
  it.each(EXPRESSIONS)('matches what node-cron schedules for %s', (expr) => {
    const task = cron.createTask(expr, () => undefined);
    // node-cron's matcher, the one its scheduler walks (getNextRuns walks it from now only).
    const matcher = (task as unknown as { timeMatcher?: { getNextMatch(d: Date): Date } }).timeMatcher;
    if (!matcher) throw new Error('node-cron task has no timeMatcher: its internals changed');
    try {
      for (const from of [
        Date.UTC(2026, 11, 3, 6, 7, 8, 500),
        Date.UTC(2027, 1, 28, 23, 59, 59, 999),
        Date.UTC(2028, 11, 31, 23, 59, 30),
      ]) {
        const theirs: number[] = [];
        let t = new Date(from);
        for (let i = 0; i < 6; i++) {
          t = matcher.getNextMatch(t);
          theirs.push(t.getTime());
        }
        expect(runs(expr, from, 6)).toEqual(theirs);
      }
    } finally {
      void task.destroy();
    }
  });

  it('is strictly after the given time, on a whole second', () => {
    const f = fieldsOf('* * * * * *');
    expect(nextMatch(f, 1_000)).toBe(2_000);
    expect(nextMatch(f, 1_999)).toBe(2_000);
    expect(nextMatch(f, 2_000)).toBe(3_000);
  });

  it('answers null for an expression that never matches', () => {
    expect(nextMatch({ ...fieldsOf('0 0 0 * * *'), dayOfMonth: [31], month: [2] }, Date.UTC(2026, 0, 1))).toBeNull();
  });

  it('refuses node-cron day tokens it cannot walk', () => {
    expect(cronFields('0 0 0 L * *')).toEqual({ error: 'the L, W and # day tokens are not supported' });
  });

  describe('in Europe/Berlin, across DST', () => {
    const tz = process.env.TZ;
    beforeAll(() => {
      process.env.TZ = 'Europe/Berlin';
    });
    afterAll(() => {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    });

    it('ticks every 30 s through the hour the clocks go back (2026-10-25 03:00 CEST → 02:00 CET)', () => {
      const from = Date.UTC(2026, 9, 24, 23, 30); // 01:30 CEST
      const ticks = runs('*/30 * * * * *', from, 4 * 60 * 2);
      const gaps = new Set(ticks.slice(1).map((t, i) => t - ticks[i]!));
      expect([...gaps]).toEqual([30_000]);
      expect(ticks.at(-1)! - from).toBe(4 * 3600_000);
    });

    it('ticks every 30 s through the hour the clocks skip (2026-03-29 02:00 CET → 03:00 CEST)', () => {
      const from = Date.UTC(2026, 2, 29, 0, 0); // 01:00 CET
      const ticks = runs('*/30 * * * * *', from, 2 * 60 * 2);
      expect(new Set(ticks.slice(1).map((t, i) => t - ticks[i]!))).toEqual(new Set([30_000]));
    });

    it('a daily time the change skips does not happen that day', () => {
      const [first] = runs('0 30 2 * * *', Date.UTC(2026, 2, 28, 12), 1);
      expect(new Date(first!).toISOString()).toBe('2026-03-30T00:30:00.000Z'); // 02:30 CEST on the 30th
    });
  });
});
