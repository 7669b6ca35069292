// The prober's bookkeeping with workers whose calls the test answers (or never answers) by hand.
import { describe, expect, it } from 'vitest';
import type { RawProbe } from '../../src/probe/classify.js';
import { Prober, type ReleasedCall } from '../../src/probe/prober.js';
import type { ProbeWorker } from '../../src/probe/worker.js';
import { FakeClock } from '../helpers/fake-clock.js';

class HandWorker implements ProbeWorker {
  calls: string[] = [];
  done: ((raw: RawProbe) => void) | undefined;
  terminated = false;
  ref = true;
  start(path: string, done: (raw: RawProbe) => void): void {
    this.calls.push(path);
    this.done = done;
  }
  setRef(ref: boolean): void {
    this.ref = ref;
  }
  terminate(): void {
    this.terminated = true;
  }
  dead = false;
  usable(): boolean {
    return !this.dead;
  }
  answer(raw: RawProbe = { kind: 'ok' }): void {
    const d = this.done;
    this.done = undefined;
    d?.(raw);
  }
}

function setup(maxStuck = 3) {
  const clock = new FakeClock();
  const workers: HandWorker[] = [];
  const released: ReleasedCall[] = [];
  const prober = new Prober({
    timeoutMs: 5000,
    maxStuck,
    clock,
    spawn: () => {
      const w = new HandWorker();
      workers.push(w);
      return w;
    },
    onReleased: (c) => released.push(c),
  });
  return { clock, workers, released, prober };
}

describe('Prober', () => {
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
    expect(prober.stuckCount('/a')).toBe(1);
    for (let tick = 0; tick < 20; tick++) {
      clock.advance(1000);
      // The blocked call's start, not the skip's: its age is what tells a hang from a slow mount.
      expect(await prober.probe('/a', 7)).toMatchObject({ raw: { kind: 'timeout' }, stuck: true, skipped: 'same_mount', blockedSince: started });
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
    expect(prober.stuckTotal()).toBe(2);
  });

  it('takes a stuck worker back when its call returns, and reports how long it blocked', async () => {
    const { clock, workers, released, prober } = setup();
    const p = prober.probe('/a', 7);
    clock.advance(5000);
    await p;
    clock.advance(60_000);
    workers[0]!.answer({ kind: 'error', errno: -107, code: 'ENOTCONN' });
    expect(released).toEqual([{ path: '/a', blockedMs: 65_000, raw: { kind: 'error', errno: -107, code: 'ENOTCONN' }, stillStuck: 0 }]);
    expect(prober.stuckCount('/a')).toBe(0);
    const again = prober.probe('/a', 7);
    workers[0]!.answer();
    expect(await again).toMatchObject({ raw: { kind: 'ok' }, stuck: false });
    expect(workers).toHaveLength(1);
  });

  it('does not let one hung path delay another', async () => {
    const { clock, workers, prober } = setup();
    const a = prober.probe('/a', 7);
    const b = prober.probe('/b', 8);
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
    const { clock, workers, prober } = setup();
    const a = prober.probe('/a', 7);
    workers[0]!.answer();
    await a;
    const b = prober.probe('/b', 8);
    clock.advance(5000);
    await b;
    prober.close();
    expect(workers.map((w) => w.terminated)).toEqual([true, true]);
    expect(prober.busyTotal()).toBe(1);
  });
});
