// Resetting a client's connection that waits out its retransmission backoff, for real: in a network
// namespace of its own, a client writes to a listener over loopback; loopback goes down long enough
// for the kernel's retransmission timer to back off, comes up again, and the reset is made with the
// real `ss` through the real nsenter, as the daemon makes it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createRunner } from '../../src/exec/runner.js';
import { createStalledReset } from '../../src/server/reset-stalled.js';
import { parseSs } from '../../src/server/stalled.js';
import type { WatchedServer } from '../../src/server/watch.js';

const tool = (name: string): boolean => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
const why =
  process.getuid?.() !== 0
    ? 'not root: no network namespace'
    : !tool('ip') || !tool('ss') || !tool('nsenter')
      ? 'no ip, ss or nsenter'
      : null;
if (why) console.warn(`reset-stalled tests skipped: ${why}`);

const NS = `nhc-stalled-${process.pid}`;
const PORT = 40_000 + (process.pid % 10_000);
const ip = (...args: string[]): void => void spawnSync('ip', args, { stdio: 'ignore' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SERVER: WatchedServer = { key: `autofs 127.0.0.1:${PORT}`, address: { host: '127.0.0.1', port: PORT }, from: 'autofs' };
const reset = createStalledReset({ run: createRunner(systemClock, { launcher: 'node' }), netns: () => `/run/netns/${NS}` });

// A listener and a client of it that writes every 200 ms; prints "ready" once connected, and "reset"
// when its connection is reset under it, then connects again.
const PAIR = `
const net = require('node:net');
const connect = () => {
  const c = net.connect(${PORT}, '127.0.0.1', () => console.log('ready'));
  const beat = setInterval(() => c.write('x'.repeat(100)), 200);
  c.on('error', (e) => { console.log('reset ' + e.code); clearInterval(beat); setTimeout(connect, 100); });
};
net.createServer((c) => { c.on('data', () => {}); c.on('error', () => {}); }).listen(${PORT}, '127.0.0.1', connect);`;

/** Loopback down until the client's next retransmission is seconds away, then up again. */
async function stall(): Promise<void> {
  ip('-n', NS, 'link', 'set', 'lo', 'down');
  // Retransmissions at 0.2, 0.6, 1.4, 3.0, 6.2 s…
  const waiting = (): boolean => {
    const ss = spawnSync('ip', ['netns', 'exec', NS, 'ss', '-tno', 'dst', '127.0.0.1', 'dport', '=', `:${PORT}`], { encoding: 'utf8' });
    return parseSs(ss.stdout).some((x) => x.timer?.name === 'on' && x.timer.retransmits >= 4 && x.timer.inMs > 2_000);
  };
  for (let i = 0; i < 150 && !waiting(); i++) await sleep(100);
  ip('-n', NS, 'link', 'set', 'lo', 'up');
}

describe.skipIf(why !== null)('createStalledReset (root, a network namespace of its own)', () => {
  let pair: ChildProcess | undefined;
  let out = '';

  beforeAll(async () => {
    ip('netns', 'add', NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    pair = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', PAIR], { stdio: ['ignore', 'pipe', 'inherit'] });
    pair.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
    for (let i = 0; i < 50 && !out.includes('ready'); i++) await sleep(100);
    expect(out).toContain('ready');
  });

  afterAll(() => {
    pair?.kill('SIGKILL');
    ip('netns', 'del', NS);
  });

  it('finds nothing to reset on a healthy connection', async () => {
    expect(await reset(SERVER, false)).toMatchObject({ result: 'none', stalled: [], error: null });
  });

  it('finds the connection waiting to retransmit once the path is back, says so in a dry run, then resets it', async () => {
    await stall();

    const dry = await reset(SERVER, true);
    expect(dry.result).toBe('dry_run');
    expect(dry.stalled).toHaveLength(1);
    expect(dry.stalled[0]!.waitMs).toBeGreaterThan(1_000);
    expect(dry.stalled[0]!.retransmits).toBeGreaterThanOrEqual(4);

    const done = await reset(SERVER, false);
    expect(done).toMatchObject({ result: 'ok', error: null });
    expect(done.stalled.map((s) => s.local)).toEqual(dry.stalled.map((s) => s.local));
    for (let i = 0; i < 20 && !out.includes('reset'); i++) await sleep(100);
    expect(out).toMatch(/reset ECONN(ABORTED|RESET)/);
    expect(await reset(SERVER, false)).toMatchObject({ result: 'none' });
  }, 20_000);

  it('without CAP_NET_ADMIN ss -K is refused yet exits 0: reported failed, with what ss said, the connection left as it was', async () => {
    await stall();
    // The daemon's own commands, run with CAP_NET_ADMIN dropped from their bounding set, as a unit without it would.
    const real = createRunner(systemClock, { launcher: 'node' });
    const withoutNetAdmin = createStalledReset({
      run: (argv, deadlineMs) => real(['setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin', '--', ...argv], deadlineMs),
      netns: () => `/run/netns/${NS}`,
    });
    const r = await withoutNetAdmin(SERVER, false);
    expect(r.result).toBe('failed');
    expect(r.error).toMatch(/^still waiting after ss -K \(.*(not permitted|denied).*\): 127\.0\.0\.1:\d+$/i);
    expect(await reset(SERVER, true)).toMatchObject({ result: 'dry_run' });
    expect(await reset(SERVER, false)).toMatchObject({ result: 'ok' });
  }, 25_000);

  it('reports a failed ss (a namespace that does not exist) as failed, with the command', async () => {
    const broken = createStalledReset({ run: createRunner(systemClock, { launcher: 'node' }), netns: () => '/run/netns/none-such' });
    const r = await broken(SERVER, false);
    expect(r.result).toBe('failed');
    expect(r.error).toMatch(/^nsenter --net=\/run\/netns\/none-such -- ss -tno/);
  });
});
