// The real daemon process against real kernel faults: faultfs mounts (FUSE) told to answer ESTALE,
// EIO, to vanish (ENOTCONN) or to hang; real umount; real autofs. Schedule 1 s, probe timeout 1 s.
// Timings are printed (for the notes), and asserted only as loose functional bounds.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { autofsAvailable, startAutofs, type AutofsHandle } from '../helpers/autofs.js';
import { runCli } from '../helpers/cli.js';
import { configYaml, holdMount, is, setUpTwoMounts, startDaemon, tearDownTwoMounts, type RunningDaemon } from '../helpers/daemon.js';
import { findMount, fuseAvailable, waitFor, type FaultMount } from '../helpers/faultfs.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';

const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(fuse)) console.warn(`[daemon-faults] FUSE integration tests skipped: ${fuse.reason}`);
const autofs = prerequisite('autofs', autofsAvailable(), 'kernel');
if (skips(autofs)) console.warn(`[daemon-faults] autofs integration tests skipped: ${autofs.reason}`);

const timings: Record<string, number> = {};
afterAll(() => {
  if (Object.keys(timings).length > 0) console.log(`[daemon-faults] measured (ms): ${JSON.stringify(timings)}`);
});

requires(fuse, built()).describe('daemon on real FUSE faults', () => {
  let dir: string;
  let a: FaultMount;
  let b: FaultMount;
  let holders: ChildProcess[];
  let daemon: RunningDaemon | undefined;

  beforeEach(async () => {
    ({ dir, a, b } = await setUpTwoMounts('nhc-it-'));
    // The healthy mount is busy, as Airflow's are: umount -a leaves it, and it must stay ok.
    holders = [holdMount(b.mountpoint, join(b.mountpoint, 'example_dag.py'))];
    daemon = undefined;
  });

  afterEach(async () => {
    expect(await tearDownTwoMounts({ dir, a, b }, daemon, holders), 'the daemon outlived its mounts').toBe(true);
  });

  async function startOnBoth(extra?: { recovery?: string }): Promise<RunningDaemon> {
    const d = startDaemon(dir, configYaml([a.mountpoint, b.mountpoint], extra));
    daemon = d;
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    await d.waitForLine(is('mount healthy', b.mountpoint), 10_000);
    return d;
  }

  /** Injects a fault into `a` and waits for the daemon to report it; records the detection time. */
  async function detect(d: RunningDaemon, name: string, inject: () => void, result?: string) {
    const from = d.lines.length;
    const t0 = performance.now();
    inject();
    const failing = await d.waitForLine(is('mount failing', a.mountpoint, result), 10_000, from);
    timings[`${name}_detect`] = Math.round(failing.at - t0);
    return { from, t0, failing };
  }

  it('ESTALE on an idle mount: detected, the recovery command unmounts it; the busy healthy one stays ok', async () => {
    const d = await startOnBoth();
    const { from, t0, failing } = await detect(d, 'estale', () => a.setMode('estale'), 'ESTALE');
    expect(failing.errno).toBe('ESTALE');
    expect(failing.mounted).toBe(true);

    const done = await d.waitForLine(is('recovery finished'), 10_000, from);
    timings.estale_unmounted = Math.round(done.at - t0);
    expect(findMount(a.mountpoint)).toBeUndefined();
    const command = d.lines.slice(from).find((l) => l.msg === 'recovery step' && l.step === 'command');
    // umount -a unmounted the idle mount and failed on the busy one: reported with its exit code.
    expect(command).toMatchObject({ command: 'umount -a -t fuse.faultfs', status: 'failed', exit_code: 32 });
    expect(String(command?.output)).toMatch(/busy/);
    expect(d.lines.slice(from).some((l) => l.step === 'escalation')).toBe(false);
    // Not under autofs and no remount configured: the path is now a plain directory, and says so.
    expect(done).toMatchObject({ result: 'failed', still_failing: [a.mountpoint] });
    await d.waitForLine(is('mount fault changed', a.mountpoint, 'unmounted'), 5000, from);

    expect(findMount(b.mountpoint)).toBeDefined();
    const round = await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    expect(round.results).toEqual(expect.arrayContaining([[b.mountpoint, 'ok']]));
  });

  it('ESTALE while a process holds the mount: umount -a fails busy, escalation detaches it', async () => {
    holders.push(holdMount(a.mountpoint, join(a.mountpoint, 'example_dag.py')));
    const d = await startOnBoth();
    const from = d.lines.length;
    const t0 = performance.now();
    a.setMode('estale');
    const done = await d.waitForLine(is('recovery finished'), 15_000, from);
    timings.estale_busy_detached = Math.round(done.at - t0);

    const steps = d.lines.slice(from).filter((l) => l.msg === 'recovery step');
    expect(steps[0]).toMatchObject({ step: 'command', status: 'failed', exit_code: 32 });
    const escalations = steps.filter((l) => l.step === 'escalation');
    expect(escalations.at(-1)).toMatchObject({ mount: a.mountpoint, detached: true, status: 'ok' });
    expect(escalations.map((l) => l.command)).toEqual(
      [`umount -f -- ${a.mountpoint}`, `umount -l -- ${a.mountpoint}`].slice(0, escalations.length),
    );
    for (const s of steps) expect(typeof s.duration_ms).toBe('number');
    expect(findMount(a.mountpoint)).toBeUndefined();
    expect(findMount(b.mountpoint)).toBeDefined();
  });

  it.each([
    ['EIO', (m: FaultMount) => m.setMode('eio')],
    ['ENOTCONN', (m: FaultMount) => m.kill()],
  ])('%s: detected and the mount unmounted', async (errno, inject) => {
    const d = await startOnBoth();
    const { from, failing } = await detect(d, errno.toLowerCase(), () => inject(a));
    // A server killed mid-call gives ECONNABORTED first; ENOTCONN after.
    expect([errno, 'ECONNABORTED']).toContain(failing.result);
    await d.waitForLine(is('recovery finished'), 10_000, from);
    expect(await waitFor(() => findMount(a.mountpoint) === undefined, 3000)).toBe(true);
  });

  it('an uninterruptible hang: detected within timeout + 1 s, recovered once the call is hang_after old, detached within hang_after + timeout + 3 s; the other mount is probed on time', async () => {
    const d = await startOnBoth();
    const { from, t0, failing } = await detect(d, 'hang', () => a.setMode('hang'), 'timeout');
    // The next tick (≤ 1 s) plus the probe timeout (1 s), plus 1 s.
    expect(failing.at - t0).toBeLessThan(3000);

    // hang_after: 3x the 1 s probe timeout. The call's own age decides, not the tick.
    const started = await d.waitForLine(is('recovery starting'), 20_000, from);
    timings.hang_recovery_start = Math.round(started.at - t0);
    expect(started.at - t0).toBeGreaterThanOrEqual(3000);
    expect((started.blocked_ms as Record<string, number>)[a.mountpoint]).toBeGreaterThanOrEqual(3000);
    const detached = await d.waitForLine((l) => l.msg === 'recovery step' && l.detached === true, 20_000, from);
    timings.hang_detached = Math.round(detached.at - t0);
    expect(detached.at - t0).toBeLessThan(3000 + 1000 + 3000);
    const done = await d.waitForLine(is('recovery finished'), 20_000, from);
    const steps = d.lines.slice(from).filter((l) => l.msg === 'recovery step');
    expect(steps[0]).toMatchObject({ step: 'command', status: 'timeout' });
    expect(findMount(a.mountpoint)).toBeUndefined();
    // umount -f aborted the connection: our blocked probe came back.
    await d.waitForLine(is('stuck probe returned', a.mountpoint), 5000, from);

    // Every round from the fault to now probed the healthy mount, about once a second.
    const rounds = d.lines.slice(from).filter((l) => l.msg === 'probe round' && JSON.stringify(l.results).includes(b.mountpoint));
    const gaps = rounds.slice(1).map((r, i) => r.at - rounds[i]!.at);
    timings.hang_max_round_gap = Math.round(Math.max(...gaps));
    expect(rounds.length).toBeGreaterThanOrEqual(Math.floor((done.at - t0) / 1000) - 1);
    expect(Math.max(...gaps)).toBeLessThan(2500);
    for (const r of rounds) expect(r.results).toEqual(expect.arrayContaining([[b.mountpoint, 'ok']]));
  });

  it('a slow mount (every call slower than the probe timeout, faster than hang_after): reported, never unmounted in 25 s', async () => {
    const d = await startOnBoth({
      recovery: [
        '  hang_after: 5s',
        '  command: [umount, -a, -t, fuse.faultfs]',
        '  timeout: 2s',
        '  cooldown: 1s',
        '  max_backoff: 10s',
      ].join('\n'),
    });
    const from = d.lines.length;
    a.setMode('delay:600'); // ~2.4 s a probe: opendir, readdir and release each wait
    await sleep(25_000);
    const lines = d.lines.slice(from);
    const slow = lines.filter((l) => l.msg === 'slow probe returned: not hung' && l.mount === a.mountpoint);
    const blocked = slow.map((l) => l.blocked_ms as number);
    timings.slow_call_ms = Math.max(...blocked);
    // The premise: each call took longer than the 1 s probe timeout and returned before hang_after.
    expect(blocked.length).toBeGreaterThan(3);
    for (const ms of blocked) {
      expect(ms).toBeGreaterThan(1000);
      expect(ms).toBeLessThan(5000);
    }
    expect(lines.some((l) => l.msg === 'mount failing' && l.mount === a.mountpoint && l.result === 'timeout')).toBe(true);
    expect(lines.filter((l) => l.msg === 'recovery starting')).toEqual([]);
    expect(findMount(a.mountpoint)).toBeDefined();
    a.setMode('ok');
    await d.waitForLine(is('mount recovered', a.mountpoint), 10_000, from);
  });

  it('a configured path that is a symbolic link is probed as the mount point it names, and said so', async () => {
    const link = join(dir, 'compat-link');
    symlinkSync(a.mountpoint, link);
    const d = startDaemon(dir, configYaml([link, b.mountpoint]));
    daemon = d;
    const said = await d.waitForLine((l) => l.msg === 'mount path is a symbolic link: probing the mount point it names', 10_000);
    expect(said).toMatchObject({ configured: link, mount: a.mountpoint });
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    expect(d.lines.some((l) => l.mount === link)).toBe(false);
  });

  it('20 cycles of a hang hold one blocked thread, not one a cycle', async () => {
    const d = await startOnBoth({ recovery: '  enabled: false' });
    await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    const baseline = d.threads();
    const from = d.lines.length;
    a.setMode('hang');
    await d.waitForLine(is('mount failing', a.mountpoint, 'timeout'), 10_000, from);
    await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    const atOnset = d.threads();
    for (let i = 0; i < 20; i++) await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    const threads = d.threads();
    timings.hang_threads_baseline = baseline;
    timings.hang_threads_at_onset = atOnset;
    timings.hang_threads_after_20 = threads;
    // The blocked call's thread (the pool starts another for the healthy mount), and the holder
    // scanner's, started by the first scan of the failing mount; then nothing more, cycle after cycle.
    expect(atOnset).toBeLessThanOrEqual(baseline + 2);
    expect(threads).toBeLessThanOrEqual(atOnset);
    const last = d.lines.filter((l) => l.msg === 'probe round').at(-1);
    expect(last?.results).toEqual(
      expect.arrayContaining([
        [a.mountpoint, 'timeout'],
        [b.mountpoint, 'ok'],
      ]),
    );
  });

  it('SIGTERM during a killable hang: the daemon is gone within 5 s, with a clean exit', async () => {
    const d = await startOnBoth({ recovery: '  enabled: false' });
    a.setMode('hang_killable');
    await d.waitForLine(is('mount failing', a.mountpoint, 'timeout'), 10_000);
    const exit = await d.stop('SIGTERM', 8000);
    expect(exit, 'still running 8 s after SIGTERM').toBeDefined();
    timings.sigterm_during_hang_exit = Math.round(exit!.ms);
    expect(exit!.ms).toBeLessThan(5000);
    expect(exit!.code === 0 || exit!.signal === 'SIGTERM').toBe(true);
    expect(d.lines.at(-1)).toMatchObject({ msg: 'stopped', blocked_probes: 1 });
  });

  it('SIGTERM when healthy: exit status 0', async () => {
    const d = await startOnBoth();
    const exit = await d.stop('SIGTERM', 8000);
    expect(exit).toMatchObject({ code: 0, signal: null });
    timings.sigterm_healthy_exit = Math.round(exit!.ms);
  });

  it('check exits 1 with a line per mount even while a probe is blocked in an uninterruptible hang', () => {
    a.setMode('hang');
    const cfg = join(dir, 'check.yaml');
    const started = performance.now();
    const r = runCli(['check', '--config', writeConfig(cfg, configYaml([a.mountpoint, b.mountpoint]))], 15_000);
    timings.check_with_hang = Math.round(performance.now() - started);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^timeout\\s+${a.mountpoint}`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^ok\\s+${b.mountpoint}`, 'm'));
  });

  it('check --recover on a hang: waits until the call is hang_after old, then recovers', () => {
    a.setMode('hang');
    const started = performance.now();
    const r = runCli(
      ['check', '--recover', '--config', writeConfig(join(dir, 'check.yaml'), configYaml([a.mountpoint, b.mountpoint]))],
      30_000,
    );
    timings.check_recover_hang = Math.round(performance.now() - started);
    expect(r.stdout).toMatch(/^waiting 2\.\d s: a timeout is a hang once its call has been blocked 3 s \(recovery\.hang_after\)$/m);
    expect(r.stdout).toMatch(/^recovery escalation: umount -[fl] -- .* -> ok/m);
    expect(findMount(a.mountpoint)).toBeUndefined();
    expect(findMount(b.mountpoint)).toBeDefined();
  });

  it('check --recover: runs the recovery, prints each step, exits 1 as the static mount stays unmounted', () => {
    a.setMode('estale');
    const r = runCli(
      ['check', '--recover', '--config', writeConfig(join(dir, 'check.yaml'), configYaml([a.mountpoint, b.mountpoint]))],
      30_000,
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^ESTALE\\s+${a.mountpoint}`, 'm'));
    expect(r.stdout).toMatch(/^recovery command: umount -a -t fuse\.faultfs -> failed exit 32 in \d+ ms: .*busy/m);
    expect(r.stdout).toMatch(/^recovery: failed$/m);
    expect(r.stdout).toMatch(new RegExp(`^unmounted\\s+${a.mountpoint}`, 'm'));
    expect(findMount(a.mountpoint)).toBeUndefined();
    expect(findMount(b.mountpoint)).toBeDefined();
  });
});

function writeConfig(file: string, text: string): string {
  writeFileSync(file, text);
  return file;
}

requires(fuse, autofs, built()).describe('daemon with real autofs in front of the faulty filesystem', () => {
  let auto: AutofsHandle<'dags' | 'logs'>;
  let dir: string;
  let holders: ChildProcess[] = [];
  let daemon: RunningDaemon | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-it-'));
    auto = await startAutofs(['dags', 'logs'] as const);
    holders = [];
    daemon = undefined;
  });

  afterEach(async () => {
    daemon?.kill();
    for (const h of holders) h.kill('SIGKILL');
    await auto.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a failed automount is reported automount_failed, and nothing is unmounted for it', async () => {
    rmSync(auto.backingDir('logs'), { recursive: true }); // faultfs refuses to start: the mount fails
    const d = startDaemon(dir, configYaml([auto.paths.dags, auto.paths.logs]));
    daemon = d;
    await d.waitForLine(is('mount healthy', auto.paths.dags), 10_000);
    const failing = await d.waitForLine(is('mount failing', auto.paths.logs, 'automount_failed'), 10_000);
    expect(failing).toMatchObject({ errno: 'ENOENT', mounted: false });
    for (let i = 0; i < 3; i++) await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    expect(d.lines.some((l) => l.msg === 'recovery starting')).toBe(false);
    // The automounter serving these mounts is alive, and the loop says so.
    expect(d.lines.some((l) => l.msg === 'autofs running')).toBe(true);
    const metrics = await (await fetch(`${await d.metricsBase()}/metrics`)).text();
    expect(metrics).toMatch(/^nfs_autofs_status 1$/m);
  });

  it('a first mount slower than the probe timeout is automount_timeout, probed again, and nothing is unmounted for it', async () => {
    auto.setMode('dags', 'delay:1500'); // the new mount's first calls take 1.5 s each: the probe (1 s) times out
    const d = startDaemon(dir, configYaml([auto.paths.dags, auto.paths.logs]));
    daemon = d;
    const slow = await d.waitForLine(is('mount failing', auto.paths.dags, 'automount_timeout'), 10_000);
    expect(slow).toMatchObject({ stuck: true });
    await waitFor(() => auto.mountOf('dags') !== undefined, 5000);
    auto.setMode('dags', 'ok'); // the mount is made and answers
    const back = await d.waitForLine(is('mount recovered', auto.paths.dags), 15_000);
    timings.autofs_slow_first_mount_ok = Math.round(back.at - slow.at);
    expect(d.lines.some((l) => l.msg === 'recovery starting')).toBe(false);
    expect(d.lines.some((l) => l.msg.startsWith('tick skipped'))).toBe(false);
  });

  it('a failover while Airflow holds the mount: stale, detached by escalation, mounted afresh by autofs, healthy', async () => {
    const d = startDaemon(dir, configYaml([auto.paths.dags, auto.paths.logs]));
    daemon = d;
    // The daemon's first probe is what makes autofs mount both.
    await d.waitForLine(is('mount healthy', auto.paths.dags), 10_000);
    await d.waitForLine(is('mount healthy', auto.paths.logs), 10_000);
    const before = auto.mountOf('dags');
    expect(before?.fstype).toBe('fuse.faultfs');
    holders.push(holdMount(auto.paths.dags, join(auto.paths.dags, 'example_dag.py')));
    await new Promise((r) => setTimeout(r, 50)); // the failover comes after the mount's start

    const from = d.lines.length;
    const t0 = performance.now();
    auto.setMode('dags', 'stale');
    const failing = await d.waitForLine(is('mount failing', auto.paths.dags, 'ESTALE'), 5000, from);
    timings.autofs_stale_detect = Math.round(failing.at - t0);
    const recovered = await d.waitForLine(is('mount recovered', auto.paths.dags), 20_000, from);
    timings.autofs_stale_recovered = Math.round(recovered.at - t0);
    expect(typeof recovered.down_ms).toBe('number');

    const done = await d.waitForLine(is('recovery finished'), 5000, from);
    expect(done).toMatchObject({ result: 'success', escalated: true, mounts: [auto.paths.dags] });
    const after = auto.mountOf('dags');
    expect(after?.fstype).toBe('fuse.faultfs');
    expect(after?.id).not.toBe(before?.id); // the old mount is still held by the holder: a new ID
    // Both mounts healthy on the following rounds (logs, idle, was unmounted by umount -a and
    // mounted again by autofs on the next probe).
    const round = await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    expect(round.results).toEqual([
      [auto.paths.dags, 'ok'],
      [auto.paths.logs, 'ok'],
    ]);
  });
});
