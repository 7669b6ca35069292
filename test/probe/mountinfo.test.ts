import { describe, expect, it } from 'vitest';
import { mountAt, parseMountinfo, pathMountState, unescapeMountField } from '../../src/probe/mountinfo.js';

// Shaped like a real node: root, autofs indirect map on /airflow with an NFS mount on dags, a
// direct autofs map with a stale mount stacked on it, and a mount point with a space in its name.
const TABLE = [
  '22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '40 22 0:40 / /airflow rw,relatime shared:20 - autofs /etc/auto.airflow rw,fd=6,pgrp=1,timeout=30,indirect',
  '61 40 0:52 / /airflow/dags rw,relatime shared:30 - nfs4 10.99.0.1:/srv/a/airflow/dags rw,vers=4.1,soft',
  '70 22 0:60 / /direct/mnt rw,relatime shared:40 - autofs /etc/auto.direct rw,direct',
  '71 70 0:61 / /direct/mnt rw,relatime shared:41 - nfs4 srv:/x rw',
  '80 22 0:70 / /data/my\\040share rw,relatime master:5 - fuse.faultfs faultfs rw,user_id=0',
  '',
].join('\n');

describe('parseMountinfo', () => {
  const entries = parseMountinfo(TABLE);

  it('reads id, parent, device, mount point, fstype and source of every line', () => {
    expect(entries).toHaveLength(6);
    expect(entries[2]).toEqual({
      id: 61,
      parentId: 40,
      dev: '0:52',
      mountPoint: '/airflow/dags',
      mountOptions: 'rw,relatime',
      fstype: 'nfs4',
      source: '10.99.0.1:/srv/a/airflow/dags',
      superOptions: 'rw,vers=4.1,soft',
    });
  });

  it('handles lines with several optional fields and with none', () => {
    const two = parseMountinfo('5 1 0:5 / /x rw shared:1 master:2 propagate_from:3 - tmpfs none rw\n6 1 0:6 / /y rw - proc proc rw');
    expect(two.map((e) => [e.mountPoint, e.fstype, e.source])).toEqual([
      ['/x', 'tmpfs', 'none'],
      ['/y', 'proc', 'proc'],
    ]);
  });

  it('undoes octal escapes in mount points', () => {
    expect(entries[5]!.mountPoint).toBe('/data/my share');
    expect(unescapeMountField('a\\011b\\012c\\134d\\040e')).toBe('a\tb\nc\\d e');
  });

  it('skips malformed lines instead of inventing entries', () => {
    expect(parseMountinfo('garbage line\n1 2 3')).toEqual([]);
  });

  it('parses the real table of this process', async () => {
    const { readMountTable } = await import('../../src/probe/mountinfo.js');
    const real = readMountTable();
    expect(real.some((e) => e.mountPoint === '/')).toBe(true);
    expect(real.every((e) => Number.isInteger(e.id) && e.fstype !== '')).toBe(true);
  });
});

describe('pathMountState', () => {
  const entries = parseMountinfo(TABLE);

  it('sees an NFS mount under an autofs indirect map', () => {
    expect(pathMountState(entries, '/airflow/dags')).toEqual({
      mounted: true,
      fstype: 'nfs4',
      mountIdAtPath: 61,
      containingMountId: 61,
      underAutofs: true,
    });
  });

  it('sees a key of an indirect map that is not mounted yet as under autofs, held by the autofs mount', () => {
    expect(pathMountState(entries, '/airflow/logs')).toEqual({
      mounted: false,
      fstype: null,
      mountIdAtPath: null,
      containingMountId: 40,
      underAutofs: true,
    });
  });

  it('takes the top of stacked mounts (a direct map with its NFS mount)', () => {
    const s = pathMountState(entries, '/direct/mnt');
    expect(s).toMatchObject({ mounted: true, fstype: 'nfs4', mountIdAtPath: 71, underAutofs: true });
    expect(mountAt(entries, '/direct/mnt')?.id).toBe(71);
  });

  it('reports a plain directory as neither mounted nor under autofs', () => {
    expect(pathMountState(entries, '/srv/data')).toEqual({
      mounted: false,
      fstype: null,
      mountIdAtPath: null,
      containingMountId: 22,
      underAutofs: false,
    });
  });

  it('does not take a sibling with a common prefix for an ancestor', () => {
    expect(pathMountState(entries, '/airflowx/dags').underAutofs).toBe(false);
  });

  it('finds mount points with escaped names', () => {
    expect(pathMountState(entries, '/data/my share')).toMatchObject({ mounted: true, fstype: 'fuse.faultfs' });
  });
});
