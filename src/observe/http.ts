// The HTTP side: GET/HEAD /metrics (Prometheus), /healthz (is the probe loop alive), /status (what
// the daemon knows now, as JSON), / (the same as a status page, src/observe/status-page.ts). It only
// reads: metrics already recorded, the loop's last cycle time, the status board's memory. Timeouts
// and limits keep a slow or hostile client from holding sockets.
import type * as NodeHttp from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { ListenAddress } from '../config/types.js';
import type { Health } from './health.js';
import type { StatusDoc } from './status-board.js';
import { linksPage, PAGE_CSP, renderStatusPage } from './status-page.js';
import { StartupError } from '../startup-error.js';

// Through require, not an ES import: on Node 24 an ES import of node:http evaluates every export,
// its lazy WebSocket getter among them, which loads undici with tls, crypto and http2 for a
// server that never uses them.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof NodeHttp;

export interface HttpOptions {
  listen: ListenAddress;
  registry: Registry;
  health: () => Health;
  /** GET /status's document; the route is 404 without it. */
  status?: () => StatusDoc;
  version: string;
}

export interface HttpServer {
  /** The bound address (the real port when 0 was asked for). */
  address: { host: string; port: number };
  close(): void;
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function handler(opts: HttpOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const known = path === '/' || path === '/metrics' || path === '/healthz' || (path === '/status' && opts.status !== undefined);
    if (!known) return send(req, res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(req, res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    }
    if (path === '/') {
      const page = opts.status ? renderStatusPage(opts.status(), opts.version) : linksPage(opts.version);
      return send(req, res, 200, 'text/html; charset=utf-8', page, { 'Content-Security-Policy': PAGE_CSP });
    }
    if (path === '/healthz') {
      const h = opts.health();
      const body = JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', reason: h.reason, last_cycle_age_seconds: h.lastCycleAgeSeconds });
      return send(req, res, h.ok ? 200 : 503, 'application/json', `${body}\n`);
    }
    if (path === '/status' && opts.status) {
      return send(req, res, 200, 'application/json', `${JSON.stringify(opts.status())}\n`);
    }
    opts.registry.metrics().then(
      (text) => send(req, res, 200, opts.registry.contentType, text),
      (err: unknown) => send(req, res, 500, 'text/plain; charset=utf-8', `metrics failed: ${String(err)}\n`),
    );
  };
}

export function startHttpServer(opts: HttpOptions): Promise<HttpServer> {
  const server: Server = createServer(
    {
      requestTimeout: 10_000, // whole request, headers and body
      headersTimeout: 3_000, // a slowloris trickling headers is cut off here
      keepAliveTimeout: 5_000,
      maxHeaderSize: 8 * 1024, // larger: 431
      // How often the two timeouts above are enforced: a timer that wakes the idle daemon each
      // time, so not every second (bench/README.md, figure 10). A slowloris lasts 3 to 7 s.
      connectionsCheckingInterval: 4_000,
    },
    handler(opts),
  );
  server.maxConnections = 64;
  server.maxHeadersCount = 64;
  server.maxRequestsPerSocket = 100;
  const { host, port } = opts.listen;
  const shown = formatListen(opts.listen);
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new StartupError(`metrics.listen: cannot listen on ${shown}: ${err.code ?? err.message}`)),
    );
    server.listen({ host, port }, () => {
      const bound = server.address() as AddressInfo;
      resolve({
        address: { host: bound.address, port: bound.port },
        close: () => {
          server.close();
          server.closeAllConnections();
        },
      });
    });
  });
}

/** The `metrics.listen` form of an address: IPv6 in brackets. */
export function formatListen(listen: ListenAddress): string {
  return listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
}
