// One HTTP or HTTPS request on a connection of its own, as a scraper makes it: a CA to trust, a client
// certificate, basic authentication, a highest TLS version. fetch() cannot present a client
// certificate, hence node:https.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SecureVersion, TLSSocket } from 'node:tls';

export interface WebAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The server certificate's SHA-256 fingerprint (HTTPS only). */
  fingerprint?: string;
}

export interface WebRequest {
  method?: string;
  /** The CA file that signed the server's certificate (HTTPS). */
  ca?: string;
  user?: string;
  password?: string;
  /** Files of a client certificate and its key. */
  client?: { cert: string; key: string };
  maxVersion?: SecureVersion;
}

/** `base` is http://host:port or https://host:port. Rejects when the connection fails (a refused handshake). */
export function webRequest(base: string, path: string, r: WebRequest = {}): Promise<WebAnswer> {
  const url = new URL(path, base);
  const auth = r.user === undefined ? {} : { Authorization: `Basic ${Buffer.from(`${r.user}:${r.password ?? ''}`).toString('base64')}` };
  const common = {
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: r.method ?? 'GET',
    headers: auth,
    agent: false as const,
  };
  const tls = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const fingerprint = tls ? (res.socket as TLSSocket).getPeerCertificate().fingerprint256 : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ...(fingerprint ? { fingerprint } : {}) });
      });
    };
    const req = tls
      ? httpsRequest(
          {
            ...common,
            ...(r.ca ? { ca: readFileSync(r.ca) } : {}),
            ...(r.client ? { cert: readFileSync(r.client.cert), key: readFileSync(r.client.key) } : {}),
            ...(r.maxVersion ? { maxVersion: r.maxVersion } : {}),
          },
          onResponse,
        )
      : httpRequest(common, onResponse);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
