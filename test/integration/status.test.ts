// `nfs-health-checkd status` against the real daemon on faultfs mounts: what it says of a mount that
// fails, and since when, asked of the running daemon over its real HTTP port.
import { execFile, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { StatusDoc } from '../../src/observe/status-board.js';
import { CLI } from '../helpers/cli.js';
import { configYaml, is, setUpTwoMounts, startDaemon, tearDownTwoMounts, type RunningDaemon } from '../helpers/daemon.js';
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

  beforeEach(async () => {
    ({ dir, a, b } = await setUpTwoMounts('nhc-status-'));
    daemon = undefined;
  });

  afterEach(async () => {
    const holders: ChildProcess[] = [];
    expect(await tearDownTwoMounts({ dir, a, b }, daemon, holders), 'the daemon outlived its mounts').toBe(true);
  });

  it('a failing mount shows as failing with its since, which later probes do not move; exit 1, then 0 once it is back', async () => {
    const yaml = configYaml([a.mountpoint, b.mountpoint], { recovery: '  enabled: false' });
    const d = startDaemon(dir, yaml);
    daemon = d;
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    await d.waitForLine(is('mount healthy', b.mountpoint), 10_000);
    // `status` reads the same config, with the port the daemon was given.
    const port = new URL(await d.metricsBase()).port;
    const config = join(dir, 'status.yaml');
    writeFileSync(config, yaml.replace('127.0.0.1:0', `127.0.0.1:${port}`));

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
});
