// What a recovery takes away besides its targets, and how each is put back: on recorded tables.
import { describe, expect, it } from 'vitest';
import { collateralAtRisk, mergeOptions, remountCommand, takenAway } from '../../src/recovery/collateral.js';
import { parseFstab } from '../../src/recovery/fstab.js';
import { parseMountinfo } from '../../src/probe/mountinfo.js';

// A node with autofs' Airflow mounts, systemd's automount of /data, and two static NFS mounts.
const BEFORE = parseMountinfo(
  [
    '1 0 8:1 / / rw,relatime - ext4 /dev/vda1 rw',
    '40 1 0:40 / /airflow rw,relatime - autofs auto.airflow rw,fd=6,pgrp=1,timeout=300,indirect',
    '61 40 0:52 / /airflow/dags rw,relatime - nfs4 10.99.0.1:/srv/dags rw,vers=4.1,soft,addr=10.99.0.1',
    '45 1 0:45 / /data rw,relatime - autofs systemd-1 rw,fd=50,pgrp=1,timeout=0,direct',
    '70 45 0:70 / /data rw,relatime - nfs4 10.99.0.1:/srv/data rw,vers=4.1',
    '80 1 0:80 / /mnt/static rw,nosuid,relatime - nfs4 10.99.0.1:/srv/static rw,vers=4.1,soft,noac,addr=10.99.0.1',
    '81 1 0:81 / /home rw,relatime - nfs 10.0.0.5:/home rw,vers=3,hard',
    '90 1 0:90 / /tmp rw - tmpfs tmpfs rw',
  ].join('\n'),
);
const target = { path: '/airflow/dags', underAutofs: true };

describe('collateralAtRisk', () => {
  it('is the NFS mounts no automounter brings back: not under autofs (autofs or systemd), not tmpfs', () => {
    expect(collateralAtRisk(BEFORE, [target], { remount: [] }).map((e) => e.mountPoint)).toEqual(['/mnt/static', '/home']);
  });

  it('leaves out a static target that recovery.remount mounts again itself', () => {
    const own = { path: '/mnt/static', underAutofs: false };
    expect(collateralAtRisk(BEFORE, [own], { remount: ['mount'] }).map((e) => e.mountPoint)).toEqual(['/home']);
    expect(collateralAtRisk(BEFORE, [own], { remount: [] }).map((e) => e.mountPoint)).toEqual(['/mnt/static', '/home']);
  });
});

describe('takenAway', () => {
  const atRisk = collateralAtRisk(BEFORE, [target], { remount: [] });

  it('is those gone from the table afterwards; one still there (busy) was untouched', () => {
    const after = BEFORE.filter((e) => e.id !== 80 && e.id !== 61);
    expect(takenAway(atRisk, after).map((e) => e.mountPoint)).toEqual(['/mnt/static']);
  });

  it('is not one that something else has mounted again already', () => {
    const after = [...BEFORE.filter((e) => e.id !== 80), { ...BEFORE.find((e) => e.id === 80)!, id: 99 }];
    expect(takenAway(atRisk, after)).toEqual([]);
  });
});

describe('remountCommand', () => {
  const staticMount = BEFORE.find((e) => e.mountPoint === '/mnt/static')!;

  it("uses the fstab line when fstab has the path: the operator's options", () => {
    const fstab = parseFstab('# comment\n\n10.99.0.1:/srv/static  /mnt/static/  nfs4  soft,_netdev,nofail  0 0\n');
    expect(remountCommand(staticMount, fstab)).toEqual({ argv: ['mount', '--', '/mnt/static'], via: 'fstab' });
  });

  it('else mounts the source again with the options it had, each once', () => {
    expect(remountCommand(staticMount, parseFstab('/dev/vda1 / ext4 defaults 0 1\n'))).toEqual({
      argv: [
        'mount',
        '-t',
        'nfs4',
        '-o',
        'rw,nosuid,relatime,vers=4.1,soft,noac,addr=10.99.0.1',
        '--',
        '10.99.0.1:/srv/static',
        '/mnt/static',
      ],
      via: 'recorded',
    });
  });

  it('reads escaped fstab fields', () => {
    expect(parseFstab('srv:/a\\040b /mnt/a\\040b nfs defaults 0 0')).toEqual([
      { source: 'srv:/a b', mountPoint: '/mnt/a b', fstype: 'nfs', options: 'defaults' },
    ]);
  });

  it('merges option lists keeping the first of each key', () => {
    expect(mergeOptions('rw,relatime', 'rw,vers=4.1', 'vers=3')).toBe('rw,relatime,vers=4.1');
  });
});
