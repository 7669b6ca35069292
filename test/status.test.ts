// `status`: the daemon's document as lines, and asking a daemon that is not there or never answers —
// the built CLI as users run it, on real sockets.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusBoard } from '../src/observe/status-board.js';
import { formatStatus, statusAddress } from '../src/status.js';
import { CLI, cliBuilt } from './helpers/cli.js';
import { FakeClock } from './helpers/fake-clock.js';
import { probeResult } from './helpers/probe-result.js';
import { tempDirs } from './helpers/temp-dirs.js';

const tempDir = tempDirs();
let dir: string;

beforeAll(() => {
  if (!cliBuilt()) throw new Error('dist/src/cli.js is missing: run `npm run build` (npm test does)');
  dir = tempDir('nhc-status-');
});

/** The built CLI, asynchronously: the listeners these tests start live in this process. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ status, stdout, stderr, ms: performance.now() - started });
    });
  });
}

function config(name: string, listen: string, metricsEnabled = true): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `metrics:\n  enabled: ${metricsEnabled}\n  listen: "${listen}"\nlog:\n  file: ""\n`);
  return path;
}

async function listening(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('status: the document as lines', () => {
  it('a line per mount with its state, since and last recovery outcome, its holders, the steps and the last events', () => {
    const clock = new FakeClock();
    const board = createStatusBoard({ clock, paths: ['/a', '/b'], daemon: { version: '1.0.0', pid: 7, schedule: '*/30 * * * * *' } });
    board.sink.probed([probeResult('/a', { result: 'ESTALE', errno: 'ESTALE' }), probeResult('/b')], 2);
    const since = new Date(clock.wallNow()).toISOString();
    board.sink.recoveryStarted([{ path: '/a', mountId: 9, underAutofs: false, result: 'ESTALE', blockedMs: null }]);
    board.sink.step({
      kind: 'command',
      outcome: { argv: ['umount', '-a'], status: 'failed', exitCode: 32, signal: null, output: 'busy\nmore', durationMs: 30 },
    });
    board.sink.recoveryFinished({ result: 'failed', steps: [], reprobe: [], stillFailing: ['/a'], collateral: [], durationMs: 40 }, []);
    board.holderSink.holderDetached({
      path: '/a',
      state: 'detached',
      pid: 42,
      start: '1',
      ppid: 1,
      comm: 'airflow',
      uid: 0,
      unit: 'airflow-worker.service',
      mountId: 9,
      holds: [{ kind: 'cwd', target: '/dags' }],
    });
    clock.advance(200_000);
    const lines = formatStatus(board.snapshot());
    expect(lines[0]).toBe(
      `daemon   1.0.0, pid 7, up since ${new Date(clock.wallNow() - 200_000).toISOString()}, schedule "*/30 * * * * *"`,
    );
    expect(lines[1]).toBe(`failing  /a  ESTALE  since ${since} (3 min 20 s), probed 3 min 20 s ago; last recovery: still_failing`);
    expect(lines[2]).toBe('  holder airflow[42] unit airflow-worker.service, on the detached mount 9: cwd /dags');
    expect(lines[3]).toMatch(/^ok {7}\/b {2}ok {2}since /);
    expect(lines[4]).toMatch(/^recovery failed in 40 ms, started .*: \/a \(ESTALE\), still failing: \/a$/);
    expect(lines[5]).toBe('  step command: umount -a -> failed exit 32 in 30 ms: busy');
    expect(lines[6]).toBe('events (newest first):');
    expect(lines.slice(7).map((l) => l.replace(/^ {2}\S+ /, ''))).toEqual([
      'warn  holder left on detached mount /a: airflow[42] unit airflow-worker.service',
      'error recovery finished: failed in 40 ms, 0 step(s), still failing: /a',
      'warn  recovery starting: /a (ESTALE)',
    ]);
  });

  it('asks a wildcard listen address on the loopback of its family', () => {
    expect(statusAddress({ host: '0.0.0.0', port: 12049 })).toEqual({ host: '127.0.0.1', port: 12049 });
    expect(statusAddress({ host: '::', port: 12049 })).toEqual({ host: '::1', port: 12049 });
    expect(statusAddress({ host: '10.1.2.3', port: 9 })).toEqual({ host: '10.1.2.3', port: 9 });
  });
});

describe('status: when no daemon answers', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterAll(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  it('a port nobody listens on: one line naming the address and the refusal, exit 69', async () => {
    const probe = createServer();
    const port = await listening(probe);
    await new Promise((r) => probe.close(r));
    const r = await cli(['status', '--config', config('refused', `127.0.0.1:${port}`)]);
    expect(r.status).toBe(69);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `nfs-health-checkd: no daemon status at http://127.0.0.1:${port}/status: connection refused (ECONNREFUSED): is the daemon running?`,
    ]);
  });

  it('a listener that accepts and never answers: the timeout said within about a second, exit 69', async () => {
    const silent = createServer((s) => void sockets.push(s));
    servers.push(silent);
    const port = await listening(silent);
    const r = await cli(['status', '--config', config('silent', `127.0.0.1:${port}`)]);
    expect(r.status).toBe(69);
    expect(r.stderr.trimEnd()).toBe(
      `nfs-health-checkd: no daemon status at http://127.0.0.1:${port}/status: timeout: no answer within 1.0 s`,
    );
    // It returned (the process's own start included); the 20 s exec timeout would give status null.
    expect(r.ms).toBeLessThan(10_000);
  });

  it('something else answering on the port: not a status document, exit 69', async () => {
    const other = createHttpServer((_req, res) => res.end('{"hello": "world"}'));
    servers.push(other as unknown as Server);
    const port = await listening(other);
    const r = await cli(['status', '--config', config('other', `127.0.0.1:${port}`)]);
    expect(r.status).toBe(69);
    expect(r.stderr.trimEnd()).toBe(
      `nfs-health-checkd: no daemon status at http://127.0.0.1:${port}/status: not a status document (version undefined)`,
    );
  });

  it('metrics disabled: one line saying status needs metrics.enabled, exit 78', async () => {
    const r = await cli(['status', '--config', config('off', '127.0.0.1:12049', false)]);
    expect(r.status).toBe(78);
    expect(r.stderr.trimEnd()).toBe('nfs-health-checkd: status needs metrics.enabled: the daemon serves its status on metrics.listen');
  });

  it('--recover is bad usage with status; --help names the command', async () => {
    expect((await cli(['status', '--recover'])).status).toBe(64);
    expect((await cli(['validate', '--json'])).status).toBe(64);
    expect((await cli(['--help'])).stdout).toContain('nfs-health-checkd status [--config FILE] [--json]');
  });
});
