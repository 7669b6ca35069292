// The HTTP server on a real loopback socket: routes, methods, limits, slow clients, bind errors.
import { connect } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health } from '../../src/observe/health.js';
import { startHttpServer, type HttpServer } from '../../src/observe/http.js';
import { createStatusBoard } from '../../src/observe/status-board.js';
import { linksPage, PAGE_CSP, renderStatusPage } from '../../src/observe/status-page.js';
import { StartupError } from '../../src/startup-error.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { probeResult } from '../helpers/probe-result.js';

let server: HttpServer;
let base: string;
let health: Health = { ok: true, reason: 'probe loop alive', lastCycleAgeSeconds: 1.5 };
const clock = new FakeClock();
const board = createStatusBoard({ clock, paths: ['/a'], daemon: { version: '9.9.9', pid: 1, schedule: '*/30 * * * * *' } });

beforeAll(async () => {
  const registry = new Registry();
  new Gauge({ name: 'nfs_mount_accessible', help: 'h', labelNames: ['mount'], registers: [registry] }).set({ mount: '/a' }, 1);
  server = await startHttpServer({
    listen: { host: '127.0.0.1', port: 0 },
    registry,
    health: () => health,
    status: () => board.snapshot(),
    version: '9.9.9',
  });
  base = `http://127.0.0.1:${server.address.port}`;
});
afterAll(() => server.close());

/** A raw request, for what fetch will not send. */
function raw(text: string, closeAfterMs = 15_000): Promise<{ response: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(server.address.port, '127.0.0.1');
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`socket still open after ${closeAfterMs} ms`));
    }, closeAfterMs);
    socket.on('data', (d) => (response += d.toString()));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ response, closedAfterMs: performance.now() - started });
    });
    socket.on('error', () => undefined);
    socket.write(text);
  });
}

describe('HTTP server', () => {
  it('GET /metrics serves the registry in the Prometheus text format', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toContain('nfs_mount_accessible{mount="/a"} 1');
  });

  it('HEAD answers like GET, without a body', async () => {
    const res = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await res.text()).toBe('');
  });

  it('GET / is the status page of what the board knows now, allowed no script; HEAD without a body', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toBe(PAGE_CSP);
    const html = await res.text();
    expect(html).toBe(renderStatusPage(board.snapshot(), '9.9.9'));
    expect(html).toContain('<code>/a</code>');
    expect(html).toContain('href="metrics"');
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(Buffer.byteLength(html));
    expect(await head.text()).toBe('');
  });

  it('/healthz: 200 while the loop is alive, 503 with the reason when not', async () => {
    health = { ok: true, reason: 'probe loop alive', lastCycleAgeSeconds: 1.5 };
    let res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', reason: 'probe loop alive', last_cycle_age_seconds: 1.5 });
    health = { ok: false, reason: 'no probe cycle finished for 95 s (limit 95 s)', lastCycleAgeSeconds: 95 };
    res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unhealthy', reason: expect.stringContaining('no probe cycle') });
    health = { ok: true, reason: 'probe loop alive', lastCycleAgeSeconds: 1 };
  });

  it('GET /status serves the status document as JSON, as the board has it now; HEAD without a body', async () => {
    board.sink.probed([probeResult('/a', { result: 'ESTALE', errno: 'ESTALE' })], 2);
    let res = await fetch(`${base}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const doc = (await res.json()) as ReturnType<typeof board.snapshot>;
    expect(doc).toEqual(board.snapshot());
    expect(doc.mounts).toEqual([expect.objectContaining({ mount: '/a', state: 'failing', result: 'ESTALE' })]);
    clock.advance(1_000);
    board.sink.probed([probeResult('/a')], 2);
    res = await fetch(`${base}/status`);
    expect(((await res.json()) as typeof doc).mounts[0]).toMatchObject({ state: 'ok', since: new Date(clock.wallNow()).toISOString() });
    const head = await fetch(`${base}/status`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
    const post = await fetch(`${base}/status`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await (await fetch(`${base}/`)).text()).toContain('href="status"');
  });

  it('/status is 404 on a server given no status board, and / its links only', async () => {
    const bare = await startHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      registry: new Registry(),
      health: () => health,
      version: 'x',
    });
    try {
      expect((await fetch(`http://127.0.0.1:${bare.address.port}/status`)).status).toBe(404);
      expect(await (await fetch(`http://127.0.0.1:${bare.address.port}/`)).text()).toBe(linksPage('x'));
    } finally {
      bare.close();
    }
  });

  it('unknown paths are 404, other methods 405 with Allow', async () => {
    expect((await fetch(`${base}/metricz`)).status).toBe(404);
    expect((await fetch(`${base}/../etc/passwd`)).status).toBe(404);
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${base}/healthz`, { method: 'DELETE' })).status).toBe(405);
  });

  it('an over-long header is refused with 431', async () => {
    const { response } = await raw(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(16 * 1024)}\r\n\r\n`);
    expect(response).toMatch(/^HTTP\/1\.1 431/);
  });

  it('a slowloris client trickling headers is cut off, and others are served meanwhile', async () => {
    const slow = raw('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const { closedAfterMs } = await slow;
    // headersTimeout 3 s, checked every 4 s.
    expect(closedAfterMs).toBeLessThan(8000);
  }, 15_000);

  it('a port in use is a one-line StartupError naming metrics.listen', async () => {
    const again = startHttpServer({
      listen: { host: '127.0.0.1', port: server.address.port },
      registry: new Registry(),
      health: () => health,
      version: 'x',
    });
    await expect(again).rejects.toThrow(StartupError);
    await expect(again).rejects.toThrow(`metrics.listen: cannot listen on 127.0.0.1:${server.address.port}: EADDRINUSE`);
  });

  it('an address this machine does not have is a StartupError too', async () => {
    await expect(
      startHttpServer({ listen: { host: '192.0.2.1', port: 0 }, registry: new Registry(), health: () => health, version: 'x' }),
    ).rejects.toThrow('metrics.listen: cannot listen on 192.0.2.1:0: EADDRNOTAVAIL');
  });
});
