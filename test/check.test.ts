// `check` wired on scripted effects: one round, the daemon's trigger rule without cooldown, and
// with --recover on a dry-run config the same plan the daemon's dry run reports.
import { describe, expect, it } from 'vitest';
import { runCheck } from '../src/check.js';
import type { Config } from '../src/config/types.js';
import { defaultConfig } from './helpers/config.js';
import { FakeClock } from './helpers/fake-clock.js';
import { scriptedEffects } from './helpers/scripted-effects.js';
import { ScriptedWorld } from './helpers/scripted-world.js';

const config: Config = { ...defaultConfig, holders: { ...defaultConfig.holders, enabled: false } };
const ESTALE = { kind: 'error', errno: -116, code: 'Unknown system error -116' } as const;

function setup(cfg: Config = config) {
  const clock = new FakeClock();
  const world = new ScriptedWorld(clock);
  world.mount('/airflow/dags', 'ESTALE');
  world.mount('/airflow/logs', 'ok');
  world.mount('/data', 'ok', { static: true });
  // A probe answers from the world; one of a path nothing is mounted on makes autofs mount it afresh.
  const answer = (path: string) => {
    const m = world.mounts.find((x) => x.path === path) ?? world.mount(path, world.remountFault);
    return m.fault === 'ESTALE' ? ESTALE : ({ kind: 'ok' } as const);
  };
  const { effects, workers } = scriptedEffects(clock, world, { answer });
  const out: string[] = [];
  const run = (opts: { json?: boolean; recover?: boolean } = {}) =>
    runCheck(cfg, { json: opts.json ?? false, recover: opts.recover ?? false, out: (l) => out.push(l) }, effects);
  return { world, workers, out, run, effects };
}

describe('check, wired on scripted effects', () => {
  it('one round on a child per mount: a line per mount, exit 1 with one failing, nothing run', async () => {
    const { world, workers, out, run } = setup();
    expect(await run()).toBe(1);
    expect(workers).toHaveLength(2); // one per mount, all at once
    expect(out.map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['ESTALE /airflow/dags', 'ok /airflow/logs']);
    expect(world.commands).toEqual([]);
  });

  it('--recover with dry_run: says what it would run and which static mount it may take away, runs nothing', async () => {
    const { world, out, run } = setup({ ...config, recovery: { ...config.recovery, dryRun: true } });
    expect(await run({ recover: true })).toBe(1);
    expect(out.slice(0, 5)).toEqual([
      'recovery: dry_run',
      'would run         umount -a -t nfs,nfs4',
      'would run         umount -f -- /airflow/dags',
      'would run         umount -l -- /airflow/dags',
      'would remount     /data  (an NFS mount not under autofs the command may take away)',
    ]);
    expect(world.commands).toEqual([]);
  });

  it('--recover --json with dry_run: the plan as the daemon reports it', async () => {
    const { out, run } = setup({ ...config, recovery: { ...config.recovery, dryRun: true } });
    await run({ recover: true, json: true });
    const doc = JSON.parse(out.join('\n')) as { recovery: unknown };
    expect(doc.recovery).toEqual({
      result: 'dry_run',
      wouldRun: [
        ['umount', '-a', '-t', 'nfs,nfs4'],
        ['umount', '-f', '--', '/airflow/dags'],
        ['umount', '-l', '--', '/airflow/dags'],
      ],
      collateral: ['/data'],
    });
  });

  it('--recover --json: the document keeps its keys, in their order (scripts read them)', async () => {
    const { world, out, run } = setup();
    world.mounts[0]!.busy = true; // umount -a leaves it: escalation steps, then /data mounted again
    await run({ recover: true, json: true });
    type Json = Record<string, unknown>;
    const doc = JSON.parse(out.join('\n')) as { results: Json[]; recovery: { steps: Json[]; reprobe: Json[]; collateral: Json[] } };
    const keys = (o: object): string[] => Object.keys(o);
    expect(keys(doc)).toEqual(['results', 'holders', 'recovery']);
    const probeKeys = ['mount', 'result', 'ms', 'mounted', 'fstype', 'mountId', 'automounted', 'stuck', 'skipped', 'blockedMs'];
    expect(doc.results.map(keys)).toEqual([probeKeys, probeKeys]);
    const { recovery } = doc;
    expect(keys(recovery)).toEqual(['result', 'steps', 'reprobe', 'stillFailing', 'collateral', 'durationMs']);
    expect(recovery.steps.map(keys)).toEqual([
      ['kind', 'outcome'],
      ['kind', 'mount', 'outcome', 'detached'],
      ['kind', 'mount', 'outcome', 'detached'],
      ['kind', 'mount', 'outcome', 'collateral'],
    ]);
    expect(recovery.steps.map((s) => s.mount)).toEqual([undefined, '/airflow/dags', '/airflow/dags', '/data']);
    expect(recovery.reprobe.map((r) => [r.mount, ...keys(r)])).toEqual([['/airflow/dags', ...probeKeys]]);
    expect(recovery.collateral.map((c) => [c.mount, ...keys(c)])).toEqual([
      ['/data', 'mount', 'fstype', 'source', 'via', 'outcome', 'command'],
    ]);
  });

  it('--json: a failing result with its errno, and a configured link with the mount point it names', async () => {
    const { out, run, effects } = setup();
    effects.resolveMounts = (c) =>
      Promise.resolve({
        paths: c.mounts.map((m) => m.path),
        resolved: [{ configured: '/srv/dags', path: '/airflow/dags', links: ['/srv/dags'] }],
        unresolved: [],
      });
    await run({ json: true });
    const doc = JSON.parse(out.join('\n')) as { links: object[]; results: object[] };
    expect(Object.keys(doc)).toEqual(['links', 'results', 'holders']);
    expect(doc.links).toEqual([{ configured: '/srv/dags', mount: '/airflow/dags', links: ['/srv/dags'] }]);
    expect(doc.links.map((l) => Object.keys(l))).toEqual([['configured', 'mount', 'links']]);
    expect(Object.keys(doc.results[0]!)).toEqual([
      'mount',
      'result',
      'errno',
      'ms',
      'mounted',
      'fstype',
      'mountId',
      'automounted',
      'stuck',
      'skipped',
      'blockedMs',
    ]);
    expect(doc.results[0]).toMatchObject({ mount: '/airflow/dags', result: 'ESTALE', errno: 'ESTALE', automounted: true });
  });

  it('--recover: runs the recovery on the scripted world and reports the mount ok after it', async () => {
    const { world, out, run } = setup();
    world.remountFault = 'ok'; // the new server answers
    expect(await run({ recover: true })).toBe(0);
    expect(world.commands[0]).toEqual(['umount', '-a', '-t', 'nfs,nfs4']);
    expect(out).toContain('recovery: success');
  });
});
