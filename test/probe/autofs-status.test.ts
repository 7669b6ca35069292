// The automounter's liveness from the mount table: parsing pgrp= from real-shaped lines, and the
// check against real processes (this test's own, and one that has exited).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { automountGroups, automountRunning, liveAutomountGroup } from '../../src/probe/autofs-status.js';
import { parseMountinfo } from '../../src/probe/mountinfo.js';

const table = (pgrp: number) =>
  parseMountinfo(
    [
      '22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      `40 22 0:40 / /airflow rw,relatime shared:20 - autofs /etc/auto.airflow rw,fd=6,pgrp=${pgrp},timeout=30,minproto=5,maxproto=5,indirect,pipe_ino=1234`,
      '61 40 0:52 / /airflow/dags rw,relatime shared:30 - nfs4 10.99.0.1:/srv/a/airflow/dags rw,vers=4.1,soft',
    ].join('\n'),
  );

describe('automount liveness', () => {
  it('reads the process group of the daemon serving each autofs mount', () => {
    expect(automountGroups(table(6424))).toEqual([6424]);
    expect(automountGroups(parseMountinfo('22 1 252:0 / / rw - ext4 /dev/vda rw'))).toEqual([]);
  });

  it('is running while that process exists, and not once it has gone', () => {
    expect(automountRunning(table(process.pid))).toBe(true);
    const gone = spawnSync('true').pid!; // exited and reaped
    expect(automountRunning(table(gone))).toBe(false);
  });

  // systemd's binfmt_misc automount point, as Debian has it: pgrp=1, always alive.
  const withSystemd = (pgrp: number) =>
    parseMountinfo(
      [
        '22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
        '31 25 0:30 / /proc/sys/fs/binfmt_misc rw,relatime shared:12 - autofs systemd-1 rw,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct,pipe_ino=16184',
        `40 22 0:40 / /airflow rw,relatime shared:20 - autofs /etc/auto.airflow rw,fd=6,pgrp=${pgrp},timeout=30,minproto=5,maxproto=5,indirect,pipe_ino=1234`,
      ].join('\n'),
    );

  it("counts the automounter of the configured paths only, not systemd's own automount points", () => {
    expect(automountGroups(withSystemd(6424), ['/airflow/dags', '/airflow/logs'])).toEqual([6424]);
    const gone = spawnSync('true').pid!;
    expect(automountRunning(withSystemd(gone), ['/airflow/dags'])).toBe(false);
    expect(automountRunning(withSystemd(process.pid), ['/airflow/dags'])).toBe(true);
    // The one whose namespace autofs' mounts are reached from: the paths' own, not PID 1.
    expect(liveAutomountGroup(withSystemd(process.pid), ['/airflow/dags'])).toBe(process.pid);
    expect(liveAutomountGroup(withSystemd(gone), ['/airflow/dags'])).toBeUndefined();
    // No path under autofs (or none given): every autofs mount counts, as before.
    expect(automountGroups(withSystemd(6424), ['/data'])).toEqual([1, 6424]);
    expect(automountGroups(withSystemd(6424))).toEqual([1, 6424]);
  });

  it('is not running when nothing is mounted by autofs at all', () => {
    expect(automountRunning(parseMountinfo('22 1 252:0 / / rw - ext4 /dev/vda rw'))).toBe(false);
  });

  it('sees the real mount table of this machine without error', async () => {
    const { readMountTable } = await import('../../src/probe/mountinfo.js');
    expect(typeof automountRunning(readMountTable())).toBe('boolean');
  });
});
