import { describe, expect, it } from 'vitest';
import { planWake } from '../../src/recovery/wake-plan.js';

describe('planWake', () => {
  it('nothing to wait for: no wake-up', () => {
    expect(planWake([])).toBeNull();
    expect(planWake([null, { at: 5, paths: [] }])).toBeNull();
  });

  it('the earliest wait wins, with its paths only', () => {
    expect(planWake([{ at: 30, paths: ['/a', '/b'] }, { at: 15, paths: ['/b'] }, { at: 20, paths: ['/c'] }])).toEqual({ at: 15, paths: ['/b'] });
  });

  it('waits ending at one moment make one cycle over all their paths, each once', () => {
    expect(planWake([{ at: 15, paths: ['/a'] }, null, { at: 15, paths: ['/b', '/a'] }, { at: 16, paths: ['/c'] }])).toEqual({ at: 15, paths: ['/a', '/b'] });
  });
});
