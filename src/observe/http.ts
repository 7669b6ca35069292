// The HTTP side: GET/HEAD /metrics (Prometheus), /healthz (is the probe loop alive), /status (what
// the daemon knows now, as JSON), / (the same as a status page, src/observe/status-page.ts). It only
// reads: metrics already recorded, the loop's last cycle time, the status board's memory. Timeouts
// and limits keep a slow or hostile client from holding sockets. The web config (web-config.ts) puts
// TLS, client certificates, basic authentication and extra headers in front of every route.
import type * as NodeHttp from 'node:http';
import type * as NodeHttps from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import type * as NodeTls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import type { ListenAddress } from '../config/types.js';
import type { BasicAuth } from './basic-auth.js';
import type { Health } from './health.js';
import type { StatusDoc } from './status-board.js';
import { linksPage, PAGE_CSP, renderStatusPage } from './status-page.js';
import type { ClientAuthType, TlsSettings, WebSettings } from './web-config.js';
import { StartupError } from '../startup-error.js';

// Through require, not an ES import: on Node 24 an ES import of node:http evaluates every export,
// its lazy WebSocket getter among them, which loads undici with tls, crypto and http2 for a
// server that never uses them. node:https (with tls and crypto) is required only once TLS is on.
const load = createRequire(import.meta.url);
const { createServer } = load('node:http') as typeof NodeHttp;

export interface HttpOptions {
  listen: ListenAddress;
  registry: Registry;
  health: () => Health;
  /** GET /status's document; the route is 404 without it. */
  status?: () => StatusDoc;
  version: string;
  /** The web config read at start; none: plain HTTP, no authentication. */
  web?: WebSettings;
}

export interface HttpServer {
  /** The bound address (the real port when 0 was asked for). */
  address: { host: string; port: number };
  /** https while TLS is on. */
  scheme(): 'http' | 'https';
  /**
   * Serves new connections with `web` from now on. TLS on to on takes the new certificates and
   * versions in place; TLS turned on or off rebinds the same address with the other protocol.
   * Rejects, the settings in force kept, when it cannot.
   */
  applyWeb(web: WebSettings | undefined): Promise<void>;
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
      // A policy the web config sets is the operator's to choose; the page's own is the default.
      const csp: Record<string, string> = res.hasHeader('Content-Security-Policy') ? {} : { 'Content-Security-Policy': PAGE_CSP };
      return send(req, res, 200, 'text/html; charset=utf-8', page, csp);
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

/** What every request passes first: the web config's headers, then its authentication. */
interface Guard {
  headers: Readonly<Record<string, string>>;
  auth: BasicAuth | undefined;
  clientAuth: ClientAuthType;
}

const OPEN: Guard = { headers: {}, auth: undefined, clientAuth: 'NoClientCert' };

async function guardOf(web: WebSettings | undefined): Promise<Guard> {
  if (!web) return OPEN;
  // bcryptjs and node:crypto only for a daemon that checks passwords.
  const auth = web.users.size > 0 ? (await import('./basic-auth.js')).createBasicAuth(web.users) : undefined;
  return { headers: web.headers, auth, clientAuth: web.tls?.clientAuth ?? 'NoClientCert' };
}

/**
 * Whether a TLS connection may not be served under `policy`: OpenSSL itself refuses a missing or
 * unverified certificate only under RequireAndVerifyClientCert; the two policies that accept a
 * connection it lets through (any certificate at all; a certificate, if given, verified) are here.
 */
function refusedClient(socket: Socket, policy: ClientAuthType): boolean {
  if (policy !== 'RequireAnyClientCert' && policy !== 'VerifyClientCertIfGiven') return false;
  const tls = socket as TLSSocket;
  const given = Object.keys(tls.getPeerCertificate?.() ?? {}).length > 0;
  return policy === 'RequireAnyClientCert' ? !given : given && !tls.authorized;
}

/** The secure context of a TLS server with these settings (tls.Server#setSecureContext takes the same). */
export function secureContextOptions(tls: TlsSettings): NodeTls.SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca === null ? {} : { ca: tls.ca }),
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    honorCipherOrder: tls.honorCipherOrder,
  };
}

/** requestCert and rejectUnauthorized as Node's tls.Server reads them, per new connection (not in @types/node). */
function setClientAuth(server: NodeHttps.Server, policy: ClientAuthType): void {
  const s = server as NodeHttps.Server & { requestCert: boolean; rejectUnauthorized: boolean };
  s.requestCert = policy !== 'NoClientCert';
  s.rejectUnauthorized = policy === 'RequireAndVerifyClientCert';
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** The routes of handler(), behind the guard in force when each request comes. */
function guarded(guard: () => Guard, app: Handler): Handler {
  return (req, res) => {
    const g = guard();
    if (refusedClient(req.socket, g.clientAuth)) return void req.socket.destroy();
    for (const [name, value] of Object.entries(g.headers)) res.setHeader(name, value);
    if (!g.auth) return app(req, res);
    g.auth
      .check(req.headers.authorization, () => req.socket.destroyed)
      .then(
        (ok) => (ok ? app(req, res) : send(req, res, 401, 'text/plain; charset=utf-8', 'Unauthorized\n', { 'WWW-Authenticate': 'Basic' })),
        () => send(req, res, 500, 'text/plain; charset=utf-8', 'authentication failed\n'),
      );
  };
}

const SERVER_OPTIONS = {
  requestTimeout: 10_000, // whole request, headers and body
  headersTimeout: 3_000, // a slowloris trickling headers is cut off here
  keepAliveTimeout: 5_000,
  maxHeaderSize: 8 * 1024, // larger: 431
  // How often the two timeouts above are enforced: a timer that wakes the idle daemon each
  // time, so not every second (bench/README.md, figure 10). A slowloris lasts 3 to 7 s.
  connectionsCheckingInterval: 4_000,
};

/** A TLS handshake not done by then is dropped: the headers' timeouts start only after it. */
const HANDSHAKE_TIMEOUT_MS = 5_000;

export async function startHttpServer(opts: HttpOptions): Promise<HttpServer> {
  let guard = await guardOf(opts.web);
  let tlsInForce = opts.web?.tls ?? null;
  const serve = guarded(() => guard, handler(opts));
  const shown = formatListen(opts.listen);
  /** Replaced by a server of the other protocol: their connections end after the request they are on. */
  const retired = new Set<Server>();

  const create = (tls: TlsSettings | null): Server => {
    const onRequest: Handler = (req, res) => {
      if (retired.has(server)) res.shouldKeepAlive = false;
      serve(req, res);
    };
    const server = tls === null ? createServer(SERVER_OPTIONS, onRequest) : createTlsServer(tls, onRequest, () => guard.clientAuth);
    server.maxConnections = 64;
    server.maxHeadersCount = 64;
    server.maxRequestsPerSocket = 100;
    return server;
  };

  const bind = (server: Server, port: number): Promise<AddressInfo> =>
    new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException): void =>
        reject(new StartupError(`metrics.listen: cannot listen on ${shown}: ${err.code ?? err.message}`));
      server.once('error', failed);
      server.listen({ host: opts.listen.host, port }, () => {
        server.off('error', failed);
        resolve(server.address() as AddressInfo);
      });
    });

  let current = create(tlsInForce);
  const bound = await bind(current, opts.listen.port);

  /**
   * The other protocol on the same address: the listening socket is closed (the port is free at
   * once) and bound again by the new server, so a connection arriving in between is refused. When
   * that bind fails, a server as before takes the port back.
   */
  const rebind = async (tls: TlsSettings | null, next: Guard): Promise<void> => {
    const before = { guard, tls: tlsInForce };
    retired.add(current);
    const old = current;
    old.close(() => retired.delete(old)); // stops listening now; its connections finish their request
    old.closeIdleConnections();
    old.keepAliveTimeout = 1; // and close once answered (Node adds its 1 s of grace)
    [guard, tlsInForce, current] = [next, tls, create(tls)];
    try {
      await bind(current, bound.port);
    } catch (err) {
      [guard, tlsInForce, current] = [before.guard, before.tls, create(before.tls)];
      await bind(current, bound.port).catch((again: unknown) => {
        throw new Error(`${(err as Error).message}; nor again as before: ${(again as Error).message}: no HTTP server now`);
      });
      throw err;
    }
  };

  return {
    address: { host: bound.address, port: bound.port },
    scheme: () => (tlsInForce === null ? 'http' : 'https'),
    async applyWeb(web) {
      const next = await guardOf(web);
      const tls = web?.tls ?? null;
      if ((tls === null) !== (tlsInForce === null)) return rebind(tls, next);
      if (tls !== null) {
        const server = current as NodeHttps.Server;
        server.setSecureContext(secureContextOptions(tls));
        setClientAuth(server, tls.clientAuth);
      }
      [guard, tlsInForce] = [next, tls];
    },
    close: () => {
      for (const server of [current, ...retired]) {
        server.close();
        server.closeAllConnections();
      }
    },
  };
}

/** An HTTPS server with these settings; the policies OpenSSL does not enforce are checked at each handshake. */
function createTlsServer(tls: TlsSettings, onRequest: Handler, policy: () => ClientAuthType): NodeHttps.Server {
  const https = load('node:https') as typeof NodeHttps;
  const server = https.createServer({ ...SERVER_OPTIONS, ...secureContextOptions(tls), handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, onRequest);
  setClientAuth(server, tls.clientAuth);
  server.on('secureConnection', (socket: TLSSocket) => {
    if (refusedClient(socket, policy())) socket.destroy();
  });
  return server;
}

/** The `metrics.listen` form of an address: IPv6 in brackets. */
export function formatListen(listen: ListenAddress): string {
  return listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
}
