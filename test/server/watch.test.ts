// The server watch on a hand-moved clock, its checks answered by the test (the check seam): what it
// reports and when, one check in flight per server, dropped servers and stop; then once for real,
// on the real clock, against a loopback listener that goes away and comes back on the same port.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { systemClock, type TimerHandle } from '../../src/clock.js';
import type { ServerAddress } from '../../src/server/address.js';
import { createServerCheck, type CheckOutcome, type CheckServer } from '../../src/server/check.js';
import { ServerWatch, type ServerReport, type WatchedServer } from '../../src/server/watch.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** One check the watch started, answered when the test says. */
interface Call {
  address: ServerAddress;
  netns: string | null;
  timeoutMs: number;
  at: number;
  answer: (o: CheckOutcome) => void;
}

/** The hand-moved clock, remembering which of its timers were unref'd. */
class UnrefClock extends FakeClock {
  readonly unrefd = new Set<TimerHandle>();
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = super.setTimeout(fn, ms);
    handle.unref = () => this.unrefd.add(handle);
    return handle;
  }
}

const UP: CheckOutcome = { answering: true, ms: 1 };
const refused: CheckOutcome = { answering: false, ms: 1, reason: 'refused' };

const A: WatchedServer = { key: 'nfs-a:2049', address: { host: '10.0.0.1', port: 2049 }, from: 'autofs' };
const B: WatchedServer = { key: 'nfs-b:2049', address: { host: '10.0.0.2', port: 2049 }, from: 'self' };

/** Lets answered checks (promises) settle. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function setup(check?: CheckServer) {
  const clock = new UnrefClock();
  const calls: Call[] = [];
  const reports: ServerReport[] = [];
  let autofsNetns = '/proc/100/ns/net';
  const scripted: CheckServer = (address, netns, timeoutMs) =>
    new Promise((answer) => calls.push({ address, netns, timeoutMs, at: clock.now(), answer }));
  const watch = new ServerWatch({
    clock,
    check: check ?? scripted,
    intervalMs: 1000,
    timeoutMs: 500,
    netns: (from) => (from === 'autofs' ? autofsNetns : null),
    onReport: (r) => reports.push(r),
  });
  /** Checks started for `host`. */
  const callsFor = (host: string) => calls.filter((c) => c.address.host === host);
  /** Answers the last check started for `host`. */
  const answer = async (host: string, o: CheckOutcome) => {
    callsFor(host).at(-1)?.answer(o);
    await settle();
  };
  return { clock, calls, reports, watch, callsFor, answer, setAutofsNetns: (p: string) => (autofsNetns = p) };
}

describe('ServerWatch', () => {
  it('checks a new server at once, from its namespace, and reports its first outcome', async () => {
    const { clock, calls, reports, watch, answer } = setup();
    watch.watch([A, B]);
    expect(calls.map((c) => [c.address, c.netns, c.timeoutMs, c.at])).toEqual([
      [A.address, '/proc/100/ns/net', 500, 0],
      [B.address, null, 500, 0],
    ]);
    clock.advance(30);
    await answer('10.0.0.1', UP);
    clock.advance(20);
    await answer('10.0.0.2', refused);
    expect(reports).toEqual([
      { key: A.key, address: A.address, answering: true, at: 30, downSince: null, unanswered: 0, reason: null },
      { key: B.key, address: B.address, answering: false, at: 50, downSince: null, unanswered: 1, reason: 'refused' },
    ]);
    expect(watch.watched()).toEqual([A.key, B.key]);
  });

  it('checks every interval and says nothing while the answer stays the same', async () => {
    const { clock, reports, watch, callsFor, answer } = setup();
    watch.watch([A]);
    await answer('10.0.0.1', UP);
    for (let i = 1; i <= 5; i++) {
      clock.advance(999);
      expect(callsFor('10.0.0.1')).toHaveLength(i);
      clock.advance(1);
      expect(callsFor('10.0.0.1')).toHaveLength(i + 1);
      await answer('10.0.0.1', UP);
    }
    expect(callsFor('10.0.0.1').map((c) => c.at)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(reports).toHaveLength(1);
  });

  it('reports each change: down with its reason, back up with when the spell of unanswered checks began and how many', async () => {
    const { clock, reports, watch, answer } = setup();
    watch.watch([A]);
    await answer('10.0.0.1', UP);
    clock.advance(1000); // check started at 1000
    clock.advance(500);
    await answer('10.0.0.1', { answering: false, ms: 500, reason: 'timeout' });
    clock.advance(500); // 2000
    await answer('10.0.0.1', refused);
    clock.advance(1000); // 3000
    clock.advance(40);
    await answer('10.0.0.1', UP);
    clock.advance(960); // 4000
    await answer('10.0.0.1', UP);
    expect(reports.map(({ answering, at, downSince, unanswered, reason }) => ({ answering, at, downSince, unanswered, reason }))).toEqual([
      { answering: true, at: 0, downSince: null, unanswered: 0, reason: null },
      { answering: false, at: 1500, downSince: null, unanswered: 1, reason: 'timeout' },
      { answering: true, at: 3040, downSince: 1000, unanswered: 2, reason: null },
    ]);
  });

  it('never has two checks of a server in flight: a slow one is not doubled, and the next follows it when overdue', async () => {
    const { clock, watch, callsFor, answer } = setup();
    watch.watch([A]);
    clock.advance(2500);
    expect(callsFor('10.0.0.1')).toHaveLength(1);
    expect(clock.pending()).toBe(0); // no timer while the only server's check runs
    // Another server's checks end meanwhile, and the watch plans at each end: A is left alone.
    watch.watch([A, B]);
    for (let t = 2500; t < 4500; t += 500) {
      await answer('10.0.0.2', UP);
      clock.advance(500);
    }
    expect(callsFor('10.0.0.2').length).toBeGreaterThan(1);
    expect(callsFor('10.0.0.1')).toHaveLength(1);
    await answer('10.0.0.1', refused);
    expect(callsFor('10.0.0.1').map((c) => c.at)).toEqual([0, 4500]);
    clock.advance(999);
    expect(callsFor('10.0.0.1')).toHaveLength(2);
    clock.advance(1);
    expect(callsFor('10.0.0.1')).toHaveLength(2); // still in flight
    await answer('10.0.0.1', refused);
    expect(callsFor('10.0.0.1').map((c) => c.at)).toEqual([0, 4500, 5500]);
  });

  it('the same set again starts nothing; netns is asked at each check', async () => {
    const { clock, calls, watch, answer, setAutofsNetns } = setup();
    watch.watch([A]);
    watch.watch([{ ...A, address: { ...A.address } }]);
    expect(calls).toHaveLength(1);
    await answer('10.0.0.1', UP);
    watch.watch([A]);
    expect(calls).toHaveLength(1);
    setAutofsNetns('/proc/200/ns/net'); // the automount daemon restarted
    clock.advance(1000);
    expect(calls.map((c) => c.netns)).toEqual(['/proc/100/ns/net', '/proc/200/ns/net']);
  });

  it('a dropped server is forgotten: its late result reports nothing; added again, it waits for that check to end', async () => {
    const { clock, reports, watch, callsFor, answer } = setup();
    watch.watch([A, B]);
    await answer('10.0.0.2', UP);
    watch.watch([B]);
    expect(watch.watched()).toEqual([B.key]);
    await answer('10.0.0.1', UP);
    expect(reports.map((r) => r.key)).toEqual([B.key]);

    // Dropped while a check runs, then back: one check at a time still.
    clock.advance(1000);
    watch.watch([A, B]);
    expect(callsFor('10.0.0.1')).toHaveLength(2);
    watch.watch([B]);
    watch.watch([A, B]);
    expect(callsFor('10.0.0.1')).toHaveLength(2);
    await answer('10.0.0.1', refused); // the dropped one's: ignored
    expect(callsFor('10.0.0.1')).toHaveLength(3); // the new one, at once
    expect(reports.map((r) => r.key)).toEqual([B.key]);
    await answer('10.0.0.1', UP);
    expect(reports.map((r) => [r.key, r.answering])).toEqual([
      [B.key, true],
      [A.key, true],
    ]);
  });

  it('a server given a new address under its key is a new server', async () => {
    const { calls, reports, watch, answer } = setup();
    watch.watch([A]);
    await answer('10.0.0.1', UP);
    const moved: WatchedServer = { ...A, address: { host: '10.0.0.9', port: 2049 } };
    watch.watch([moved]);
    expect(calls.map((c) => c.address.host)).toEqual(['10.0.0.1', '10.0.0.9']);
    await answer('10.0.0.9', UP);
    expect(reports.map((r) => [r.address.host, r.answering])).toEqual([
      ['10.0.0.1', true],
      ['10.0.0.9', true],
    ]);
  });

  it("one unref'd timer, only while a server is watched", async () => {
    const { clock, watch, answer } = setup();
    watch.watch([]);
    expect(clock.pending()).toBe(0);
    watch.watch([A, B]);
    await answer('10.0.0.1', UP);
    await answer('10.0.0.2', UP);
    expect(clock.pending()).toBe(1);
    expect(clock.unrefd.size).toBeGreaterThan(0);
    watch.watch([]);
    expect(clock.pending()).toBe(0);
    expect(watch.watched()).toEqual([]);
  });

  it('stop clears everything: no timer, no checks, and a check still running reports nothing', async () => {
    const { clock, calls, reports, watch, answer } = setup();
    watch.watch([A, B]);
    await answer('10.0.0.2', UP);
    watch.stop();
    expect(clock.pending()).toBe(0);
    expect(watch.watched()).toEqual([]);
    await answer('10.0.0.1', refused);
    clock.advance(10_000);
    watch.watch([A]);
    expect(calls).toHaveLength(2);
    expect(reports.map((r) => r.key)).toEqual([B.key]);
  });

  it('a check seam that throws is a not-answering outcome, and the watch goes on', async () => {
    let n = 0;
    const { clock, reports, watch } = setup(() => {
      n += 1;
      if (n === 1) throw new Error('boom');
      return Promise.resolve(UP);
    });
    watch.watch([A]);
    await settle();
    clock.advance(1000);
    await settle();
    expect(reports.map((r) => [r.answering, r.reason])).toEqual([
      [false, 'check failed: Error: boom'],
      [true, null],
    ]);
  });
});

describe('ServerWatch with the real check, on the real clock', () => {
  it('a loopback listener closed and reopened on its port: answering, refused, answering again with downSince', async () => {
    const listen = async (port: number) => {
      const server = net.createServer((c) => c.on('error', () => undefined));
      await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port }, resolve));
      return server;
    };
    let server = await listen(0);
    const port = (server.address() as net.AddressInfo).port;
    const reports: ServerReport[] = [];
    const watch = new ServerWatch({
      clock: systemClock,
      check: createServerCheck({ clock: systemClock }),
      intervalMs: 50,
      timeoutMs: 1000,
      netns: () => null,
      onReport: (r) => reports.push(r),
    });
    const until = async (n: number) => {
      const deadline = performance.now() + 5000;
      while (reports.length < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(reports).toHaveLength(n);
    };
    try {
      watch.watch([{ key: 'loopback', address: { host: '127.0.0.1', port }, from: 'self' }]);
      await until(1);
      const closedAt = systemClock.now();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await until(2);
      await new Promise((r) => setTimeout(r, 200)); // refused again and again: no report
      expect(reports).toHaveLength(2);
      const reopenedAt = systemClock.now();
      server = await listen(port);
      await until(3);
      await new Promise((r) => setTimeout(r, 200));
      expect(reports.map((r) => [r.answering, r.reason])).toEqual([
        [true, null],
        [false, 'refused'],
        [true, null],
      ]);
      const [, down, up] = reports;
      expect(down?.unanswered).toBe(1);
      expect(up?.downSince).toBeGreaterThanOrEqual(closedAt);
      expect(up?.downSince).toBeLessThanOrEqual(down?.at ?? -1);
      expect(up?.at).toBeGreaterThanOrEqual(reopenedAt);
    } finally {
      watch.stop();
      server.close();
    }
  });
});
