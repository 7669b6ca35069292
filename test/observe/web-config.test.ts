// The web config (metrics.web_config_file): the pure parse of exporter-toolkit's format with every
// one-line error it gives, then the reading of real PEM files made by openssl.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseWebConfig, readWebConfig, serverCertificate, webSummary } from '../../src/observe/web-config.js';
import { makeCerts, opensslPrerequisite, type Certs } from '../helpers/certs.js';
import { requires, skips } from '../helpers/prerequisite.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const FILE = '/etc/nfs-health-checkd/web.yml';
const HASH = bcrypt.hashSync('the-password', 4);

/** The one-line message parseWebConfig throws for `text`. */
function parseError(text: string): string {
  try {
    parseWebConfig(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`no error for:\n${text}`);
}

describe('parseWebConfig', () => {
  it('reads an empty file as plain HTTP without authentication, as exporter-toolkit does', () => {
    for (const text of ['', '# nothing yet\n', 'tls_server_config:\nbasic_auth_users:\n']) {
      expect(parseWebConfig(text, FILE)).toEqual({ file: FILE, tls: null, users: new Map(), headers: {} });
    }
  });

  it("reads TLS, users and headers; paths relative to the file's directory; exporter-toolkit's defaults", () => {
    const config = parseWebConfig(
      [
        'tls_server_config:',
        '  cert_file: tls/server.crt',
        '  key_file: /secure/server.key',
        '  client_ca_file: ca.crt',
        '  client_auth_type: RequireAndVerifyClientCert',
        'http_server_config:',
        '  http2: false',
        '  headers:',
        '    X-Frame-Options: deny',
        '    Content-Security-Policy: "default-src \'self\'"',
        '    X-XSS-Protection: ""',
        'basic_auth_users:',
        `  prometheus: ${HASH}`,
        '',
      ].join('\n'),
      FILE,
    );
    expect(config.tls).toEqual({
      cert: { key: 'cert_file', file: '/etc/nfs-health-checkd/tls/server.crt' },
      key: { key: 'key_file', file: '/secure/server.key' },
      clientCa: { key: 'client_ca_file', file: '/etc/nfs-health-checkd/ca.crt' },
      clientAuth: 'RequireAndVerifyClientCert',
      minVersion: 'TLS12',
      maxVersion: 'TLS13',
      preferServerCipherSuites: true,
    });
    expect(config.users).toEqual(new Map([['prometheus', HASH]]));
    // Blank: unset, as the format says.
    expect(config.headers).toEqual({ 'X-Frame-Options': 'deny', 'Content-Security-Policy': "default-src 'self'" });
  });

  it('takes inline PEM text, versions, the older RequireClientCert name and empty lists of the keys it does not implement', () => {
    const config = parseWebConfig(
      [
        'tls_server_config:',
        '  cert: "-----BEGIN CERTIFICATE-----"',
        '  key: "-----BEGIN PRIVATE KEY-----"',
        '  client_auth_type: RequireClientCert',
        '  min_version: TLS13',
        '  max_version: TLS13',
        '  prefer_server_cipher_suites: false',
        '  cipher_suites: []',
        '  curve_preferences:',
        '',
      ].join('\n'),
      FILE,
    );
    expect(config.tls).toMatchObject({
      cert: { key: 'cert', text: '-----BEGIN CERTIFICATE-----' },
      key: { key: 'key', text: '-----BEGIN PRIVATE KEY-----' },
      clientCa: null,
      clientAuth: 'RequireAnyClientCert',
      minVersion: 'TLS13',
      maxVersion: 'TLS13',
      preferServerCipherSuites: false,
    });
  });

  const TLS = 'tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n';
  const cases: [string, string, RegExp][] = [
    ['bad YAML', 'tls_server_config: [\n', /^\/etc\/nfs-health-checkd\/web\.yml:\d+:\d+: invalid YAML: /],
    [
      'a list at the top',
      '- a\n',
      /web\.yml: expected a mapping \(tls_server_config, http_server_config, basic_auth_users\) at the top level, got \["a"\]$/,
    ],
    [
      'an unknown key',
      'tls_config: {}\n',
      /web\.yml: tls_config: unknown key \(expected one of: tls_server_config, http_server_config, basic_auth_users\)$/,
    ],
    [
      'an unknown TLS key',
      `${TLS}  certfile: x\n`,
      /web\.yml: tls_server_config\.certfile: unknown key \(expected one of: cert, key, client_ca, cert_file, /,
    ],
    ['rate_limit', 'rate_limit:\n  interval: 1s\n  burst: 20\n', /web\.yml: rate_limit: not supported by nfs-health-checkd .*; remove it$/],
    [
      'cipher_suites',
      `${TLS}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n`,
      /tls_server_config\.cipher_suites: not supported by nfs-health-checkd/,
    ],
    [
      'curve_preferences',
      `${TLS}  curve_preferences: [X25519]\n`,
      /tls_server_config\.curve_preferences: not supported by nfs-health-checkd/,
    ],
    [
      'client_allowed_sans',
      `${TLS}  client_allowed_sans: [a.example]\n`,
      /tls_server_config\.client_allowed_sans: not supported by nfs-health-checkd/,
    ],
    [
      'a section that is not a mapping',
      'tls_server_config: 12\n',
      /web\.yml: tls_server_config: expected a mapping \(cert, key, client_ca, .*\), got 12$/,
    ],
    [
      'a path that is not a string',
      'tls_server_config:\n  cert_file: 12\n  key_file: k\n',
      /tls_server_config\.cert_file: expected the path of a PEM file \(the server's certificate\), got 12$/,
    ],
    ['cert and cert_file', `${TLS}  cert: "pem"\n`, /tls_server_config\.cert_file: expected either cert or cert_file, not both$/],
    [
      'no cert',
      'tls_server_config:\n  key_file: s.key\n',
      /tls_server_config\.cert_file: expected the path of the server's certificate \(PEM\), or cert: its PEM text; got neither$/,
    ],
    [
      'no key',
      'tls_server_config:\n  cert_file: s.crt\n',
      /tls_server_config\.key_file: expected the path of the server's private key \(PEM\), or key: its PEM text; got neither$/,
    ],
    [
      'versions without TLS',
      'tls_server_config:\n  min_version: TLS13\n',
      /tls_server_config\.min_version: set without cert_file and key_file: TLS is off; remove it, or set them$/,
    ],
    [
      'an unknown client auth type',
      `${TLS}  client_auth_type: RequireCert\n`,
      /tls_server_config\.client_auth_type: expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert, got "RequireCert"$/,
    ],
    [
      'a CA without a client auth type',
      `${TLS}  client_ca_file: ca.crt\n`,
      /tls_server_config\.client_auth_type: expected a client_auth_type that asks for client certificates \(RequireAndVerifyClientCert\) with client_ca_file, got none \(NoClientCert\)$/,
    ],
    [
      'a CA with NoClientCert',
      `${TLS}  client_ca_file: ca.crt\n  client_auth_type: NoClientCert\n`,
      /client_auth_type: expected a client_auth_type that asks .*, got NoClientCert$/,
    ],
    [
      'RequireAndVerifyClientCert without a CA',
      `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`,
      /tls_server_config\.client_ca_file: expected the CA certificates that sign client certificates: RequireAndVerifyClientCert verifies them against it$/,
    ],
    [
      'VerifyClientCertIfGiven without a CA',
      `${TLS}  client_auth_type: VerifyClientCertIfGiven\n`,
      /tls_server_config\.client_ca_file: expected .*: VerifyClientCertIfGiven verifies them against it$/,
    ],
    [
      'an unknown version',
      `${TLS}  min_version: TLS1.2\n`,
      /tls_server_config\.min_version: expected one of TLS10, TLS11, TLS12, TLS13, got "TLS1\.2"$/,
    ],
    [
      'max below min',
      `${TLS}  min_version: TLS13\n  max_version: TLS12\n`,
      /tls_server_config\.max_version: expected a version not below min_version \(TLS13\), got "TLS12"$/,
    ],
    [
      'a cipher order that is not a boolean',
      `${TLS}  prefer_server_cipher_suites: "yes"\n`,
      /prefer_server_cipher_suites: expected true or false, got "yes"$/,
    ],
    [
      'HTTP/2',
      'http_server_config:\n  http2: true\n',
      /web\.yml: http_server_config\.http2: HTTP\/2 is not supported by nfs-health-checkd, which serves HTTP\/1\.1 \(with TLS too\); set false or remove it$/,
    ],
    [
      'http2 not a boolean',
      'http_server_config:\n  http2: "no"\n',
      /http_server_config\.http2: expected false \(HTTP\/1\.1 only\), got "no"$/,
    ],
    [
      'a header it cannot set',
      'http_server_config:\n  headers:\n    Server: x\n',
      /http_server_config\.headers\.Server: a header the web config cannot set \(expected one of: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy\)$/,
    ],
    [
      'a value outside the enumeration',
      'http_server_config:\n  headers:\n    X-Frame-Options: allow\n',
      /headers\["X-Frame-Options"\]: expected one of deny, sameorigin, got "allow"$/,
    ],
    [
      'a value over two lines',
      'http_server_config:\n  headers:\n    Strict-Transport-Security: "max-age=1\\r\\nSet-Cookie: a"\n',
      /headers\["Strict-Transport-Security"\]: expected a header value on one line, without control characters/,
    ],
    [
      'users as a list',
      'basic_auth_users: [alice]\n',
      /web\.yml: basic_auth_users: expected a mapping of user names to bcrypt hashes, got \["alice"\]$/,
    ],
    [
      'a user name with a colon',
      `basic_auth_users:\n  "a:b": ${HASH}\n`,
      /basic_auth_users\["a:b"\]: expected a user name without ":" \(Basic authentication cannot send one\), got "a:b"$/,
    ],
    [
      'a hash of cost 3',
      `basic_auth_users:\n  alice: ${HASH.replace('$04$', '$03$')}\n`,
      /basic_auth_users\.alice: expected a bcrypt hash such as \$2y\$10\$… \(htpasswd -nBC 10 "" \| tr -d ':\\n'\), got a string of 60 characters that is not one$/,
    ],
    ['a hash that is a number', 'basic_auth_users:\n  alice: 1234\n', /basic_auth_users\.alice: expected a bcrypt hash .*, got 1234$/],
  ];

  it.each(cases)('%s: one line naming the file, the key and what was expected', (_name, text, pattern) => {
    const message = parseError(text);
    expect(message).toMatch(pattern);
    expect(message).toMatch(/^\/etc\/nfs-health-checkd\/web\.yml[:]/);
    expect(message).not.toContain('\n');
  });

  it('never quotes a secret: a password pasted in place of its hash, an inline key', () => {
    const pasted = parseError('basic_auth_users:\n  alice: correct-horse-battery-staple\n');
    expect(pasted).toMatch(/basic_auth_users\.alice: expected a bcrypt hash .*, got a string of 28 characters that is not one$/);
    expect(pasted).not.toContain('correct-horse');
    const key = parseError('tls_server_config:\n  cert_file: s.crt\n  key: [MC4CAQAwBQYDK2VwBCIEIsecret]\n');
    expect(key).toBe(`${FILE}: tls_server_config.key: expected the server's private key as PEM text, got something else (not shown)`);
  });
});

requires(opensslPrerequisite()).describe('readWebConfig with real PEM files', () => {
  const tmp = tempDirs();
  let certs: Certs;
  let dir: string;
  beforeAll(() => {
    certs = makeCerts(tmp('nhc-webcfg-certs-'));
    dir = tmp('nhc-webcfg-');
  });

  /** A web config file in the test's directory; its TLS section's lines after `tls_server_config:`. */
  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  function readError(path: string): string {
    try {
      readWebConfig(path);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error(`no error for ${path}`);
  }

  it('reads the certificate, the key and the client CAs, and says what it turns on', () => {
    mkdirSync(join(dir, 'tls'), { recursive: true });
    writeFileSync(join(dir, 'tls', 'server.crt'), readFileSync(certs.server.cert));
    const path = file(
      'good.yml',
      `tls_server_config:\n  cert_file: tls/server.crt\n  key_file: ${certs.server.key}\n  client_ca_file: ${certs.ca.cert}\n  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS13\nbasic_auth_users:\n  prometheus: ${HASH}\n`,
    );
    const web = readWebConfig(path);
    expect(web.tls).toMatchObject({
      cert: readFileSync(certs.server.cert, 'utf8'),
      key: readFileSync(certs.server.key, 'utf8'),
      ca: readFileSync(certs.ca.cert, 'utf8'),
      clientAuth: 'RequireAndVerifyClientCert',
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      honorCipherOrder: true,
    });
    expect(webSummary(web)).toEqual({ web_config: path, tls: 'TLS13', client_auth: 'RequireAndVerifyClientCert', basic_auth_users: 1 });
    const summary = JSON.stringify(webSummary(web));
    expect(summary).not.toContain(HASH);
    expect(summary).not.toContain('PRIVATE KEY');
  });

  it('takes the PEM text inline as well', () => {
    const indent = (p: string): string => readFileSync(p, 'utf8').trim().split('\n').join('\n    ');
    const path = file(
      'inline.yml',
      `tls_server_config:\n  cert: |\n    ${indent(certs.server.cert)}\n  key: |\n    ${indent(certs.server.key)}\n`,
    );
    expect(readWebConfig(path).tls?.cert).toBe(readFileSync(certs.server.cert, 'utf8'));
  });

  it('pins status to the first certificate of cert_file', () => {
    const path = file('pin.yml', `tls_server_config:\n  cert_file: ${certs.server.cert}\n  key_file: ${certs.server.key}\n`);
    const tls = parseWebConfig(readFileSync(path, 'utf8'), path).tls!;
    const pem = readFileSync(certs.server.cert, 'utf8');
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    expect(serverCertificate(tls, path).equals(der)).toBe(true);
  });

  const tlsWith = (lines: string): string => `tls_server_config:\n${lines}`;

  it('a web config file it cannot read', () => {
    expect(readError(join(dir, 'missing.yml'))).toBe(`${join(dir, 'missing.yml')}: cannot read: no such file or directory (ENOENT)`);
  });

  it('each PEM file it cannot use: one line naming the key, the file and what was expected', () => {
    const garbage = file('garbage.pem', 'not a PEM file\n');
    const cases: [string, string | RegExp][] = [
      [
        tlsWith(`  cert_file: ${join(dir, 'nope.crt')}\n  key_file: ${certs.server.key}\n`),
        `tls_server_config.cert_file: cannot read ${join(dir, 'nope.crt')}: no such file or directory (ENOENT)`,
      ],
      [
        tlsWith(`  cert_file: ${dir}\n  key_file: ${certs.server.key}\n`),
        `tls_server_config.cert_file: cannot read ${dir}: illegal operation on a directory (EISDIR)`,
      ],
      [
        tlsWith(`  cert_file: ${garbage}\n  key_file: ${certs.server.key}\n`),
        `tls_server_config.cert_file: expected PEM certificates in ${garbage}, found no "BEGIN CERTIFICATE" block`,
      ],
      [
        tlsWith(`  cert_file: ${certs.server.cert}\n  key_file: ${garbage}\n`),
        /tls_server_config\.key_file: expected an unencrypted PEM private key in .*garbage\.pem \(/,
      ],
      [
        tlsWith(`  cert_file: ${certs.server.cert}\n  key_file: ${certs.client.key}\n`),
        `tls_server_config.key_file: expected the private key of the certificate in ${certs.server.cert} (CN=127.0.0.1), got another key`,
      ],
      [
        tlsWith(
          `  cert_file: ${certs.server.cert}\n  key_file: ${certs.server.key}\n  client_ca_file: ca-missing.crt\n  client_auth_type: RequireAndVerifyClientCert\n`,
        ),
        `tls_server_config.client_ca_file: cannot read ${join(dir, 'ca-missing.crt')}: no such file or directory (ENOENT)`,
      ],
      [
        tlsWith(
          `  cert_file: ${certs.server.cert}\n  key_file: ${certs.server.key}\n  client_ca_file: ${garbage}\n  client_auth_type: RequireAndVerifyClientCert\n`,
        ),
        `tls_server_config.client_ca_file: expected PEM certificates in ${garbage}, found no "BEGIN CERTIFICATE" block`,
      ],
    ];
    for (const [text, expected] of cases) {
      const path = file('bad.yml', text);
      const message = readError(path);
      if (typeof expected === 'string') expect(message).toBe(`${path}: ${expected}`);
      else expect(message).toMatch(expected);
      expect(message).not.toContain('\n');
    }
  });

  it('an inline key that is not one is not quoted', () => {
    const path = file('badkey.yml', tlsWith(`  cert_file: ${certs.server.cert}\n  key: "MC4CAQAwBQYDK2VwBCIEIsecretsecret"\n`));
    const message = readError(path);
    expect(message).toMatch(/tls_server_config\.key: expected an unencrypted PEM private key in the PEM text of key \(/);
    expect(message).not.toContain('secretsecret');
  });
});

if (skips(opensslPrerequisite())) console.warn(`[web-config] PEM file tests skipped: ${opensslPrerequisite().reason}`);
