import { describe, expect, it } from 'vitest';
import { loopHealth } from '../../src/observe/health.js';

const base = { startedAt: 0, intervalMs: 30_000, probeTimeoutMs: 5_000, stopping: false };

describe('loopHealth', () => {
  it('is healthy while starting, within the limit from the start', () => {
    expect(loopHealth({ ...base, now: 10_000, lastCycleAt: null })).toEqual({ ok: true, reason: 'starting', lastCycleAgeSeconds: null });
  });

  it('is healthy while a cycle finished within three intervals plus the probe timeout', () => {
    expect(loopHealth({ ...base, now: 1_000_000, lastCycleAt: 1_000_000 - 95_000 })).toEqual({
      ok: true,
      reason: 'probe loop alive',
      lastCycleAgeSeconds: 95,
    });
  });

  it('is unhealthy past that, saying for how long', () => {
    expect(loopHealth({ ...base, now: 1_000_000, lastCycleAt: 1_000_000 - 95_001 })).toEqual({
      ok: false,
      reason: 'no probe cycle finished for 95 s (limit 95 s)',
      lastCycleAgeSeconds: 95.001,
    });
  });

  it('is unhealthy when no first cycle ever finished', () => {
    expect(loopHealth({ ...base, now: 200_000, lastCycleAt: null }).ok).toBe(false);
  });

  it('is unhealthy while stopping', () => {
    expect(loopHealth({ ...base, now: 1000, lastCycleAt: 900, stopping: true })).toMatchObject({ ok: false, reason: 'stopping' });
  });
});
