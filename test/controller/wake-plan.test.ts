import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/controller/policy.js';
import { AUTOMOUNT_RETRY_MS, planNextCycle, planWake, type WakeInputs } from '../../src/controller/wake-plan.js';

describe('planWake', () => {
  it('nothing to wait for: no wake-up', () => {
    expect(planWake([])).toBeNull();
    expect(planWake([null, { at: 5, paths: [] }])).toBeNull();
  });

  it('the earliest wait wins, with its paths only', () => {
    expect(
      planWake([
        { at: 30, paths: ['/a', '/b'] },
        { at: 15, paths: ['/b'] },
        { at: 20, paths: ['/c'] },
      ]),
    ).toEqual({ at: 15, paths: ['/b'] });
  });

  it('waits ending at one moment make one cycle over all their paths, each once', () => {
    expect(planWake([{ at: 15, paths: ['/a'] }, null, { at: 15, paths: ['/b', '/a'] }, { at: 16, paths: ['/c'] }])).toEqual({
      at: 15,
      paths: ['/a', '/b'],
    });
  });
});

/** The latest results as planNextCycle takes them. */
type Latest = WakeInputs['results'];

describe('planNextCycle', () => {
  const paths = ['/airflow/dags', '/airflow/logs'];
  const ok: Latest = [
    { path: '/airflow/dags', result: 'ok' },
    { path: '/airflow/logs', result: 'ok' },
  ];
  const none = { kind: 'none' } as const;

  it('all healthy, nothing held, nothing blocked: the schedule alone', () => {
    expect(planNextCycle({ now: 100_000, paths, decision: none, hangs: [], results: ok })).toBeNull();
  });

  it('a cooldown ends at 130 s: every path is probed then', () => {
    const decision: Decision = { kind: 'hold', reason: 'cooldown', targets: ['/airflow/dags'], untilMs: 130_000 };
    expect(planNextCycle({ now: 100_000, paths, decision, hangs: [], results: ok })).toEqual({ at: 130_000, paths });
  });

  it('a hold with no end (recovery disabled) plans nothing of its own', () => {
    const decision: Decision = { kind: 'hold', reason: 'disabled', targets: ['/airflow/dags'], untilMs: null };
    expect(planNextCycle({ now: 100_000, paths, decision, hangs: [], results: ok })).toBeNull();
  });

  it('a call blocked since 95 s with hang_after 10 s: that path alone at 105 s', () => {
    const results: Latest = [{ path: '/airflow/dags', result: 'timeout' }, ok[1]!];
    expect(planNextCycle({ now: 100_000, paths, decision: none, hangs: [{ path: '/airflow/dags', at: 105_000 }], results })).toEqual({
      at: 105_000,
      paths: ['/airflow/dags'],
    });
  });

  it("a path in autofs' negative cache: that path again in AUTOMOUNT_RETRY_MS", () => {
    const results: Latest = [ok[0]!, { path: '/airflow/logs', result: 'automount_failed' }];
    expect(planNextCycle({ now: 100_000, paths, decision: none, hangs: [], results })).toEqual({
      at: 100_000 + AUTOMOUNT_RETRY_MS,
      paths: ['/airflow/logs'],
    });
  });

  it('a hang due before the automount retry comes first; one due with it shares its cycle', () => {
    const results: Latest = [
      { path: '/airflow/dags', result: 'timeout' },
      { path: '/airflow/logs', result: 'automount_timeout' },
    ];
    expect(planNextCycle({ now: 100_000, paths, decision: none, hangs: [{ path: '/airflow/dags', at: 102_000 }], results })).toEqual({
      at: 102_000,
      paths: ['/airflow/dags'],
    });
    expect(planNextCycle({ now: 100_000, paths, decision: none, hangs: [{ path: '/airflow/dags', at: 105_000 }], results })).toEqual({
      at: 105_000,
      paths: ['/airflow/dags', '/airflow/logs'],
    });
  });
});
