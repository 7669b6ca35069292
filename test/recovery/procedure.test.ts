import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../helpers/config.js';
import { recoveryTarget, runRecovery, withPath, type RecoveryTarget } from '../../src/recovery/procedure.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { ScriptedWorld, type ScriptedMount } from '../helpers/scripted-world.js';

const cfg = defaultConfig.recovery;

function target(m: ScriptedMount, underAutofs: boolean): RecoveryTarget {
  return { path: m.path, mountId: m.id, underAutofs, result: m.fault, blockedMs: null };
}

function setup() {
  const clock = new FakeClock();
  const world = new ScriptedWorld(clock);
  const deps = { run: world.run, table: world.table, probe: world.probe, clock, fstab: () => null };
  return { clock, world, deps };
}

describe('withPath', () => {
  it('puts -- before the path for umount and mount, not for other tools', () => {
    expect(withPath(['umount', '-l'], '/a')).toEqual(['umount', '-l', '--', '/a']);
    expect(withPath(['/usr/bin/mount'], '/a')).toEqual(['/usr/bin/mount', '--', '/a']);
    expect(withPath(['fusermount', '-uz'], '/a')).toEqual(['fusermount', '-uz', '/a']);
  });
});

describe('recoveryTarget', () => {
  const base = {
    path: '/airflow/dags',
    result: 'ESTALE',
    ms: 1,
    fstype: 'nfs4',
    mountId: 61,
    underAutofs: true,
    stuck: false,
    skipped: null,
    blockedMs: null,
  } as const;

  it('aims at the mount on the path', () => {
    expect(recoveryTarget({ ...base, mounted: true })).toEqual({
      path: '/airflow/dags',
      mountId: 61,
      underAutofs: true,
      result: 'ESTALE',
      blockedMs: null,
    });
  });

  it('aims at nothing when only autofs sits on the path, so escalation never unmounts autofs itself', () => {
    expect(recoveryTarget({ ...base, mounted: false, fstype: 'autofs', mountId: 40 })).toEqual({
      path: '/airflow/dags',
      mountId: null,
      underAutofs: true,
      result: 'ESTALE',
      blockedMs: null,
    });
  });
});

describe('runRecovery', () => {
  it('stale and idle: the command alone unmounts it, the re-probe sees the new mount → success', async () => {
    const { world, deps } = setup();
    const m = world.mount('/airflow/dags', 'ESTALE');
    const report = await runRecovery([target(m, true)], cfg, deps);
    expect(world.commands).toEqual([['umount', '-a', '-t', 'nfs,nfs4']]);
    expect(report.result).toBe('success');
    expect(report.stillFailing).toEqual([]);
    expect(report.reprobe[0]).toMatchObject({ result: 'ok' });
    expect(report.reprobe[0]!.mountId).not.toBe(m.id);
  });

  it('stale and busy: the command fails busy, -f fails busy, -l detaches → success', async () => {
    const { world, deps } = setup();
    const m = world.mount('/airflow/dags', 'ESTALE', { busy: true });
    const steps: string[] = [];
    const report = await runRecovery([target(m, true)], cfg, {
      ...deps,
      onStep: (s) => steps.push(`${s.kind}:${s.outcome.status}:${s.detached ?? '-'}`),
    });
    expect(world.commands).toEqual([
      ['umount', '-a', '-t', 'nfs,nfs4'],
      ['umount', '-f', '--', '/airflow/dags'],
      ['umount', '-l', '--', '/airflow/dags'],
    ]);
    expect(steps).toEqual(['command:failed:-', 'escalation:failed:false', 'escalation:ok:true']);
    expect(report.result).toBe('success');
    expect(report.steps.map((s) => s.outcome.exitCode)).toEqual([16, 16, 0]);
  });

  it('hung: the command times out, -f aborts and unmounts → success, and -l is not run', async () => {
    const { world, deps } = setup();
    const m = world.mount('/airflow/logs', 'timeout', { hung: true });
    const report = await runRecovery([target(m, true)], cfg, deps);
    expect(report.steps.map((s) => [s.kind, s.outcome.status])).toEqual([
      ['command', 'timeout'],
      ['escalation', 'ok'],
    ]);
    expect(report.result).toBe('success');
  });

  it('still failing after every step (the new server is broken too) → failed', async () => {
    const { world, deps } = setup();
    world.remountFault = 'EIO';
    const m = world.mount('/airflow/dags', 'ESTALE', { busy: true });
    const report = await runRecovery([target(m, true)], cfg, deps);
    expect(report.result).toBe('failed');
    expect(report.stillFailing).toEqual(['/airflow/dags']);
  });

  it('still failing and a step timed out → timeout', async () => {
    const { world, deps } = setup();
    world.remountFault = 'timeout';
    const m = world.mount('/airflow/dags', 'timeout', { hung: true, busy: true });
    const report = await runRecovery([target(m, true)], cfg, deps);
    expect(report.result).toBe('timeout');
  });

  it('does not touch a path that now holds another mount (autofs already mounted it afresh)', async () => {
    const { world, deps } = setup();
    const old = world.mount('/airflow/dags', 'ESTALE', { busy: true });
    world.mounts = [];
    world.mount('/airflow/dags', 'ok', { busy: true });
    const report = await runRecovery([target(old, true)], cfg, deps);
    expect(world.commands).toEqual([['umount', '-a', '-t', 'nfs,nfs4']]);
    expect(report.result).toBe('success');
  });

  it('never escalates on a path with nothing but autofs on it', async () => {
    const { world, deps } = setup();
    world.remountFault = 'timeout';
    const report = await runRecovery(
      [{ path: '/airflow/dags', mountId: null, underAutofs: true, result: 'ESTALE', blockedMs: null }],
      cfg,
      deps,
    );
    expect(world.commands).toEqual([['umount', '-a', '-t', 'nfs,nfs4']]);
    expect(report.result).toBe('failed');
  });

  it('remounts a static (non-autofs) mount after unmounting it, when configured', async () => {
    const { world, deps } = setup();
    const m = world.mount('/data', 'ESTALE', { busy: true });
    const report = await runRecovery([target(m, false)], { ...cfg, remount: ['mount'] }, deps);
    expect(world.commands.at(-1)).toEqual(['mount', '--', '/data']);
    expect(report.steps.at(-1)?.kind).toBe('remount');
  });
});

describe('runRecovery: what the command takes away besides the targets', () => {
  it('a static mount umount -a took away is mounted again from fstab, reported, before the re-probe', async () => {
    const { world, deps } = setup();
    const m = world.mount('/airflow/dags', 'ESTALE');
    world.mount('/mnt/static', 'ok', { static: true });
    const seen: string[] = [];
    const report = await runRecovery([target(m, true)], cfg, {
      ...deps,
      fstab: () => 'srv:/mnt/static /mnt/static nfs4 soft,nofail 0 0\n',
      onCollateral: (c) => seen.push(`${c.mountPoint} ${c.via} ${c.outcome}`),
    });
    expect(world.commands).toEqual([
      ['umount', '-a', '-t', 'nfs,nfs4'],
      ['mount', '--', '/mnt/static'],
    ]);
    expect(seen).toEqual(['/mnt/static fstab remounted']);
    expect(report.collateral).toMatchObject([
      { mountPoint: '/mnt/static', fstype: 'nfs4', source: 'srv:/mnt/static', outcome: 'remounted' },
    ]);
    expect(report.steps.at(-1)).toMatchObject({ kind: 'remount', path: '/mnt/static', collateral: true });
    expect(report.result).toBe('success');
  });

  it('a mount that fails to come back is reported with the outcome', async () => {
    const { world, deps } = setup();
    const m = world.mount('/airflow/dags', 'ESTALE');
    world.mount('/mnt/static', 'ok', { static: true });
    const run: typeof world.run = async (argv, deadline) => {
      if (argv[0] !== 'mount') return world.run(argv, deadline);
      return { argv: [...argv], status: 'timeout', exitCode: null, signal: 'SIGKILL', output: '', durationMs: deadline };
    };
    const report = await runRecovery([target(m, true)], cfg, { ...deps, run });
    expect(report.collateral).toMatchObject([{ mountPoint: '/mnt/static', via: 'recorded', outcome: 'timeout' }]);
  });

  it('with no command, only the failing mount is unmounted, by the escalation: nothing else is touched', async () => {
    const { world, deps } = setup();
    const m = world.mount('/airflow/dags', 'ESTALE', { busy: true });
    world.mount('/mnt/static', 'ok', { static: true });
    const report = await runRecovery([target(m, true)], { ...cfg, command: [] }, deps);
    expect(world.commands).toEqual([
      ['umount', '-f', '--', '/airflow/dags'],
      ['umount', '-l', '--', '/airflow/dags'],
    ]);
    expect(report.collateral).toEqual([]);
    expect(world.mounts.map((x) => x.path)).toContain('/mnt/static');
  });
});
