// The state file's text: what is written reads back the same; anything else — cut short, another
// version, another boot, a field of the wrong kind — is rejected whole, with the reason.
import { describe, expect, it } from 'vitest';
import { decodeIncident, encodeIncident, STATE_VERSION, type IncidentState } from '../../src/state/incident.js';

const BOOT = '6f1c2d7e-0000-4000-8000-000000000001';

const sample: IncidentState = {
  bootId: BOOT,
  recoveries: 3,
  paths: [
    {
      path: '/airflow/dags',
      result: 'ESTALE',
      failingSince: 1_700_000_000_000,
      failedRecoveries: 2,
      nextRecoveryAt: 1_700_000_120_000,
      wait: 'backoff',
    },
    { path: '/airflow/logs', result: 'ok', failingSince: null, failedRecoveries: 0, nextRecoveryAt: 1_700_000_030_000, wait: 'cooldown' },
  ],
  detached: [
    {
      path: '/airflow/logs',
      mountId: 812,
      dev: '0:53',
      since: 1_700_000_001_000,
      batch: 'recovery 3',
      unitsRestarted: ['airflow-scheduler.service'],
      dirs: [{ pid: 4711, start: '123456', kind: 'cwd', rel: '/scheduler' }],
    },
  ],
  putBack: [
    {
      mountPoint: '/mnt/static',
      argv: ['mount', '--', '/mnt/static'],
      server: { host: '10.99.0.10', port: 2049 },
      since: 1_700_000_001_500,
      tries: 1,
      state: 'waiting',
    },
  ],
};

describe('the incident state file', () => {
  it('reads back exactly what was written, its version first', () => {
    const text = encodeIncident(sample);
    expect(JSON.parse(text)).toMatchObject({ version: STATE_VERSION });
    expect(decodeIncident(text, BOOT)).toEqual({ kind: 'ok', state: sample });
  });

  it('an empty incident reads back empty', () => {
    const empty: IncidentState = { bootId: BOOT, recoveries: 0, paths: [], detached: [], putBack: [] };
    expect(decodeIncident(encodeIncident(empty), BOOT)).toEqual({ kind: 'ok', state: empty });
  });

  it('cut short (a crash mid-write of an older, non-atomic writer; a full disk): not JSON', () => {
    const text = encodeIncident(sample);
    expect(decodeIncident(text.slice(0, text.length / 2), BOOT)).toEqual({ kind: 'invalid', reason: 'not JSON (cut short or corrupt)' });
    expect(decodeIncident('', BOOT)).toEqual({ kind: 'invalid', reason: 'not JSON (cut short or corrupt)' });
  });

  it('another version, or none: never read as this one', () => {
    const doc = JSON.parse(encodeIncident(sample)) as Record<string, unknown>;
    expect(decodeIncident(JSON.stringify({ ...doc, version: 2 }), BOOT)).toEqual({
      kind: 'invalid',
      reason: `version 2, this daemon reads version ${STATE_VERSION}`,
    });
    const { version: _, ...none } = doc;
    expect(decodeIncident(JSON.stringify(none), BOOT)).toEqual({
      kind: 'invalid',
      reason: `version undefined, this daemon reads version ${STATE_VERSION}`,
    });
    expect(decodeIncident('[1, 2]', BOOT)).toEqual({ kind: 'invalid', reason: 'the document is not an object' });
  });

  it('another boot: its mount IDs and PIDs name nothing now', () => {
    expect(decodeIncident(encodeIncident(sample), 'another-boot')).toEqual({ kind: 'invalid', reason: 'written in another boot' });
  });

  it('a field of the wrong kind is named, and nothing of the file is used', () => {
    const doc = JSON.parse(encodeIncident(sample)) as {
      detached: Record<string, unknown>[];
      putBack: Record<string, unknown>[];
      paths: Record<string, unknown>[];
    };
    const cases: [(d: typeof doc) => void, string][] = [
      [(d) => (d.detached[0]!.mountId = -1), 'detached[0].mountId is not a whole number ≥ 0'],
      [(d) => (d.detached[0]!.mountId = '812'), 'detached[0].mountId is not a whole number ≥ 0'],
      [(d) => (d.paths[0]!.wait = 'forever'), 'paths[0].wait is not one of cooldown, backoff'],
      [(d) => (d.paths[1]!.nextRecoveryAt = null), 'paths[1].nextRecoveryAt is not a time in ms'],
      [(d) => (d.putBack[0]!.argv = []), 'putBack[0].argv is empty'],
      [(d) => (d.putBack[0]!.server = { host: '', port: 2049 }), 'putBack[0].server.host is not a non-empty string'],
      [(d) => (d.detached = {} as unknown as Record<string, unknown>[]), 'detached is not a list'],
    ];
    for (const [spoil, reason] of cases) {
      const copy = structuredClone(doc);
      spoil(copy);
      expect(decodeIncident(JSON.stringify(copy), BOOT)).toEqual({ kind: 'invalid', reason });
    }
  });
});
