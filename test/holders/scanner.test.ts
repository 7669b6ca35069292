// The scanners on real threads and processes: the real worker over the real /proc, and a worker
// that really blocks its thread (test/fixtures/blocking-scan-worker.mjs) for the deadline logic.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { ScanInput } from '../../src/holders/scan.js';
import { createProcessScanner, createThreadScanner } from '../../src/holders/scanner.js';
import { readMountTable } from '../../src/probe/mountinfo.js';
import { built, requires } from '../helpers/prerequisite.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { waitFor } from '../helpers/faultfs.js';

const BLOCKING = join(import.meta.dirname, '..', 'fixtures', 'blocking-scan-worker.mjs');
const nothingWatched = (): ScanInput => ({ watched: [], table: readMountTable(), skipPids: [process.pid], memory: [] });

requires(built()).describe('holder scanners on the real /proc', () => {
  it('the idle thread ends a minute after its last scan, and a later scan starts another', async () => {
    const clock = new FakeClock();
    const scanner = createThreadScanner({ timeoutMs: 5000, clock });
    const threads = (): number => readdirSync('/proc/self/task').length;
    expect((await scanner.scan(nothingWatched())).kind).toBe('done');
    const during = threads();
    clock.advance(59_999);
    expect(threads()).toBe(during);
    clock.advance(1);
    expect(await waitFor(() => threads() === during - 1, 5000)).toBe(true);
    expect((await scanner.scan(nothingWatched())).kind).toBe('done');
    scanner.close();
  });

  it('warm starts the thread ahead of a scan, once; the scan then runs on it; unused, it ends after the idle minute', async () => {
    const clock = new FakeClock();
    const scanner = createThreadScanner({ timeoutMs: 5000, clock });
    const threads = (): number => readdirSync('/proc/self/task').length;
    // The thread count of this process once the earlier tests' threads have ended.
    let before = -1;
    expect(await waitFor(() => before === (before = threads()), 5000, 200)).toBe(true);
    scanner.warm();
    scanner.warm();
    expect(await waitFor(() => threads() === before + 1, 5000)).toBe(true);
    expect((await scanner.scan(nothingWatched())).kind).toBe('done');
    expect(threads()).toBe(before + 1);
    clock.advance(60_000);
    expect(await waitFor(() => threads() === before, 5000)).toBe(true);
    scanner.warm();
    expect(await waitFor(() => threads() === before + 1, 5000)).toBe(true);
    clock.advance(60_000);
    expect(await waitFor(() => threads() === before, 5000)).toBe(true);
    scanner.close();
  });

  it('the thread scanner reads every process and answers', async () => {
    const scanner = createThreadScanner({ timeoutMs: 5000, clock: systemClock });
    const outcome = await scanner.scan(nothingWatched());
    scanner.close();
    expect(outcome.kind).toBe('done');
    if (outcome.kind === 'done') expect(outcome.output.scanned).toBeGreaterThan(1);
  });

  it('the process scanner (check) answers the same', async () => {
    const outcome = await createProcessScanner({ timeoutMs: 5000, clock: systemClock })(nothingWatched());
    expect(outcome.kind).toBe('done');
    if (outcome.kind === 'done') expect(outcome.output.scanned).toBeGreaterThan(1);
  });
});

describe('a scan thread blocked in a read', () => {
  it('is given up at the deadline naming the process; the next scan leaves it out; the thread is taken back when it returns', async () => {
    const scanner = createThreadScanner({ timeoutMs: 200, clock: systemClock, file: BLOCKING });
    const input: ScanInput = { watched: [], table: readMountTable(), skipPids: [], memory: [] };
    expect(await scanner.scan(input)).toEqual({ kind: 'timeout', blockedPid: 4242, ms: 200 });
    expect(scanner.stuck()).toBe(1);
    const next = await scanner.scan(input);
    expect(next.kind).toBe('done');
    if (next.kind === 'done') expect(next.output.scanned).toBe(1); // skipPids was [4242]
    expect(await waitFor(() => scanner.stuck() === 0, 5000)).toBe(true);
    scanner.close();
  });

  it('at most two threads are left blocked: a third scan is refused, not started', async () => {
    const scanner = createThreadScanner({ timeoutMs: 100, clock: systemClock, file: BLOCKING });
    const input: ScanInput = { watched: [], table: [], skipPids: [], memory: [] };
    expect((await scanner.scan(input)).kind).toBe('timeout');
    expect((await scanner.scan(input)).kind).toBe('timeout');
    expect(await scanner.scan(input)).toEqual({ kind: 'unavailable', reason: '2 earlier scans are still blocked in the kernel' });
    scanner.close();
  });
});
