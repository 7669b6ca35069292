import { describe, expect, it } from 'vitest';
import { unitGlobProblem, unitMatcher } from '../../src/holders/unit-glob.js';

describe('unit globs', () => {
  it('match as systemctl patterns do: * and ? anywhere, [...] and [!...] classes', () => {
    const m = unitMatcher(['airflow-*.service', 'worker@[0-9].service', 'dag?.service', 'x[!a].service']);
    expect(m('airflow-scheduler.service')).toBe(true);
    expect(m('airflow-.service')).toBe(true);
    expect(m('airflow-scheduler.scope')).toBe(false);
    expect(m('my-airflow-scheduler.service')).toBe(false);
    expect(m('worker@3.service')).toBe(true);
    expect(m('worker@a.service')).toBe(false);
    expect(m('dag1.service')).toBe(true);
    expect(m('dag12.service')).toBe(false);
    expect(m('xb.service')).toBe(true);
    expect(m('xa.service')).toBe(false);
    // The dot is literal.
    expect(unitMatcher(['a.service'])('axservice')).toBe(false);
  });

  it('an empty list matches nothing', () => {
    expect(unitMatcher([])('airflow-scheduler.service')).toBe(false);
  });

  it('says what is wrong with a pattern that is not a restartable unit glob', () => {
    expect(unitGlobProblem('airflow-*.service')).toBeNull();
    expect(unitGlobProblem('airflow-*')).toMatch(/ending in \.service/);
    expect(unitGlobProblem('session-*.scope')).toMatch(/only services/);
    expect(unitGlobProblem('airflow scheduler.service')).toMatch(/only letters/);
    expect(unitGlobProblem('a/b.service')).toMatch(/only letters/);
    expect(unitGlobProblem('-x.service')).toMatch(/never starts with "-"/);
    expect(unitGlobProblem('w[0-9.service')).toMatch(/closed/);
    expect(unitGlobProblem('w]0.service')).toMatch(/close/);
  });
});
