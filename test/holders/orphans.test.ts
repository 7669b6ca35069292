// Holders of mounts in no mount table (ScanInput.orphans), on recorded /proc trees.
import { describe, expect, it } from 'vitest';
import { scanHolders, type ScanInput, type WatchedMount } from '../../src/holders/scan.js';
import { mayBeOnMount } from '../../src/holders/orphans.js';
import type { MountEntry } from '../../src/probe/mountinfo.js';
import { HOST_MNT_NS, mapsLine, mountinfoLine, recordedProc, type RecordedProcess } from '../helpers/recorded-proc.js';

const entry = (id: number, dev: string, mountPoint: string, fstype = 'ext4'): MountEntry => ({
  id,
  parentId: 1,
  dev,
  mountPoint,
  fstype,
  source: `src:${mountPoint}`,
  superOptions: 'rw',
  mountOptions: 'rw',
});
const mountinfo = (...entries: MountEntry[]): string => entries.map((e) => mountinfoLine(e) + '\n').join('');

const ROOT = entry(1, '8:1', '/');
const DEV = entry(4, '0:5', '/dev', 'devtmpfs');
const TABLE = [ROOT, DEV];
/** A mount lazily unmounted before the scan: in no table. */
const GONE = 812;

/** A container's namespace: its own mounts, with IDs of their own. */
const CONTAINER_NS = 'mnt:[4026532600]';
const C_ROOT = entry(900, '0:60', '/', 'overlay');
const C_DATA = entry(901, '0:61', '/data', 'nfs4');

function input(extra: Partial<ScanInput> = {}): ScanInput {
  return { watched: [], table: TABLE, skipPids: [], memory: [], orphans: true, ownMountNamespace: HOST_MNT_NS, ...extra };
}

const scan = (procs: RecordedProcess[], extra: Partial<ScanInput> = {}) => scanHolders(recordedProc(procs), input(extra));
const orphanPids = (out: ReturnType<typeof scanHolders>) => (out.orphans ?? []).map((o) => [o.pid, o.mountId ?? o.dev]);

describe('holders of mounts in no mount table, by fd', () => {
  it('an fd whose mnt_id is in no table: an orphan hold, with who the process is', () => {
    const out = scan([
      {
        pid: 300,
        comm: 'airflow worker',
        uid: 999,
        fds: { 0: { target: '/dev/null', mntId: 4 }, 3: { target: '/example_dag.py', mntId: GONE }, 4: { target: '/etc/hosts', mntId: 1 } },
      },
    ]);
    expect(out.holders).toEqual([]);
    expect(out.orphans).toEqual([
      {
        pid: 300,
        start: '1300',
        ppid: 1,
        comm: 'airflow worker',
        uid: 999,
        unit: 'airflow worker.service',
        mountId: GONE,
        dev: null,
        holds: [{ kind: 'fd', fd: 3, target: '/example_dag.py' }],
      },
    ]);
  });

  it('pipes, sockets, anon inodes, namespaces and files of the kernel’s internal mounts are none: their fdinfo is not even read', () => {
    const proc = recordedProc([
      {
        pid: 301,
        fds: {
          3: { target: 'pipe:[1234]', mntId: 13 },
          4: { target: 'socket:[5678]', mntId: 9 },
          5: { target: 'anon_inode:[eventfd]', mntId: 14 },
          6: { target: 'mnt:[4026531841]', mntId: 3 },
          7: { target: '/memfd:wayland-shm (deleted)', mntId: 15 },
          8: { target: '/SYSV00000000 (deleted)', mntId: 16 },
          9: { target: '/dmabuf:', mntId: 17 },
          10: { target: '/scheduler.log (deleted)', mntId: GONE },
        },
      },
    ]);
    expect(scanHolders(proc, input()).orphans).toEqual([]);
    expect(proc.reads.filter((r) => r.includes('fdinfo'))).toEqual([]);
    expect(mayBeOnMount('/memfd:x')).toBe(false);
  });

  it('a mount made after `table` was read is in the namespace’s table read at the end: no orphan', () => {
    const procs: RecordedProcess[] = [
      { pid: 1, mountinfo: mountinfo(ROOT, DEV, entry(GONE, '0:53', '/airflow/dags', 'nfs4')) },
      { pid: 300, fds: { 3: { target: '/airflow/dags/x.py', mntId: GONE } } },
    ];
    expect(scan(procs).orphans).toEqual([]);
    // Without a process of the namespace to read it through, `table` stands for it.
    expect(orphanPids(scan(procs.slice(1)))).toEqual([[300, GONE]]);
  });

  it('a process in another mount namespace is judged by its namespace’s table, read once', () => {
    const proc = recordedProc([
      {
        pid: 400,
        mountNamespace: CONTAINER_NS,
        mountinfo: mountinfo(C_ROOT, C_DATA),
        fds: { 3: { target: '/data/in.csv', mntId: 901 }, 4: { target: '/data/old.csv', mntId: 950 } },
      },
      { pid: 401, mountNamespace: CONTAINER_NS, fds: { 3: { target: '/data/out.csv', mntId: 901 } } },
    ]);
    const out = scanHolders(proc, input());
    expect(orphanPids(out)).toEqual([[400, 950]]);
    expect(proc.reads.filter((r) => r.endsWith('/mountinfo'))).toEqual(['400/mountinfo']);
  });

  it('a process whose namespace cannot be read is passed over, never guessed at', () => {
    const fds = { 3: { target: '/data/in.csv', mntId: 901 } };
    // No link to its namespace; a namespace none of whose processes gives its table.
    const out = scan([
      { pid: 402, mountNamespace: null, fds },
      { pid: 403, mountNamespace: CONTAINER_NS, fds },
    ]);
    expect(out.orphans).toEqual([]);
    expect(out.scanned).toBe(2);
    // The same fd in the daemon's namespace, whose table is `table`: an orphan.
    expect(orphanPids(scan([{ pid: 404, fds }]))).toEqual([[404, 901]]);
  });

  it('an fd handed over from another namespace is on a mount of that one: no orphan', () => {
    // A shell nsenter'ed into the container: its stdio on the host's /dev/pts, mount 25.
    const hostPts = entry(25, '0:24', '/dev/pts', 'devpts');
    const procs: RecordedProcess[] = [
      { pid: 1, mountinfo: mountinfo(ROOT, DEV, hostPts) },
      { pid: 410, mountNamespace: CONTAINER_NS, mountinfo: mountinfo(C_ROOT, C_DATA), fds: { 0: { target: '/dev/pts/3', mntId: 25 } } },
    ];
    expect(scan(procs).orphans).toEqual([]);
    expect(orphanPids(scan(procs.slice(1)))).toEqual([[410, 25]]);
  });

  it('the namespace is read through a process at the system’s root: a chrooted one’s table leaves mounts out', () => {
    const out = scan([
      {
        pid: 420,
        mountNamespace: CONTAINER_NS,
        root: '/srv/jail',
        mountinfo: mountinfo(C_ROOT),
        fds: { 3: { target: '/data/in.csv', mntId: 901 } },
      },
      { pid: 421, mountNamespace: CONTAINER_NS, mountinfo: mountinfo(C_ROOT, C_DATA) },
    ]);
    expect(out.orphans).toEqual([]);
  });
});

describe('holders of mounts in no mount table, by mapping', () => {
  it('mapped files on a device of no mount: one hold per file, the executable named; separate from its fds', () => {
    const out = scan([
      {
        pid: 500,
        exe: '/bin/tool',
        fds: { 3: { target: '/example_dag.py', mntId: GONE } },
        maps: [
          mapsLine('00:35', 7, '/bin/tool'),
          mapsLine('00:35', 8, '/lib/plugin.so'),
          mapsLine('00:35', 8, '/lib/plugin.so'),
          mapsLine('00:00', 0, '[heap]'),
          mapsLine('00:00', 0, ''),
          mapsLine('08:01', 5, '/usr/lib/libc.so.6'),
          mapsLine('00:01', 9, '/memfd:pulseaudio (deleted)'),
          mapsLine('00:0e', 10, 'anon_inode:[perf_event]'),
          mapsLine('00:35', 11, '/lib/old.so (deleted)'),
        ],
      },
    ]);
    const who = { pid: 500, start: '1500', ppid: 1, comm: 'proc500', uid: 0, unit: 'proc500.service' };
    expect(out.orphans).toEqual([
      { ...who, mountId: GONE, dev: null, holds: [{ kind: 'fd', fd: 3, target: '/example_dag.py' }] },
      {
        ...who,
        mountId: null,
        dev: '0:53',
        holds: [
          { kind: 'exe', target: '/bin/tool' },
          { kind: 'mmap', target: '/lib/plugin.so' },
        ],
      },
    ]);
  });

  it('anonymous memory is never an orphan, nor a device some namespace mounts', () => {
    const out = scan([
      { pid: 501, maps: [mapsLine('00:00', 0, '[stack]'), mapsLine('00:00', 0, '/no/inode'), mapsLine('00:3d', 4, '/data/x.parquet')] },
      { pid: 502, mountNamespace: CONTAINER_NS, mountinfo: mountinfo(C_ROOT, C_DATA) },
    ]);
    expect(out.orphans).toEqual([]);
  });
});

describe('holders of mounts in no mount table, beside the watched mounts', () => {
  const dags: WatchedMount = { path: '/airflow/dags', mountId: 50, dev: '0:40', state: 'detached' };

  it('a watched detached mount’s holders are the scan’s own holders, not orphans', () => {
    const out = scan([{ pid: 600, fds: { 3: { target: '/x.py', mntId: 50 } }, maps: [mapsLine('00:28', 9, '/lib.so')] }], {
      watched: [dags],
    });
    expect(out.holders.map((h) => [h.pid, h.mountId, h.holds.length])).toEqual([[600, 50, 2]]);
    expect(out.orphans).toEqual([]);
  });

  it('never reads the skipped pids, and answers no orphans unless asked', () => {
    const procs: RecordedProcess[] = [
      { pid: 200, mountinfo: mountinfo(ROOT), fds: { 3: { target: '/x', mntId: GONE } } },
      { pid: 300, fds: { 3: { target: '/x', mntId: GONE } } },
    ];
    const proc = recordedProc(procs);
    const out = scanHolders(proc, input({ skipPids: [200] }));
    expect(proc.reads.some((r) => r.startsWith('200/'))).toBe(false);
    expect(orphanPids(out)).toEqual([[300, GONE]]);
    const plain = recordedProc(procs);
    expect(scanHolders(plain, input({ orphans: undefined })).orphans).toBeUndefined();
    expect(plain.reads.filter((r) => r.includes('fdinfo') || r.endsWith('maps') || r.endsWith('mountinfo'))).toEqual([]);
  });

  it('a process gone before it is named is counted unreadable, not listed', () => {
    const proc = recordedProc([{ pid: 700, fds: { 3: { target: '/x', mntId: GONE } } }]);
    const read = proc.read.bind(proc);
    proc.read = (pid, name) => (name === 'stat' ? null : read(pid, name));
    const out = scanHolders(proc, input());
    expect(out.orphans).toEqual([]);
    expect(out.unreadable).toBe(1);
  });
});
