// Two daemons, one after the other, on one scripted machine and one state file: the first is cut
// off mid-recovery (its mount command never returns, as when the process is killed while it runs),
// the second starts on what the first left. In-process, on a hand-moved clock.
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/types.js';
import { createDaemon, type Daemon } from '../../src/daemon.js';
import { createLogging } from '../../src/observe/log.js';
import { decodeIncident } from '../../src/state/incident.js';
import { defaultConfig } from '../helpers/config.js';
import { FakeClock, runFor as run } from '../helpers/fake-clock.js';
import { scriptedEffects } from '../helpers/scripted-effects.js';
import { ScriptedWorld } from '../helpers/scripted-world.js';

const FILE = '/run/nfs-health-checkd/state.json';

const config: Config = {
  ...defaultConfig,
  schedule: '*/5 * * * * *',
  holders: { ...defaultConfig.holders, enabled: false },
  metrics: { enabled: false, listen: { host: '127.0.0.1', port: 0 }, webConfigFile: null },
  log: { level: 'info', file: null },
};

function daemonOn(clock: FakeClock, world: ScriptedWorld): { daemon: Daemon; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const { effects } = scriptedEffects(clock, world, {
    answer: (path) => {
      const m = world.mounts.find((x) => x.path === path);
      return m && m.fault !== 'ok' ? { kind: 'error', errno: -116, code: 'ESTALE' } : { kind: 'ok' };
    },
  });
  const logging = createLogging(config.log, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const daemon = createDaemon({ config, sources: ['test'] }, effects, { logging, version: '0.0.0-test', env: {}, pid: process.pid });
  return { daemon, lines };
}

async function stop(daemon: Daemon, clock: FakeClock): Promise<void> {
  const stopped = daemon.stop('SIGTERM');
  clock.advance(2_000); // what is still running is waited for only the stop grace
  await stopped;
}

describe('a restart in the middle of a recovery', () => {
  it('a static mount umount -a took away, its remount cut short: the file names it before the unmount, and the next daemon puts it back', async () => {
    const clock = new FakeClock();
    const world = new ScriptedWorld(clock);
    world.mount('/airflow/dags', 'ESTALE');
    world.mount('/airflow/logs', 'ok');
    world.mount('/mnt/static', 'ok', { static: true });
    world.mountHangs = true;

    const first = daemonOn(clock, world);
    await first.daemon.start();
    await run(clock, 1_000);
    // The recovery ran umount -a, which took /mnt/static away; its remount never returns.
    expect(world.commands).toContainEqual(['umount', '-a', '-t', 'nfs,nfs4']);
    expect(world.mounts.map((m) => m.path)).not.toContain('/mnt/static');
    const saved = decodeIncident(world.files.get(FILE) ?? '', 'scripted-boot');
    expect(saved.kind === 'ok' && saved.state.putBack).toEqual([
      expect.objectContaining({ mountPoint: '/mnt/static', state: 'at_risk', server: { host: 'srv', port: 2049 } }),
    ]);
    // /status: the recovery still runs, its unmount done.
    const running = first.daemon.board.snapshot().recovery;
    expect(running).toMatchObject({ running: true, result: null });
    expect(running?.steps.map((s) => s.argv)).toContainEqual(['umount', '-a', '-t', 'nfs,nfs4']);
    await stop(first.daemon, clock);

    world.mountHangs = false;
    world.commands = [];
    const second = daemonOn(clock, world);
    await second.daemon.start();
    // /status knows from the file what waits to be put back, before anything is tried.
    const resumed = second.daemon.board.snapshot();
    expect(resumed.put_back.waiting).toEqual([expect.objectContaining({ mount: '/mnt/static', server: 'srv:2049', at: null })]);
    expect(resumed.events[0]?.text).toBe(`incident state resumed from ${FILE}`);
    await run(clock, 3_000);
    expect(second.lines.find((l) => l.msg === 'incident state resumed')).toMatchObject({ put_back: ['/mnt/static'] });
    expect(world.commands.filter((c) => c[0] === 'mount')).toEqual([
      ['mount', '-t', 'nfs4', '-o', 'rw,relatime,vers=4.1,soft', '--', 'srv:/mnt/static', '/mnt/static'],
    ]);
    expect(second.lines.find((l) => l.msg === 'static mount put back: its server answers again')).toMatchObject({ mount: '/mnt/static' });
    expect(world.mounts.map((m) => m.path)).toContain('/mnt/static');
    expect(second.daemon.board.snapshot().put_back).toEqual({
      waiting: [],
      done: [expect.objectContaining({ mount: '/mnt/static', outcome: 'remounted', since: resumed.put_back.waiting[0]!.since })],
    });
    // Put back, it is gone from the file too.
    const after = decodeIncident(world.files.get(FILE) ?? '', 'scripted-boot');
    expect(after.kind === 'ok' && after.state.putBack).toEqual([]);
    await stop(second.daemon, clock);
  });

  it('the next recovery after a restart is numbered on from the last one: its batch is never one the file already names', async () => {
    const clock = new FakeClock();
    const world = new ScriptedWorld(clock);
    world.mount('/airflow/dags', 'ESTALE');
    world.mount('/airflow/logs', 'ok');
    const first = daemonOn(clock, world);
    await first.daemon.start();
    await run(clock, 1_000);
    await stop(first.daemon, clock);
    const saved = decodeIncident(world.files.get(FILE) ?? '', 'scripted-boot');
    expect(saved.kind === 'ok' && saved.state.recoveries).toBe(1);

    // /airflow/logs fails now; /airflow/dags is in the cooldown the file carries.
    world.mounts = world.mounts.filter((m) => m.path !== '/airflow/logs');
    world.mount('/airflow/logs', 'ESTALE');
    const second = daemonOn(clock, world);
    await second.daemon.start();
    await run(clock, 1_000);
    expect(second.daemon.controller.incident().recoveries).toBe(2);
    expect(second.lines.find((l) => l.msg === 'recovery starting')).toMatchObject({ mounts: ['/airflow/logs'] });
    await stop(second.daemon, clock);
  });
});
