// `check --json` keeps the keys scripts read, whatever the fields are called inside.
import { describe, expect, it } from 'vitest';
import { holderJson } from '../src/check-json.js';
import type { Holder } from '../src/holders/scan.js';
import { trackHolders } from '../src/holders/tracker.js';

describe('holderJson', () => {
  it('writes a holder as it always was: the process, then `mount` (the configured path) and the state', () => {
    // In the order src/holders/scan.ts makes a holder.
    const holder: Holder = {
      pid: 7,
      start: '123',
      ppid: 1,
      comm: 'python3',
      uid: 999,
      unit: 'airflow-scheduler.service',
      mountId: 50,
      holds: [{ kind: 'cwd', target: '/airflow/dags' }],
    };
    const [report] = trackHolders(new Map(), [holder], [{ path: '/airflow/dags', mountId: 50, dev: '0:50', state: 'failing' }]).seen;
    const json = JSON.parse(JSON.stringify(holderJson(report!))) as object;
    expect(Object.keys(json)).toEqual(['pid', 'start', 'ppid', 'comm', 'uid', 'unit', 'mountId', 'holds', 'mount', 'state']);
    expect(json).toMatchObject({ pid: 7, mountId: 50, mount: '/airflow/dags', state: 'failing' });
  });
});
