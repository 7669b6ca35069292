// The prober's per-path bookkeeping (sharing, deadlines, stuck calls) on the real pool, with
// workers whose calls the test answers (or never answers).
import { describe, expect, it } from 'vitest';
import type { RawProbe } from '../../src/probe/classify.js';
import type { PoolOptions } from '../../src/probe/pool.js';
import { Prober, type ReleasedCall } from '../../src/probe/prober.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { HandWorker } from '../helpers/hand-worker.js';

const POOL: PoolOptions = { warm: 1, max: 4, idleMs: 60_000, slowMs: 50 };

function setup(maxStuck = 3, pool: Partial<PoolOptions> = {}, answer?: (path: string) => RawProbe | undefined, startsSlowly = false) {
  const clock = new FakeClock();
  const workers: HandWorker[] = [];
  const released: ReleasedCall[] = [];
  const prober = new Prober({
    timeoutMs: 5000,
    maxStuck,
    pool: { ...POOL, ...pool },
    clock,
    spawn: () => {
      const w = new HandWorker(answer);
      w.online = !startsSlowly;
      workers.push(w);
      return w;
    },
    onReleased: (c) => released.push(c),
  });
  return { clock, workers, released, prober };
}

/** Workers alive and not stuck: idle ones and those with a call under way. */
const poolSize = (prober: Prober): number => prober.threads().idle + prober.threads().busy;

/** Lets answered calls (a microtask away, as a thread's message would be) settle. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('Prober', () => {
  it('counts its threads by state: idle, busy, stuck', async () => {
    const { clock, workers, prober } = setup();
    void prober.probe('/hung', 1);
    expect(prober.threads()).toEqual({ idle: 0, busy: 1, stuck: 0 });
    clock.advance(5000);
    expect(prober.threads()).toEqual({ idle: 0, busy: 0, stuck: 1 });
    const b = prober.probe('/b', 2);
    expect(prober.threads()).toEqual({ idle: 0, busy: 1, stuck: 1 });
    workers[1]!.answer();
    await b;
    expect(prober.threads()).toEqual({ idle: 1, busy: 0, stuck: 1 });
  });

  it('reuses one worker per path for probe after probe', async () => {
    const { workers, prober } = setup();
    for (let i = 0; i < 3; i++) {
      const p = prober.probe('/a', 7);
      workers[0]!.answer();
      expect(await p).toMatchObject({ raw: { kind: 'ok' }, stuck: false, skipped: null });
    }
    expect(workers).toHaveLength(1);
    expect(workers[0]!.calls).toEqual(['/a', '/a', '/a']);
    expect(workers[0]!.ref).toBe(false);
  });

  it('times out a call, and starts no new one while the path holds the same mount', async () => {
    const { clock, workers, prober } = setup();
    const started = clock.now();
    const p = prober.probe('/a', 7);
    clock.advance(5000);
    expect(await p).toEqual({ raw: { kind: 'timeout' }, ms: 5000, stuck: true, skipped: null, blockedSince: started });
    expect(prober.threads().stuck).toBe(1);
    for (let tick = 0; tick < 20; tick++) {
      clock.advance(1000);
      // The blocked call's start, not the skip's: its age is what tells a hang from a slow mount.
      expect(await prober.probe('/a', 7)).toMatchObject({
        raw: { kind: 'timeout' },
        stuck: true,
        skipped: 'same_mount',
        blockedSince: started,
      });
    }
    expect(workers).toHaveLength(1);
  });

  it('probes with a new worker once the path holds another mount, up to the cap', async () => {
    const { clock, workers, prober } = setup(2);
    const first = prober.probe('/a', 7);
    clock.advance(5000);
    await first;
    const secondAt = clock.now();
    const second = prober.probe('/a', 8); // lazily unmounted, mounted afresh, hangs again
    clock.advance(5000);
    expect(await second).toMatchObject({ stuck: true, skipped: null });
    expect(workers).toHaveLength(2);
    // The cap reports the youngest blocked call's start.
    expect(await prober.probe('/a', 9)).toMatchObject({ stuck: true, skipped: 'stuck_cap', blockedSince: secondAt });
    expect(workers).toHaveLength(2);
    expect(prober.threads().stuck).toBe(2);
  });

  it('takes a stuck worker back when its call returns, and reports how long it blocked', async () => {
    const { clock, workers, released, prober } = setup();
    const p = prober.probe('/a', 7);
    clock.advance(5000);
    await p;
    clock.advance(60_000);
    workers[0]!.answer({ kind: 'error', errno: -107, code: 'ENOTCONN' });
    expect(released).toEqual([{ path: '/a', blockedMs: 65_000, raw: { kind: 'error', errno: -107, code: 'ENOTCONN' }, stillStuck: 0 }]);
    expect(prober.threads().stuck).toBe(0);
    const again = prober.probe('/a', 7);
    workers[0]!.answer();
    expect(await again).toMatchObject({ raw: { kind: 'ok' }, stuck: false });
    expect(workers).toHaveLength(1);
  });

  it('does not let one hung path delay another', async () => {
    const { clock, workers, prober } = setup();
    const a = prober.probe('/a', 7);
    const b = prober.probe('/b', 8);
    // One warm worker: /b waits until the call on /a has turned slow, then gets one of its own.
    expect(workers).toHaveLength(1);
    clock.advance(50);
    expect(workers).toHaveLength(2);
    workers[1]!.answer();
    expect(await b).toMatchObject({ raw: { kind: 'ok' } });
    clock.advance(5000);
    expect(await a).toMatchObject({ raw: { kind: 'timeout' } });
  });

  it('shares a call in flight instead of starting a second one on the same path', async () => {
    const { workers, prober } = setup();
    const p1 = prober.probe('/a', 7);
    const p2 = prober.probe('/a', 7);
    expect(prober.busyTotal()).toBe(1);
    workers[0]!.answer();
    expect(await p2).toBe(await p1);
    expect(workers[0]!.calls).toHaveLength(1);
  });

  it('replaces a worker that died instead of reusing it', async () => {
    const { workers, prober } = setup();
    const p = prober.probe('/a', 7);
    workers[0]!.dead = true;
    workers[0]!.answer({ kind: 'error', errno: undefined, code: 'EWORKER' });
    expect(await p).toMatchObject({ raw: { kind: 'error', code: 'EWORKER' }, stuck: false });
    expect(workers[0]!.terminated).toBe(true);
    const again = prober.probe('/a', 7);
    expect(workers).toHaveLength(2);
    workers[1]!.answer();
    expect(await again).toMatchObject({ raw: { kind: 'ok' } });
  });

  it('close ends idle workers and the stuck ones', async () => {
    const { clock, workers, prober } = setup(3, { warm: 2 });
    const a = prober.probe('/a', 7);
    const b = prober.probe('/b', 8);
    workers[0]!.answer();
    await a;
    clock.advance(5000);
    await b;
    prober.close();
    expect(workers.map((w) => w.terminated)).toEqual([true, true]);
    expect(prober.busyTotal()).toBe(1);
    expect(clock.pending()).toBe(0);
  });

  it('serves a healthy round of many paths on the warm workers alone', async () => {
    const { workers, prober } = setup(3, { warm: 2 }, () => ({ kind: 'ok' }));
    const paths = Array.from({ length: 100 }, (_, i) => `/m/${i}`);
    const results = await Promise.all(paths.map((p, i) => prober.probe(p, i)));
    expect(results.every((r) => r.raw.kind === 'ok' && !r.stuck)).toBe(true);
    expect(workers).toHaveLength(2);
    expect(workers.flatMap((w) => w.calls).sort()).toEqual([...paths].sort());
    expect(poolSize(prober)).toBe(2);
  });

  it('ends a round of 500 paths with 10 hung within timeout + 0.5 s, the healthy ones on time', async () => {
    const hung = new Set(Array.from({ length: 10 }, (_, i) => `/m/${i * 50 + 7}`));
    const { clock, workers, prober } = setup(3, { warm: 2, max: 8 }, (p) => (hung.has(p) ? undefined : { kind: 'ok' }));
    const paths = Array.from({ length: 500 }, (_, i) => `/m/${i}`);
    const doneAt = new Map<string, number>();
    const round = Promise.all(paths.map((p, i) => prober.probe(p, i).then((r) => (doneAt.set(p, clock.now()), r))));
    while (doneAt.size < paths.length && clock.now() <= 10_000) {
      await settle();
      clock.advance(10);
    }
    const results = await round;
    const healthyDone = paths.filter((p) => !hung.has(p)).map((p) => doneAt.get(p)!);
    const hungDone = [...hung].map((p) => doneAt.get(p)!);
    expect(Math.max(...healthyDone)).toBeLessThanOrEqual(500);
    expect(Math.max(...hungDone)).toBeLessThanOrEqual(5500);
    expect(results.filter((r) => r.raw.kind === 'timeout').length).toBe(10);
    // Each hung call holds a worker; the rest of the round needed only a few more.
    expect(workers.length).toBeLessThanOrEqual(2 + 10 + 8);
    expect(prober.threads().stuck).toBe(10);
  });
});
