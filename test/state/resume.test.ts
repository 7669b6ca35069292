// From the parts' state to the file and back into a new process: times move from one process's
// clock to the next one's through the wall clock, and what the machine no longer bears out is
// dropped with its reason.
import { describe, expect, it } from 'vitest';
import type { ControllerIncident } from '../../src/controller/controller.js';
import type { PathHealth } from '../../src/controller/policy.js';
import type { PutBack } from '../../src/controller/server-return.js';
import type { HolderIncident } from '../../src/holders/watch.js';
import type { MountEntry } from '../../src/probe/mountinfo.js';
import { decodeIncident, encodeIncident } from '../../src/state/incident.js';
import { resume, snapshot } from '../../src/state/resume.js';

const BOOT = 'boot-1';
const PATHS = ['/airflow/dags', '/airflow/logs'];
/** The old process ran 600 s; the new one starts 2 s after the old one wrote, its clock at 50 ms. */
const OLD = { now: 600_000, wallNow: 1_700_000_600_000 };
const NEW = { now: 50, wallNow: 1_700_000_602_000 };

const health = (over: Partial<PathHealth>): PathHealth => ({
  result: 'ESTALE',
  hangAt: null,
  failingSince: null,
  failedRecoveries: 0,
  nextRecoveryAt: 0,
  wait: 'cooldown',
  ...over,
});

const staticMount = (mountPoint: string, over: Partial<PutBack> = {}): PutBack => ({
  mountPoint,
  argv: ['mount', '--', mountPoint],
  server: { host: 'nfs-vip', port: 2049 },
  since: 590_000,
  tries: 2,
  lastTryAt: 598_000,
  running: true,
  ...over,
});

function entry(id: number, mountPoint: string, fstype = 'nfs4', dev = `0:${id}`): MountEntry {
  return { id, parentId: 1, dev, mountPoint, mountOptions: 'rw', fstype, source: `nfs-vip:${mountPoint}`, superOptions: 'rw' };
}

const controller: ControllerIncident = {
  health: new Map([
    [
      '/airflow/dags',
      health({ failingSince: 500_000, failedRecoveries: 2, nextRecoveryAt: 640_000, wait: 'backoff', hangAt: 601_000, result: 'timeout' }),
    ],
    // Healthy and out of its cooldown: nothing to carry.
    ['/airflow/logs', health({ result: 'ok', nextRecoveryAt: 550_000 })],
  ]),
  putBack: [staticMount('/mnt/static')],
  atRisk: [staticMount('/mnt/static'), staticMount('/home', { tries: 0, lastTryAt: null })],
  recoveries: 4,
};

const holders: HolderIncident = {
  formers: [{ path: '/airflow/logs', mountId: 812, dev: '0:53', state: 'detached', batch: 'recovery 4', since: 595_000 }],
  restarted: [
    { batch: 'recovery 4', unit: 'airflow-scheduler.service' },
    { batch: 'recovery 2', unit: 'airflow-worker.service' }, // of a batch no former mount is left of
  ],
  memory: [
    { pid: 4711, start: '99', kind: 'cwd', mountId: 812, rel: '/scheduler' },
    { pid: 4712, start: '98', kind: 'cwd', mountId: 700, rel: '/' },
  ],
};

describe('snapshot', () => {
  it('keeps what an incident needs, in wall-clock ms', () => {
    const s = snapshot(controller, holders, BOOT, OLD);
    expect(s.paths).toEqual([
      {
        path: '/airflow/dags',
        result: 'timeout',
        failingSince: 1_700_000_500_000,
        failedRecoveries: 2,
        nextRecoveryAt: 1_700_000_640_000,
        wait: 'backoff',
      },
    ]);
    expect(s.detached).toEqual([
      {
        path: '/airflow/logs',
        mountId: 812,
        dev: '0:53',
        since: 1_700_000_595_000,
        batch: 'recovery 4',
        unitsRestarted: ['airflow-scheduler.service'],
        dirs: [{ pid: 4711, start: '99', kind: 'cwd', rel: '/scheduler' }],
      },
    ]);
    // Waiting to be put back, and at risk from the recovery under way (once each).
    expect(s.putBack.map((p) => [p.mountPoint, p.state, p.tries])).toEqual([
      ['/mnt/static', 'waiting', 2],
      ['/home', 'at_risk', 0],
    ]);
    expect(s.recoveries).toBe(4);
  });
});

describe('resume', () => {
  const saved = (): ReturnType<typeof snapshot> => {
    const decoded = decodeIncident(encodeIncident(snapshot(controller, holders, BOOT, OLD)), BOOT);
    if (decoded.kind !== 'ok') throw new Error(decoded.reason);
    return decoded.state;
  };
  const table = [entry(20, '/'), entry(901, '/airflow/dags'), entry(902, '/airflow/logs')];

  it("round trip: each time lands on the new process's clock where it was on the old one's, seen from the wall clock", () => {
    const r = resume(saved(), { paths: PATHS, table }, NEW);
    // 600 s into the old process is 2 s before the new one's 50 ms.
    expect(r.controller.health.get('/airflow/dags')).toEqual({
      result: 'timeout',
      hangAt: null, // the call behind it died with the old process
      failingSince: 50 - 102_000,
      failedRecoveries: 2,
      nextRecoveryAt: 50 + 38_000,
      wait: 'backoff',
    });
    expect(r.controller.recoveries).toBe(4);
    expect(r.holders.formers).toEqual([
      { path: '/airflow/logs', mountId: 812, dev: '0:53', state: 'detached', batch: 'recovery 4', since: 50 - 7_000 },
    ]);
    expect(r.holders.restarted).toEqual([{ batch: 'recovery 4', unit: 'airflow-scheduler.service' }]);
    expect(r.holders.memory).toEqual([{ pid: 4711, start: '99', kind: 'cwd', mountId: 812, rel: '/scheduler' }]);
    // Both missing: tried at once, whatever the old backoff.
    expect(r.controller.putBack.map((p) => [p.mountPoint, p.tries, p.lastTryAt, p.running])).toEqual([
      ['/mnt/static', 2, null, false],
      ['/home', 0, null, false],
    ]);
    expect(r.dropped).toEqual([]);
  });

  it('a detached mount whose ID names a newer mount now (another device) is dropped, and its restarted units with it', () => {
    const r = resume(saved(), { paths: PATHS, table: [...table, entry(812, '/srv/other', 'ext4', '8:3')] }, NEW);
    expect(r.holders.formers).toEqual([]);
    expect(r.holders.restarted).toEqual([]);
    expect(r.holders.memory).toEqual([]);
    expect(r.dropped).toEqual(['/airflow/logs: detached mount 812 is gone: its ID names a newer mount (device 8:3, was 0:53)']);
  });

  it('a detached mount that is in the mount table with its own device was never detached here: dropped', () => {
    const r = resume(saved(), { paths: PATHS, table: [...table, entry(812, '/airflow/logs', 'nfs4', '0:53')] }, NEW);
    expect(r.holders.formers).toEqual([]);
    expect(r.dropped).toEqual(['/airflow/logs: mount 812 is in the mount table again (device 0:53): not detached']);
  });

  it('a static mount mounted again meanwhile is dropped (said when it was waiting; an at-risk one left in place is the usual case)', () => {
    const r = resume(saved(), { paths: PATHS, table: [...table, entry(950, '/mnt/static'), entry(951, '/home')] }, NEW);
    expect(r.controller.putBack).toEqual([]);
    expect(r.dropped).toEqual(['/mnt/static: mounted again']);
  });

  it('a path no longer configured is dropped, with its detached mount', () => {
    const r = resume(saved(), { paths: ['/airflow/dags'], table }, NEW);
    expect([...r.controller.health.keys()]).toEqual(['/airflow/dags']);
    expect(r.holders.formers).toEqual([]);
    expect(r.dropped).toEqual(['/airflow/logs: no longer configured (detached mount 812)']);
  });

  it('a detached mount of an unknown path (found at a start without state) is carried like any other', () => {
    const unknown = { ...holders, formers: [{ ...holders.formers[0]!, path: 'unknown', batch: 'before start' }] };
    const s = snapshot(controller, unknown, BOOT, OLD);
    expect(resume(s, { paths: PATHS, table }, NEW).holders.formers).toEqual([expect.objectContaining({ path: 'unknown', mountId: 812 })]);
  });

  it('a result that is no probe result is dropped, never used', () => {
    const s = saved();
    const spoiled = { ...s, paths: s.paths.map((p) => ({ ...p, result: 'EXPLODED!' })) };
    const r = resume(spoiled, { paths: PATHS, table }, NEW);
    expect(r.controller.health.size).toBe(0);
    expect(r.dropped).toEqual(['/airflow/dags: result "EXPLODED!" is no probe result']);
  });
});
