// `nfs-health-checkd status` against the real daemon on faultfs mounts: what it says of a mount that
// fails, and since when, asked of the running daemon over its real HTTP port.
import { execFile, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { StatusDoc } from '../../src/observe/status-board.js';
import { CLI } from '../helpers/cli.js';
import {
  configYaml,
  holding,
  holdMount,
  is,
  setUpTwoMounts,
  startDaemon,
  tearDownTwoMounts,
  type RunningDaemon,
} from '../helpers/daemon.js';
import { fuseAvailable, type FaultMount } from '../helpers/faultfs.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';

const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(fuse)) console.warn(`[status] FUSE integration tests skipped: ${fuse.reason}`);

/** The built CLI, asynchronously: this process keeps reading the daemon's log meanwhile. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

requires(fuse, built()).describe('status of the real daemon', () => {
  let dir: string;
  let a: FaultMount;
  let b: FaultMount;
  let daemon: RunningDaemon | undefined;
  let holders: ChildProcess[];

  beforeEach(async () => {
    ({ dir, a, b } = await setUpTwoMounts('nhc-status-'));
    daemon = undefined;
    holders = [];
  });

  afterEach(async () => {
    expect(await tearDownTwoMounts({ dir, a, b }, daemon, holders), 'the daemon outlived its mounts').toBe(true);
  });

  /** The daemon on both mounts, healthy, and a config for `status` naming the port it was given. */
  async function start(recovery: string): Promise<{ d: RunningDaemon; config: string }> {
    const yaml = configYaml([a.mountpoint, b.mountpoint], { recovery });
    const d = startDaemon(dir, yaml);
    daemon = d;
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    await d.waitForLine(is('mount healthy', b.mountpoint), 10_000);
    const config = join(dir, 'status.yaml');
    writeFileSync(config, yaml.replace('127.0.0.1:0', `127.0.0.1:${new URL(await d.metricsBase()).port}`));
    return { d, config };
  }

  it('a failing mount shows as failing with its since, which later probes do not move; exit 1, then 0 once it is back', async () => {
    const { d, config } = await start('  enabled: false');

    let r = await cli(['status', '--config', config]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok {7}${a.mountpoint} {2}ok {2}since `, 'm'));

    const from = d.lines.length;
    a.setMode('eio');
    const failing = await d.waitForLine(is('mount failing', a.mountpoint, 'EIO'), 10_000, from);
    r = await cli(['status', '--config', config]);
    expect(r.status).toBe(1);
    const line = r.stdout.split('\n').find((l) => l.includes(` ${a.mountpoint} `));
    expect(line).toMatch(new RegExp(`^failing {2}${a.mountpoint} {2}EIO {2}since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(\\d+ s\\)`));
    expect(r.stdout).toMatch(new RegExp(`^ok {7}${b.mountpoint} `, 'm'));
    expect(r.stdout).toContain(`mount failing: ${a.mountpoint}: EIO (was ok)`);

    // The daemon probes every second: two seconds on, the mount has the same since.
    const json = async (): Promise<StatusDoc> => {
      const j = await cli(['status', '--json', '--config', config]);
      expect(j.status).toBe(1);
      return JSON.parse(j.stdout) as StatusDoc;
    };
    const first = (await json()).mounts.find((m) => m.mount === a.mountpoint)!;
    expect(first).toMatchObject({ state: 'failing', result: 'EIO', errno: 'EIO' });
    // Since: when the daemon saw the failure, which its log line says too (read here moments later).
    expect(Math.abs(Date.parse(first.since!) - failing.t)).toBeLessThan(2_000);
    await new Promise((res) => setTimeout(res, 2_000));
    const later = (await json()).mounts.find((m) => m.mount === a.mountpoint)!;
    expect(later.since).toBe(first.since);
    expect(Date.parse(later.last_probed_at!)).toBeGreaterThan(Date.parse(first.last_probed_at!));

    a.setMode('ok');
    await d.waitForLine(is('mount recovered', a.mountpoint), 10_000, from);
    r = await cli(['status', '--config', config]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`mount recovered: ${a.mountpoint}`);
  }, 60_000);

  it('a stale mount with a process on it: the recovery steps with their exit codes, and the process left on the detached mount by PID', async () => {
    // A command that unmounts only this mount: `umount -a -t fuse.faultfs` would take other tests' mounts too.
    const recovery = [
      `  command: [umount, ${a.mountpoint}]`,
      '  timeout: 2s',
      '  escalation: [[umount, -f], [umount, -l]]',
      '  cooldown: 1s',
      '  max_backoff: 10s',
    ].join('\n');
    const { d, config } = await start(recovery);
    writeFileSync(join(a.mountpoint, 'task.log'), 'x');
    const holder = holdMount(a.mountpoint, 'task.log');
    holders.push(holder);
    // Holding once the shell has exec'd sleep, its file open and its cwd on the mount.
    expect(await holding(holder)).toBe(true);
    const from = d.lines.length;
    a.setMode('estale');
    await d.waitForLine((l) => l.msg === 'recovery finished', 15_000, from);
    await d.waitForLine((l) => l.msg === 'holder left on detached mount' && l.pid === holder.pid, 10_000, from);

    const j = await cli(['status', '--json', '--config', config]);
    expect(j.status).toBe(1);
    const doc = JSON.parse(j.stdout) as StatusDoc;
    const r = doc.recovery!;
    expect(r.running).toBe(false);
    expect(r.targets).toEqual([expect.objectContaining({ mount: a.mountpoint, result: 'ESTALE' })]);
    // Busy: the plain umount fails, the lazy one detaches.
    expect(r.steps[0]).toMatchObject({ kind: 'command', argv: ['umount', a.mountpoint], status: 'failed', exit_code: 32 });
    expect(r.steps.at(-1)).toMatchObject({ kind: 'escalation', argv: ['umount', '-l', '--', a.mountpoint], status: 'ok', detached: true });
    expect(doc.holders).toEqual([
      expect.objectContaining({ mount: a.mountpoint, state: 'detached', mount_id: a.mountId, pid: holder.pid, comm: 'sleep' }),
    ]);
    expect(doc.holders[0]!.holds).toEqual(expect.arrayContaining(['cwd /', 'fd 3 → /task.log']));

    const t = await cli(['status', '--config', config]);
    expect(t.status).toBe(1);
    expect(t.stdout).toMatch(new RegExp(`^failing {2}${a.mountpoint} .*; last recovery: ${r.targets[0]!.outcome}$`, 'm'));
    expect(t.stdout).toMatch(new RegExp(`^ {2}holder sleep\\[${holder.pid}\\] unit \\S+, on the detached mount ${a.mountId}: `, 'm'));
    expect(t.stdout).toContain(`  step command: umount ${a.mountpoint} -> failed exit 32 in `);
    expect(t.stdout).toContain(`  step escalation: umount -l -- ${a.mountpoint} -> ok exit 0 in `);
  }, 60_000);

  it('with both mounts hung, their probes blocked in the kernel, status answers from memory: timeout, since when', async () => {
    const { d, config } = await start('  enabled: false');
    const from = d.lines.length;
    a.setMode('hang');
    b.setMode('hang');
    await d.waitForLine(is('mount failing', a.mountpoint, 'timeout'), 10_000, from);
    await d.waitForLine(is('mount failing', b.mountpoint, 'timeout'), 10_000, from);
    const r = await cli(['status', '--json', '--config', config]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.stdout) as StatusDoc;
    expect(doc.mounts.map((m) => [m.mount, m.state, m.result])).toEqual([
      [a.mountpoint, 'failing', 'timeout'],
      [b.mountpoint, 'failing', 'timeout'],
    ]);
    expect(doc.mounts.every((m) => m.since !== null)).toBe(true);
  }, 60_000);
});
