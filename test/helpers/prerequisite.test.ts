// The guard every machine-dependent test uses (test/helpers/prerequisite.ts) and the closing line
// that names its skips (test/helpers/summary-reporter.ts): under CI a missing install fails,
// naming it and its Debian package; a kernel feature or root stays a skip, counted with its reason.
import { describe, expect, it } from 'vitest';
import { decide, guard, prerequisite, type Prerequisite, type Registrar } from './prerequisite.js';
import { skipReason, summaryLine } from './summary-reporter.js';
import { underCI } from './tools.js';

const promtool = prerequisite('promtool', false, 'install', 'promtool not found (Debian: apt-get install prometheus)');
const autofs = prerequisite(
  'autofs',
  { ok: false, reason: 'the kernel has no autofs filesystem', kind: 'kernel', missing: 'autofs' },
  'kernel',
);
const root = prerequisite('root', false, 'privilege', 'mounting needs root');
const there = prerequisite('logrotate', true, 'install');

/** Registers through guard() into a list instead of vitest, and runs what it registered. */
function registered(prerequisites: Prerequisite[], ci: boolean, as: 'describe' | 'it') {
  const calls: Array<{ kind: 'describe' | 'it'; name: string; options: Parameters<Registrar['it']>[1]; error?: string }> = [];
  const registrar: Registrar = {
    describe: (name, options, factory) => {
      calls.push({ kind: 'describe', name, options });
      void (factory as () => unknown)();
    },
    it: (name, options, fn) => {
      const call: (typeof calls)[number] = { kind: 'it', name, options };
      try {
        if (!options.skip) void (fn as () => unknown)();
      } catch (err) {
        call.error = (err as Error).message;
      }
      calls.push(call);
    },
  };
  const g = guard(prerequisites, ci, registrar);
  if (as === 'describe') g.describe('the group', () => registrar.it('a test', {}, () => undefined));
  else g.it('the test', () => undefined);
  return calls;
}

describe('prerequisite', () => {
  it('takes what is missing, and its kind, from the check when it says', () => {
    expect(autofs).toEqual({ name: 'autofs', kind: 'kernel', ok: false, reason: 'the kernel has no autofs filesystem' });
    const fuse = prerequisite('FUSE', { ok: false, reason: 'FUSE tests need root', missing: 'root', kind: 'privilege' }, 'kernel');
    expect(fuse).toMatchObject({ name: 'root', kind: 'privilege' });
    expect(
      prerequisite('promtool', { ok: false, reason: 'promtool not found (Debian: apt-get install prometheus)' }, 'install'),
    ).toMatchObject({
      name: 'promtool',
      kind: 'install',
    });
    expect(there).toMatchObject({ ok: true, reason: '' });
  });

  it('CI is CI=true or CI=1', () => {
    expect(underCI({ CI: 'true' })).toBe(true);
    expect(underCI({ CI: '1' })).toBe(true);
    expect(underCI({ CI: 'false' })).toBe(false);
    expect(underCI({})).toBe(false);
  });
});

describe('decide', () => {
  it('runs with everything there', () => {
    expect(decide([there], true)).toEqual({ action: 'run' });
  });

  it('under CI, a missing install fails, naming it and its package, even beside a kernel skip', () => {
    const d = decide([autofs, promtool, there], true);
    expect(d.action).toBe('fail');
    if (d.action === 'fail') {
      expect(d.missing.map((p) => p.name)).toEqual(['promtool']);
      expect(d.message).toContain('promtool: promtool not found (Debian: apt-get install prometheus)');
      expect(d.message).toContain('.ci/run');
    }
  });

  it('outside CI a missing install skips; kernel and privilege skip under CI too, the first missing named', () => {
    expect(decide([promtool], false)).toEqual({ action: 'skip', skip: { name: 'promtool', kind: 'install', reason: promtool.reason } });
    expect(decide([there, autofs, root], true)).toEqual({
      action: 'skip',
      skip: { name: 'autofs', kind: 'kernel', reason: autofs.reason },
    });
    expect(decide([root], true)).toMatchObject({ action: 'skip', skip: { name: 'root', kind: 'privilege' } });
    expect(decide([prerequisite('hadolint', false, 'optional', 'not installed')], true)).toMatchObject({ action: 'skip' });
  });
});

describe('guard', () => {
  it('under CI, a group missing an install becomes one failing test that names it', () => {
    const calls = registered([promtool], true, 'describe');
    expect(calls.map((c) => [c.kind, c.name])).toEqual([
      ['describe', 'the group'],
      ['it', 'prerequisite missing: promtool'],
    ]);
    expect(calls[1]?.error).toMatch(/^prerequisite missing under CI: promtool: .*apt-get install prometheus/);
  });

  it('under CI, a single test missing an install fails under its own name', () => {
    const calls = registered([promtool], true, 'it');
    expect(calls).toEqual([
      expect.objectContaining({ kind: 'it', name: 'the test', error: expect.stringContaining('apt-get install prometheus') }),
    ]);
  });

  it('a skip carries what was missing in the meta its tests inherit', () => {
    const skip = { skip: true, meta: { prerequisite: { name: 'autofs', kind: 'kernel', reason: autofs.reason } } };
    expect(registered([autofs], true, 'describe')[0]).toEqual({ kind: 'describe', name: 'the group', options: skip });
    expect(registered([promtool], false, 'it')[0]?.options).toMatchObject({ skip: true, meta: { prerequisite: { name: 'promtool' } } });
    expect(registered([there], true, 'it')[0]).toEqual({ kind: 'it', name: 'the test', options: {} });
  });
});

// requires() skips a describe with this meta; vitest hands it to every test inside (here, to run).
describe('vitest', () => {
  describe(
    'a group with a prerequisite in its meta',
    { meta: { prerequisite: { name: 'example', kind: 'kernel', reason: 'inherited' } } },
    () => {
      it('gives it to its tests', ({ task }) => {
        expect(task.meta.prerequisite?.name).toBe('example');
      });
    },
  );

  it('and not to tests outside it', ({ task }) => {
    expect(task.meta.prerequisite).toBeUndefined();
  });
});

describe('summary line', () => {
  it('is the plain line with nothing skipped', () => {
    expect(summaryLine({ passed: 3, failed: 0, skipped: 0 }, [])).toBe('tests: 3 passed, 0 failed, 0 skipped');
  });

  it('counts skips by what was missing, most first', () => {
    const a = skipReason({
      meta: () => ({ prerequisite: { name: 'autofs', kind: 'kernel', reason: 'the kernel has no autofs filesystem' } }),
      result: () => ({ state: 'skipped', note: undefined, errors: undefined }),
    });
    const h = skipReason({
      meta: () => ({ prerequisite: { name: 'hadolint', kind: 'optional', reason: 'not installed' } }),
      result: () => ({ state: 'skipped', note: undefined, errors: undefined }),
    });
    const n = skipReason({ meta: () => ({}), result: () => ({ state: 'skipped', note: 'ctx.skip said so', errors: undefined }) });
    expect(summaryLine({ passed: 500, failed: 0, skipped: 12 }, [h, ...Array<string>(10).fill(a), n])).toBe(
      'tests: 500 passed, 0 failed, 12 skipped (autofs (kernel): 10 — the kernel has no autofs filesystem; ' +
        'ctx.skip said so: 1; hadolint (optional): 1 — not installed)',
    );
  });
});
