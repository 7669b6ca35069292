import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { classify } from '../../src/probe/classify.js';
import type { PathMountState } from '../../src/probe/mountinfo.js';

const mounted: PathMountState = { mounted: true, fstype: 'nfs4', mountIdAtPath: 9, containingMountId: 9, underAutofs: true };
const autofsOnly: PathMountState = { mounted: false, fstype: null, mountIdAtPath: null, containingMountId: 4, underAutofs: true };
const plainDir: PathMountState = { mounted: false, fstype: null, mountIdAtPath: null, containingMountId: 1, underAutofs: false };
const err = (name: keyof typeof constants.errno, code?: string) =>
  ({ kind: 'error', errno: -constants.errno[name], code: code ?? name }) as const;

describe('classify', () => {
  it('ok on a mounted path', () => {
    expect(classify({ kind: 'ok' }, mounted)).toEqual({ result: 'ok' });
  });

  it('timeout on a path that was mounted when the call started, whatever the table says after', () => {
    expect(classify({ kind: 'timeout' }, mounted)).toEqual({ result: 'timeout' });
    expect(classify({ kind: 'timeout' }, autofsOnly, mounted)).toEqual({ result: 'timeout' });
    expect(classify({ kind: 'timeout' }, plainDir)).toEqual({ result: 'timeout' });
  });

  it('automount_timeout when the call started under autofs with nothing mounted: it was making the mount', () => {
    expect(classify({ kind: 'timeout' }, autofsOnly)).toEqual({ result: 'automount_timeout' });
    // Mounted by the time the round ended: the mount took the time, not a hang of the new mount.
    expect(classify({ kind: 'timeout' }, mounted, autofsOnly)).toEqual({ result: 'automount_timeout' });
  });

  it('the errno name on a mounted path', () => {
    expect(classify(err('ESTALE', 'Unknown system error -116'), mounted)).toEqual({ result: 'ESTALE', errno: 'ESTALE' });
    expect(classify(err('ENOTCONN'), mounted)).toEqual({ result: 'ENOTCONN', errno: 'ENOTCONN' });
  });

  it('a readable plain directory is unmounted, not healthy', () => {
    expect(classify({ kind: 'ok' }, plainDir)).toEqual({ result: 'unmounted' });
  });

  it('a missing path outside autofs is unmounted, with its errno', () => {
    expect(classify(err('ENOENT'), plainDir)).toEqual({ result: 'unmounted', errno: 'ENOENT' });
  });

  it('ENOENT under autofs with nothing mounted is a failed automount', () => {
    expect(classify(err('ENOENT'), autofsOnly)).toEqual({ result: 'automount_failed', errno: 'ENOENT' });
  });

  it('other errors under autofs keep their errno name', () => {
    expect(classify(err('EIO'), autofsOnly)).toEqual({ result: 'EIO', errno: 'EIO' });
  });
});
