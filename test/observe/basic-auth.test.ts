// Basic authentication against bcrypt hashes made by bcryptjs: who gets in, what an unknown user
// costs, what is cached, and that the comparisons run one at a time.
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { createBasicAuth, parseBasic } from '../../src/observe/basic-auth.js';

const header = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** bcryptjs's comparison, with every call recorded: the hash it ran against, and how many ran at once. */
function counted() {
  const calls: string[] = [];
  let running = 0;
  let most = 0;
  const compare = async (password: string, hash: string): Promise<boolean> => {
    calls.push(hash);
    most = Math.max(most, ++running);
    try {
      return await bcrypt.compare(password, hash);
    } finally {
      running--;
    }
  };
  return { compare, calls, most: () => most };
}

describe('parseBasic', () => {
  it('reads user and password, the password may hold colons; anything else is no credentials', () => {
    expect(parseBasic(header('alice', 'pa:ss'))).toEqual({ user: 'alice', password: 'pa:ss' });
    expect(parseBasic(`basic ${Buffer.from('bob:').toString('base64')}`)).toEqual({ user: 'bob', password: '' });
    for (const h of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`]) {
      expect(parseBasic(h)).toBeNull();
    }
  });
});

describe('createBasicAuth', () => {
  const alice = bcrypt.hashSync('alice-password', 4);
  const bob = bcrypt.hashSync('bob-password', 6);

  it('lets in a configured user with the password, and no one else', async () => {
    const auth = createBasicAuth(new Map([['alice', alice]]));
    expect(await auth.check(header('alice', 'alice-password'))).toBe(true);
    expect(await auth.check(header('alice', 'wrong'))).toBe(false);
    expect(await auth.check(header('Alice', 'alice-password'))).toBe(false);
    expect(await auth.check(header('mallory', 'alice-password'))).toBe(false);
    expect(await auth.check(undefined)).toBe(false);
    expect(await auth.check('Bearer alice-password')).toBe(false);
  });

  it('an unknown user costs a bcrypt comparison too, against the costliest configured hash, whose outcome does not count', async () => {
    const c = counted();
    const auth = createBasicAuth(
      new Map([
        ['alice', alice],
        ['bob', bob],
      ]),
      { compare: c.compare },
    );
    // bob's password matches the stand-in hash, bob's own: still no entry for a name not configured.
    expect(await auth.check(header('mallory', 'bob-password'))).toBe(false);
    expect(c.calls).toEqual([bob]);
    expect(await auth.check(header('alice', 'nope'))).toBe(false);
    expect(c.calls).toEqual([bob, alice]);
  });

  it('an unknown user takes about as long as a known one with a wrong password (real bcrypt, cost 8)', async () => {
    const hash = bcrypt.hashSync('right', 8);
    const auth = createBasicAuth(new Map([['alice', hash]]));
    const time = async (h: string): Promise<number> => {
      const t = performance.now();
      expect(await auth.check(h)).toBe(false);
      return performance.now() - t;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time(header('alice', `wrong-${i}`)));
      unknown.push(await time(header(`nobody-${i}`, `wrong-${i}`)));
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[2]!;
    const ratio = median(unknown) / median(known);
    expect(median(known)).toBeGreaterThan(2); // a bcrypt ran
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  it('caches verified credentials, never failures, and keeps at most 100', async () => {
    const c = counted();
    const users = new Map(Array.from({ length: 101 }, (_, i) => [`u${i}`, bcrypt.hashSync(`p${i}`, 4)] as const));
    const auth = createBasicAuth(users, { compare: c.compare });
    expect(await auth.check(header('u0', 'p0'))).toBe(true);
    expect(await auth.check(header('u0', 'p0'))).toBe(true);
    expect(c.calls.length).toBe(1);
    expect(await auth.check(header('u0', 'bad'))).toBe(false);
    expect(await auth.check(header('u0', 'bad'))).toBe(false);
    expect(c.calls.length).toBe(3);
    // A cached pair admits that password only.
    expect(await auth.check(header('u0', 'p1'))).toBe(false);
    for (let i = 1; i <= 100; i++) expect(await auth.check(header(`u${i}`, `p${i}`))).toBe(true);
    const before = c.calls.length;
    expect(await auth.check(header('u100', 'p100'))).toBe(true);
    expect(c.calls.length).toBe(before);
    expect(await auth.check(header('u0', 'p0'))).toBe(true); // the oldest went out
    expect(c.calls.length).toBe(before + 1);
  });

  it('runs one bcrypt at a time however many requests come at once', async () => {
    const c = counted();
    const auth = createBasicAuth(new Map([['alice', alice]]), { compare: c.compare });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => auth.check(header(i % 2 ? 'alice' : 'x', `try-${i}`))));
    expect(results).toEqual(Array<boolean>(8).fill(false));
    expect(c.calls.length).toBe(8);
    expect(c.most()).toBe(1);
  });

  it('skips the bcrypt of a client gone while it waited its turn', async () => {
    const c = counted();
    const auth = createBasicAuth(new Map([['alice', alice]]), { compare: c.compare });
    let left = false;
    const first = auth.check(header('alice', 'alice-password'));
    const abandoned = auth.check(header('alice', 'wrong'), () => left);
    left = true; // it hung up while the first compare ran
    expect(await Promise.all([first, abandoned])).toEqual([true, false]);
    expect(c.calls.length).toBe(1);
  });

  it('with no users, no one', async () => {
    expect(await createBasicAuth(new Map()).check(header('a', 'b'))).toBe(false);
  });
});
