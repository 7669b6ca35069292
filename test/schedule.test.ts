// The schedule against node-cron's real timer (a 1 s expression): ticks come on the second,
// jitter delays them by the drawn fraction, and stop() also cancels a tick waiting out its jitter.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
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
