import { describe, expect, it } from 'vitest';
import {
  askScan,
  emptyScanPlan,
  formerBatches,
  planRound,
  releaseFormers,
  scanDone,
  watchedMounts,
  type Round,
  type ScanPlan,
} from '../../src/holders/scan-plan.js';
import type { MountEntry } from '../../src/probe/mountinfo.js';
import type { ProbeClass } from '../../src/probe/classify.js';
import { probeResult } from '../helpers/probe-result.js';
import type { ProbeResult } from '../../src/probe/probe-mounts.js';

const entry = (id: number, mountPoint: string): MountEntry => ({
  id,
  parentId: 1,
  dev: `0:${id}`,
  mountPoint,
  mountOptions: 'rw',
  fstype: 'nfs4',
  source: `server:${mountPoint}`,
  superOptions: 'rw',
});

const result = (path: string, outcome: ProbeClass, mountId: number | null, mounted = true): ProbeResult =>
  probeResult(path, { result: outcome, ms: 1, mounted, fstype: mounted ? 'nfs4' : null, mountId });

const round = (over: Partial<Round>): Round => ({ results: [], table: [], batch: null, now: 0, held: false, ...over });

const dags = entry(50, '/airflow/dags');
const logs = entry(51, '/airflow/logs');

/** /airflow/dags (mount 50) failing, /airflow/logs healthy, both in the table; scanned at 0 in 1 ms. */
function dagsFailing(): ScanPlan {
  const first = planRound(
    emptyScanPlan(),
    round({ results: [result('/airflow/dags', 'ESTALE', 50), result('/airflow/logs', 'ok', 51)], table: [dags, logs] }),
  );
  return scanDone(first.plan, 0, 1);
}

describe('planRound: the watched set', () => {
  it('watches a failing mount by its ID, with its device from the table, and notes which paths are healthy', () => {
    const next = planRound(
      emptyScanPlan(),
      round({ results: [result('/airflow/dags', 'ESTALE', 50), result('/airflow/logs', 'ok', 51)], table: [dags, logs] }),
    );
    expect(watchedMounts(next.plan)).toEqual([{ path: '/airflow/dags', mountId: 50, dev: '0:50', state: 'failing' }]);
    expect([...next.plan.healthy]).toEqual(['/airflow/logs']);
    expect(next.scan).toBe(true);
  });

  it('leaves out a failing path with no mount on it, or whose mount is not in the table', () => {
    const next = planRound(
      emptyScanPlan(),
      round({ results: [result('/airflow/dags', 'ENOENT', null, false), result('/airflow/logs', 'ESTALE', 77)], table: [dags, logs] }),
    );
    expect(watchedMounts(next.plan)).toEqual([]);
    expect(next.scan).toBe(false);
  });

  it('a failing mount that leaves the table is watched detached, with the recovery that detached it', () => {
    const next = planRound(
      dagsFailing(),
      round({ results: [result('/airflow/dags', 'ok', 60)], table: [entry(60, '/airflow/dags'), logs], batch: 'recovery 1', now: 7_000 }),
    );
    expect([...next.plan.formers.values()]).toEqual([
      { path: '/airflow/dags', mountId: 50, dev: '0:50', state: 'detached', batch: 'recovery 1', since: 7_000 },
    ]);
    expect(next.plan.failing.size).toBe(0);
    expect(next.scan).toBe(true);
  });

  it('one that left the table with no recovery before the round is its own batch', () => {
    const next = planRound(dagsFailing(), round({ results: [result('/airflow/dags', 'ENOENT', null, false)], table: [logs] }));
    expect(formerBatches(next.plan)).toEqual(new Set(['mount 50']));
  });

  it('a failing mount healthy again in place is no longer watched', () => {
    const next = planRound(dagsFailing(), round({ results: [result('/airflow/dags', 'ok', 50)], table: [dags, logs], now: 6000 }));
    expect(watchedMounts(next.plan)).toEqual([]);
    expect(next.plan.healthy).toEqual(new Set(['/airflow/dags', '/airflow/logs']));
    expect(next.scan).toBe(false);
    // Someone was held on it: one more scan says they are gone.
    expect(planRound(dagsFailing(), round({ results: [result('/airflow/dags', 'ok', 50)], table: [dags, logs], held: true })).scan).toBe(
      true,
    );
  });

  it('a former mount whose ID is back in the table is a new mount, not the detached one', () => {
    const detached = planRound(
      dagsFailing(),
      round({ results: [result('/airflow/dags', 'ok', 60)], table: [entry(60, '/airflow/dags'), logs], batch: 'recovery 1' }),
    );
    const reused = planRound(detached.plan, round({ results: [result('/airflow/dags', 'ok', 50)], table: [dags, logs] }));
    expect(reused.plan.formers.size).toBe(0);
  });

  it('leaves the plan it was given as it was', () => {
    const before = dagsFailing();
    planRound(
      before,
      round({
        results: [result('/airflow/dags', 'ok', 60), result('/airflow/logs', 'EIO', 51)],
        table: [entry(60, '/airflow/dags'), logs],
      }),
    );
    expect([...before.failing.keys()]).toEqual([50]);
    expect(before.formers.size).toBe(0);
    expect([...before.healthy]).toEqual(['/airflow/logs']);
  });
});

describe('planRound: when to scan', () => {
  const again = (plan: ScanPlan, now: number) =>
    planRound(
      plan,
      round({ results: [result('/airflow/dags', 'ESTALE', 50), result('/airflow/logs', 'ok', 51)], table: [dags, logs], now }),
    );

  it('the same set is scanned again no sooner than 5 s after a short scan', () => {
    const plan = dagsFailing();
    expect(plan.nextRescanAt).toBe(5000);
    expect(again(plan, 4999).scan).toBe(false);
    expect(again(plan, 5000).scan).toBe(true);
  });

  it('nor sooner than ten times the last scan', () => {
    const plan = scanDone(dagsFailing(), 2000, 800);
    expect(plan.nextRescanAt).toBe(10_000);
    expect(again(plan, 9999).scan).toBe(false);
    expect(again(plan, 10_000).scan).toBe(true);
  });

  it('a newly failing mount is scanned at once, within the gap', () => {
    const next = planRound(
      dagsFailing(),
      round({ results: [result('/airflow/dags', 'ESTALE', 50), result('/airflow/logs', 'EIO', 51)], table: [dags, logs], now: 1000 }),
    );
    expect(next.scan).toBe(true);
    expect(watchedMounts(next.plan).map((w) => w.mountId)).toEqual([50, 51]);
  });
});

describe('askScan', () => {
  it('starts now when no scan runs, else once the one under way ends', () => {
    const idle = askScan(dagsFailing(), false);
    expect([idle.start, idle.plan.again]).toEqual(['now', false]);
    const busy = askScan(dagsFailing(), true);
    expect([busy.start, busy.plan.again]).toEqual(['after', true]);
    expect(askScan(busy.plan, false).plan.again).toBe(false);
  });
});

describe('after a scan', () => {
  const detachedBoth = (): ScanPlan =>
    planRound(
      planRound(
        emptyScanPlan(),
        round({ results: [result('/airflow/dags', 'ESTALE', 50), result('/airflow/logs', 'ESTALE', 51)], table: [dags, logs] }),
      ).plan,
      round({ results: [], table: [], batch: 'recovery 1' }),
    ).plan;

  it('a scan is told the mounts without their batch', () => {
    expect(watchedMounts(detachedBoth())).toEqual([
      { path: '/airflow/dags', mountId: 50, dev: '0:50', state: 'detached' },
      { path: '/airflow/logs', mountId: 51, dev: '0:51', state: 'detached' },
    ]);
  });

  it('a former mount the scan looked at and found nobody on is no longer watched; one it did not look at stays', () => {
    const plan = detachedBoth();
    const scanned = watchedMounts(plan).filter((w) => w.mountId === 50);
    expect([...releaseFormers(plan, scanned, new Set()).formers.keys()]).toEqual([51]);
    expect([...releaseFormers(plan, watchedMounts(plan), new Set([51])).formers.keys()]).toEqual([51]);
    expect(formerBatches(releaseFormers(plan, watchedMounts(plan), new Set()))).toEqual(new Set());
  });

  it('a failing mount stays watched whoever holds it', () => {
    const plan = dagsFailing();
    expect(releaseFormers(plan, watchedMounts(plan), new Set()).failing.size).toBe(1);
  });
});
