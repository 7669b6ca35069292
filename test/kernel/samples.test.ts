// Tying configured paths to the NFS mounts holding them, from a recorded mountinfo.
import { describe, expect, it } from 'vitest';
import { nfsHolders, pathSamples } from '../../src/kernel/samples.js';
import type { NfsMountStats } from '../../src/kernel/mountstats.js';
import { parseMountinfo } from '../../src/probe/mountinfo.js';

const MOUNTINFO = [
  '1 0 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '30 1 0:40 / /airflow rw,relatime shared:20 - autofs /etc/auto.airflow rw,fd=7,pgrp=600,timeout=300,minproto=5,maxproto=5,indirect',
  '31 30 0:50 / /airflow/dags rw,relatime shared:21 - nfs4 10.99.0.1:/airflow/dags rw,vers=4.1,soft',
  '40 1 0:60 / /mnt/my\\040share rw,relatime shared:30 - nfs 10.99.0.1:/share rw,vers=3',
  // Stacked: a newer mount over the old one on the same point.
  '41 1 0:61 / /mnt/stacked rw - nfs4 old:/s rw',
  '42 41 0:62 / /mnt/stacked rw - nfs4 new:/s rw',
  '50 1 0:70 / /srv/fuse rw - fuse.faultfs faultfs rw',
].join('\n');

function stats(mountPoint: string, device: string): NfsMountStats {
  return { device, mountPoint, fstype: 'nfs4', statvers: '1.1', ageS: 1, ops: new Map(), xprt: null };
}

describe('nfsHolders and pathSamples', () => {
  const entries = parseMountinfo(MOUNTINFO);
  const sampled = (paths: string[], stats: NfsMountStats[]) => pathSamples(paths, nfsHolders(paths, entries), stats);
  const all = [
    stats('/airflow/dags', '10.99.0.1:/airflow/dags'),
    stats('/mnt/my share', '10.99.0.1:/share'),
    stats('/mnt/stacked', 'old:/s'),
    stats('/mnt/stacked', 'new:/s'),
  ];

  it('gives a mounted path its mount ID and counters, and a path below an NFS mount those of that mount', () => {
    const [dags, below, spaced] = sampled(['/airflow/dags', '/airflow/dags/sub/dir', '/mnt/my share'], all);
    expect(dags).toEqual({ path: '/airflow/dags', mountId: 31, stats: all[0] });
    expect(below).toEqual({ path: '/airflow/dags/sub/dir', mountId: 31, stats: all[0] });
    expect(spaced).toEqual({ path: '/mnt/my share', mountId: 40, stats: all[1] });
  });

  it('takes the top of stacked mounts in both files', () => {
    expect(sampled(['/mnt/stacked'], all)[0]).toEqual({ path: '/mnt/stacked', mountId: 42, stats: all[3] });
  });

  it('gives nothing for a path autofs has not mounted, nor for one on a mount that is not NFS', () => {
    expect(sampled(['/airflow/logs', '/srv/fuse'], all)).toEqual([
      { path: '/airflow/logs', mountId: null, stats: null },
      { path: '/srv/fuse', mountId: null, stats: null },
    ]);
  });

  it('names the NFS mounts to read counters of: only those holding a configured path', () => {
    const holders = nfsHolders(['/airflow/dags', '/airflow/dags/sub', '/airflow/logs', '/srv/fuse'], entries);
    expect([...holders].map(([path, e]) => [path, e.id])).toEqual([
      ['/airflow/dags', 31],
      ['/airflow/dags/sub', 31],
    ]);
  });

  it('gives an NFS mount missing from mountstats its ID without counters', () => {
    expect(sampled(['/airflow/dags'], [])[0]).toEqual({ path: '/airflow/dags', mountId: 31, stats: null });
  });
});
