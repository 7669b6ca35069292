// The real daemon (the built CLI) behind metrics.web_config_file: scraped by a real Prometheus over
// TLS with a client certificate and basic authentication, from a web config promtool accepts; a new
// file applied by SIGHUP, a bad one refused by it while the same SIGHUP still reopens the log file;
// `status` through TLS and basic authentication; a bad file at start: exit 78 and one line. The
// mount is a plain directory (probed "unmounted"): nothing here needs FUSE.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { makeCerts, opensslPrerequisite, type Certs } from '../helpers/certs.js';
import { CLI, runCli } from '../helpers/cli.js';
import { startDaemon, type LogLine, type RunningDaemon } from '../helpers/daemon.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { prometheusAvailable, promtoolAvailable, runPromtool, startPrometheus } from '../helpers/prometheus.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { webRequest, type WebRequest } from '../helpers/web-request.js';

const openssl = opensslPrerequisite();
if (skips(openssl)) console.warn(`[web-config] TLS tests skipped: ${openssl.reason}`);
const prom = prerequisite('prometheus', prometheusAvailable(), 'install');
if (skips(prom)) console.warn(`[web-config] real-Prometheus scrape test skipped: ${prom.reason}`);
const promtool = prerequisite('promtool', promtoolAvailable(), 'install');
if (skips(promtool)) console.warn(`[web-config] promtool check web-config skipped: ${promtool.reason}`);

// Passwords that must never appear in a log line or an error.
const PROMETHEUS_PASSWORD = 'scrape-pw-7f3a9c';
const ALICE_PASSWORD = 'alice-pw-1b2e4d';
const BOB_PASSWORD = 'bob-pw-9c8d7e';
const PASSWORDS = [PROMETHEUS_PASSWORD, ALICE_PASSWORD, BOB_PASSWORD];

/** The built CLI, asynchronously (the daemon's log is read meanwhile), with its own environment. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

requires(built(), openssl).describe('the real daemon behind a web config', () => {
  const tmp = tempDirs();
  let certs: Certs;
  let hashes: { prometheus: string; alice: string; bob: string };
  let dir: string;
  let daemon: RunningDaemon | undefined;

  beforeAll(() => {
    certs = makeCerts(tmp('nhc-web-certs-'));
    // Cost 10, as `htpasswd -nBC 10` and exporter-toolkit's documentation make them.
    hashes = {
      prometheus: bcrypt.hashSync(PROMETHEUS_PASSWORD, 10),
      alice: bcrypt.hashSync(ALICE_PASSWORD, 10),
      bob: bcrypt.hashSync(BOB_PASSWORD, 10),
    };
  });
  beforeEach(() => {
    dir = tmp('nhc-web-');
    mkdirSync(join(dir, 'mnt'));
    daemon = undefined;
  });
  afterEach(async () => {
    if (daemon) expect(await daemon.stop('SIGTERM', 10_000), 'the daemon did not stop').toBeDefined();
  });

  const webFile = (): string => join(dir, 'web.yml');
  const logFile = (): string => join(dir, 'daemon.log');

  function configYaml(): string {
    return [
      'mounts:',
      `  - path: ${join(dir, 'mnt')}`,
      'schedule: "* * * * * *"',
      'recovery:',
      '  enabled: false',
      'holders:',
      '  enabled: false',
      'evidence:',
      '  enabled: false',
      'servers:',
      '  watch: false',
      'metrics:',
      '  listen: "127.0.0.1:0"',
      `  web_config_file: ${webFile()}`,
      'log:',
      `  file: ${logFile()}`,
      'state:',
      '  file: ""',
      '',
    ].join('\n');
  }

  /** A web config with the server certificate, relative to the file's directory as exporter-toolkit reads it. */
  function tls(extra = ''): string {
    writeFileSync(join(dir, 'server.crt'), readFileSync(certs.server.cert));
    writeFileSync(join(dir, 'server.key'), readFileSync(certs.server.key));
    return `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n${extra}`;
  }

  async function start(web: string): Promise<{ d: RunningDaemon; base: string }> {
    writeFileSync(webFile(), web);
    const d = startDaemon(dir, configYaml());
    daemon = d;
    return { d, base: await d.metricsBase() };
  }

  /** Every line the daemon wrote: its stdout, and each log file in the directory. */
  function everyLine(d: RunningDaemon, files: string[]): string {
    return [...d.lines.map((l) => l.raw), d.stderr(), ...files.map((f) => readFileSync(f, 'utf8'))].join('\n');
  }

  requires(prom, promtool).it(
    'a real Prometheus scrapes it over TLS with a client certificate and basic auth, from a web config promtool accepts',
    async () => {
      const web = `${tls(`  client_ca_file: ${certs.ca.cert}\n  client_auth_type: RequireAndVerifyClientCert\n`)}basic_auth_users:\n  prometheus: ${hashes.prometheus}\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n`;
      writeFileSync(webFile(), web);
      const check = runPromtool(['check', 'web-config', webFile()]);
      expect(check.output).toContain('SUCCESS');
      expect(check.status).toBe(0);

      const { d, base } = await start(web);
      expect(base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(d.lines.find((l) => l.msg === 'starting')).toMatchObject({
        web_config: webFile(),
        tls: 'TLS12-TLS13',
        client_auth: 'RequireAndVerifyClientCert',
        basic_auth_users: 1,
      });

      const scrape = {
        scheme: 'https',
        tls_config: { ca_file: certs.ca.cert, cert_file: certs.client.cert, key_file: certs.client.key },
        basic_auth: { username: 'prometheus', password: PROMETHEUS_PASSWORD },
      };
      const p = await startPrometheus([base.replace(/^https:\/\//, '')], { scrapeIntervalMs: 1000, scrape });
      try {
        await p.waitForTargetUp(30_000);
        const [target] = await p.targets();
        expect(target).toMatchObject({ health: 'up', lastError: '', scrapeUrl: `${base}/metrics` });
        expect((await p.query('nfs_health_checkd_build_info')).map((s) => s.value[1])).toEqual(['1']);
        const accessible = await p.query('nfs_mount_accessible');
        expect(accessible.map((s) => [s.metric.mount, s.value[1]])).toEqual([[join(dir, 'mnt'), '0']]);
      } finally {
        await p.stop();
      }

      // The same endpoints to a client that lacks one of the three.
      const right: WebRequest = { ca: certs.ca.cert, client: certs.client, user: 'prometheus', password: PROMETHEUS_PASSWORD };
      const ok = await webRequest(base, '/metrics', right);
      expect(ok.status).toBe(200);
      expect(ok.headers['x-content-type-options']).toBe('nosniff');
      const wrong = await webRequest(base, '/metrics', { ...right, password: 'not-it' });
      expect([wrong.status, wrong.headers['www-authenticate']]).toEqual([401, 'Basic']);
      await expect(webRequest(base, '/healthz', { ...right, client: undefined })).rejects.toThrow(/certificate required/);
      await expect(webRequest(base, '/healthz', { ...right, client: certs.stranger })).rejects.toThrow();
      // status presents the client certificate of its two variables; without them it says so, and asks nothing.
      const config = await portConfig(d);
      const auth = { NFS_HEALTH_CHECKD_BASIC_AUTH: `prometheus:${PROMETHEUS_PASSWORD}` };
      const status = await cli(['status', '--config', config], auth);
      expect(status.status).toBe(78);
      expect(status.stderr).toBe(
        `nfs-health-checkd: status cannot ask the daemon: ${webFile()}: tls_server_config.client_auth_type RequireAndVerifyClientCert requires a client certificate: set NFS_HEALTH_CHECKD_CLIENT_CERT and NFS_HEALTH_CHECKD_CLIENT_KEY to its PEM files\n`,
      );
      const withCert = await cli(['status', '--config', config], {
        ...auth,
        NFS_HEALTH_CHECKD_CLIENT_CERT: certs.client.cert,
        NFS_HEALTH_CHECKD_CLIENT_KEY: certs.client.key,
      });
      expect(withCert.stderr).toBe('');
      expect(withCert.status).toBe(1); // the directory is no mount: not ok
      expect(withCert.stdout).toMatch(new RegExp(`^failing +${join(dir, 'mnt')} `, 'm'));
      // A certificate the client CA did not sign: the handshake is refused, one line.
      const stranger = await cli(['status', '--config', config], {
        ...auth,
        NFS_HEALTH_CHECKD_CLIENT_CERT: certs.stranger.cert,
        NFS_HEALTH_CHECKD_CLIENT_KEY: certs.stranger.key,
      });
      expect(stranger.status).toBe(69);
      expect(stranger.stderr.split('\n')).toEqual([
        expect.stringMatching(
          /^nfs-health-checkd: no daemon status at https:.*: the daemon refused the client certificate of NFS_HEALTH_CHECKD_CLIENT_CERT \(/,
        ),
        '',
      ]);
      const half = await cli(['status', '--config', config], { ...auth, NFS_HEALTH_CHECKD_CLIENT_CERT: certs.client.cert });
      expect([half.status, half.stderr]).toEqual([
        78,
        'nfs-health-checkd: NFS_HEALTH_CHECKD_CLIENT_KEY: expected the PEM file of the client key, as NFS_HEALTH_CHECKD_CLIENT_CERT is set\n',
      ]);

      expect(everyLine(d, [logFile()])).not.toContain(PROMETHEUS_PASSWORD);
    },
  );

  /** A config for `status` naming the port the daemon was given (metrics.listen was :0). */
  async function portConfig(d: RunningDaemon): Promise<string> {
    const file = join(dir, 'status.yaml');
    writeFileSync(file, configYaml().replace('127.0.0.1:0', `127.0.0.1:${new URL(await d.metricsBase()).port}`));
    return file;
  }

  it('SIGHUP applies a new web config to new connections; a bad one is one error line, the old settings kept, the log file still reopened', async () => {
    const { d, base } = await start(`${tls()}basic_auth_users:\n  alice: ${hashes.alice}\n`);
    const as = (user: string, password: string, more: WebRequest = {}): WebRequest => ({ ca: certs.ca.cert, user, password, ...more });
    expect((await webRequest(base, '/status', as('alice', ALICE_PASSWORD))).status).toBe(200);
    expect((await webRequest(base, '/status', as('bob', BOB_PASSWORD))).status).toBe(401);

    // bob instead of alice, and TLS 1.3 only.
    writeFileSync(webFile(), `${tls('  min_version: TLS13\n')}basic_auth_users:\n  bob: ${hashes.bob}\n`);
    let from = d.lines.length;
    d.child.kill('SIGHUP');
    const reloaded = await d.waitForLine((l) => l.msg === 'web config reloaded: new connections get it', 10_000, from);
    expect(reloaded).toMatchObject({
      level: 'info',
      web_config: webFile(),
      tls: 'TLS13',
      client_auth: 'NoClientCert',
      basic_auth_users: 1,
    });
    expect((await webRequest(base, '/status', as('bob', BOB_PASSWORD))).status).toBe(200);
    expect((await webRequest(base, '/status', as('alice', ALICE_PASSWORD))).status).toBe(401);
    await expect(webRequest(base, '/status', as('bob', BOB_PASSWORD, { maxVersion: 'TLSv1.2' }))).rejects.toThrow(/version|protocol/i);

    // `status` pins the configured certificate and takes the credentials from the environment.
    const config = await portConfig(d);
    const asked = await cli(['status', '--config', config], { NFS_HEALTH_CHECKD_BASIC_AUTH: `bob:${BOB_PASSWORD}` });
    expect(asked.stderr).toBe('');
    expect(asked.stdout).toMatch(/^daemon {3}\d/);
    expect(asked.stdout).toContain(`failing  ${join(dir, 'mnt')}  unmounted`);
    expect(asked.status).toBe(1); // the directory is no mount: not ok
    const anonymous = await cli(['status', '--config', config]);
    expect([anonymous.status, anonymous.stderr]).toEqual([
      69,
      `nfs-health-checkd: no daemon status at ${base}/status: HTTP 401: the daemon requires basic authentication: set NFS_HEALTH_CHECKD_BASIC_AUTH=user:password\n`,
    ]);
    const refused = await cli(['status', '--config', config], { NFS_HEALTH_CHECKD_BASIC_AUTH: `bob:${ALICE_PASSWORD}` });
    expect(refused.stderr).toMatch(/HTTP 401: the daemon refused the credentials in NFS_HEALTH_CHECKD_BASIC_AUTH\n$/);
    // A web config naming another certificate: status sends nothing to a server that is not the one pinned.
    const otherWeb = join(dir, 'other-web.yml');
    writeFileSync(otherWeb, `tls_server_config:\n  cert_file: ${certs.server2.cert}\n  key_file: ${certs.server2.key}\n`);
    const otherConfig = join(dir, 'other-status.yaml');
    writeFileSync(otherConfig, readFileSync(config, 'utf8').replace(webFile(), otherWeb));
    const stranger = await cli(['status', '--config', otherConfig], { NFS_HEALTH_CHECKD_BASIC_AUTH: `bob:${BOB_PASSWORD}` });
    expect([stranger.status, stranger.stderr]).toEqual([
      69,
      `nfs-health-checkd: no daemon status at ${base}/status: the certificate presented is not the one in ${certs.server2.cert}: another server on the port?\n`,
    ]);

    // logrotate has renamed the file; the web config now names a key that is not the certificate's.
    renameSync(logFile(), `${logFile()}.1`);
    writeFileSync(join(dir, 'other.key'), readFileSync(certs.client.key));
    writeFileSync(
      webFile(),
      `tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\nbasic_auth_users:\n  carol: ${hashes.alice}\n`,
    );
    from = d.lines.length;
    d.child.kill('SIGHUP');
    const refusedLine = await d.waitForLine((l) => l.msg === 'web config not reloaded: the settings in force are kept', 10_000, from);
    expect(refusedLine).toMatchObject({
      level: 'error',
      web_config: webFile(),
      error: `${webFile()}: tls_server_config.key_file: expected the private key of the certificate in ${join(dir, 'server.crt')} (CN=127.0.0.1), got another key`,
    });
    await d.waitForLine((l) => l.msg === 'log file reopened', 10_000, from);
    const since = d.lines.slice(from);
    expect(since.filter((l: LogLine) => l.level === 'error' || l.level === 'fatal')).toHaveLength(1);
    expect((await webRequest(base, '/status', as('bob', BOB_PASSWORD))).status).toBe(200);
    expect((await webRequest(base, '/status', as('carol', ALICE_PASSWORD))).status).toBe(401);
    const reopened = readFileSync(logFile(), 'utf8');
    expect(reopened).toContain('"msg":"log file reopened"');
    expect(reopened).toContain('"msg":"web config not reloaded: the settings in force are kept"');

    // TLS off: the same port speaks plain HTTP, with bob still required.
    writeFileSync(webFile(), `basic_auth_users:\n  bob: ${hashes.bob}\n`);
    from = d.lines.length;
    d.child.kill('SIGHUP');
    expect(await d.waitForLine((l) => l.msg === 'web config reloaded: new connections get it', 10_000, from)).toMatchObject({ tls: 'off' });
    const plain = base.replace('https:', 'http:');
    expect((await webRequest(plain, '/metrics', { user: 'bob', password: BOB_PASSWORD })).status).toBe(200);
    expect((await webRequest(plain, '/metrics')).status).toBe(401);
    await expect(webRequest(base, '/metrics', as('bob', BOB_PASSWORD))).rejects.toThrow();

    const all = everyLine(d, [logFile(), `${logFile()}.1`]);
    for (const password of PASSWORDS) expect(all).not.toContain(password);
    for (const out of [asked, anonymous, refused, stranger])
      for (const password of PASSWORDS) expect(out.stdout + out.stderr).not.toContain(password);
  });
});

requires(built(), openssl).describe('a bad web config at start', () => {
  const tmp = tempDirs();
  let dir: string;
  let certs: Certs;
  beforeAll(() => {
    dir = tmp('nhc-web-bad-');
    certs = makeCerts(tmp('nhc-web-bad-certs-'));
  });

  /** The daemon (or `command`) on a config naming `web`; it must exit at once. */
  function run(name: string, web: string | undefined, command: string[] = []): ReturnType<typeof runCli> {
    const webFile = join(dir, `${name}.yml`);
    if (web !== undefined) writeFileSync(webFile, web);
    const config = join(dir, `${name}.config.yaml`);
    writeFileSync(
      config,
      `mounts:\n  - path: ${dir}\nrecovery:\n  enabled: false\nmetrics:\n  listen: "127.0.0.1:0"\n  web_config_file: ${webFile}\nlog:\n  file: ""\nstate:\n  file: ""\n`,
    );
    return runCli([...command, '--config', config], 20_000);
  }

  const cases: [string, string | undefined, string][] = [
    ['missing', undefined, 'missing.yml: cannot read: no such file or directory (ENOENT)'],
    ['bad-yaml', 'basic_auth_users: [\n', 'bad-yaml.yml:2:1: invalid YAML: '],
    [
      'unknown-key',
      'tls_server_config:\n  certificate: x\n',
      'unknown-key.yml: tls_server_config.certificate: unknown key (expected one of: ',
    ],
    [
      'bad-hash',
      'basic_auth_users:\n  alice: plaintext-secret\n',
      'bad-hash.yml: basic_auth_users.alice: expected a bcrypt hash such as $2y$10$…',
    ],
    [
      'no-ca',
      'tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n  client_auth_type: RequireAndVerifyClientCert\n',
      'no-ca.yml: tls_server_config.client_ca_file: expected the CA certificates',
    ],
  ];

  it.each(cases)('%s: exit 78, one line naming the file, the key and what was expected', (name, web, expected) => {
    const r = run(name, web);
    expect(r.status).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([expect.stringContaining(`nfs-health-checkd: config error: ${join(dir, expected)}`), '']);
    expect(r.stderr).not.toContain('plaintext-secret');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a key that is not the certificate’s: exit 78', () => {
    const web = `tls_server_config:\n  cert_file: ${certs.server.cert}\n  key_file: ${certs.client.key}\n`;
    const r = run('mismatch', web);
    expect([r.status, r.stderr]).toEqual([
      78,
      `nfs-health-checkd: config error: ${join(dir, 'mismatch.yml')}: tls_server_config.key_file: expected the private key of the certificate in ${certs.server.cert} (CN=127.0.0.1), got another key\n`,
    ]);
  });

  it('validate reads the web config too: its one-line error, or what it turns on', () => {
    const bad = run('validate-bad', 'http_server_config:\n  http2: true\n', ['validate']);
    expect([bad.status, bad.stdout]).toEqual([78, '']);
    expect(bad.stderr).toMatch(
      /^nfs-health-checkd: config error: .*validate-bad\.yml: http_server_config\.http2: HTTP\/2 is not supported by nfs-health-checkd.*\n$/,
    );
    const good = run(
      'validate-good',
      `tls_server_config:\n  cert_file: ${certs.server.cert}\n  key_file: ${certs.server.key}\nbasic_auth_users:\n  alice: ${bcrypt.hashSync('x', 4)}\n`,
      ['validate'],
    );
    expect(good.status).toBe(0);
    expect(good.stdout).toContain(
      `# web config from: ${join(dir, 'validate-good.yml')} (tls: TLS12-TLS13, client_auth: NoClientCert, basic_auth_users: 1)\n`,
    );
    expect(good.stdout).toContain(`web_config_file: ${join(dir, 'validate-good.yml')}\n`);
  });
});
