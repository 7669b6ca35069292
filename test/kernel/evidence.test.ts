// The evidence rule on sequences of counters, one sample a second, as the kernel would move them.
import { describe, expect, it } from 'vitest';
import { judgeSamples, RATE_WINDOW_MS, type Evidence, type EvidenceMemory, type PathSample } from '../../src/kernel/evidence.js';
import type { NfsMountStats, OpStats } from '../../src/kernel/mountstats.js';

const DAGS = '/airflow/dags';

function op(errors: number | null, timeouts = 0, ops = 100): OpStats {
  return { ops, trans: ops, timeouts, bytesSent: 0, bytesRecv: 0, queueMs: 0, rttMs: 0, executeMs: 0, errors };
}

/** A sample of DAGS on mount `mountId`, its ops' counters as given, mounted `ageS` ago. */
function sample(ops: Record<string, OpStats>, mountId: number | null = 41, ageS: number | null = 3600): PathSample {
  const stats: NfsMountStats = {
    device: 'vip:/dags',
    mountPoint: DAGS,
    fstype: 'nfs4',
    statvers: '1.1',
    ageS,
    ops: new Map(Object.entries(ops)),
    xprt: null,
  };
  return { path: DAGS, mountId, stats: mountId === null ? null : stats };
}

/** Runs the rule over samples taken a second apart from t = 0; the evidence of each, in order. */
function run(samples: readonly PathSample[], from: EvidenceMemory = new Map()): Evidence[][] {
  let memory = from;
  return samples.map((s, i) => {
    const judged = judgeSamples(memory, [s], i * 1000);
    memory = judged.memory;
    return judged.evidence;
  });
}

const count = (seq: Evidence[][]): number => seq.flat().length;

describe('the evidence rule', () => {
  it('sets a baseline from the first sample and says nothing of it', () => {
    expect(run([sample({ LOOKUP: op(5000, 7) })])).toEqual([[]]);
  });

  it('finds nothing in steady ENOENT noise of an importer, from the first samples on', () => {
    // 40 failed LOOKUPs a second (±5) for two minutes, on a mount that has seen as many for an hour.
    let errors = 40 * 3600;
    const samples = Array.from({ length: 120 }, (_, i) => {
      errors += 40 + ((i * 7) % 11) - 5;
      return sample({ LOOKUP: op(errors), GETATTR: op(0) }, 41, 3600 + i);
    });
    expect(count(run(samples))).toBe(0);
  });

  it('finds nothing in an importer whose ENOENT bursts every 30 s, once it has seen a burst', () => {
    let errors = 0;
    const samples = Array.from({ length: 150 }, (_, i) => {
      if (i % 30 === 5) errors += 400;
      return sample({ LOOKUP: op(errors) }, 41, 10 + i);
    });
    const seq = run(samples);
    // The first burst on a mount ten seconds old is news (the probe then finds it healthy); the next ones are not.
    expect(seq.flat().map((e) => e.kind)).toEqual(['errors']);
    expect(seq[5]).toHaveLength(1);
  });

  it('finds an ESTALE burst on an operation that never failed, beside ENOENT noise on another: one evidence', () => {
    let lookup = 40 * 3600;
    let getattr = 0;
    const samples = Array.from({ length: 20 }, (_, i) => {
      lookup += 40;
      if (i >= 10) getattr += 3; // the failover: every GETATTR fails from here on
      return sample({ LOOKUP: op(lookup), GETATTR: op(getattr) }, 41, 3600 + i);
    });
    const seq = run(samples);
    expect(seq[10]).toEqual([{ path: DAGS, kind: 'errors', moved: { GETATTR: { errors: 3 } }, sampleMs: 1000 }]);
    // It goes on at the same rate: no longer news (the controller's probe has the rest).
    expect(count(seq)).toBe(1);
  });

  it('does not drown a burst on the noisy operation itself when it is well above its rate', () => {
    let lookup = 40 * 3600;
    const samples = Array.from({ length: 12 }, (_, i) => {
      lookup += i === 10 ? 400 : 40;
      return sample({ LOOKUP: op(lookup) }, 41, 3600 + i);
    });
    expect(run(samples)[10]).toEqual([{ path: DAGS, kind: 'errors', moved: { LOOKUP: { errors: 400 } }, sampleMs: 1000 }]);
  });

  it('finds new major timeouts at once, whatever the errors do', () => {
    const seq = run([
      sample({ READDIR: op(0, 0), GETATTR: op(0, 2) }),
      sample({ READDIR: op(0, 0), GETATTR: op(0, 2) }),
      sample({ READDIR: op(1, 1), GETATTR: op(1, 3) }),
    ]);
    expect(seq[1]).toEqual([]);
    expect(seq[2]).toEqual([
      { path: DAGS, kind: 'timeouts', moved: { READDIR: { errors: 1, timeouts: 1 }, GETATTR: { errors: 1, timeouts: 1 } }, sampleMs: 1000 },
    ]);
  });

  it('watches timeouts only on a kernel that counts no errors (before 5.3)', () => {
    const seq = run([sample({ GETATTR: op(null, 0) }), sample({ GETATTR: op(null, 0) }), sample({ GETATTR: op(null, 1) })]);
    expect(seq.map((e) => e.map((x) => x.kind))).toEqual([[], [], ['timeouts']]);
  });

  it('finds a configured mount that vanished or was replaced, not one that appeared', () => {
    const seq = run([sample({}, null), sample({}, 41), sample({}, 41), sample({}, null), sample({}, 57), sample({}, 58)]);
    expect(seq.map((e) => e.map((x) => [x.kind, x.mountIds]))).toEqual([
      [],
      [],
      [],
      [['mount_table', { before: 41, after: null }]],
      [],
      [['mount_table', { before: 57, after: 58 }]],
    ]);
  });

  it("starts a replaced mount's counters afresh: its lower counts are no evidence", () => {
    const seq = run([sample({ GETATTR: op(50, 3) }, 41), sample({ GETATTR: op(0, 0) }, 42, 1), sample({ GETATTR: op(0, 0) }, 42, 2)]);
    expect(seq.map((e) => e.map((x) => x.kind))).toEqual([[], ['mount_table'], []]);
  });

  it('forgets rates older than its window', () => {
    let errors = 0;
    const samples: PathSample[] = [];
    const windowS = RATE_WINDOW_MS / 1000;
    const bursts = [1, 60, windowS + 61];
    for (let i = 0; i < windowS + 70; i++) {
      if (bursts.includes(i)) errors += 50;
      // No age: only the window remembers a burst.
      samples.push(sample({ GETATTR: op(errors) }, 41, null));
    }
    const seq = run(samples);
    expect(bursts.map((i) => seq[i]?.length)).toEqual([1, 0, 1]);
    expect(count(seq)).toBe(2);
  });
});
