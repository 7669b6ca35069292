import { describe, expect, it } from 'vitest';
import type { Holder, WatchedMount } from '../../src/holders/scan.js';
import { describeHolds, detachedCounts, trackHolders } from '../../src/holders/tracker.js';

const holder = (pid: number, mountId: number, extra: Partial<Holder> = {}): Holder => ({
  pid,
  start: `s${pid}`,
  ppid: 1,
  comm: 'python3',
  uid: 999,
  unit: 'airflow-scheduler.service',
  mountId,
  holds: [{ kind: 'cwd', target: '/airflow/dags' }],
  ...extra,
});
const w = (mountId: number, path: string, state: WatchedMount['state']): WatchedMount => ({ path, mountId, dev: `0:${mountId}`, state });

describe('trackHolders', () => {
  it('reports a holder once when seen, once when its mount goes from failing to detached, once when gone', () => {
    const first = trackHolders(new Map(), [holder(1, 50)], [w(50, '/airflow/dags', 'failing')]);
    expect(first.seen.map((h) => [h.pid, h.path, h.state])).toEqual([[1, '/airflow/dags', 'failing']]);

    const again = trackHolders(first.current, [holder(1, 50)], [w(50, '/airflow/dags', 'failing')]);
    expect([again.seen, again.detached, again.gone]).toEqual([[], [], []]);

    const moved = trackHolders(again.current, [holder(1, 50)], [w(50, '/airflow/dags', 'detached')]);
    expect(moved.detached.map((h) => h.state)).toEqual(['detached']);
    expect(moved.seen).toEqual([]);

    const gone = trackHolders(moved.current, [], [w(50, '/airflow/dags', 'detached')]);
    expect(gone.gone.map((h) => h.pid)).toEqual([1]);
    expect(gone.current.size).toBe(0);
  });

  it('tells a new process on a reused pid from the old one by its start time', () => {
    const before = trackHolders(new Map(), [holder(1, 50)], [w(50, '/d', 'detached')]);
    const after = trackHolders(before.current, [holder(1, 50, { start: 'later' })], [w(50, '/d', 'detached')]);
    expect(after.seen.length).toBe(1);
    expect(after.gone.length).toBe(1);
  });

  it('drops holders of mounts no longer watched', () => {
    expect(trackHolders(new Map(), [holder(1, 99)], [w(50, '/d', 'failing')]).current.size).toBe(0);
  });
});

describe('detachedCounts and describeHolds', () => {
  it('counts processes (not holds) on detached mounts per configured path, 0 for the rest', () => {
    const t = trackHolders(
      new Map(),
      [holder(1, 50), holder(1, 52), holder(2, 50), holder(3, 51)],
      [w(50, '/airflow/dags', 'detached'), w(52, '/airflow/dags', 'detached'), w(51, '/airflow/logs', 'failing')],
    );
    expect(detachedCounts(['/airflow/dags', '/airflow/logs', '/x'], t.current.values())).toEqual(
      new Map([
        ['/airflow/dags', 2],
        ['/airflow/logs', 0],
        ['/x', 0],
      ]),
    );
  });

  it('formats each hold for a person', () => {
    const h = holder(1, 50, {
      holds: [
        { kind: 'cwd', target: '/sub' },
        { kind: 'fd', fd: 7, target: '/scheduler.log' },
        { kind: 'mmap', target: '/lib.so' },
        { kind: 'cwd', target: '/sub', inherited: true },
      ],
    });
    expect(describeHolds(h)).toEqual(['cwd /sub', 'fd 7 → /scheduler.log', 'mmap /lib.so', 'cwd /sub (inherited)']);
  });
});
