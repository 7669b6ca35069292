import { describe, expect, it } from 'vitest';
import { planRestarts, type RestartPlanInput } from '../../src/holders/restart.js';
import { RestartRecord, type RestartKey } from '../../src/holders/restart-record.js';
import type { HolderReport } from '../../src/holders/tracker.js';
import { unitMatcher } from '../../src/holders/unit-glob.js';

const h = (pid: number, mountId: number, unit: string | null, state: HolderReport['state'] = 'detached'): HolderReport => ({
  pid,
  start: `s${pid}`,
  ppid: 1,
  comm: 'airflow',
  uid: 999,
  unit,
  mountId,
  holds: [],
  path: mountId === 50 ? '/airflow/dags' : '/airflow/logs',
  state,
});

const restartedFor = (...keys: RestartKey[]): RestartRecord => {
  const record = new RestartRecord();
  record.markRestarted(keys);
  return record;
};

const base = (over: Partial<RestartPlanInput>): RestartPlanInput => ({
  holders: [],
  formers: new Map([
    [50, { path: '/airflow/dags', batch: 'recovery 1' }],
    [51, { path: '/airflow/logs', batch: 'recovery 1' }],
  ]),
  healthyPaths: new Set(['/airflow/dags', '/airflow/logs']),
  matches: unitMatcher(['airflow-*.service']),
  ownUnit: 'nfs-health-checkd.service',
  restarted: new RestartRecord(),
  ...over,
});

describe('planRestarts', () => {
  it('restarts a matching unit once for all it held in one recovery, with its mounts and pids', () => {
    const plan = planRestarts(
      base({
        holders: [h(10, 50, 'airflow-scheduler.service'), h(10, 51, 'airflow-scheduler.service'), h(11, 51, 'airflow-scheduler.service')],
      }),
    );
    expect(plan.restart).toEqual([
      { unit: 'airflow-scheduler.service', batch: 'recovery 1', paths: ['/airflow/dags', '/airflow/logs'], pids: [10, 11] },
    ]);
    expect(plan.didNotHelp).toEqual([]);
  });

  it('never: a unit that does not match, a process outside any unit, the daemon own unit, a holder of a mount still attached', () => {
    const plan = planRestarts(
      base({
        matches: unitMatcher(['*.service']),
        holders: [h(1, 50, null), h(2, 50, 'nfs-health-checkd.service'), h(3, 50, 'airflow-worker.service', 'failing')],
      }),
    );
    expect(plan.restart).toEqual([]);
    expect(planRestarts(base({ holders: [h(4, 50, 'cron.service')] })).restart).toEqual([]);
  });

  it('waits while the path is not healthy again: the restarted unit would land on a broken mount', () => {
    const plan = planRestarts(base({ healthyPaths: new Set(['/airflow/logs']), holders: [h(10, 50, 'airflow-scheduler.service')] }));
    expect(plan.restart).toEqual([]);
  });

  it('waits while any path whose detached mount the unit holds is not healthy again, then restarts it for both', () => {
    const holders = [h(10, 50, 'airflow-scheduler.service'), h(10, 51, 'airflow-scheduler.service')];
    expect(planRestarts(base({ healthyPaths: new Set(['/airflow/dags']), holders })).restart).toEqual([]);
    expect(planRestarts(base({ holders })).restart).toEqual([
      { unit: 'airflow-scheduler.service', batch: 'recovery 1', paths: ['/airflow/dags', '/airflow/logs'], pids: [10] },
    ]);
  });

  it('a unit already restarted for this recovery that still holds the mount is reported, not restarted again', () => {
    const plan = planRestarts(
      base({
        holders: [h(12, 51, 'airflow-scheduler.service')],
        restarted: restartedFor({ batch: 'recovery 1', unit: 'airflow-scheduler.service' }),
      }),
    );
    expect(plan.restart).toEqual([]);
    expect(plan.didNotHelp.map((d) => [d.unit, d.holders.map((x) => x.pid)])).toEqual([['airflow-scheduler.service', [12]]]);
  });

  it('a later recovery may restart it again', () => {
    const plan = planRestarts(
      base({
        formers: new Map([[51, { path: '/airflow/logs', batch: 'recovery 2' }]]),
        holders: [h(12, 51, 'airflow-scheduler.service')],
        restarted: restartedFor({ batch: 'recovery 1', unit: 'airflow-scheduler.service' }),
      }),
    );
    expect(plan.restart.map((r) => [r.unit, r.batch])).toEqual([['airflow-scheduler.service', 'recovery 2']]);
  });

  it('plans in the order units are first met, across batches', () => {
    const plan = planRestarts(
      base({
        formers: new Map([
          [50, { path: '/airflow/dags', batch: 'recovery 1' }],
          [51, { path: '/airflow/logs', batch: 'recovery 2' }],
        ]),
        holders: [h(10, 50, 'airflow-scheduler.service'), h(11, 51, 'airflow-worker.service'), h(12, 50, 'airflow-triggerer.service')],
      }),
    );
    expect(plan.restart.map((r) => [r.unit, r.batch])).toEqual([
      ['airflow-scheduler.service', 'recovery 1'],
      ['airflow-worker.service', 'recovery 2'],
      ['airflow-triggerer.service', 'recovery 1'],
    ]);
  });
});
