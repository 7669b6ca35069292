import { describe, expect, it } from 'vitest';
import { RestartRecord } from '../../src/holders/restart-record.js';

const scheduler1 = { batch: 'recovery 1', unit: 'airflow-scheduler.service' };
const worker1 = { batch: 'recovery 1', unit: 'airflow-worker.service' };
const scheduler2 = { batch: 'recovery 2', unit: 'airflow-scheduler.service' };

describe('RestartRecord', () => {
  it('knows a unit restarted for one batch, not for another', () => {
    const record = new RestartRecord();
    record.markRestarted([scheduler1]);
    expect([record.wasRestarted(scheduler1), record.wasRestarted(worker1), record.wasRestarted(scheduler2)]).toEqual([true, false, false]);
  });

  it('a batch or unit holding a newline is its own key, not another pair split apart', () => {
    const record = new RestartRecord();
    record.markRestarted([{ batch: 'a\nb', unit: 'c' }]);
    expect(record.wasRestarted({ batch: 'a', unit: 'b\nc' })).toBe(false);
    expect(record.wasRestarted({ batch: 'a\nb', unit: 'c' })).toBe(true);
  });

  it('tells each "did not help" once, keeping the order given', () => {
    const record = new RestartRecord();
    const reports = [
      { ...worker1, holders: [12] },
      { ...scheduler1, holders: [10] },
    ];
    expect(record.untold(reports)).toEqual(reports);
    expect(
      record.untold([
        { ...scheduler1, holders: [10, 11] },
        { ...scheduler2, holders: [13] },
      ]),
    ).toEqual([{ ...scheduler2, holders: [13] }]);
    expect(record.untold(reports)).toEqual([]);
  });

  it('forgets a batch none of whose former mounts is watched any more, both its restarts and its reports', () => {
    const record = new RestartRecord();
    record.markRestarted([scheduler1, scheduler2]);
    record.untold([scheduler1, scheduler2]);
    record.keepBatches(new Set(['recovery 2']));
    expect([record.wasRestarted(scheduler1), record.wasRestarted(scheduler2)]).toEqual([false, true]);
    expect(record.untold([scheduler1, scheduler2])).toEqual([scheduler1]);
  });
});
