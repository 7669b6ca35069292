// A scraper of the daemon's HTTP side as Prometheus is one: one connection kept and reused while the
// server keeps it (keep-alive), or a new one for every request (a full TLS handshake each time: no
// session is resumed, as Go's client does without a session cache); a CA to trust, a client
// certificate, basic authentication. fetch() cannot present a client certificate, hence node:https.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface WebTarget {
  /** http://host:port or https://host:port */
  base: string;
  /** The CA that signed the server's certificate (PEM). */
  ca?: Buffer;
  /** A client certificate and its key (PEM). */
  client?: { cert: Buffer; key: Buffer };
}

export interface Answer {
  status: number;
  bytes: number;
  /** From the request's start to the body's last byte. */
  ms: number;
  /** On a connection an earlier request opened. */
  reused: boolean;
  /** The TLS version the connection speaks; null over plain HTTP. */
  tls: string | null;
}

export interface WebClient {
  get(path: string, user?: { name: string; password: string }): Promise<Answer>;
  /** Connections opened so far. */
  connections(): number;
  close(): void;
}

export const basicAuth = (name: string, password: string): string => `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;

/** `keepAlive`: one connection, reused while the server keeps it; otherwise a new one for each request. */
export function webClient(t: WebTarget, keepAlive: boolean): WebClient {
  const url = new URL(t.base);
  const secure = url.protocol === 'https:';
  const tlsOptions = secure ? { ...(t.ca ? { ca: t.ca } : {}), ...(t.client ? { cert: t.client.cert, key: t.client.key } : {}) } : {};
  const agent = keepAlive
    ? secure
      ? new https.Agent({ keepAlive: true, maxSockets: 1, maxCachedSessions: 0, ...tlsOptions })
      : new http.Agent({ keepAlive: true, maxSockets: 1 })
    : false;
  let opened = 0;
  return {
    get: (path, user) =>
      new Promise<Answer>((resolve, reject) => {
        const started = performance.now();
        const options = {
          host: url.hostname,
          port: url.port,
          path,
          method: 'GET',
          headers: user ? { Authorization: basicAuth(user.name, user.password) } : {},
          agent,
          ...(agent === false ? tlsOptions : {}),
        };
        const onResponse = (res: http.IncomingMessage): void => {
          let bytes = 0;
          const tls = secure ? ((res.socket as TLSSocket | null)?.getProtocol() ?? null) : null;
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              bytes,
              ms: performance.now() - started,
              reused: req.reusedSocket,
              tls,
            });
          });
          res.on('error', reject);
        };
        const req = secure ? https.request(options, onResponse) : http.request(options, onResponse);
        req.on('socket', () => {
          if (!req.reusedSocket) opened++;
        });
        req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path}: no answer within 10 s`)));
        req.on('error', reject);
        req.end();
      }),
    connections: () => opened,
    close: () => {
      if (agent) agent.destroy();
    },
  };
}
