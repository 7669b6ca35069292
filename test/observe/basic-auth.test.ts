// Basic authentication against bcrypt hashes made by bcryptjs: who gets in, what an unknown user
// costs, what is cached, that the comparisons run one at a time in a bounded queue, and the real
// bcrypt thread (the built dist/src/observe/bcrypt-worker.js): its answers, the main thread's event
// loop while it compares, that it holds no process open, and a thread ended mid-comparison.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { admits, createBasicAuth, MAX_WAITING, parseBasic } from '../../src/observe/basic-auth.js';
import { createThreadCompare } from '../../src/observe/bcrypt-thread.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { waitFor } from '../helpers/faultfs.js';
import { built, requires } from '../helpers/prerequisite.js';

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

  it('refuses at once, without a comparison, a request that finds MAX_WAITING already waiting; verified ones never wait', async () => {
    expect(admits(0)).toBe(true);
    expect(admits(MAX_WAITING - 1)).toBe(true);
    expect(admits(MAX_WAITING)).toBe(false);
    expect(admits(2, 2)).toBe(false);
    // Comparisons held until released, so the queue fills for real.
    const calls: string[] = [];
    const release: (() => void)[] = [];
    const compare = async (password: string, hash: string): Promise<boolean> => {
      calls.push(password);
      await new Promise<void>((r) => release.push(r));
      return bcrypt.compare(password, hash);
    };
    const auth = createBasicAuth(new Map([['alice', alice]]), { compare });
    const verified = auth.check(header('alice', 'alice-password'));
    await waitFor(() => release.length === 1, 5000);
    release.shift()!();
    expect(await verified).toBe(true);
    // One comparison running, MAX_WAITING behind it.
    const running = auth.check(header('alice', 'running'));
    await waitFor(() => release.length === 1, 5000);
    const waiting = Array.from({ length: MAX_WAITING }, (_, i) => auth.check(header('alice', `wrong-${i}`)));
    expect(await auth.check(header('alice', 'alice-password'))).toBe(true); // cached: no wait
    expect(await auth.check(header('alice', 'one-too-many'))).toBe(false); // refused while the queue is full
    expect(calls).toEqual(['alice-password', 'running']);
    // Let them all through: each waiting one had its comparison, the refused one never.
    const drain = setInterval(() => release.splice(0).forEach((r) => r()), 5);
    expect(await Promise.all([running, ...waiting])).toEqual(Array<boolean>(MAX_WAITING + 1).fill(false));
    clearInterval(drain);
    expect(calls.length).toBe(2 + MAX_WAITING);
    expect(calls).not.toContain('one-too-many');
    // The queue empty again, a request is compared.
    const later = auth.check(header('alice', 'later'));
    await waitFor(() => release.length === 1, 5000);
    release.shift()!();
    expect(await later).toBe(false);
    expect(calls.at(-1)).toBe('later');
  });

  it('with no users, no one', async () => {
    expect(await createBasicAuth(new Map()).check(header('a', 'b'))).toBe(false);
  });
});

requires(built()).describe('the bcrypt thread (dist/src/observe/bcrypt-worker.js)', () => {
  const alice = bcrypt.hashSync('alice-password', 4);

  it('lets in a configured user with the password, and no one else', async () => {
    const auth = createBasicAuth(new Map([['alice', alice]]));
    expect(await auth.check(header('alice', 'alice-password'))).toBe(true);
    expect(await auth.check(header('alice', 'wrong'))).toBe(false);
    expect(await auth.check(header('Alice', 'alice-password'))).toBe(false);
    expect(await auth.check(header('mallory', 'alice-password'))).toBe(false);
    expect(await auth.check(undefined)).toBe(false);
    expect(await auth.check('Bearer alice-password')).toBe(false);
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

  it('keeps the main thread’s event loop turning while a cost-12 comparison runs, which on the main thread is one long block', async () => {
    const hash = bcrypt.hashSync('right', 12);
    /** The longest gap between ticks of a 10 ms interval while `work` runs. */
    const longestGap = async (work: () => Promise<unknown>): Promise<number> => {
      let last = performance.now();
      let most = 0;
      const tick = setInterval(() => {
        const now = performance.now();
        most = Math.max(most, now - last);
        last = now;
      }, 10);
      try {
        await work();
        const now = performance.now();
        return Math.max(most, now - last);
      } finally {
        clearInterval(tick);
      }
    };
    const thread = createThreadCompare();
    await thread.compare('warm-up', alice); // the thread's start is not the comparison's
    let answer: boolean | undefined;
    const onThread = await longestGap(async () => (answer = await thread.compare('wrong', hash)));
    const onMain = await longestGap(async () => bcrypt.compareSync('wrong', hash));
    await thread.end();
    expect(answer).toBe(false);
    expect(onMain).toBeGreaterThan(100);
    expect(onThread).toBeLessThan(50);
  });

  it('a thread ended mid-comparison fails that comparison (no entry, no crash); the next one starts a thread and works', async () => {
    const slow = bcrypt.hashSync('right', 14);
    const thread = createThreadCompare();
    const inFlight = thread.compare('right', slow).then(
      (ok) => `answered ${ok}`,
      (err: Error) => err.message,
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(thread.running()).toBe(true);
    await thread.end();
    expect(await inFlight).toBe('bcrypt thread ended');
    expect(thread.running()).toBe(false);
    expect(await thread.compare('alice-password', alice)).toBe(true);

    // Through the check: the failed comparison is a refusal, and the password is in no message.
    const auth = createBasicAuth(new Map([['alice', slow]]), { compare: thread.compare });
    const refused = auth.check(header('alice', 'right'));
    await new Promise((r) => setTimeout(r, 50));
    await thread.end();
    expect(await refused).toBe(false);
    const fresh = createBasicAuth(new Map([['alice', alice]]), { compare: thread.compare });
    expect(await fresh.check(header('alice', 'alice-password'))).toBe(true);
    await thread.end();
  });

  it('the idle thread ends a minute after its last comparison, and a later one starts another', async () => {
    const clock = new FakeClock();
    const thread = createThreadCompare({ clock });
    const threads = (): number => readdirSync('/proc/self/task').length;
    expect(await thread.compare('alice-password', alice)).toBe(true);
    const during = threads();
    clock.advance(59_999);
    expect(thread.running()).toBe(true);
    clock.advance(1);
    expect(thread.running()).toBe(false);
    expect(await waitFor(() => threads() < during, 5000)).toBe(true);
    expect(await thread.compare('wrong', alice)).toBe(false);
    expect(thread.running()).toBe(true);
    await thread.end();
  });

  it('holds no process open: a node that checks a password exits on its own right after', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bcrypt-thread-'));
    try {
      const script = join(dir, 'check.mjs');
      const module = join(import.meta.dirname, '..', '..', 'dist', 'src', 'observe', 'basic-auth.js');
      writeFileSync(
        script,
        [
          `const { createBasicAuth } = await import(${JSON.stringify(module)});`,
          `const auth = createBasicAuth(new Map([['alice', process.env.HASH]]));`,
          `const h = (u, p) => 'Basic ' + Buffer.from(u + ':' + p).toString('base64');`,
          `console.log(await auth.check(h('alice', 'alice-password')), await auth.check(h('alice', 'no')), await auth.check(h('bob', 'alice-password')));`,
        ].join('\n'),
      );
      const t = performance.now();
      const r = spawnSync(process.execPath, [script], { env: { ...process.env, HASH: alice }, encoding: 'utf8', timeout: 30_000 });
      const ms = performance.now() - t;
      expect(r.signal).toBeNull();
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('true false false\n');
      expect(r.status).toBe(0);
      // The idle thread would end only after a minute: the process did not wait for it.
      expect(ms).toBeLessThan(20_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
