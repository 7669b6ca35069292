// A probe worker whose calls the test answers (or never answers): the worker pool, the prober and
// the wired daemon run on it without threads.
import type { RawProbe } from '../../src/probe/classify.js';
import type { ProbeWorker } from '../../src/probe/worker.js';

export class HandWorker implements ProbeWorker {
  /** `answer`: answers each call by itself, a microtask later, unless it gives undefined (hung). */
  constructor(private readonly auto?: (path: string) => RawProbe | undefined) {}
  calls: string[] = [];
  done: ((raw: RawProbe) => void) | undefined;
  terminated = false;
  ref = true;
  start(path: string, done: (raw: RawProbe) => void): void {
    this.calls.push(path);
    this.done = done;
    const raw = this.auto?.(path);
    if (raw) this.whenOnline(() => queueMicrotask(() => this.answer(raw)));
  }
  /** Until `comeOnline()`, when built with `startsSlowly`. */
  online = true;
  private onOnline: (() => void)[] = [];
  whenOnline(fn: () => void): void {
    if (this.online) fn();
    else this.onOnline.push(fn);
  }
  comeOnline(): void {
    this.online = true;
    for (const fn of this.onOnline.splice(0)) fn();
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
