import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasErrorCounts, parseMountstats, type NfsMountStats } from '../../src/kernel/mountstats.js';
import { parseMountinfo } from '../../src/probe/mountinfo.js';
import { NFS3_OPS, NFS4_OPS, mountinfoText, mountstatsText, syntheticMounts } from '../../bench/mountstats-text.js';

// The *-synthetic.txt fixtures are written with the kernel's own formats (see the parser's head
// comment); recordings from real machines sit beside them under other names.
const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'mountstats');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

function only<T>(xs: readonly T[]): T {
  expect(xs).toHaveLength(1);
  return xs[0] as T;
}

function op(m: NfsMountStats | undefined, name: string) {
  const o = m?.ops.get(name);
  if (!o) throw new Error(`no ${name} op`);
  return o;
}

describe('parseMountstats: a 6.1 kernel, NFSv4.1 over tcp among other mounts', () => {
  const mounts = parseMountstats(fixture('kernel-6.1-nfs41-tcp-synthetic.txt'));
  const [dags, logs] = mounts;

  it('returns the NFS mounts only, in the order of the file', () => {
    // 22 system mounts (proc, sysfs, autofs maps…) before, fuse.gvfsd-fuse, tmpfs and fuse.sshfs after
    expect(mounts.map((m) => [m.device, m.mountPoint, m.fstype, m.statvers])).toEqual([
      ['10.0.0.10:/export/airflow/dags', '/airflow/dags', 'nfs4', '1.1'],
      ['10.0.0.11:/export/logs', '/airflow/logs', 'nfs4', '1.1'],
    ]);
  });

  it('reads the age, and every op line in the kernel order with its nine fields', () => {
    expect(dags?.ageS).toBe(93784);
    expect([...(dags?.ops.keys() ?? [])]).toEqual(NFS4_OPS);
    expect(op(dags, 'GETATTR')).toEqual({
      ops: 11562,
      trans: 11569,
      timeouts: 2,
      bytesSent: 2081160,
      bytesRecv: 2728632,
      queueMs: 41,
      rttMs: 5961,
      executeMs: 16123,
      errors: 3,
    });
    expect(op(dags, 'OPEN').errors).toBe(37);
    expect(op(dags, 'READ').bytesRecv).toBe(757248000);
    expect(op(dags, 'READ_PLUS')).toMatchObject({ ops: 0, errors: 0 });
    expect(op(dags, 'BIND_CONN_TO_SESSION').ops).toBe(0);
    expect(hasErrorCounts(dags as NfsMountStats)).toBe(true);
  });

  it("reads sends and recvs from the tcp transport's line", () => {
    expect(dags?.xprt).toEqual({ protocol: 'tcp', sends: 206212, recvs: 206205 });
  });

  it('takes the first transport of an nconnect=2 mount', () => {
    expect(logs?.xprt).toEqual({ protocol: 'tcp', sends: 6659, recvs: 6645 });
    expect(op(logs, 'WRITE')).toMatchObject({ ops: 4410, trans: 4428, timeouts: 9, errors: 14 });
  });
});

describe('parseMountstats: a 4.18-style kernel (RPC iostats 1.0, no errors field)', () => {
  const m = only(parseMountstats(fixture('kernel-4.18-nfs4-synthetic.txt')));

  it('reads the mount and its eight-field op lines, errors null', () => {
    expect([m.device, m.mountPoint, m.fstype, m.statvers, m.ageS]).toEqual([
      'nas01.example.com:/vol/projects',
      '/data/projects',
      'nfs4',
      '1.1',
      1209600,
    ]);
    expect([...m.ops.keys()]).toEqual([...NFS4_OPS.slice(0, NFS4_OPS.indexOf('COPY') + 1), 'LOOKUPP']);
    expect(op(m, 'READ')).toEqual({
      ops: 35101,
      trans: 35101,
      timeouts: 0,
      bytesSent: 5616160,
      bytesRecv: 9127946480,
      queueMs: 205,
      rttMs: 391022,
      executeMs: 392500,
      errors: null,
    });
    expect(op(m, 'WRITE')).toMatchObject({ trans: 18411, timeouts: 3, errors: null });
    expect([...m.ops.values()].every((o) => o.errors === null)).toBe(true);
    expect(hasErrorCounts(m)).toBe(false);
    expect(m.xprt).toEqual({ protocol: 'tcp', sends: 1139721, recvs: 1139715 });
  });
});

describe('parseMountstats: NFSv3 over tcp and over udp', () => {
  const mounts = parseMountstats(fixture('nfs3-synthetic.txt'));
  const [tcp, udp] = mounts;

  it('reads both mounts with the 22 NFSv3 procedures', () => {
    expect(mounts.map((m) => [m.device, m.mountPoint, m.fstype, m.ageS])).toEqual([
      ['10.0.0.12:/srv/shared', '/srv/shared', 'nfs', 5521],
      ['10.0.0.13:/srv/archive', '/srv/archive', 'nfs', 5519],
    ]);
    for (const m of mounts) expect([...m.ops.keys()]).toEqual(NFS3_OPS);
    expect(op(tcp, 'READDIRPLUS')).toEqual({
      ops: 212,
      trans: 212,
      timeouts: 0,
      bytesSent: 29680,
      bytesRecv: 2883200,
      queueMs: 0,
      rttMs: 310,
      executeMs: 318,
      errors: 0,
    });
    expect(op(tcp, 'LOOKUP').errors).toBe(1203);
    expect(op(udp, 'GETATTR')).toMatchObject({ ops: 3301, trans: 3329, timeouts: 4, errors: 4 });
  });

  it('reads the tcp and the udp transport lines by their own field order', () => {
    expect(tcp?.xprt).toEqual({ protocol: 'tcp', sends: 88145, recvs: 88144 });
    expect(udp?.xprt).toEqual({ protocol: 'udp', sends: 5085, recvs: 5051 });
  });
});

describe('parseMountstats: escaped device names and mount points', () => {
  const mounts = parseMountstats(fixture('escaped-names-synthetic.txt'));

  it('undoes \\040, \\011, \\012 and \\134 and skips the escaped non-NFS mounts', () => {
    expect(mounts.map((m) => [m.device, m.mountPoint])).toEqual([
      ['fs1:/export/team share', '/mnt/team share'],
      ['fs1:/export/dir\\with\tmarks', '/mnt/back\\slash and\ttab\nnewline'],
    ]);
    expect(op(mounts[0], 'GETATTR').ops).toBe(100);
    expect(op(mounts[1], 'READ').bytesRecv).toBe(28672);
    expect(mounts[1]?.xprt).toEqual({ protocol: 'tcp', sends: 7, recvs: 7 });
  });
});

describe('parseMountstats: what the kernel might print otherwise, and damage', () => {
  const head = 'device srv:/x mounted on /x with fstype nfs4 statvers=1.1\n';
  const iostats = '\tRPC iostats version: 1.1  p/v: 100003/4 (nfs)\n';

  it('reads an rdma transport (port, bind, connect, connect time, idle, sends, recvs first) and no other', () => {
    const rdma = `${head}${iostats}\txprt:\trdma 0 0 1 0 12 700 699 0 210 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\tper-op statistics\n\n`;
    expect(only(parseMountstats(rdma)).xprt).toEqual({ protocol: 'rdma', sends: 700, recvs: 699 });
    const other = `${head}${iostats}\txprt:\tvsock 1 2 3 4 5 6 7 8 9\n\tper-op statistics\n\n`;
    expect(only(parseMountstats(other)).xprt).toBeNull();
  });

  it('reads a negative idle time in the tcp line (printed %ld)', () => {
    const text = `${head}\txprt:\ttcp 800 0 1 0 -1 40 39 0 10 0 2 5 0\n`;
    expect(only(parseMountstats(text)).xprt).toEqual({ protocol: 'tcp', sends: 40, recvs: 39 });
  });

  it('skips damaged op lines and keeps the sound ones', () => {
    const text = [
      head.trimEnd(),
      '\tper-op statistics',
      '\t        NULL: 1 1 0 44 24 0 0 0 0',
      '\t     GETATTR: 5 5 0 900 1000 0 2 3', // eight: errors null
      '\t        READ: 1 2 3 4 5 6 7', // seven numbers
      '\t       WRITE: 1 2 3 4 5 6 7 8x 9', // not a number
      '\t      COMMIT 1 2 3 4 5 6 7 8 9', // no colon
      '\t            : 1 2 3 4 5 6 7 8 9', // no name
      '\t      LOOKUP: 1 2 3 4 5 6 7 8 9 10 11', // fields a later kernel may add
      '\t      ACCESS: -1 2 3 4 5 6 7 8 9', // counters are unsigned
      '',
    ].join('\n');
    const m = only(parseMountstats(text));
    expect([...m.ops.keys()]).toEqual(['NULL', 'GETATTR', 'LOOKUP']);
    expect(op(m, 'GETATTR').errors).toBeNull();
    expect(op(m, 'LOOKUP')).toMatchObject({ ops: 1, executeMs: 8, errors: 9 });
  });

  it('ends a mount at its blank line or at a line that is no statistics', () => {
    const text = [
      head.trimEnd(),
      '\tage:\t10',
      '',
      '\tage:\t99', // after the blank line: nobody's
      'device srv:/y mounted on /y with fstype nfs statvers=1.1',
      'garbage',
      '\tage:\t77',
      '\tper-op statistics',
      '\t        NULL: 1 1 0 44 24 0 0 0 0',
    ].join('\n');
    const mounts = parseMountstats(text);
    expect(mounts.map((m) => [m.mountPoint, m.ageS, m.ops.size])).toEqual([
      ['/x', 10, 0],
      ['/y', null, 0],
    ]);
  });

  it('gives a mount without statistics empty values, and skips headers it cannot read', () => {
    const text = [
      'device srv:/a mounted on /a with fstype nfs', // no statvers: a kernel without show_stats
      'device srv:/b mounted on /b', // truncated
      'device srv:/c with fstype nfs4 statvers=1.1', // no mount point
      'no device mounted on /d with fstype nfs4 statvers=1.1',
      'device srv:/e mounted on /e with fstype nfsd',
      'device srv:/f mounted on /f with fstype nfs4x',
      'device srv:/g mounted on /g with fstype fuse.nfs',
      '\tage:\tten',
    ].join('\n');
    const mounts = parseMountstats(text);
    expect(mounts).toEqual([
      { device: 'srv:/a', mountPoint: '/a', fstype: 'nfs', statvers: '', ageS: null, ops: new Map(), xprt: null },
      { device: '', mountPoint: '/d', fstype: 'nfs4', statvers: '1.1', ageS: null, ops: new Map(), xprt: null },
    ]);
    expect(hasErrorCounts(mounts[0] as NfsMountStats)).toBe(false);
    expect(parseMountstats('')).toEqual([]);
  });

  it('never throws on a text cut at any character, and finds no mount the whole text lacks', () => {
    const whole = fixture('kernel-6.1-nfs41-tcp-synthetic.txt');
    const points = new Set(parseMountstats(whole).map((m) => m.mountPoint));
    for (let cut = 0; cut <= whole.length; cut += 7) {
      const part = parseMountstats(whole.slice(0, cut));
      // A header is read only once its fstype is there, and the mount point comes before it.
      for (const m of part) expect(points.has(m.mountPoint)).toBe(true);
    }
    for (let from = 0; from < whole.length; from += 97) expect(() => parseMountstats(whole.slice(from))).not.toThrow();
  });
});

describe('parseMountstats: the generated text of bench/mountstats-text.ts', () => {
  it('reads back every NFS mount of the table, the counters consistent with the transport', () => {
    const table = syntheticMounts(100);
    const mounts = parseMountstats(mountstatsText(100));
    expect(mounts.map((m) => m.mountPoint)).toEqual(table.filter((m) => m.nfs).map((m) => m.mountPoint));
    expect(mounts.map((m) => m.device)).toEqual(table.filter((m) => m.nfs).map((m) => m.device));
    expect(mounts.filter((m) => m.xprt?.protocol === 'udp').length).toBeGreaterThan(0);
    for (const m of mounts) {
      expect(m.ops.size).toBe(m.fstype === 'nfs' ? NFS3_OPS.length : NFS4_OPS.length);
      expect(hasErrorCounts(m)).toBe(true);
      // The generator makes the transport's sends and recvs the ops' sums: the right slots were read.
      const ops = [...m.ops.values()];
      expect(m.xprt?.sends).toBe(ops.reduce((s, o) => s + o.trans, 0));
      expect(m.xprt?.recvs).toBe(ops.reduce((s, o) => s + o.ops, 0));
    }
    expect(parseMountstats(mountstatsText(3, { errors: false })).some(hasErrorCounts)).toBe(false);
  });

  it('reads only the wanted mount points when told which, the same as a whole parse gives them', () => {
    const whole = parseMountstats(mountstatsText(100));
    const wanted = new Set([whole[3]!.mountPoint, whole[70]!.mountPoint]);
    const some = parseMountstats(mountstatsText(100), (mountPoint) => wanted.has(mountPoint));
    expect(some).toEqual([whole[3], whole[70]]);
  });

  it('describes the same table in its mountinfo text', () => {
    const table = syntheticMounts(30);
    const entries = parseMountinfo(mountinfoText(30));
    expect(entries.map((e) => [e.mountPoint, e.fstype, e.source])).toEqual(table.map((m) => [m.mountPoint, m.fstype, m.device]));
  });
});

describe('parseMountstats on this machine', () => {
  it('finds exactly the nfs and nfs4 mounts that /proc/self/mountinfo lists', () => {
    const stats = parseMountstats(fs.readFileSync('/proc/self/mountstats', 'utf8'));
    const table = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    expect(stats.map((m) => m.mountPoint)).toEqual(table.filter((e) => e.fstype === 'nfs' || e.fstype === 'nfs4').map((e) => e.mountPoint));
  });

  // Recordings from real machines (vm-6.1-*.txt and the like), when present.
  const recordings = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.txt') && !f.endsWith('-synthetic.txt'));
  if (recordings.length === 0) it.skip('reads the recordings from real machines (none here)', () => {});
  else
    it.each(recordings)('reads the recording %s', (name) => {
      const mounts = parseMountstats(fixture(name));
      expect(mounts.length).toBeGreaterThan(0);
      for (const m of mounts) {
        expect(['nfs', 'nfs4']).toContain(m.fstype);
        expect(m.statvers).not.toBe('');
        expect(m.ops.size).toBeGreaterThan(0);
        for (const o of m.ops.values()) expect(o.trans).toBeGreaterThanOrEqual(o.ops);
        if (name.startsWith('vm-6.')) expect(hasErrorCounts(m)).toBe(true);
      }
    });
});
