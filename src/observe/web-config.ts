// The web config (metrics.web_config_file): TLS, client certificates, basic authentication and
// extra response headers of the HTTP server, in the file format every official Prometheus exporter
// reads with --web.config.file (prometheus/exporter-toolkit, docs/web-configuration.md), so that
// one file and `promtool check web-config` serve a fleet. parseWebConfig is pure: text → what the
// file asks for. readWebConfig reads the file and the PEM files it names and checks that they make
// a working server. Each problem is one ConfigError line naming the web config file, the key and
// what was expected; secrets (password hashes, an inline private key) are never quoted.
//
// Loaded only when a web config is set (src/daemon.ts imports it on demand): node:crypto here, and
// node:tls for the final check, stay out of a daemon serving plain HTTP.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import type * as NodeTls from 'node:tls';
import { ConfigError, formatKeyPath, isMapping, showValue, type KeyPath } from '../config/config-error.js';
import { describeFsError, parseYaml } from '../config/load.js';
import { secureContextOptions } from './http.js';

/** exporter-toolkit's client_auth_type values, Go's tls.ClientAuthType names. */
export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

/** The policies under which the server refuses a client that presents no certificate. */
export function requiresClientCert(type: ClientAuthType): boolean {
  return type === 'RequireAnyClientCert' || type === 'RequireAndVerifyClientCert';
}

/** The policies that verify a presented certificate against client_ca(_file). */
function verifiesClientCert(type: ClientAuthType): boolean {
  return type === 'VerifyClientCertIfGiven' || type === 'RequireAndVerifyClientCert';
}

/** exporter-toolkit's version names, and OpenSSL's (Node's) for them. */
const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
export type TlsVersionName = keyof typeof TLS_VERSIONS;
const VERSION_NAMES = Object.keys(TLS_VERSIONS) as TlsVersionName[];

/**
 * Response headers the file may set, with the values allowed where they are an enumeration:
 * exporter-toolkit's own list, kept the same so that a file means the same on every exporter.
 */
const EXTRA_HEADERS: ReadonlyMap<string, readonly string[] | null> = new Map([
  ['Strict-Transport-Security', null],
  ['X-Content-Type-Options', ['nosniff']],
  ['X-Frame-Options', ['deny', 'sameorigin']],
  ['X-XSS-Protection', null],
  ['Content-Security-Policy', null],
]);

/** Keys of the format this daemon does not implement: refused by name rather than ignored. */
const NOT_SUPPORTED: Readonly<Record<string, string>> = {
  rate_limit: 'not supported by nfs-health-checkd (its connection cap and timeouts bound clients); remove it',
  cipher_suites: "not supported by nfs-health-checkd (Node.js's OpenSSL defaults are used); remove it or leave it empty",
  curve_preferences: "not supported by nfs-health-checkd (Node.js's OpenSSL defaults are used); remove it or leave it empty",
  client_allowed_sans:
    'not supported by nfs-health-checkd; remove it (a client_ca_file that signs only the allowed clients, with RequireAndVerifyClientCert, admits the same ones)',
};

const TOP_KEYS = ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'];
const TLS_KEYS = [
  'cert',
  'key',
  'client_ca',
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
];
const HTTP_KEYS = ['http2', 'headers'];

/** PEM text written in the file itself, or the file holding it; `key` is the YAML key that gave it. */
export type Pem = { key: string; file: string } | { key: string; text: string };

export interface TlsConfig {
  cert: Pem;
  key: Pem;
  clientCa: Pem | null;
  clientAuth: ClientAuthType;
  minVersion: TlsVersionName;
  maxVersion: TlsVersionName;
  preferServerCipherSuites: boolean;
}

/** What a web config file asks for, its paths made absolute (from the file's own directory). */
export interface WebConfig {
  file: string;
  /** null: plain HTTP. */
  tls: TlsConfig | null;
  /** User → bcrypt hash; empty: no authentication. */
  users: ReadonlyMap<string, string>;
  /** Extra response headers, on every response. */
  headers: Readonly<Record<string, string>>;
}

/** What the server runs with: the PEM material read and checked. */
export interface TlsSettings {
  cert: string;
  key: string;
  /** The client CAs, PEM; null: none. */
  ca: string | null;
  clientAuth: ClientAuthType;
  minVersion: NodeTls.SecureVersion;
  maxVersion: NodeTls.SecureVersion;
  honorCipherOrder: boolean;
  /** For the log line: exporter-toolkit's names. */
  versions: string;
}

export interface WebSettings {
  file: string;
  tls: TlsSettings | null;
  users: ReadonlyMap<string, string>;
  headers: Readonly<Record<string, string>>;
}

/** A bcrypt hash as htpasswd -B, Go's and bcryptjs write it; cost 4 to 31. */
const BCRYPT_HASH = /^\$2[aby]?\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** The cost of a bcrypt hash; null for text that is not one. */
export function bcryptCost(hash: string): number | null {
  const m = BCRYPT_HASH.exec(hash);
  return m ? Number(m[1]) : null;
}

class Reader {
  constructor(readonly file: string) {}

  fail(at: KeyPath, detail: string): never {
    throw new ConfigError({ file: this.file, keyPath: formatKeyPath(at), detail });
  }

  expected(at: KeyPath, what: string, value: unknown): never {
    this.fail(at, `expected ${what}, got ${showValue(value)}`);
  }

  /** A mapping with only `keys`, or absent (null, as YAML writes an empty section): {}. */
  section(at: KeyPath, value: unknown, keys: readonly string[], unknown = 'unknown key'): Record<string, unknown> {
    const named = keys.filter((k) => NOT_SUPPORTED[k] === undefined).join(', ');
    if (value === undefined || value === null) return {};
    if (!isMapping(value)) this.expected(at, `a mapping (${named})`, value);
    for (const key of Object.keys(value)) {
      if (!keys.includes(key)) this.fail([...at, key], `${unknown} (expected one of: ${named})`);
    }
    return value;
  }

  /** A string, or undefined where the key is absent, null or "" (Go reads all three as unset). */
  optionalString(at: KeyPath, value: unknown, what: string): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') this.expected(at, what, value);
    return value;
  }
}

/** Whether a key is set to anything but "nothing": absent, null, "", [] and {} all leave it unset. */
function set(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  return !(isMapping(value) && Object.keys(value).length === 0);
}

/** Refuses, by name, the keys of the format this daemon does not implement. */
function refuseUnsupported(r: Reader, at: KeyPath, section: Record<string, unknown>): void {
  for (const [key, why] of Object.entries(NOT_SUPPORTED)) {
    if (Object.hasOwn(section, key) && set(section[key])) r.fail([...at, key], why);
  }
}

/** The web config file's text → what it asks for. Throws a one-line ConfigError. */
export function parseWebConfig(text: string, file: string): WebConfig {
  const r = new Reader(file);
  const { value } = parseYaml(text, file);
  // An empty file is a valid web config, as for exporter-toolkit: plain HTTP, no authentication.
  if (value !== null && !isMapping(value)) {
    throw new ConfigError({
      file,
      detail: `expected a mapping (tls_server_config, http_server_config, basic_auth_users) at the top level, got ${showValue(value)}`,
    });
  }
  const top = r.section([], value, TOP_KEYS);
  refuseUnsupported(r, [], top);
  const tls = readTls(r, top.tls_server_config, dirname(file));
  const http = r.section(['http_server_config'], top.http_server_config, HTTP_KEYS);
  readHttp2(r, http.http2);
  const headers = readHeaders(r, http.headers);
  const users = readUsers(r, top.basic_auth_users);
  return { file, tls, users, headers };
}

function readTls(r: Reader, value: unknown, dir: string): TlsConfig | null {
  const at = ['tls_server_config'];
  const s = r.section(at, value, TLS_KEYS);
  refuseUnsupported(r, at, s);
  const pem = (textKey: string, fileKey: string, what: string): Pem | null => {
    // The inline private key is never quoted, whatever it holds.
    if (textKey === 'key' && set(s.key) && typeof s.key !== 'string') {
      r.fail([...at, 'key'], `expected ${what} as PEM text, got something else (not shown)`);
    }
    const text = r.optionalString([...at, textKey], s[textKey], `${what} as PEM text`);
    const path = r.optionalString([...at, fileKey], s[fileKey], `the path of a PEM file (${what})`);
    if (text !== undefined && path !== undefined) r.fail([...at, fileKey], `expected either ${textKey} or ${fileKey}, not both`);
    if (path !== undefined) return { key: fileKey, file: isAbsolute(path) ? path : join(dir, path) };
    return text === undefined ? null : { key: textKey, text };
  };
  const cert = pem('cert', 'cert_file', "the server's certificate");
  const key = pem('key', 'key_file', "the server's private key");
  const clientCa = pem('client_ca', 'client_ca_file', 'the CA certificates that sign client certificates');
  const authRaw = r.optionalString([...at, 'client_auth_type'], s.client_auth_type, `one of ${CLIENT_AUTH_TYPES.join(', ')}`);
  const versions = ['min_version', 'max_version'].filter((k) => set(s[k]));
  const honour = s.prefer_server_cipher_suites;
  if (honour !== undefined && honour !== null && typeof honour !== 'boolean') {
    r.expected([...at, 'prefer_server_cipher_suites'], 'true or false', honour);
  }

  // As exporter-toolkit: TLS is on once any of its files or the client auth type is set. Versions
  // or cipher order alone would be settings of a TLS that is not there: an error, not ignored.
  if (cert === null && key === null && clientCa === null && authRaw === undefined) {
    const stray = [...versions, ...(typeof honour === 'boolean' ? ['prefer_server_cipher_suites'] : [])][0];
    if (stray !== undefined) r.fail([...at, stray], 'set without cert_file and key_file: TLS is off; remove it, or set them');
    return null;
  }
  if (cert === null)
    r.fail([...at, 'cert_file'], "expected the path of the server's certificate (PEM), or cert: its PEM text; got neither");
  if (key === null) r.fail([...at, 'key_file'], "expected the path of the server's private key (PEM), or key: its PEM text; got neither");

  // "RequireClientCert" is exporter-toolkit's older name of RequireAnyClientCert, still accepted there.
  const named = authRaw === 'RequireClientCert' ? 'RequireAnyClientCert' : (authRaw ?? 'NoClientCert');
  const clientAuth = CLIENT_AUTH_TYPES.find((t) => t === named);
  if (clientAuth === undefined) r.expected([...at, 'client_auth_type'], `one of ${CLIENT_AUTH_TYPES.join(', ')}`, authRaw);
  if (clientCa !== null && clientAuth === 'NoClientCert') {
    r.fail(
      [...at, 'client_auth_type'],
      `expected a client_auth_type that asks for client certificates (RequireAndVerifyClientCert) with ${clientCa.key}, got ${authRaw === undefined ? 'none (NoClientCert)' : 'NoClientCert'}`,
    );
  }
  if (clientCa === null && verifiesClientCert(clientAuth)) {
    r.fail([...at, 'client_ca_file'], `expected the CA certificates that sign client certificates: ${clientAuth} verifies them against it`);
  }
  const version = (name: 'min_version' | 'max_version', fallback: TlsVersionName): TlsVersionName => {
    const raw = s[name];
    if (!set(raw)) return fallback;
    const found = VERSION_NAMES.find((v) => v === raw);
    if (found === undefined) r.expected([...at, name], `one of ${VERSION_NAMES.join(', ')}`, raw);
    return found;
  };
  const minVersion = version('min_version', 'TLS12');
  const maxVersion = version('max_version', 'TLS13');
  if (VERSION_NAMES.indexOf(maxVersion) < VERSION_NAMES.indexOf(minVersion)) {
    r.expected([...at, 'max_version'], `a version not below min_version (${minVersion})`, maxVersion);
  }
  return { cert, key, clientCa, clientAuth, minVersion, maxVersion, preferServerCipherSuites: honour !== false };
}

/** exporter-toolkit turns HTTP/2 on by default; Node's HTTPS server speaks HTTP/1.1, which every client falls back to. */
function readHttp2(r: Reader, value: unknown): void {
  const at = ['http_server_config', 'http2'];
  if (value === undefined || value === null || value === false) return;
  if (value === true)
    r.fail(at, 'HTTP/2 is not supported by nfs-health-checkd, which serves HTTP/1.1 (with TLS too); set false or remove it');
  r.expected(at, 'false (HTTP/1.1 only)', value);
}

function readHeaders(r: Reader, value: unknown): Record<string, string> {
  const at = ['http_server_config', 'headers'];
  const allowed = [...EXTRA_HEADERS.keys()];
  const given = r.section(at, value, allowed, 'a header the web config cannot set');
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(given)) {
    const text = r.optionalString([...at, name], v, 'a header value (text)');
    // "Unset if blank", as the format says.
    if (text === undefined) continue;
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(text)) r.expected([...at, name], 'a header value on one line, without control characters', text);
    const values = EXTRA_HEADERS.get(name);
    if (values && !values.includes(text)) r.expected([...at, name], `one of ${values.join(', ')}`, text);
    headers[name] = text;
  }
  return headers;
}

function readUsers(r: Reader, value: unknown): Map<string, string> {
  const at = ['basic_auth_users'];
  if (value === undefined || value === null) return new Map();
  if (!isMapping(value)) r.expected(at, 'a mapping of user names to bcrypt hashes', value);
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(value)) {
    // Basic authentication sends "user:password": a colon in a name could never match.
    if (user.includes(':')) r.expected([...at, user], 'a user name without ":" (Basic authentication cannot send one)', user);
    const cost = typeof hash === 'string' ? bcryptCost(hash) : null;
    if (cost === null || cost < 4 || cost > 31) {
      // The value is not shown: it may be the password itself, pasted in place of its hash.
      const got = typeof hash === 'string' ? `a string of ${hash.length} characters that is not one` : showValue(hash);
      r.fail([...at, user], `expected a bcrypt hash such as $2y$10$… (htpasswd -nBC 10 "" | tr -d ':\\n'), got ${got}`);
    }
    users.set(user, hash as string);
  }
  return users;
}

/**
 * Reads and checks `file` and the PEM files it names: what the server will run with. The checks are
 * the ones a TLS server would otherwise fail on at the first client (or never say at all): each file
 * readable, the certificate and key PEM, the key the certificate's, the client CAs certificates.
 */
export function readWebConfig(file: string, read: (path: string) => string = readText): WebSettings {
  const config = parseWebConfig(readFile(file, undefined, file, read), file);
  return { file, tls: config.tls && readTlsMaterial(config.tls, file, read), users: config.users, headers: config.headers };
}

/** The web config file as parsed, nothing else read: for `status`, which needs no private key. */
export function readWebConfigFile(file: string, read: (path: string) => string = readText): WebConfig {
  return parseWebConfig(readFile(file, undefined, file, read), file);
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** A file's text; a failure names the key that gave the path (none for the web config itself). */
function readFile(path: string, key: string | undefined, file: string, read: (path: string) => string): string {
  try {
    return read(path);
  } catch (err) {
    const what = key === undefined ? 'cannot read:' : `cannot read ${path}:`;
    throw new ConfigError({ file, keyPath: key, detail: `${what} ${describeFsError(err)}` });
  }
}

/** The PEM text of `pem`, read from its file if it names one. */
export function pemText(pem: Pem, file: string, read: (path: string) => string = readText): string {
  return 'text' in pem ? pem.text : readFile(pem.file, `tls_server_config.${pem.key}`, file, read);
}

/** The server's own certificate (the first of cert_file), DER: what `status` pins the daemon to. */
export function serverCertificate(tls: TlsConfig, file: string, read: (path: string) => string = readText): Buffer {
  const [leaf] = certificates(tls.cert, pemText(tls.cert, file, read), file);
  if (!leaf) throw new Error('certificates() returned none');
  return leaf.raw;
}

/** `pem` as it is named in a message: its file, or the inline key. */
function shown(pem: Pem): string {
  return 'file' in pem ? pem.file : `the PEM text of ${pem.key}`;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM text, each parsed; none is an error. */
function certificates(pem: Pem, text: string, file: string): X509Certificate[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  const fail = (why: string): never => {
    throw new ConfigError({ file, keyPath: `tls_server_config.${pem.key}`, detail: `expected PEM certificates in ${shown(pem)}, ${why}` });
  };
  if (blocks.length === 0) fail('found no "BEGIN CERTIFICATE" block');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      return fail(`certificate ${i + 1} is not one (${err instanceof Error ? err.message : String(err)})`);
    }
  });
}

function readTlsMaterial(tls: TlsConfig, file: string, read: (path: string) => string): TlsSettings {
  const cert = pemText(tls.cert, file, read);
  const key = pemText(tls.key, file, read);
  const ca = tls.clientCa && pemText(tls.clientCa, file, read);
  const [leaf] = certificates(tls.cert, cert, file);
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    // OpenSSL's reason only: the text itself is the secret.
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError({
      file,
      keyPath: `tls_server_config.${tls.key.key}`,
      detail: `expected an unencrypted PEM private key in ${shown(tls.key)} (${why})`,
    });
  }
  if (leaf && !leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError({
      file,
      keyPath: `tls_server_config.${tls.key.key}`,
      detail: `expected the private key of the certificate in ${shown(tls.cert)} (${leaf.subject.replace(/\n/g, ', ')}), got another key`,
    });
  }
  if (tls.clientCa && ca !== null) certificates(tls.clientCa, ca, file);
  const settings: TlsSettings = {
    cert,
    key,
    ca,
    clientAuth: tls.clientAuth,
    minVersion: TLS_VERSIONS[tls.minVersion],
    maxVersion: TLS_VERSIONS[tls.maxVersion],
    honorCipherOrder: tls.preferServerCipherSuites,
    versions: tls.minVersion === tls.maxVersion ? tls.minVersion : `${tls.minVersion}-${tls.maxVersion}`,
  };
  // Whatever else OpenSSL refuses (a version it was built without), said now rather than at the first client.
  const { createSecureContext } = createRequire(import.meta.url)('node:tls') as typeof NodeTls;
  try {
    createSecureContext(secureContextOptions(settings));
  } catch (err) {
    throw new ConfigError({
      file,
      keyPath: 'tls_server_config',
      detail: `OpenSSL refuses these settings: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
  return settings;
}

/** What the settings turn on, for the log: never a secret. */
export function webSummary(web: WebSettings): Record<string, unknown> {
  return {
    web_config: web.file,
    tls: web.tls ? web.tls.versions : 'off',
    client_auth: web.tls ? web.tls.clientAuth : 'NoClientCert',
    basic_auth_users: web.users.size,
    ...(Object.keys(web.headers).length > 0 ? { headers: Object.keys(web.headers) } : {}),
  };
}
