import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ERRNO_NAMES, errnoName } from '../../src/probe/errno.js';

describe('errnoName', () => {
  it('names ESTALE from its number although Node calls it "Unknown system error -116"', () => {
    expect(errnoName(-116, 'Unknown system error -116')).toBe('ESTALE');
  });

  it('names the errnos a broken network mount gives', () => {
    for (const name of ['EIO', 'ENOTCONN', 'ECONNABORTED', 'ETIMEDOUT', 'ENODEV', 'EACCES'] as const) {
      expect(errnoName(-constants.errno[name], undefined)).toBe(name);
    }
    // EHOSTDOWN (112 on Linux) is missing from os.constants.errno on Node 20; libuv's table has it.
    expect(errnoName(-112, undefined)).toBe('EHOSTDOWN');
  });

  it('falls back to the code, then to the number', () => {
    expect(errnoName(undefined, 'EWORKER')).toBe('EWORKER');
    expect(errnoName(-4242, 'Unknown system error -4242')).toBe('errno_4242');
    expect(errnoName(undefined, undefined)).toBe('error');
  });
});

describe('ERRNO_NAMES', () => {
  it("holds both tables' names, aliases included, and nothing that is not an errno name", () => {
    for (const name of ['ESTALE', 'EHOSTDOWN', 'EAGAIN', 'EWOULDBLOCK']) expect(ERRNO_NAMES.has(name)).toBe(true);
    for (const name of ERRNO_NAMES) expect(name).toMatch(/^E[A-Z0-9]+$/);
  });
});
