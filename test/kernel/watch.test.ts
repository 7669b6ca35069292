// The kernel watch on a hand-moved clock over a scripted kernel: its samples, the evidence it
// hands on, what it says once, and what a scrape reads.
import { describe, expect, it } from 'vitest';
import type { Evidence } from '../../src/kernel/evidence.js';
import { KernelWatch } from '../../src/kernel/watch.js';
import { parseMountinfo } from '../../src/probe/mountinfo.js';
import { createLogging } from '../../src/observe/log.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { ScriptedWorld } from '../helpers/scripted-world.js';

const DAGS = '/airflow/dags';
const LOGS = '/airflow/logs';

function setup(mountstats?: () => string) {
  const clock = new FakeClock();
  const world = new ScriptedWorld(clock);
  const dags = world.mount(DAGS, 'ok', { errors: 0 });
  world.mount(LOGS, 'ok');
  const lines: Record<string, unknown>[] = [];
  const { log } = createLogging(
    { level: 'info', file: null },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  const found: Evidence[] = [];
  const watch = new KernelWatch({
    clock,
    paths: [DAGS, LOGS],
    intervalMs: 1000,
    mountstats: mountstats ?? world.mountstats,
    mountinfo: world.mountinfo,
    onEvidence: (e) => found.push(e),
    log,
  });
  return { clock, world, dags, lines, found, watch };
}

describe('KernelWatch', () => {
  it("reads the scripted kernel's mountinfo text as the table it stands for", () => {
    const { world } = setup();
    expect(parseMountinfo(world.mountinfo())).toEqual(world.table());
  });

  it('samples once a second from start; ESTALE on GETATTR is handed on once, with what moved', () => {
    const { clock, dags, found, watch } = setup();
    watch.start();
    clock.advance(3000);
    expect(found).toEqual([]);
    dags.errors = 4;
    clock.advance(1000);
    expect(found).toEqual([{ path: DAGS, kind: 'errors', moved: { GETATTR: { errors: 4 } }, sampleMs: 1000 }]);
    watch.stop();
    dags.errors = 400;
    clock.advance(5000);
    expect(found).toHaveLength(1);
  });

  it('a configured mount that leaves the table is evidence of kind mount_table', () => {
    const { clock, world, found, watch } = setup();
    watch.start();
    world.mounts = world.mounts.filter((m) => m.path !== LOGS);
    clock.advance(1000);
    expect(found.map((e) => [e.path, e.kind, e.mountIds])).toEqual([[LOGS, 'mount_table', { before: 101, after: null }]]);
    watch.stop();
  });

  it("last() is the last sample's counters per configured path, for the scrape", () => {
    const { clock, dags, watch } = setup();
    watch.start();
    expect(watch.last().get(DAGS)?.ops.get('GETATTR')?.errors).toBe(0);
    dags.errors = 9;
    expect(watch.last().get(DAGS)?.ops.get('GETATTR')?.errors).toBe(0); // not read at scrape time
    clock.advance(1000);
    expect(watch.last().get(DAGS)?.ops.get('GETATTR')?.errors).toBe(9);
    expect([...watch.last().keys()]).toEqual([DAGS, LOGS]);
    watch.stop();
  });

  it('an unreadable mountstats is said once per spell, and sampling goes on', () => {
    let fail = true;
    const { clock, world, lines, found, watch } = setup(() => {
      if (fail) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return world.mountstats();
    });
    watch.start();
    clock.advance(3000);
    expect(lines.filter((l) => String(l.msg).includes('unreadable'))).toHaveLength(1);
    fail = false;
    clock.advance(1000);
    expect(lines.map((l) => l.msg)).toContain('kernel evidence: /proc/self/mountstats readable again');
    expect(found).toEqual([]);
    watch.stop();
  });

  it('a kernel without per-operation errors (before 5.3) is said once, naming its mounts', () => {
    const clock = new FakeClock();
    const world = new ScriptedWorld(clock);
    world.mount(DAGS, 'ok');
    const lines: Record<string, unknown>[] = [];
    const { log } = createLogging(
      { level: 'info', file: null },
      { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
    );
    // The 4.18 format: eight numbers per operation, iostats version 1.0.
    const old = (): string =>
      world
        .mountstats()
        .replace(/(GETATTR:(?: \d+){8}) \d+/g, '$1')
        .replace(/iostats version: 1\.1/g, 'iostats version: 1.0');
    const watch = new KernelWatch({
      clock,
      paths: [DAGS],
      intervalMs: 1000,
      mountstats: old,
      mountinfo: world.mountinfo,
      onEvidence: () => undefined,
      log,
    });
    watch.start();
    clock.advance(5000);
    expect(watch.last().get(DAGS)?.ops.get('GETATTR')?.errors).toBeNull();
    const said = lines.filter((l) => String(l.msg).startsWith('kernel evidence: this kernel counts no errors'));
    expect(said).toHaveLength(1);
    expect(said[0]?.mounts).toEqual([DAGS]);
    watch.stop();
  });
});
