// The HTTP server behind a web config, on real loopback sockets with real certificates (openssl):
// TLS, each client_auth_type, basic authentication and the extra headers on every route, and the
// settings changed on a running server (applyWeb) as SIGHUP changes them.
import { writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Gauge, Registry } from 'prom-client';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../src/observe/http.js';
import { PAGE_CSP } from '../../src/observe/status-page.js';
import { createStatusBoard } from '../../src/observe/status-board.js';
import { readWebConfig, type WebSettings } from '../../src/observe/web-config.js';
import { makeCerts, opensslPrerequisite, type Certs } from '../helpers/certs.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { requires, skips } from '../helpers/prerequisite.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { webRequest, type WebAnswer, type WebRequest } from '../helpers/web-request.js';

const openssl = opensslPrerequisite();
if (skips(openssl)) console.warn(`[http-web] TLS server tests skipped: ${openssl.reason}`);

interface Ask extends WebRequest {
  /** Plain HTTP (default: HTTPS, trusting the test CA). */
  tls?: boolean;
}

let certs: Certs;

function ask(server: HttpServer, path: string, a: Ask = {}): Promise<WebAnswer> {
  const base = `${a.tls === false ? 'http' : 'https'}://127.0.0.1:${server.address.port}`;
  return webRequest(base, path, { ca: certs.ca.cert, ...a });
}

requires(openssl).describe('the HTTP server behind a web config', () => {
  const tmp = tempDirs();
  let dir: string;
  const alice = bcrypt.hashSync('alice-password', 4);
  const bob = bcrypt.hashSync('bob-password', 4);
  const running: HttpServer[] = [];

  beforeAll(() => {
    certs = makeCerts(tmp('nhc-http-web-certs-'));
    dir = tmp('nhc-http-web-');
  });
  afterEach(() => {
    for (const s of running.splice(0)) s.close();
  });

  let n = 0;
  /** The settings of a web config file with this text, as the daemon reads them. */
  function web(text: string): WebSettings {
    const file = join(dir, `web-${n++}.yml`);
    writeFileSync(file, text);
    return readWebConfig(file);
  }

  const tls = (extra = '', pair = certs.server): string =>
    `tls_server_config:\n  cert_file: ${pair.cert}\n  key_file: ${pair.key}\n${extra}`;
  const mtls = (type: string): string => tls(`  client_ca_file: ${certs.ca.cert}\n  client_auth_type: ${type}\n`);

  async function serve(settings: WebSettings | undefined): Promise<HttpServer> {
    const registry = new Registry();
    new Gauge({ name: 'nfs_mount_accessible', help: 'h', labelNames: ['mount'], registers: [registry] }).set({ mount: '/a' }, 1);
    const board = createStatusBoard({
      clock: new FakeClock(),
      paths: ['/a'],
      daemon: { version: '9.9.9', pid: 1, schedule: '* * * * * *' },
    });
    const server = await startHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      registry,
      health: () => ({ ok: true, reason: 'probe loop alive', lastCycleAgeSeconds: 1 }),
      status: () => board.snapshot(),
      version: '9.9.9',
      ...(settings ? { web: settings } : {}),
    });
    running.push(server);
    return server;
  }

  it('puts TLS, basic authentication and the headers in front of every route, HEAD included', async () => {
    const server = await serve(
      web(`${tls()}basic_auth_users:\n  alice: ${alice}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n`),
    );
    expect(server.scheme()).toBe('https');
    for (const path of ['/', '/metrics', '/healthz', '/status', '/nothing-here']) {
      for (const method of ['GET', 'HEAD']) {
        const refused = await ask(server, path, { method });
        expect(refused.status, `${method} ${path}`).toBe(401);
        expect(refused.headers['www-authenticate']).toBe('Basic');
        expect(refused.headers['x-frame-options']).toBe('deny');
        expect((await ask(server, path, { method, user: 'alice', password: 'wrong' })).status).toBe(401);
        const ok = await ask(server, path, { method, user: 'alice', password: 'alice-password' });
        expect(ok.status, `${method} ${path}`).toBe(path === '/nothing-here' ? 404 : 200);
        expect(ok.headers['x-frame-options']).toBe('deny');
      }
    }
    const metrics = await ask(server, '/metrics', { user: 'alice', password: 'alice-password' });
    expect(metrics.body).toContain('nfs_mount_accessible{mount="/a"} 1');
    // Plain HTTP on the TLS port gets no answer.
    await expect(ask(server, '/metrics', { tls: false })).rejects.toThrow();
  });

  it('RequireAndVerifyClientCert: the handshake is refused without a certificate, or with one the CA did not sign', async () => {
    const server = await serve(web(mtls('RequireAndVerifyClientCert')));
    await expect(ask(server, '/healthz')).rejects.toThrow(/certificate required/i);
    await expect(ask(server, '/healthz', { client: certs.stranger })).rejects.toThrow();
    expect((await ask(server, '/healthz', { client: certs.client })).status).toBe(200);
  });

  it('RequireAnyClientCert: any certificate, but one', async () => {
    const server = await serve(web(tls('  client_auth_type: RequireAnyClientCert\n')));
    await expect(ask(server, '/healthz')).rejects.toThrow();
    expect((await ask(server, '/healthz', { client: certs.stranger })).status).toBe(200);
  });

  it('VerifyClientCertIfGiven: none is fine, one the CA did not sign is not', async () => {
    const server = await serve(web(mtls('VerifyClientCertIfGiven')));
    expect((await ask(server, '/healthz')).status).toBe(200);
    await expect(ask(server, '/healthz', { client: certs.stranger })).rejects.toThrow();
    expect((await ask(server, '/healthz', { client: certs.client })).status).toBe(200);
  });

  it('min_version: a client that cannot speak it is refused', async () => {
    const server = await serve(web(tls('  min_version: TLS13\n')));
    await expect(ask(server, '/healthz', { maxVersion: 'TLSv1.2' })).rejects.toThrow(/version|protocol/i);
    expect((await ask(server, '/healthz')).status).toBe(200);
  });

  it('applyWeb, TLS on to on: new certificate, versions, client auth and users for new connections, same port', async () => {
    const server = await serve(web(`${tls()}basic_auth_users:\n  alice: ${alice}\n`));
    const port = server.address.port;
    const first = await ask(server, '/healthz', { user: 'alice', password: 'alice-password', maxVersion: 'TLSv1.2' });
    expect(first.status).toBe(200);

    await server.applyWeb(
      web(
        `${tls(`  min_version: TLS13\n  client_ca_file: ${certs.ca.cert}\n  client_auth_type: RequireAndVerifyClientCert\n`, certs.server2)}basic_auth_users:\n  bob: ${bob}\n`,
      ),
    );
    expect(server.address.port).toBe(port);
    await expect(
      ask(server, '/healthz', { client: certs.client, user: 'bob', password: 'bob-password', maxVersion: 'TLSv1.2' }),
    ).rejects.toThrow();
    await expect(ask(server, '/healthz', { user: 'bob', password: 'bob-password' })).rejects.toThrow();
    const now = await ask(server, '/healthz', { client: certs.client, user: 'bob', password: 'bob-password' });
    expect(now.status).toBe(200);
    expect(now.fingerprint).not.toBe(first.fingerprint);
    expect((await ask(server, '/healthz', { client: certs.client, user: 'alice', password: 'alice-password' })).status).toBe(401);
  });

  it('applyWeb, TLS on to off and back: the same port speaks the other protocol', async () => {
    const server = await serve(web(tls()));
    const port = server.address.port;
    await server.applyWeb(web(`basic_auth_users:\n  alice: ${alice}\n`));
    expect([server.scheme(), server.address.port]).toEqual(['http', port]);
    expect((await ask(server, '/metrics', { tls: false, user: 'alice', password: 'alice-password' })).status).toBe(200);
    expect((await ask(server, '/metrics', { tls: false })).status).toBe(401);
    await expect(ask(server, '/metrics')).rejects.toThrow();

    await server.applyWeb(web(tls()));
    expect([server.scheme(), server.address.port]).toEqual(['https', port]);
    expect((await ask(server, '/metrics')).status).toBe(200);
    await expect(ask(server, '/metrics', { tls: false })).rejects.toThrow();

    await server.applyWeb(undefined);
    expect((await ask(server, '/metrics', { tls: false })).status).toBe(200);
  });

  it('switching the protocol closes idle keep-alive connections at once, and one in the middle of a request once it is answered', async () => {
    // A scrape that waits until the test lets it finish.
    let release = (): void => undefined;
    let started = (): void => undefined;
    const inCollect = new Promise<void>((r) => (started = r));
    const gate = new Promise<void>((r) => (release = r));
    const registry = new Registry();
    new Gauge({
      name: 'slow',
      help: 'h',
      registers: [registry],
      async collect() {
        started();
        await gate;
        this.set(1);
      },
    });
    const server = await startHttpServer({
      listen: { host: '127.0.0.1', port: 0 },
      registry,
      health: () => ({ ok: true, reason: 'probe loop alive', lastCycleAgeSeconds: 1 }),
      version: '9.9.9',
    });
    running.push(server);
    const agent = new Agent({ keepAlive: true });
    const other = new Agent({ keepAlive: true });
    const get = (path: string, through = agent): Promise<{ status: number; closed: Promise<unknown> }> =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: server.address.port, path, agent: through }, (res) => {
          const closed = new Promise((r) => res.socket.once('close', r));
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, closed }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect((await get('/healthz')).status).toBe(200);
      const idle = agent.freeSockets[Object.keys(agent.freeSockets)[0]!]![0]!;
      const idleClosed = new Promise((r) => idle.once('close', r));
      const scrape = get('/metrics', other);
      await inCollect;
      await server.applyWeb(web(tls()));
      await idleClosed;
      release();
      const answered = await scrape;
      expect(answered.status).toBe(200);
      await answered.closed;
      expect((await ask(server, '/metrics')).status).toBe(200);
    } finally {
      agent.destroy();
      other.destroy();
    }
  });

  it('applyWeb from a server started without a web config', async () => {
    const server = await serve(undefined);
    expect(server.scheme()).toBe('http');
    await server.applyWeb(web(`${tls()}http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n`));
    const res = await ask(server, '/');
    expect(res.status).toBe(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it("the status page's own Content-Security-Policy yields to one the web config sets", async () => {
    const server = await serve(web(`http_server_config:\n  headers:\n    Content-Security-Policy: "default-src 'self'"\n`));
    const res = await ask(server, '/', { tls: false });
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toBe("default-src 'self'");
    const plain = await serve(undefined);
    expect((await ask(plain, '/', { tls: false })).headers['content-security-policy']).toBe(PAGE_CSP);
  });
});
