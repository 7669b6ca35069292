// What operators see of the real daemon while real faults happen: /metrics scraped by a real HTTP
// client and by a real Prometheus server, the log file rotated by the real logrotate with the
// shipped config, and hostile HTTP clients — with both FUSE mounts hung where it matters.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { configYaml, holdMount, is, setUpTwoMounts, startDaemon, tearDownTwoMounts, type RunningDaemon } from '../helpers/daemon.js';
import { fuseAvailable, type FaultMount } from '../helpers/faultfs.js';
import { built, prerequisite, requires, runs, skips } from '../helpers/prerequisite.js';
import { promtoolAvailable, prometheusAvailable, runPromtool, startPrometheus } from '../helpers/prometheus.js';

const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(fuse)) console.warn(`[observability] FUSE integration tests skipped: ${fuse.reason}`);
const prom = prerequisite('prometheus', prometheusAvailable(), 'install');
if (skips(prom)) console.warn(`[observability] real-Prometheus scrape test skipped: ${prom.reason}`);
const promtool = prerequisite('promtool', promtoolAvailable(), 'install');
if (skips(promtool)) console.warn(`[observability] promtool check metrics test skipped: ${promtool.reason}`);
const logrotate = runs('logrotate', ['--version'], 'logrotate');
if (skips(logrotate)) console.warn('[observability] logrotate test skipped: no logrotate binary (Debian package logrotate)');

const figures: Record<string, number> = {};
afterAll(() => {
  if (Object.keys(figures).length > 0) console.log(`[observability] measured: ${JSON.stringify(figures)}`);
});

const SHIPPED_LOGROTATE = join(import.meta.dirname, '..', '..', 'packaging', 'logrotate', 'nfs-health-checkd');

/** The value of one series in an exposition text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

requires(fuse, built()).describe('observability of the real daemon', () => {
  let dir: string;
  let a: FaultMount;
  let b: FaultMount;
  let holders: ChildProcess[];
  let daemon: RunningDaemon | undefined;

  beforeEach(async () => {
    ({ dir, a, b } = await setUpTwoMounts('nhc-obs-'));
    holders = [];
    daemon = undefined;
  });

  afterEach(async () => {
    expect(await tearDownTwoMounts({ dir, a, b }, daemon, holders), 'the daemon outlived its mounts').toBe(true);
  });

  async function start(extra: { recovery?: string; logFile?: string } = {}): Promise<{ d: RunningDaemon; base: string }> {
    const d = startDaemon(dir, configYaml([a.mountpoint, b.mountpoint], extra));
    daemon = d;
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    await d.waitForLine(is('mount healthy', b.mountpoint), 10_000);
    return { d, base: await d.metricsBase() };
  }

  it('/metrics answers within 100 ms every time while both mounts hang, and its values follow the faults', async () => {
    const { d, base } = await start({ recovery: '  enabled: false' });
    const acc = (m: FaultMount) => `nfs_mount_accessible{mount="${m.mountpoint}"}`;
    let text = await (await fetch(`${base}/metrics`)).text();
    expect([sample(text, acc(a)), sample(text, acc(b))]).toEqual([1, 1]);

    const from = d.lines.length;
    a.setMode('hang');
    b.setMode('hang');
    await d.waitForLine(is('mount failing', a.mountpoint, 'timeout'), 10_000, from);
    await d.waitForLine(is('mount failing', b.mountpoint, 'timeout'), 10_000, from);

    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const res = await fetch(`${base}/metrics`);
      text = await res.text();
      times.push(performance.now() - t);
      expect(res.status).toBe(200);
    }
    times.sort((x, y) => x - y);
    figures.scrape_both_hung_p50_ms = Math.round(times[25]! * 10) / 10;
    figures.scrape_both_hung_max_ms = Math.round(times.at(-1)! * 10) / 10;
    expect(times.at(-1)).toBeLessThan(100);
    expect([sample(text, acc(a)), sample(text, acc(b))]).toEqual([0, 0]);
    expect(sample(text, `nfs_mount_probe_stuck{mount="${a.mountpoint}"}`)).toBe(1);
    expect(sample(text, `nfs_mount_mounted{mount="${a.mountpoint}"}`)).toBe(1);
    expect(sample(text, `nfs_mount_probes_total{mount="${a.mountpoint}",result="timeout"}`)).toBeGreaterThanOrEqual(1);

    const cleared = d.lines.length;
    a.setMode('ok');
    b.setMode('ok');
    await d.waitForLine(is('mount recovered', a.mountpoint), 10_000, cleared);
    await d.waitForLine(is('mount recovered', b.mountpoint), 10_000, cleared);
    text = await (await fetch(`${base}/metrics`)).text();
    expect([sample(text, acc(a)), sample(text, acc(b))]).toEqual([1, 1]);
    expect(sample(text, `nfs_mount_probe_stuck{mount="${a.mountpoint}"}`)).toBe(0);
    expect(sample(text, `nfs_mount_last_success_timestamp_seconds{mount="${a.mountpoint}"}`)).toBeGreaterThan(Date.now() / 1000 - 10);
  });

  it('a recovery shows in the counters: recoveries by result, steps by status', async () => {
    holders.push(holdMount(b.mountpoint, join(b.mountpoint, 'example_dag.py')));
    const { d, base } = await start();
    a.setMode('estale');
    await d.waitForLine(is('recovery finished'), 10_000);
    const text = await (await fetch(`${base}/metrics`)).text();
    // Not under autofs: unmounted and not mounted again, so the outcome is "failed".
    expect(sample(text, 'nfs_health_check_recoveries_total{result="failed"}')).toBe(1);
    expect(sample(text, 'nfs_health_check_recovery_steps_total{step="command",status="failed"}')).toBe(1);
    expect(sample(text, `nfs_mount_probes_total{mount="${a.mountpoint}",result="ESTALE"}`)).toBeGreaterThanOrEqual(1);
  });

  requires(prom).it('a real Prometheus server scrapes it: target up, nfs_mount_accessible per mount', async () => {
    const { base } = await start({ recovery: '  enabled: false' });
    const p = await startPrometheus([base.replace(/^http:\/\//, '')], { scrapeIntervalMs: 1000, job: 'nfs-health-checkd' });
    try {
      await p.waitForTargetUp(30_000);
      const [target] = await p.targets();
      expect(target).toMatchObject({ health: 'up', lastError: '' });
      let series: Awaited<ReturnType<typeof p.query>> = [];
      for (let i = 0; i < 30 && series.length < 2; i++) {
        series = await p.query('nfs_mount_accessible');
        if (series.length < 2) await new Promise((r) => setTimeout(r, 500));
      }
      expect(series.map((s) => [s.metric.mount, s.value[1]]).sort()).toEqual(
        [
          [a.mountpoint, '1'],
          [b.mountpoint, '1'],
        ].sort(),
      );
      expect((await p.query('nfs_health_checkd_build_info')).length).toBe(1);
    } finally {
      await p.stop();
    }
  });

  requires(promtool).it('`promtool check metrics` finds nothing to fix in a real scrape', async () => {
    const { base } = await start({ recovery: '  enabled: false' });
    const text = await (await fetch(`${base}/metrics`)).text();
    // The runtime's counts by type stay (only their _total gauges went): the daemon has handles.
    expect(text).toMatch(/^nfs_health_checkd_nodejs_active_handles\{type="\w+"\} [1-9]/m);
    expect(runPromtool(['check', 'metrics'], { input: text })).toEqual({ status: 0, signal: null, output: '' });
  });

  requires(logrotate).it('logrotate with the shipped config rotates the file while the daemon logs: every line exactly once', async () => {
    const logFile = join(dir, 'nfs-health-check.log');
    const { d } = await start({ logFile });
    // The shipped config, pointed at this test's file, signalling this daemon.
    const conf = readFileSync(SHIPPED_LOGROTATE, 'utf8')
      .replace('/var/log/nfs-health-check.log', logFile)
      .replace(/^\s*systemctl kill .*$/m, `        kill -HUP ${d.pid}`)
      .replace(/^\s*create .*$/m, '    create 0640 root root');
    writeFileSync(join(dir, 'logrotate.conf'), conf);
    const rotate = () => execFileSync('logrotate', ['-f', '-s', join(dir, 'logrotate.state'), join(dir, 'logrotate.conf')]);
    const rotations = 6;
    for (let i = 0; i < rotations; i++) {
      // A few lines between rotations, one of them maybe racing the rename.
      for (let j = 0; j < 2; j++) await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
      rotate();
      await d.waitForLine((l) => l.msg === 'log file reopened', 3000, d.lines.length - 2);
    }
    await d.waitForLine((l) => l.msg === 'probe round', 3000, d.lines.length);
    const exit = await d.stop('SIGTERM', 5000);
    expect(exit).toBeDefined();

    // Every file: the live one, .1 (delaycompress) and the compressed older ones.
    const files = readdirSync(dir).filter((f) => f.startsWith('nfs-health-check.log'));
    expect(files.sort()).toEqual([
      'nfs-health-check.log',
      'nfs-health-check.log.1',
      ...Array.from({ length: rotations - 1 }, (_, i) => `nfs-health-check.log.${i + 2}.gz`),
    ]);
    const text = files
      .map((f) => (f.endsWith('.gz') ? execFileSync('zcat', [join(dir, f)]).toString() : readFileSync(join(dir, f), 'utf8')))
      .join('');
    const inFiles = text.split('\n').filter(Boolean);
    const written = d.lines.map((l) => l.raw);
    figures.logrotate_lines_stdout = written.length;
    figures.logrotate_lines_in_files = inFiles.length;
    figures.logrotate_rotations = rotations;
    expect(inFiles.sort()).toEqual([...written].sort());
    expect(new Set(inFiles).size).toBe(inFiles.length);
  });

  it('bad HTTP input — unknown path, POST, an over-long header, a slowloris — is answered or closed, and probing goes on', async () => {
    const { d, base } = await start({ recovery: '  enabled: false' });
    const port = Number(new URL(base).port);
    const from = d.lines.length;
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    const big = await rawRequest(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big.response).toMatch(/^HTTP\/1\.1 431/);
    const slow = rawRequest(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const rounds = d.lines.slice(from).filter((l) => l.msg === 'probe round').length;
    const { closedAfterMs } = await slow;
    figures.slowloris_closed_after_ms = Math.round(closedAfterMs);
    expect(closedAfterMs).toBeLessThan(8000);
    // Probing went on at 1 s while the slow client hung on.
    expect(d.lines.slice(from).filter((l) => l.msg === 'probe round').length).toBeGreaterThanOrEqual(rounds + 3);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

function rawRequest(port: number, text: string): Promise<{ response: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('socket still open after 15 s'));
    }, 15_000);
    socket.on('data', (chunk) => (response += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closedAfterMs: performance.now() - started });
    });
    socket.write(text);
  });
}
