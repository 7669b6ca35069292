// `nfs-health-checkd status`: what the running daemon knows, asked of it at its metrics.listen
// address (GET /status). It touches no mount and waits on no probe: the daemon answers from memory,
// and a daemon that does not answer within the deadline is said so at once. With a web config it
// speaks TLS, trusting only the certificate the web config names (it asks 127.0.0.1, which no
// certificate need name), presents the client certificate of NFS_HEALTH_CHECKD_CLIENT_CERT and _KEY,
// and sends the credentials of NFS_HEALTH_CHECKD_BASIC_AUTH.
import { readFileSync } from 'node:fs';
import type * as NodeHttp from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type * as NodeTls from 'node:tls';
import type { Config, ListenAddress } from './config/types.js';
import { describeFsError } from './config/load.js';
import { formatListen } from './observe/http.js';
import { STATUS_VERSION, who, type MountStatus, type StatusDoc } from './observe/status-board.js';
import { age, collateralWhat, holderWhere, lastRecoveryOf, mountWhat, recoveryHow } from './observe/status-words.js';

// Through require, as src/observe/http.ts does: no undici, tls or http2 loaded for one local GET;
// node:tls only when the daemon serves TLS.
const load = createRequire(import.meta.url);
const { request } = load('node:http') as typeof NodeHttp;

/** `user:password` for a daemon whose web config has basic_auth_users. */
export const BASIC_AUTH_ENV = 'NFS_HEALTH_CHECKD_BASIC_AUTH';
/** PEM files of a client certificate and its key, for a daemon whose web config asks for one. */
export const CLIENT_CERT_ENV = 'NFS_HEALTH_CHECKD_CLIENT_CERT';
export const CLIENT_KEY_ENV = 'NFS_HEALTH_CHECKD_CLIENT_KEY';

/** sysexits' EX_UNAVAILABLE: no daemon answered (refused, timed out, or not with a status document). */
export const EX_UNAVAILABLE = 69;
/** sysexits' EX_CONFIG: the config gives the daemon no address to ask (metrics disabled). */
export const EX_CONFIG = 78;

const DEADLINE_MS = 1_000;
const MAX_BODY = 4 * 1024 * 1024;
const EVENTS_SHOWN = 10;

export interface StatusOptions {
  json: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
  deadlineMs?: number;
  /** Where NFS_HEALTH_CHECKD_BASIC_AUTH is read; none: no credentials sent. */
  env?: NodeJS.ProcessEnv;
}

/** How the daemon is asked: over TLS to the pinned certificate, with credentials. */
export interface Asking {
  /** The DER of the only certificate the daemon may present; none: plain HTTP. */
  pin?: { der: Buffer; from: string };
  /** user:password. */
  credentials?: string;
  /** The client certificate and key presented in the handshake (PEM). */
  client?: { cert: Buffer; key: Buffer };
}

/** Where the daemon is reached from this node: a wildcard address is asked on its family's loopback. */
export function statusAddress(listen: ListenAddress): ListenAddress {
  if (listen.host === '0.0.0.0') return { host: '127.0.0.1', port: listen.port };
  if (listen.host === '::') return { host: '::1', port: listen.port };
  return listen;
}

export type Fetched = { kind: 'ok'; doc: StatusDoc } | { kind: 'error'; what: string };

/** GET /status within `deadlineMs`, whatever the daemon or the network does. */
export function fetchStatus(at: ListenAddress, deadlineMs: number, asking: Asking = {}): Promise<Fetched> {
  return new Promise((resolve) => {
    let done = false;
    let req: NodeHttp.ClientRequest | undefined;
    const tls: { socket?: Socket } = {}; // the TLS connection, before a request holds it
    const finish = (f: Fetched): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req?.destroy();
      tls.socket?.destroy();
      resolve(f);
    };
    const timer = setTimeout(
      () => finish({ kind: 'error', what: `timeout: no answer within ${(deadlineMs / 1000).toFixed(1)} s` }),
      deadlineMs,
    );
    const authorization =
      asking.credentials === undefined ? {} : { Authorization: `Basic ${Buffer.from(asking.credentials).toString('base64')}` };
    const ask = (socket?: Socket): void => {
      req = request(
        {
          host: at.host,
          port: at.port,
          path: '/status',
          method: 'GET',
          headers: { Accept: 'application/json', ...authorization },
          ...(socket ? { createConnection: () => socket } : {}),
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
            if (body.length > MAX_BODY) finish({ kind: 'error', what: 'answer too large: not a status document' });
          });
          res.on('end', () => {
            if (res.statusCode === 401) return finish({ kind: 'error', what: unauthorized(asking.credentials !== undefined) });
            if (res.statusCode !== 200) return finish({ kind: 'error', what: `HTTP ${res.statusCode ?? '?'}: not a status document` });
            finish(parseStatus(body));
          });
          res.on('error', (e) => finish({ kind: 'error', what: e.message }));
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => finish({ kind: 'error', what: connectError(e, asking.client !== undefined) }));
      req.end();
    };
    const pin = asking.pin;
    if (pin === undefined) return ask();
    // The request (and its credentials) goes out only once the daemon has shown the pinned certificate.
    const { connect } = load('node:tls') as typeof NodeTls;
    let socket: NodeTls.TLSSocket;
    try {
      socket = connect({ host: at.host, port: at.port, rejectUnauthorized: false, ...(asking.client ?? {}) });
    } catch (e) {
      // A client certificate and key that make no pair (or no PEM) fail before any connection.
      return finish({ kind: 'error', what: `client certificate: ${(e as Error).message}` });
    }
    tls.socket = socket;
    socket.once('secureConnect', () => {
      if (socket.getPeerCertificate().raw?.equals(pin.der) !== true) {
        return finish({ kind: 'error', what: `the certificate presented is not the one in ${pin.from}: another server on the port?` });
      }
      ask(socket);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => finish({ kind: 'error', what: connectError(e, asking.client !== undefined) }));
  });
}

/** The client certificate's and key's files from the environment: both or neither; a string says what is wrong. */
function clientFiles(env: NodeJS.ProcessEnv | undefined): { cert: string; key: string } | undefined | string {
  const cert = env?.[CLIENT_CERT_ENV];
  const key = env?.[CLIENT_KEY_ENV];
  if (!cert && !key) return undefined;
  if (!cert || !key)
    return `${cert ? CLIENT_KEY_ENV : CLIENT_CERT_ENV}: expected the PEM file of the client ${cert ? 'key' : 'certificate'}, as ${cert ? CLIENT_CERT_ENV : CLIENT_KEY_ENV} is set`;
  return { cert, key };
}

function readClient(files: { cert: string; key: string }): { cert: Buffer; key: Buffer } | string {
  const read = (file: string, env: string): Buffer | string => {
    try {
      return readFileSync(file);
    } catch (e) {
      return `${env}: cannot read ${file}: ${describeFsError(e)}`;
    }
  };
  const cert = read(files.cert, CLIENT_CERT_ENV);
  if (typeof cert === 'string') return cert;
  const key = read(files.key, CLIENT_KEY_ENV);
  if (typeof key === 'string') return key;
  return { cert, key };
}

function unauthorized(sent: boolean): string {
  return sent
    ? `HTTP 401: the daemon refused the credentials in ${BASIC_AUTH_ENV}`
    : `HTTP 401: the daemon requires basic authentication: set ${BASIC_AUTH_ENV}=user:password`;
}

function connectError(e: NodeJS.ErrnoException, presented: boolean): string {
  if (e.code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): is the daemon running?';
  // Under TLS 1.3 the server checks the client's certificate after the client's side of the
  // handshake is done: a refusal then comes as an alert or as the connection reset.
  if (presented && (e.code === 'ECONNRESET' || /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_)/.test(e.code ?? ''))) {
    return `the daemon refused the client certificate of ${CLIENT_CERT_ENV} (${e.code ?? e.message})`;
  }
  if (e.code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
    return `TLS handshake refused (${e.code}): the daemon requires a client certificate: set ${CLIENT_CERT_ENV} and ${CLIENT_KEY_ENV}`;
  }
  if (e.code === 'EPROTO' || e.code?.startsWith('ERR_SSL_'))
    return `TLS handshake failed (${e.code}): does the daemon serve TLS as the web config says?`;
  return e.code !== undefined ? `${e.code}: ${e.message}` : e.message;
}

function parseStatus(body: string): Fetched {
  try {
    const doc = JSON.parse(body) as Partial<StatusDoc> | null;
    if (doc?.version === STATUS_VERSION && Array.isArray(doc.mounts) && Array.isArray(doc.events))
      return { kind: 'ok', doc: doc as StatusDoc };
    return { kind: 'error', what: `not a status document (version ${String(doc?.version)})` };
  } catch {
    return { kind: 'error', what: 'not a status document (not JSON)' };
  }
}

/** Returns the exit status: 0 when the daemon says every mount is ok, 1 when not, 69 or 78 when it cannot be asked. */
export async function runStatus(config: Config, opts: StatusOptions): Promise<number> {
  if (!config.metrics.enabled) {
    opts.err('nfs-health-checkd: status needs metrics.enabled: the daemon serves its status on metrics.listen');
    return EX_CONFIG;
  }
  if (config.metrics.listen.port === 0) {
    opts.err(
      'nfs-health-checkd: status needs the port of metrics.listen: 0 (any free port) is known only from the daemon\'s "starting" log line',
    );
    return EX_CONFIG;
  }
  const credentials = opts.env?.[BASIC_AUTH_ENV];
  if (credentials !== undefined && !credentials.includes(':')) {
    opts.err(`nfs-health-checkd: ${BASIC_AUTH_ENV}: expected user:password, got no ":"`);
    return EX_CONFIG;
  }
  let pin: Asking['pin'];
  let client: Asking['client'];
  if (config.metrics.webConfigFile !== null) {
    const file = config.metrics.webConfigFile;
    const web = await import('./observe/web-config.js');
    const tls = web.readWebConfigFile(file).tls;
    const named = clientFiles(opts.env);
    if (typeof named === 'string') {
      opts.err(`nfs-health-checkd: ${named}`);
      return EX_CONFIG;
    }
    if (tls !== null && web.requiresClientCert(tls.clientAuth) && named === undefined) {
      opts.err(
        `nfs-health-checkd: status cannot ask the daemon: ${file}: tls_server_config.client_auth_type ${tls.clientAuth} requires a client certificate: set ${CLIENT_CERT_ENV} and ${CLIENT_KEY_ENV} to its PEM files`,
      );
      return EX_CONFIG;
    }
    if (tls !== null) pin = { der: web.serverCertificate(tls, file), from: 'file' in tls.cert ? tls.cert.file : `${file} (cert)` };
    if (tls !== null && named !== undefined) {
      const read = readClient(named);
      if (typeof read === 'string') {
        opts.err(`nfs-health-checkd: ${read}`);
        return EX_CONFIG;
      }
      client = read;
    }
  }
  const at = statusAddress(config.metrics.listen);
  const url = `${pin ? 'https' : 'http'}://${formatListen(at)}/status`;
  const got = await fetchStatus(at, opts.deadlineMs ?? DEADLINE_MS, {
    ...(pin ? { pin } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
    ...(client ? { client } : {}),
  });
  if (got.kind === 'error') {
    opts.err(`nfs-health-checkd: no daemon status at ${url}: ${got.what}`);
    return EX_UNAVAILABLE;
  }
  if (opts.json) opts.out(JSON.stringify(got.doc, null, 2));
  else for (const line of formatStatus(got.doc)) opts.out(line);
  return got.doc.mounts.every((m) => m.state === 'ok') ? 0 : 1;
}

function mountLine(m: MountStatus, doc: StatusDoc): string {
  const now = doc.generated_at;
  const what = mountWhat(m);
  const since = m.since === null ? '' : `  since ${m.since} (${age(m.since, now)})`;
  const probed = m.last_probed_at === null ? '' : `, probed ${age(m.last_probed_at, now)} ago`;
  const last = lastRecoveryOf(doc, m.mount);
  const rec = last === undefined ? '' : `; last recovery: ${last}`;
  return `${m.state.padEnd(8)} ${m.mount}  ${what}${since}${probed}${rec}`;
}

/** The document as lines: a line per mount and its holders, then the last recovery, put-backs and the last events. */
export function formatStatus(doc: StatusDoc): string[] {
  const d = doc.daemon;
  const lines = [`daemon   ${d.version}, pid ${d.pid}, up since ${d.started_at}, schedule "${d.schedule}"`];
  for (const m of doc.mounts) {
    lines.push(mountLine(m, doc));
    for (const h of doc.holders.filter((x) => x.mount === m.mount)) {
      lines.push(`  holder ${who(h)}, ${holderWhere(h)}: ${h.holds.join(', ')}`);
    }
  }
  for (const h of doc.holders.filter((x) => x.mount === 'unknown')) {
    lines.push(`holder   ${who(h)}, ${holderWhere(h)}: ${h.holds.join(', ')}`);
  }
  const r = doc.recovery;
  if (r) {
    const how = recoveryHow(r);
    const failing = r.still_failing.length > 0 ? `, still failing: ${r.still_failing.join(', ')}` : '';
    lines.push(`recovery ${how}, started ${r.started_at}: ${r.targets.map((t) => `${t.mount} (${t.result})`).join(', ')}${failing}`);
    for (const s of r.steps) {
      const code = s.exit_code === null ? '' : ` exit ${s.exit_code}`;
      const out = s.output ? `: ${s.output.split('\n')[0]}` : '';
      lines.push(`  step ${s.kind}: ${s.argv.join(' ')} -> ${s.status}${code} in ${s.duration_ms} ms${out}`);
    }
    for (const argv of r.would_run) lines.push(`  would run ${argv.join(' ')}`);
    for (const c of r.collateral) lines.push(`  taken away ${c.mount}: ${collateralWhat(c)}`);
  }
  for (const p of doc.put_back.waiting) {
    lines.push(`put back waiting ${p.mount}  server ${p.server ?? '?'}, taken away ${p.since}, last try ${p.outcome} (${p.tries})`);
  }
  for (const p of doc.put_back.done) lines.push(`put back ${p.mount}  ${p.outcome} at ${p.at ?? '?'}`);
  if (doc.events.length > 0) lines.push('events (newest first):');
  for (const e of doc.events.slice(0, EVENTS_SHOWN)) lines.push(`  ${e.at} ${e.level.padEnd(5)} ${e.text}`);
  return lines;
}
