// The worker pool alone, on a hand-moved clock, with workers whose calls the test answers (or
// never answers): when it starts a call, when it grows, and when its extras end.
import { describe, expect, it } from 'vitest';
import type { RawProbe } from '../../src/probe/classify.js';
import { poolOptions, WorkerPool, type PoolOptions } from '../../src/probe/pool.js';
import type { ProbeWorker } from '../../src/probe/worker.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { HandWorker } from '../helpers/hand-worker.js';

const POOL: PoolOptions = { warm: 1, max: 4, idleMs: 60_000, slowMs: 50 };

function setup(options: Partial<PoolOptions> = {}, answer?: (path: string) => RawProbe | undefined, startsSlowly = false) {
  const clock = new FakeClock();
  const workers: HandWorker[] = [];
  const pool = new WorkerPool(
    { ...POOL, ...options },
    () => {
      const w = new HandWorker(answer);
      w.online = !startsSlowly;
      workers.push(w);
      return w;
    },
    clock,
  );
  /** One call on `path`, as the prober makes it: the worker goes back to the pool once the call returns. */
  const call = (path: string): Promise<{ raw: RawProbe; worker: ProbeWorker }> =>
    new Promise((resolve) =>
      pool.run((worker) =>
        worker.start(path, (raw) => {
          pool.returned(worker);
          resolve({ raw, worker });
        }),
      ),
    );
  return { clock, workers, pool, call };
}

/** Workers alive and not abandoned: idle ones and those with a call under way. */
const poolSize = (pool: WorkerPool): number => pool.threads().idle + pool.threads().busy;

describe('WorkerPool', () => {
  it('starts up to `warm` calls at once, then has work wait for a warm worker while no call is slow', async () => {
    const { clock, workers, pool, call } = setup({ warm: 2, max: 4 });
    const a = call('/a');
    void call('/b');
    const c = call('/c');
    expect(workers).toHaveLength(2);
    expect(pool.threads()).toEqual({ idle: 0, busy: 2 });
    clock.advance(49);
    expect(workers).toHaveLength(2);
    workers[0]!.answer();
    expect((await a).worker).toBe(workers[0]);
    // The returned worker takes the waiting call at once.
    expect(workers[0]!.calls).toEqual(['/a', '/c']);
    expect(workers[0]!.ref).toBe(false);
    workers[0]!.answer();
    await c;
    expect(workers).toHaveLength(2);
    expect(pool.threads()).toEqual({ idle: 1, busy: 1 });
  });

  it('grows only once a call has turned slow', () => {
    const { clock, workers, call } = setup({ warm: 2, max: 4 });
    for (const p of ['/a', '/b', '/c']) void call(p);
    clock.advance(49);
    expect(workers).toHaveLength(2);
    clock.advance(1);
    expect(workers).toHaveLength(3);
    expect(workers[2]!.calls).toEqual(['/c']);
  });

  it('a thread slow to start is not taken for a slow mount: the pool does not grow on it', async () => {
    const { clock, workers, call } = setup({ warm: 1, max: 8 }, () => ({ kind: 'ok' }), true);
    const calls = Array.from({ length: 100 }, (_, i) => call(`/m/${i}`));
    clock.advance(300); // six times the slow mark, and the one thread is still starting
    expect(workers).toHaveLength(1);
    workers[0]!.comeOnline();
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o.raw.kind === 'ok')).toHaveLength(100);
    expect(workers).toHaveLength(1);
  });

  it('grows on a call slow on a running thread, up to max threads, however long they take to start', async () => {
    const { clock, workers, call } = setup({ warm: 1, max: 8 }, (p) => (p === '/hung' ? undefined : { kind: 'ok' }), true);
    void call('/hung');
    workers[0]!.comeOnline();
    const calls = Array.from({ length: 20 }, (_, i) => call(`/m/${i}`));
    clock.advance(49);
    expect(workers).toHaveLength(1);
    clock.advance(1); // the call on /hung turns slow: up to max (8) new threads for the waiting probes
    expect(workers).toHaveLength(9);
    clock.advance(500); // they are still starting, so none of their calls is slow: no more
    expect(workers).toHaveLength(9);
    for (const w of workers) w.comeOnline();
    expect((await Promise.all(calls)).every((o) => o.raw.kind === 'ok')).toBe(true);
    expect(workers).toHaveLength(9);
  });

  it('grows by at most `max` fresh calls each time the ones under way turn slow', () => {
    const { clock, workers, call } = setup({ warm: 1, max: 2 });
    for (let i = 0; i < 20; i++) void call(`/m/${i}`);
    expect(workers).toHaveLength(1);
    clock.advance(50);
    expect(workers).toHaveLength(3);
    clock.advance(49);
    expect(workers).toHaveLength(3);
    clock.advance(1);
    expect(workers).toHaveLength(5);
  });

  it('ends idle workers beyond the warm ones once idle a while, and keeps the warm', async () => {
    const { clock, workers, pool, call } = setup({ warm: 1, max: 4, idleMs: 60_000 });
    const calls = [call('/a'), call('/b'), call('/c')];
    clock.advance(50);
    expect(workers).toHaveLength(3);
    for (const w of workers) w.answer();
    await Promise.all(calls);
    expect(poolSize(pool)).toBe(3);
    clock.advance(59_999);
    expect(workers.filter((w) => w.terminated)).toHaveLength(0);
    clock.advance(1);
    expect(workers.filter((w) => w.terminated)).toHaveLength(2);
    expect(poolSize(pool)).toBe(1);
    expect(clock.pending()).toBe(0);
  });

  it('a pool grown for one slow round shrinks back while later rounds are fast: they keep to the warm worker', async () => {
    const slow = new Set(['/a', '/b', '/c']);
    const { clock, workers, pool, call } = setup({ warm: 1, max: 4, idleMs: 60_000 }, (p) => (slow.has(p) ? undefined : { kind: 'ok' }));
    const first = [...slow].map((p) => call(p));
    clock.advance(50);
    expect(workers).toHaveLength(3);
    for (const w of workers) w.answer();
    await Promise.all(first);
    slow.clear();
    const callsBefore = workers.map((w) => w.calls.length);
    const round = () => Promise.all(Array.from({ length: 20 }, (_, i) => call(`/m/${i}`)));
    // Two fast rounds 30 s apart, both inside the extras' idle time.
    clock.advance(29_950);
    expect((await round()).every((o) => o.raw.kind === 'ok')).toBe(true);
    clock.advance(30_000);
    expect((await round()).every((o) => o.raw.kind === 'ok')).toBe(true);
    const used = workers.filter((w, i) => w.calls.length > callsBefore[i]!);
    expect(used).toHaveLength(1);
    expect(used[0]!.calls.length - callsBefore[workers.indexOf(used[0]!)]!).toBe(40);
    // A minute after the slow round the two extras end; the one the rounds ran on stays.
    clock.advance(50);
    expect(workers.filter((w) => w.terminated)).toHaveLength(2);
    expect(used[0]!.terminated).toBe(false);
    expect(poolSize(pool)).toBe(1);
    expect(workers).toHaveLength(3);
  });

  it('gives up a worker that died while idle instead of handing it a job', async () => {
    const { workers, call } = setup();
    const a = call('/a');
    workers[0]!.answer();
    await a;
    workers[0]!.dead = true;
    const again = call('/a');
    expect(workers).toHaveLength(2);
    expect(workers[0]!.terminated).toBe(true);
    workers[1]!.answer();
    expect(await again).toMatchObject({ raw: { kind: 'ok' } });
  });

  it('takes the pool from the configuration, the slow mark never past half the timeout', () => {
    expect(poolOptions({ timeoutMs: 5000, maxStuckPerMount: 3, workers: { warm: 2, max: 8, idleMs: 60_000 } })).toEqual({
      warm: 2,
      max: 8,
      idleMs: 60_000,
      slowMs: 50,
    });
    expect(poolOptions({ timeoutMs: 40, maxStuckPerMount: 3, workers: { warm: 1, max: 1, idleMs: 1000 } }).slowMs).toBe(20);
  });

  it('an abandoned call stops counting; its worker comes back only once the call returns', async () => {
    const { workers, pool, call } = setup({ warm: 1, max: 4 });
    const hung = call('/hung');
    pool.abandon(workers[0]!);
    expect(pool.threads()).toEqual({ idle: 0, busy: 0 });
    // The abandoned call no longer holds the warm place: the next call starts at once, on a new worker.
    const b = call('/b');
    expect(workers).toHaveLength(2);
    workers[1]!.answer();
    await b;
    workers[0]!.answer();
    expect((await hung).worker).toBe(workers[0]);
    expect(pool.threads()).toEqual({ idle: 2, busy: 0 });
    // The latest returned is taken first.
    void call('/c');
    expect(workers[0]!.calls).toEqual(['/hung', '/c']);
    expect(workers).toHaveLength(2);
  });

  it('ends a worker that died during its call instead of taking it back', async () => {
    const { workers, pool, call } = setup();
    const a = call('/a');
    workers[0]!.dead = true;
    workers[0]!.answer({ kind: 'error', errno: undefined, code: 'EWORKER' });
    await a;
    expect(workers[0]!.terminated).toBe(true);
    expect(pool.threads()).toEqual({ idle: 0, busy: 0 });
  });

  it('close ends idle workers and its timers, starts nothing more, and ends a busy worker once its call returns', async () => {
    const { clock, workers, pool, call } = setup({ warm: 1, max: 1 });
    const a = call('/a');
    const b = call('/b');
    void call('/c');
    clock.advance(50); // /a turns slow: /b gets a worker of its own; /c waits for the next to turn slow
    expect(workers).toHaveLength(2);
    workers[0]!.answer();
    await a;
    expect(pool.threads()).toEqual({ idle: 1, busy: 1 });
    expect(clock.pending()).toBe(1);
    pool.close();
    expect(workers[0]!.terminated).toBe(true);
    expect(clock.pending()).toBe(0);
    clock.advance(1000);
    expect(workers).toHaveLength(2);
    expect(workers[1]!.terminated).toBe(false);
    workers[1]!.answer();
    await b;
    expect(workers.map((w) => w.terminated)).toEqual([true, true]);
    expect(pool.threads()).toEqual({ idle: 0, busy: 0 });
  });
});
