// The evidence rule on the e2e VM's real 6.1 recordings (test/fixtures/mountstats/README.md): the
// healthy text, then the failover's, then the silent server's, as successive samples of one mount.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { judgeSamples, type PathSample } from '../../src/kernel/evidence.js';
import { parseMountstats } from '../../src/kernel/mountstats.js';

const DAGS = '/airflow/dags';
const recorded = (name: string): PathSample => {
  const stats = parseMountstats(readFileSync(new URL(`../fixtures/mountstats/vm-6.1-${name}.txt`, import.meta.url), 'utf8'));
  return { path: DAGS, mountId: 41, stats: stats.find((s) => s.mountPoint === DAGS) ?? null };
};

function judge(before: PathSample, after: PathSample) {
  const first = judgeSamples(new Map(), [before], 0);
  return judgeSamples(first.memory, [after], 1000).evidence;
}

describe('the evidence rule on the VM recordings', () => {
  it('healthy, then healthy: nothing', () => {
    expect(judge(recorded('healthy'), recorded('healthy'))).toEqual([]);
  });

  it('healthy, then the failover: errors on the operations that failed with ESTALE, no timeouts', () => {
    const [e, ...rest] = judge(recorded('healthy'), recorded('failover-estale'));
    expect(rest).toEqual([]);
    expect(e?.kind).toBe('errors');
    expect(e?.moved).toMatchObject({ GETATTR: { errors: 6 }, ACCESS: { errors: 2 } });
    expect(Object.values(e?.moved ?? {}).some((m) => m.timeouts !== undefined)).toBe(false);
  });

  it('healthy, then the silent server (another boot of the same lab): timeouts', () => {
    const [e] = judge(recorded('healthy'), recorded('silent-timeouts'));
    expect(e?.kind).toBe('timeouts');
    expect(e?.moved.GETATTR).toMatchObject({ timeouts: 6 });
  });
});
