import { describe, expect, it } from 'vitest';
import { mapsDev, parseStat, scanHolders, unitOf, type ScanInput, type WatchedMount } from '../../src/holders/scan.js';
import type { MountEntry } from '../../src/probe/mountinfo.js';
import { mapsLine, recordedProc, type RecordedProcess } from '../helpers/recorded-proc.js';

const entry = (id: number, dev: string, mountPoint: string, fstype = 'nfs4'): MountEntry => ({
  id,
  parentId: 1,
  dev,
  mountPoint,
  fstype,
  source: `srv:${mountPoint}`,
  superOptions: 'rw',
  mountOptions: 'rw',
});

const ROOT = entry(1, '8:1', '/', 'ext4');
const AUTOFS = entry(2, '0:30', '/airflow', 'autofs');
const DAGS = entry(50, '0:40', '/airflow/dags');
const LOGS = entry(51, '0:41', '/airflow/logs');
const PLUGINS = entry(60, '0:42', '/airflow/dags/plugins');

const failing = (e: MountEntry): WatchedMount => ({ path: e.mountPoint, mountId: e.id, dev: e.dev, state: 'failing' });
const detached = (e: MountEntry): WatchedMount => ({ path: e.mountPoint, mountId: e.id, dev: e.dev, state: 'detached' });

function input(watched: WatchedMount[], table: MountEntry[], extra: Partial<ScanInput> = {}): ScanInput {
  return { watched, table, skipPids: [], memory: [], ...extra };
}

const holdsOf = (out: ReturnType<typeof scanHolders>, pid: number, mountId: number) =>
  out.holders.find((h) => h.pid === pid && h.mountId === mountId)?.holds;

describe('scanHolders on attached, failing mounts', () => {
  const scheduler: RecordedProcess = {
    pid: 100,
    comm: 'airflow scheduler',
    uid: 999,
    cgroup: '0::/system.slice/airflow-scheduler.service\n',
    cwd: '/airflow/dags/sub',
    fds: {
      0: { target: '/dev/null', mntId: 5 },
      3: { target: '/airflow/logs/scheduler.log', mntId: 51 },
      4: { target: '/var/log/other.log', mntId: 1 },
      5: { target: 'socket:[1234]', mntId: 9 },
    },
  };
  const table = [ROOT, AUTOFS, DAGS, LOGS, PLUGINS];

  it('ties a cwd by its text under the mount point and an fd by fdinfo mnt_id, with who the process is', () => {
    const out = scanHolders(recordedProc([scheduler]), input([failing(DAGS), failing(LOGS)], table));
    expect(out.holders).toEqual([
      {
        pid: 100,
        start: '1100',
        ppid: 1,
        comm: 'airflow scheduler',
        uid: 999,
        unit: 'airflow-scheduler.service',
        mountId: 50,
        holds: [{ kind: 'cwd', target: '/airflow/dags/sub' }],
      },
      {
        pid: 100,
        start: '1100',
        ppid: 1,
        comm: 'airflow scheduler',
        uid: 999,
        unit: 'airflow-scheduler.service',
        mountId: 51,
        holds: [{ kind: 'fd', fd: 3, target: '/airflow/logs/scheduler.log' }],
      },
    ]);
    // Remembered as the kernel will print it once the mount is detached.
    expect(out.memory).toEqual([{ pid: 100, start: '1100', kind: 'cwd', mountId: 50, rel: '/sub' }]);
  });

  it('reads fdinfo only for descriptors whose path lies under a watched mount point', () => {
    const proc = recordedProc([scheduler]);
    scanHolders(proc, input([failing(DAGS), failing(LOGS)], table));
    expect(proc.reads.filter((r) => r.includes('fdinfo'))).toEqual(['100/fdinfo/3']);
  });

  it('leaves alone a cwd on a mount nested below, on the autofs parent, or on a path sharing a prefix', () => {
    const procs: RecordedProcess[] = [
      { pid: 101, cwd: '/airflow/dags/plugins/x' },
      { pid: 102, cwd: '/airflow' },
      { pid: 103, cwd: '/airflow/dags2' },
      { pid: 104, cwd: '/airflow/dags' },
    ];
    const out = scanHolders(recordedProc(procs), input([failing(DAGS)], table));
    expect(out.holders.map((h) => h.pid)).toEqual([104]);
    expect(out.memory).toEqual([{ pid: 104, start: '1104', kind: 'cwd', mountId: 50, rel: '/' }]);
  });

  it('ties mapped files by device (maps prints it in hex) and names the executable among them', () => {
    const proc = recordedProc([
      {
        pid: 110,
        exe: '/airflow/dags/bin/tool',
        maps: [
          mapsLine('00:28', 77, '/airflow/dags/bin/tool'),
          mapsLine('00:28', 78, '/airflow/dags/lib/plugin.so'),
          mapsLine('00:28', 78, '/airflow/dags/lib/plugin.so'),
          mapsLine('00:00', 0, '[heap]'),
          mapsLine('08:01', 5, '/usr/lib/libc.so.6'),
        ],
      },
    ]);
    const out = scanHolders(proc, input([failing(DAGS)], table));
    expect(holdsOf(out, 110, 50)).toEqual([
      { kind: 'exe', target: '/airflow/dags/bin/tool' },
      { kind: 'mmap', target: '/airflow/dags/lib/plugin.so' },
    ]);
  });
});

describe('scanHolders on a detached mount (after umount -l)', () => {
  // The path now holds the new mount (70); the old one (50) lives on for its holders.
  const NEW_DAGS = entry(70, '0:50', '/airflow/dags');
  const table = [ROOT, AUTOFS, NEW_DAGS, LOGS];
  const memory = [{ pid: 100, start: '1100', kind: 'cwd' as const, mountId: 50, rel: '/sub' }];

  it('ties an fd by mnt_id and a remembered cwd by its relative text', () => {
    const proc = recordedProc([
      { pid: 100, cwd: '/sub', fds: { 3: { target: '/example_dag.py', mntId: 50 }, 4: { target: '/etc/hosts', mntId: 1 } } },
    ]);
    const out = scanHolders(proc, input([detached(DAGS)], table, { memory }));
    expect(holdsOf(out, 100, 50)).toEqual([
      { kind: 'cwd', target: '/sub' },
      { kind: 'fd', fd: 3, target: '/example_dag.py' },
    ]);
    expect(out.memory).toEqual(memory);
  });

  it('does not take the same text for the mount without the memory, or for another process reusing the pid', () => {
    const stranger = recordedProc([{ pid: 102, cwd: '/sub' }]);
    expect(scanHolders(stranger, input([detached(DAGS)], table, { memory })).holders).toEqual([]);
    const reused = recordedProc([{ pid: 100, start: '9999', cwd: '/sub' }]);
    expect(scanHolders(reused, input([detached(DAGS)], table, { memory })).holders).toEqual([]);
  });

  it('ties a child forked since the detach, and its child, through the parent cwd with the same text', () => {
    const proc = recordedProc([
      { pid: 104, ppid: 103, cwd: '/sub' }, // listed before its parent
      { pid: 100, cwd: '/sub' },
      { pid: 103, ppid: 100, cwd: '/sub' },
      { pid: 105, ppid: 100, cwd: '/' }, // chdir'd elsewhere
    ]);
    const out = scanHolders(proc, input([detached(DAGS)], table, { memory }));
    expect(out.holders.map((h) => h.pid).sort()).toEqual([100, 103, 104]);
    expect(holdsOf(out, 104, 50)).toEqual([{ kind: 'cwd', target: '/sub', inherited: true }]);
    expect(out.memory.map((m) => m.pid).sort()).toEqual([100, 103, 104]);
  });

  it('follows a mount the watch still calls failing when this scan already finds it gone from the table', () => {
    const proc = recordedProc([{ pid: 100, cwd: '/sub' }]);
    const out = scanHolders(proc, input([failing(DAGS)], table, { memory }));
    expect(holdsOf(out, 100, 50)).toEqual([{ kind: 'cwd', target: '/sub' }]);
  });

  it('ties mappings by the old device, unless another mount in the table shares that device', () => {
    const proc = recordedProc([{ pid: 120, maps: [mapsLine('00:28', 9, '/lib.so')] }]);
    expect(holdsOf(scanHolders(proc, input([detached(DAGS)], table)), 120, 50)).toEqual([{ kind: 'mmap', target: '/lib.so' }]);
    const shared = [...table, entry(80, '0:40', '/mnt/other')];
    expect(scanHolders(proc, input([detached(DAGS)], shared)).holders).toEqual([]);
  });

  it('never matches maps against a mount known only by its ID (no device): its maps are not even read', () => {
    const byIdOnly: WatchedMount = { ...detached(DAGS), dev: '' };
    const proc = recordedProc([
      { pid: 121, maps: [mapsLine('00:00', 0, '[heap]'), mapsLine('00:00', 12, '/odd')], fds: { 3: { target: '/x.py', mntId: 50 } } },
    ]);
    const out = scanHolders(proc, input([byIdOnly], table));
    // Found by its fd all the same.
    expect(out.holders.map((h) => [h.pid, h.mountId, h.holds])).toEqual([[121, 50, [{ kind: 'fd', fd: 3, target: '/x.py' }]]]);
    expect(proc.reads).not.toContain('121/maps');
  });
});

describe('scanHolders bookkeeping', () => {
  const table = [ROOT, AUTOFS, DAGS];

  it('never reads skipped pids, and counts processes gone or refusing mid-scan', () => {
    const proc = recordedProc([
      { pid: 1, cwd: '/' },
      { pid: 200, cwd: '/airflow/dags' }, // the daemon itself
      { pid: 201, cwd: '/airflow/dags', vanished: true },
      { pid: 202, cwd: '/airflow/dags', refusesFds: true },
    ]);
    const out = scanHolders(proc, input([failing(DAGS)], table, { skipPids: [200] }));
    expect(proc.reads.some((r) => r.startsWith('200/'))).toBe(false);
    expect(out.scanned).toBe(3);
    expect(out.unreadable).toBe(2);
    // What could be read of the refusing one (its cwd link) still counts.
    expect(out.holders.map((h) => h.pid)).toEqual([202]);
  });

  it('reports progress pid by pid, so a stuck scan names the process it is on', () => {
    const seen: number[] = [];
    scanHolders(recordedProc([{ pid: 1 }, { pid: 7 }]), input([failing(DAGS)], table), (pid) => seen.push(pid));
    expect(seen).toEqual([1, 7]);
  });
});

describe('/proc text', () => {
  it('parseStat: comm with spaces and parentheses ends at the last ")"', () => {
    const middle = Array.from({ length: 17 }, () => '0').join(' ');
    expect(parseStat(`42 (a) (b c) S 7 ${middle} 123456 0\n`)).toEqual({ comm: 'a) (b c', ppid: 7, start: '123456' });
    expect(parseStat('garbage')).toBeNull();
  });

  it('unitOf: the first service or scope on the cgroup path', () => {
    expect(unitOf('0::/system.slice/airflow-worker.service\n')).toBe('airflow-worker.service');
    expect(unitOf('0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n')).toBe('user@1000.service');
    expect(unitOf('0::/user.slice/user-1000.slice/session-3.scope\n')).toBe('session-3.scope');
    expect(unitOf('12:cpu:/\n1:name=systemd:/system.slice/cron.service\n')).toBe('cron.service');
    expect(unitOf('0::/\n')).toBeNull();
    expect(unitOf(null)).toBeNull();
  });

  it('mapsDev: mountinfo decimal to maps hex', () => {
    expect(mapsDev('0:40')).toBe('00:28');
    expect(mapsDev('259:3')).toBe('103:03');
  });
});
