// Configured paths that are symbolic links: the walk on a scripted filesystem (what is looked at,
// what never is), and the real look in a child process on real links.
import { mkdirSync, mkdtempSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { parseMountinfo } from '../../src/probe/mountinfo.js';
import { childLook, MountPathError, resolveConfiguredMounts, resolveLinks, type LinkLook } from '../../src/probe/resolve-links.js';

const TABLE = parseMountinfo(
  [
    '1 0 8:1 / / rw - ext4 /dev/vda1 rw',
    '40 1 0:40 / /airflow rw - autofs auto.airflow rw,indirect',
    '61 40 0:52 / /airflow/dags rw - nfs4 srv:/dags rw',
    '70 1 0:70 / /srv/nfs rw - nfs4 srv:/x rw',
  ].join('\n'),
);

/** A scripted filesystem: links by path, and a record of every path looked at. */
function scripted(links: Record<string, string>, extra: Record<string, LinkLook> = {}) {
  const looked: string[] = [];
  const look = async (path: string): Promise<LinkLook> => {
    looked.push(path);
    if (extra[path]) return extra[path]!;
    return links[path] !== undefined ? { kind: 'link', target: links[path]! } : { kind: 'other' };
  };
  return { looked, look };
}

describe('resolveLinks', () => {
  it('follows the compatibility link to the mount point; never looks at a mount point or below autofs', async () => {
    const fs = scripted({ '/mnt/airflow-dags': '/airflow/dags' });
    expect(await resolveLinks('/mnt/airflow-dags', TABLE, fs.look)).toEqual({
      kind: 'resolved',
      path: '/airflow/dags',
      links: ['/mnt/airflow-dags -> /airflow/dags'],
    });
    expect(fs.looked).toEqual(['/mnt', '/mnt/airflow-dags']);
  });

  it('a path that is no link comes back as given, looking at nothing below a mount of the network', async () => {
    const fs = scripted({});
    expect(await resolveLinks('/airflow/dags', TABLE, fs.look)).toMatchObject({ path: '/airflow/dags', links: [] });
    expect(await resolveLinks('/srv/nfs/a/b', TABLE, fs.look)).toMatchObject({ path: '/srv/nfs/a/b' });
    expect(fs.looked).toEqual(['/srv']);
  });

  it('relative links, chains of links and .. resolve as the kernel would', async () => {
    const fs = scripted({ '/opt/a': 'b', '/opt/b': '../airflow/x/../dags' });
    expect(await resolveLinks('/opt/a', TABLE, fs.look)).toMatchObject({
      path: '/airflow/dags',
      links: ['/opt/a -> b', '/opt/b -> ../airflow/x/../dags'],
    });
  });

  it('a missing component ends the walk there; a look past its deadline or a loop fails', async () => {
    expect(await resolveLinks('/nope/x', TABLE, scripted({}, { '/nope': { kind: 'missing' } }).look)).toMatchObject({ path: '/nope/x' });
    expect(await resolveLinks('/slow/x', TABLE, scripted({}, { '/slow': { kind: 'timeout' } }).look)).toEqual({
      kind: 'failed',
      why: 'looking at /slow took too long',
    });
    expect(await resolveLinks('/l', TABLE, scripted({ '/l': '/l' }).look)).toEqual({
      kind: 'failed',
      why: 'too many levels of symbolic links',
    });
  });
});

describe('resolveConfiguredMounts', () => {
  it('replaces links by their mount points; a slow parent is probed as configured', async () => {
    const fs = scripted({ '/mnt/airflow-dags': '/airflow/dags' }, { '/slow': { kind: 'timeout' } });
    expect(await resolveConfiguredMounts(['/mnt/airflow-dags', '/slow/logs'], TABLE, fs.look)).toEqual({
      paths: ['/airflow/dags', '/slow/logs'],
      resolved: [{ configured: '/mnt/airflow-dags', path: '/airflow/dags', links: ['/mnt/airflow-dags -> /airflow/dags'] }],
      unresolved: [{ configured: '/slow/logs', why: 'looking at /slow took too long' }],
    });
  });

  it('looks at a directory once however many configured paths pass through it', async () => {
    const fs = scripted({});
    const paths = Array.from({ length: 100 }, (_, i) => `/data/shares/${i}`);
    expect((await resolveConfiguredMounts(paths, TABLE, fs.look)).paths).toEqual(paths);
    expect(fs.looked.filter((p) => p === '/data')).toEqual(['/data']);
    expect(fs.looked.filter((p) => p === '/data/shares')).toEqual(['/data/shares']);
    expect(fs.looked).toHaveLength(2 + 100);
  });

  it('rejects two paths naming one mount, and a link to /, in one line each', async () => {
    const fs = scripted({ '/mnt/airflow-dags': '/airflow/dags', '/mnt/root': '/' });
    await expect(resolveConfiguredMounts(['/airflow/dags', '/mnt/airflow-dags'], TABLE, fs.look)).rejects.toThrow(
      new MountPathError('mounts[1].path: /mnt/airflow-dags names /airflow/dags, as mounts[0].path (/airflow/dags) does: list it once'),
    );
    await expect(resolveConfiguredMounts(['/mnt/root'], TABLE, fs.look)).rejects.toThrow(
      'mounts[0].path: /mnt/root is a symbolic link to /, which cannot be a mount to recover',
    );
  });
});

describe('childLook (real links, real child processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nfshc-links-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('tells a link and its target text, a directory, and a missing path apart', async () => {
    mkdirSync(join(dir, 'real'));
    symlinkSync('real', join(dir, 'link'));
    const look = childLook(systemClock, 5000);
    expect(await look(join(dir, 'link'))).toEqual({ kind: 'link', target: 'real' });
    expect(await look(join(dir, 'real'))).toEqual({ kind: 'other' });
    expect(await look(join(dir, 'missing'))).toEqual({ kind: 'missing' });
  });

  it('resolves a configured link on this machine to the directory it names', async () => {
    symlinkSync(join(dir, 'real'), join(dir, 'abs'));
    const table = parseMountinfo('1 0 8:1 / / rw - ext4 /dev/vda1 rw');
    const out = await resolveConfiguredMounts([join(dir, 'abs')], table, childLook(systemClock, 5000));
    expect(out.paths).toEqual([join(dir, 'real')]);
  });
});
