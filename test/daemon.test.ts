// The wired daemon in-process: its real parts (pool, monitor, schedule, metrics, HTTP server) on a
// hand-moved clock, probe workers the test answers and a scripted mount table. Start, serve, stop.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/types.js';
import type { RawProbe } from '../src/probe/classify.js';
import { createDaemon, type Daemon } from '../src/daemon.js';
import { createLogging } from '../src/observe/log.js';
import type { StatusDoc } from '../src/observe/status-board.js';
import { StartupError } from '../src/startup-error.js';
import { defaultConfig } from './helpers/config.js';
import { FakeClock, runFor, settle } from './helpers/fake-clock.js';
import { scriptedEffects } from './helpers/scripted-effects.js';
import { ScriptedWorld } from './helpers/scripted-world.js';

const config: Config = {
  ...defaultConfig,
  schedule: '*/5 * * * * *',
  holders: { ...defaultConfig.holders, enabled: false },
  metrics: { enabled: true, listen: { host: '127.0.0.1', port: 0 }, webConfigFile: null },
  log: { level: 'info', file: null },
};

function setup(opts: { answer?: boolean | ((path: string) => RawProbe); online?: boolean; cfg?: Config } = {}) {
  const clock = new FakeClock();
  const world = new ScriptedWorld(clock);
  world.mount('/airflow/dags', 'ok');
  world.mount('/airflow/logs', 'ok');
  const lines: Record<string, unknown>[] = [];
  const { effects, workers } = scriptedEffects(clock, world, {
    answer: typeof opts.answer === 'function' ? opts.answer : opts.answer === false ? () => undefined : () => ({ kind: 'ok' }),
    ...(opts.online === undefined ? {} : { online: opts.online }),
  });
  const logging = createLogging(opts.cfg?.log ?? config.log, {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  const daemon = createDaemon({ config: opts.cfg ?? config, sources: ['test'] }, effects, {
    logging,
    version: '0.0.0-test',
    env: {},
    pid: process.pid,
  });
  return { clock, world, workers, lines, daemon };
}

const run = runFor;

async function get(daemon: Daemon, path: string): Promise<{ status: number; body: string }> {
  const a = daemon.http()!.address;
  const res = await fetch(`http://${a.host}:${a.port}${path}`);
  return { status: res.status, body: await res.text() };
}

const running: { daemon: Daemon; clock: FakeClock }[] = [];
afterEach(async () => {
  for (const { daemon, clock } of running.splice(0)) {
    const stopped = daemon.stop('SIGTERM');
    clock.advance(2_000); // a first round that never ends is waited for only the stop grace
    await stopped;
  }
});

describe('the wired daemon, in-process', () => {
  it('starts: port bound, "starting" logged, first round on one warm worker, then a round every 5 s', async () => {
    const { clock, workers, lines, daemon } = setup();
    running.push({ daemon, clock });
    await daemon.start();
    await settle();
    expect(lines.map((l) => l.msg)).toContain('starting');
    expect(daemon.controller.results().map((r) => `${r.path} ${r.result}`)).toEqual(['/airflow/dags ok', '/airflow/logs ok']);
    expect(workers).toHaveLength(1);
    expect(workers[0]!.calls).toEqual(['/airflow/dags', '/airflow/logs']);
    // A real scrape of the real server.
    const metrics = await get(daemon, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('nfs_mount_accessible{mount="/airflow/dags"} 1');
    const health = await get(daemon, '/healthz');
    expect(health.status).toBe(200);
    expect(daemon.health()).toMatchObject({ ok: true, reason: 'probe loop alive' });
    // FakeClock's wall time starts 10 s before a :30, so two matches of */5 in the next 10 s.
    await run(clock, 10_000);
    expect(workers[0]!.calls).toHaveLength(6);
    expect(lines.filter((l) => l.msg === 'tick skipped: the previous cycle is still running')).toEqual([]);
  });

  it("knows the schedule's interval before it serves: /healthz's limit is 3 × 5 s + the probe timeout from the start", async () => {
    const { clock, daemon } = setup();
    running.push({ daemon, clock });
    // Built, not started: nothing has run, and the limit is already the schedule's, not a placeholder.
    clock.advance(20_000);
    expect(daemon.health()).toMatchObject({ ok: true, reason: 'starting' });
    clock.advance(1_000);
    expect(daemon.health()).toMatchObject({ ok: false, reason: 'no probe cycle finished for 21 s (limit 20 s)' });
    await daemon.start();
    const healthz = await get(daemon, '/healthz');
    expect(healthz.status).toBe(200);
    expect(JSON.parse(healthz.body)).toMatchObject({ status: 'ok' });
  });

  it('stops with a call blocked in the kernel: within the grace, the blocked calls counted, no timer left', async () => {
    const { clock, lines, daemon } = setup({ answer: false });
    await daemon.start();
    await run(clock, 6_000); // the first calls time out (the second on a thread grown after 50 ms), and stay blocked
    expect(daemon.controller.results().map((r) => r.result)).toContain('timeout');
    const stopped = daemon.stop('SIGTERM');
    await settle();
    clock.advance(2_000); // the monitor's idle wait is bounded by the stop grace
    expect(await stopped).toBe(2); // both mounts' calls
    expect(lines.map((l) => l.msg)).toContain('stopping');
    expect(clock.pending()).toBe(0);
  });

  it('/status answers from memory within the normal request time while every probe is blocked', async () => {
    const { clock, daemon } = setup({ answer: false });
    running.push({ daemon, clock });
    await daemon.start();
    await settle();
    const status = async () => {
      const a = daemon.http()!.address;
      // Real time: the fake clock does not move while the request is served.
      const res = await fetch(`http://${a.host}:${a.port}/status`, { signal: AbortSignal.timeout(2_000) });
      expect(res.status).toBe(200);
      return (await res.json()) as StatusDoc;
    };
    // The first round is under way, its calls blocked: nothing is known yet, and that is said at once.
    let doc = await status();
    expect(doc.daemon).toMatchObject({ version: '0.0.0-test', pid: process.pid, schedule: '*/5 * * * * *' });
    expect(doc.mounts.map((m) => m.state)).toEqual(['unknown', 'unknown']);
    await run(clock, 6_000); // the calls time out, and stay blocked in the kernel
    doc = await status();
    expect(doc.mounts.map((m) => [m.mount, m.state, m.result])).toEqual([
      ['/airflow/dags', 'failing', 'timeout'],
      ['/airflow/logs', 'failing', 'timeout'],
    ]);
    expect(doc.mounts[0]!.since).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(doc.events.map((e) => e.text)).toContain('mount failing: /airflow/dags: timeout');
    expect(daemon.board.snapshot().mounts[0]!.since).toBe(doc.mounts[0]!.since);
  });

  it('a port in use: start rejects with one line, and nothing is probed or scheduled', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (taken.address() as { port: number }).port;
    const { clock, workers, daemon } = setup({
      cfg: { ...config, metrics: { enabled: true, listen: { host: '127.0.0.1', port }, webConfigFile: null } },
    });
    try {
      await expect(daemon.start()).rejects.toThrow(StartupError);
      await expect(daemon.start()).rejects.toThrow(`metrics.listen: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
      expect(workers).toHaveLength(0);
      expect(clock.pending()).toBe(0);
    } finally {
      taken.close();
    }
  });

  describe('kernel evidence between ticks, at the default 30 s schedule', () => {
    const thirty: Config = { ...config, schedule: '*/30 * * * * *' };
    const ESTALE: RawProbe = { kind: 'error', errno: -116, code: 'ESTALE' };

    /** Fails dags 2 s after the tick at +10 s, as a failover would under a reader: ESTALE, and its GETATTRs counted. */
    async function failover(cfg: Config) {
      let failed = false;
      const s = setup({ cfg, answer: (path) => (failed && path === '/airflow/dags' ? ESTALE : { kind: 'ok' }) });
      running.push({ daemon: s.daemon, clock: s.clock });
      await s.daemon.start();
      await run(s.clock, 12_000);
      failed = true;
      const dags = s.world.mounts.find((m) => m.path === '/airflow/dags')!;
      dags.errors = 6;
      const at = s.clock.now();
      await run(s.clock, 3_000);
      const started = s.lines.find((l) => l.msg === 'recovery starting');
      return { ...s, at, started };
    }

    it('the failed calls counted by the kernel probe the path at once, and its ESTALE starts the recovery before the tick', async () => {
      const { lines, world, started } = await failover(thirty);
      const early = lines.find((l) => l.msg === 'kernel evidence: probing early');
      expect(early).toMatchObject({ mount: '/airflow/dags', kind: 'errors', moved: { GETATTR: { errors: 6 } }, sample_ms: 1000 });
      expect(lines.find((l) => l.msg === 'kernel evidence: early probe found the mount failing')).toMatchObject({
        mount: '/airflow/dags',
        result: 'ESTALE',
        kind: 'errors',
      });
      expect(started).toBeDefined();
      expect(world.commands[0]).toEqual(['umount', '-a', '-t', 'nfs,nfs4']);
    });

    it('with evidence off the same failover waits for the tick', async () => {
      const { world, started } = await failover({ ...thirty, evidence: { ...thirty.evidence, enabled: false } });
      expect(started).toBeUndefined();
      expect(world.commands).toEqual([]);
    });
  });
});
