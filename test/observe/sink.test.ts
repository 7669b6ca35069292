import { describe, expect, it } from 'vitest';
import type { HolderReport } from '../../src/holders/tracker.js';
import { fanOut, fanOutHolders, type HolderSink, type ControllerSink } from '../../src/observe/sink.js';

function recorder<S extends object>(name: string, calls: string[], methods: (keyof S)[]): S {
  return Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) => calls.push(`${name}.${String(m)}(${args.length})`)])) as S;
}

describe('fanOut', () => {
  it('passes every monitor report to each sink, in order', () => {
    const calls: string[] = [];
    const methods: (keyof ControllerSink)[] = [
      'probed',
      'health',
      'held',
      'recoveryStarted',
      'step',
      'recoveryFinished',
      'released',
      'overlapped',
      'cycleFinished',
      'waitingForHangs',
      'earlyProbe',
      'earlyProbed',
    ];
    const both = fanOut([recorder<ControllerSink>('a', calls, methods), recorder<ControllerSink>('b', calls, methods)]);
    both.probed([], 3);
    both.overlapped();
    expect(calls).toEqual(['a.probed(2)', 'b.probed(2)', 'a.overlapped(0)', 'b.overlapped(0)']);
  });

  it('passes every holder report to each sink', () => {
    const calls: string[] = [];
    const methods: (keyof HolderSink)[] = [
      'holderSeen',
      'holderDetached',
      'holderGone',
      'holdersCounted',
      'scanned',
      'restart',
      'restartDidNotHelp',
    ];
    const both = fanOutHolders([recorder<HolderSink>('a', calls, methods), recorder<HolderSink>('b', calls, methods)]);
    both.restartDidNotHelp('x.service', [] as HolderReport[]);
    both.holdersCounted(new Map());
    expect(calls).toEqual(['a.restartDidNotHelp(2)', 'b.restartDidNotHelp(2)', 'a.holdersCounted(1)', 'b.holdersCounted(1)']);
  });
});
