// Figure 13: what the web config (metrics.web_config_file) and the status page cost the daemon.
//
// 1. Four daemons at once (the built CLI as its #! line runs it) on the same 2 healthy bind mounts,
//    at the default schedule, one per way of serving: plain HTTP; TLS; TLS + basic auth; TLS with
//    RequireAndVerifyClientCert + basic auth. Certificates from openssl (test/helpers/certs.ts),
//    the users' hashes bcrypt cost 10 made here with bcryptjs. Each is scraped as Prometheus
//    scrapes: the first scrape (a new connection, and with credentials the bcrypt the cache has not
//    yet spared), then N over one kept connection, the four daemons taking turns request by request
//    so that they share the machine's noise; with credentials, a few scrapes by users not verified
//    yet (a bcrypt each, on the kept connection), and a few more with verified scrapes on a second
//    connection while each runs; then a new connection for every scrape (a full handshake each
//    time). The daemon's CPU over the kept-connection series and over the bcrypts, and its RSS
//    after start and after every series. Each mode is checked to be what it says: the daemon's starting line,
//    the TLS version spoken, 401 without credentials, no connection without a client certificate.
// 2. The status page: renderStatusPage against JSON.stringify (what GET /status sends) of the same
//    document, and a bcrypt, in a node with Node's defaults and in one with the daemon's flags
//    (bench/web-render.ts); and GET / against GET /status on the plain daemon, alternating over
//    one kept connection.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import bcrypt from 'bcryptjs';
import { makeCerts, type Certs } from '../test/helpers/certs.js';
import { CLI } from '../test/helpers/cli.js';
import { shebangFlags } from '../test/helpers/launch.js';
import { findExecutable } from '../test/helpers/tools.js';
import {
  bindMounts,
  mbOf,
  poll,
  procCpu,
  progress,
  quantile,
  sleep,
  startBenchDaemon,
  statusFields,
  turnOrder,
  type BenchDaemon,
  type BenchOptions,
} from './common.js';
import { BCRYPT_COST, HEALTHY_MOUNTS, type RenderChild } from './web-render.js';
import { webClient, type Answer, type WebClient, type WebTarget } from './web-client.js';

export const WEB_MODES = ['plain', 'tls', 'tls-auth', 'mtls-auth'] as const;
export type WebMode = (typeof WEB_MODES)[number];

const MOUNTS = HEALTHY_MOUNTS;
const SCHEDULE = '*/30 * * * * *';
const USER = 'prometheus';
const PASSWORD = 'bench-scrape-pw';

/** Latency over a series, ms. */
export interface Latency {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface WebModeRow {
  mode: WebMode;
  /** What the daemon's starting line says of it. */
  starting: { tls: string; clientAuth: string; users: number };
  /** The version the connections spoke; null over plain HTTP. */
  tlsVersion: string | null;
  /** What a client without what the mode asks for got. */
  refused: string | null;
  /** The first scrape of the daemon: a new connection, and with credentials a bcrypt. */
  firstMs: number;
  keepAlive: Latency & { connections: number };
  /** Scrapes by users not verified yet, on the kept connection: a bcrypt each. */
  misses: Latency | null;
  /** utime + stime over the misses ÷ their count. */
  cpuMsPerMiss: number | null;
  /** Scrapes with verified credentials on a second connection while a bcrypt runs (one after the other until it is done). */
  duringBcrypt: Latency | null;
  newConnection: Latency;
  /** utime + stime over the kept-connection series ÷ its scrapes (its probe rounds included). */
  cpuMsPerScrape: number | null;
  rssStartMb: number | null;
  rssAfterMb: number | null;
  metricsBytes: number;
}

export interface PageRoutes {
  page: Latency & { bytes: number };
  status: Latency & { bytes: number };
}

export interface WebResult {
  launch: string;
  node: string;
  schedule: string;
  mounts: number;
  bcryptCost: number;
  counts: { keepAlive: number; misses: number; during: number; newConnection: number; pages: number };
  modes: WebModeRow[];
  /** Why the daemon rows did not run; null when they did. */
  daemonSkipped: string | null;
  pages: PageRoutes | null;
  /** The in-process rows, in a node with Node's defaults and in one with the daemon's flags. */
  render: RenderChild[];
  loadAvg: { before: number; after: number };
  samples: {
    modes: { mode: WebMode; keepAliveMs: number[]; missMs: number[]; duringBcryptMs: number[]; newConnectionMs: number[] }[];
    pageMs: number[];
    statusMs: number[];
  };
}

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;

export function latency(ms: readonly number[]): Latency {
  return { n: ms.length, p50: quantile([...ms], 0.5), p99: quantile([...ms], 0.99), max: ms.length ? Math.max(...ms) : null };
}

/** The web config of a mode; none for plain HTTP. `users`: name → bcrypt hash. */
export function webConfigText(mode: WebMode, certs: Certs, users: ReadonlyMap<string, string>): string | null {
  if (mode === 'plain') return null;
  const tls = [
    'tls_server_config:',
    `  cert_file: ${certs.server.cert}`,
    `  key_file: ${certs.server.key}`,
    ...(mode === 'mtls-auth' ? [`  client_ca_file: ${certs.ca.cert}`, '  client_auth_type: RequireAndVerifyClientCert'] : []),
  ];
  const auth = mode === 'tls' ? [] : ['basic_auth_users:', ...[...users].map(([name, hash]) => `  ${name}: "${hash}"`)];
  return [...tls, ...auth, ''].join('\n');
}

const withAuth = (mode: WebMode): boolean => mode === 'tls-auth' || mode === 'mtls-auth';

/** A 200 with a body, or the series stops: a broken route must not report a fast nothing. */
function ok(a: Answer, what: string): Answer {
  if (a.status !== 200 || a.bytes === 0) throw new Error(`${what}: status ${a.status}, ${a.bytes} bytes`);
  return a;
}

/** What keeps the daemon rows from running here; undefined when nothing does. */
function daemonMissing(): string | undefined {
  if (!fs.existsSync(CLI)) return `${CLI} is missing (npm run build)`;
  if (process.getuid?.() !== 0) return 'needs root (mount --bind)';
  if (findExecutable('openssl') === undefined) return 'openssl not found (Debian: apt-get install openssl)';
  return undefined;
}

interface Running {
  mode: WebMode;
  d: BenchDaemon;
  target: WebTarget;
  kept: WebClient;
  fresh: WebClient;
  keepAliveMs: number[];
  missMs: number[];
  duringBcryptMs: number[];
  newConnectionMs: number[];
  tlsVersions: Set<string>;
}

async function runDaemons(
  dir: string,
  counts: WebResult['counts'],
): Promise<{ modes: WebModeRow[]; pages: PageRoutes; samples: WebResult['samples'] }> {
  const certsDir = path.join(dir, 'certs');
  fs.mkdirSync(certsDir);
  const certs = makeCerts(certsDir);
  progress(`web: ${1 + counts.misses + counts.during} bcrypt hashes at cost ${BCRYPT_COST}`);
  const users = new Map([[USER, bcrypt.hashSync(PASSWORD, BCRYPT_COST)]]);
  for (let i = 0; i < counts.misses; i++) users.set(`miss-${i}`, bcrypt.hashSync(`${PASSWORD}-${i}`, BCRYPT_COST));
  for (let i = 0; i < counts.during; i++) users.set(`during-${i}`, bcrypt.hashSync(`${PASSWORD}-d${i}`, BCRYPT_COST));
  const ca = fs.readFileSync(certs.ca.cert);
  const client = { cert: fs.readFileSync(certs.client.cert), key: fs.readFileSync(certs.client.key) };
  const command = [process.execPath, ...shebangFlags(CLI), CLI];
  const mounts = await bindMounts(dir, 'web', MOUNTS);
  const started: { mode: WebMode; d: BenchDaemon }[] = [];
  const running: Running[] = [];
  try {
    for (const mode of WEB_MODES) {
      const text = webConfigText(mode, certs, users);
      const webConfigFile = text === null ? undefined : path.join(dir, `web-${mode}.yml`);
      if (webConfigFile !== undefined && text !== null) fs.writeFileSync(webConfigFile, text);
      const d = startBenchDaemon(
        dir,
        `web-${mode}`,
        {
          mounts: mounts.paths,
          schedule: SCHEDULE,
          timeoutS: 5,
          recovery: false,
          level: 'info',
          stateFile: '',
          ...(webConfigFile === undefined ? {} : { webConfigFile }),
        },
        command,
      );
      started.push({ mode, d });
    }
    for (const { mode, d } of started) {
      const base = (await d.metricsUrl()).replace(/\/metrics$/, '');
      const healthy = (): boolean => new Set(d.lines.filter((l) => l.msg === 'mount healthy').map((l) => l.mount)).size >= MOUNTS;
      if (!(await poll(healthy, 60_000, 100))) throw new Error(`${mode}: not every mount healthy: ${d.describe()}`);
      if ((mode === 'plain') !== base.startsWith('http://')) throw new Error(`${mode}: serves ${base}`);
      const target: WebTarget = { base, ...(mode === 'plain' ? {} : { ca }), ...(mode === 'mtls-auth' ? { client } : {}) };
      running.push({
        mode,
        d,
        target,
        kept: webClient(target, true),
        fresh: webClient(target, false),
        keepAliveMs: [],
        missMs: [],
        duringBcryptMs: [],
        newConnectionMs: [],
        tlsVersions: new Set(),
      });
    }
    await sleep(2_000);
    const rssStart = new Map(running.map((r) => [r.mode, mbOf(statusFields(r.d.pid)?.VmRSS)]));
    const cred = (mode: WebMode, name = USER, password = PASSWORD) => (withAuth(mode) ? { name, password } : undefined);
    const note = (r: Running, a: Answer): void => {
      if (a.tls !== null) r.tlsVersions.add(a.tls);
    };

    progress('web: the first scrape of each daemon');
    const first = new Map<WebMode, Answer>();
    for (const r of running) {
      const a = ok(await r.kept.get('/metrics', cred(r.mode)), `${r.mode}: first scrape`);
      note(r, a);
      first.set(r.mode, a);
    }

    progress(`web: ${counts.keepAlive} scrapes of each over one kept connection, taking turns`);
    const cpuBefore = running.map((r) => procCpu(r.d.pid)?.self);
    for (let i = 0; i < counts.keepAlive; i++) {
      for (const r of turnOrder(running, i)) {
        const a = ok(await r.kept.get('/metrics', cred(r.mode)), `${r.mode}: scrape ${i}`);
        note(r, a);
        r.keepAliveMs.push(a.ms);
      }
    }
    const cpuAfter = running.map((r) => procCpu(r.d.pid)?.self);
    const keptConnections = new Map(running.map((r) => [r.mode, r.kept.connections()]));

    const authed = running.filter((r) => withAuth(r.mode));
    progress(`web: ${counts.misses} scrapes of each daemon with credentials by users not verified yet`);
    const missCpu = new Map<WebMode, number>();
    for (let i = 0; i < counts.misses; i++) {
      for (const r of turnOrder(authed, i)) {
        const before = procCpu(r.d.pid)?.self;
        const a = ok(await r.kept.get('/metrics', cred(r.mode, `miss-${i}`, `${PASSWORD}-${i}`)), `${r.mode}: miss ${i}`);
        const after = procCpu(r.d.pid)?.self;
        r.missMs.push(a.ms);
        if (before !== undefined && after !== undefined) missCpu.set(r.mode, (missCpu.get(r.mode) ?? 0) + (after - before));
      }
    }

    progress(`web: ${counts.during} more of them, each with verified scrapes on a second connection until it is done`);
    for (let i = 0; i < counts.during; i++) {
      for (const r of turnOrder(authed, i)) {
        const side = webClient(r.target, true);
        try {
          ok(await side.get('/metrics', cred(r.mode)), `${r.mode}: second connection`);
          let done = false;
          const miss = r.kept.get('/metrics', cred(r.mode, `during-${i}`, `${PASSWORD}-d${i}`)).finally(() => (done = true));
          while (!done) r.duringBcryptMs.push(ok(await side.get('/metrics', cred(r.mode)), `${r.mode}: during a bcrypt`).ms);
          ok(await miss, `${r.mode}: during ${i}`);
        } finally {
          side.close();
        }
      }
    }

    progress(`web: ${counts.newConnection} scrapes of each on a new connection each`);
    for (let i = 0; i < counts.newConnection; i++) {
      for (const r of turnOrder(running, i)) {
        const a = ok(await r.fresh.get('/metrics', cred(r.mode)), `${r.mode}: new-connection scrape ${i}`);
        if (a.reused) throw new Error(`${r.mode}: a new-connection scrape reused a connection`);
        note(r, a);
        r.newConnectionMs.push(a.ms);
      }
    }

    const plain = running.find((r) => r.mode === 'plain');
    if (!plain) throw new Error('no plain daemon');
    progress(`web: GET / and GET /status of the plain daemon, ${counts.pages} each, alternating over one kept connection`);
    const pageMs: number[] = [];
    const statusMs: number[] = [];
    let pageBytes = 0;
    let statusBytes = 0;
    for (let i = 0; i < counts.pages; i++) {
      for (const route of turnOrder(['/', '/status'], i)) {
        const a = ok(await plain.kept.get(route), `GET ${route}`);
        if (route === '/') {
          pageMs.push(a.ms);
          pageBytes = a.bytes;
        } else {
          statusMs.push(a.ms);
          statusBytes = a.bytes;
        }
      }
    }
    const rssAfter = new Map(running.map((r) => [r.mode, mbOf(statusFields(r.d.pid)?.VmRSS)]));

    // Each mode is what it says: checked after the series, so that the first scrape stays the first.
    const refused = new Map<WebMode, string | null>();
    for (const r of running) {
      if (r.mode === 'mtls-auth') {
        const bare = webClient({ base: r.target.base, ...(r.target.ca ? { ca: r.target.ca } : {}) }, false);
        const answer = await bare.get('/metrics', cred(r.mode)).then(
          (a) => `status ${a.status}`,
          () => null,
        );
        if (answer !== null) throw new Error(`mtls-auth: a client without a certificate got ${answer}`);
        refused.set(r.mode, 'no connection without a client certificate');
      } else if (withAuth(r.mode)) {
        const a = await r.fresh.get('/metrics');
        if (a.status !== 401) throw new Error(`${r.mode}: without credentials: status ${a.status}`);
        refused.set(r.mode, '401 without credentials');
      } else refused.set(r.mode, null);
    }

    const modes = running.map((r, i): WebModeRow => {
      const start = r.d.lines.find((l) => l.msg === 'starting');
      const starting = {
        tls: typeof start?.tls === 'string' ? start.tls : 'off',
        clientAuth: typeof start?.client_auth === 'string' ? start.client_auth : 'NoClientCert',
        users: typeof start?.basic_auth_users === 'number' ? start.basic_auth_users : 0,
      };
      const expected = {
        tls: r.mode === 'plain' ? 'off' : 'TLS12-TLS13',
        clientAuth: r.mode === 'mtls-auth' ? 'RequireAndVerifyClientCert' : 'NoClientCert',
        users: withAuth(r.mode) ? users.size : 0,
      };
      if (JSON.stringify(starting) !== JSON.stringify(expected))
        throw new Error(`${r.mode}: starting line ${JSON.stringify(starting)}, expected ${JSON.stringify(expected)}`);
      const [a, b] = [cpuBefore[i], cpuAfter[i]];
      return {
        mode: r.mode,
        starting,
        tlsVersion: [...r.tlsVersions].join(', ') || null,
        refused: refused.get(r.mode) ?? null,
        firstMs: round(first.get(r.mode)?.ms ?? NaN, 3),
        keepAlive: { ...latency(r.keepAliveMs), connections: keptConnections.get(r.mode) ?? 0 },
        misses: withAuth(r.mode) ? latency(r.missMs) : null,
        cpuMsPerMiss: missCpu.has(r.mode) ? round(((missCpu.get(r.mode) ?? 0) * 1000) / r.missMs.length, 1) : null,
        duringBcrypt: withAuth(r.mode) ? latency(r.duringBcryptMs) : null,
        newConnection: latency(r.newConnectionMs),
        cpuMsPerScrape: a === undefined || b === undefined ? null : round(((b - a) * 1000) / r.keepAliveMs.length, 4),
        rssStartMb: rssStart.get(r.mode) ?? null,
        rssAfterMb: rssAfter.get(r.mode) ?? null,
        metricsBytes: first.get(r.mode)?.bytes ?? 0,
      };
    });
    for (const m of modes)
      progress(
        `web: ${m.mode}: first ${m.firstMs.toFixed(1)} ms, kept p50 ${m.keepAlive.p50?.toFixed(3)} ms (${m.keepAlive.connections} connections), misses p50 ${m.misses?.p50?.toFixed(1) ?? '—'} ms (CPU ${m.cpuMsPerMiss ?? '—'} ms), during a bcrypt p50 ${m.duringBcrypt?.p50?.toFixed(3) ?? '—'} / max ${m.duringBcrypt?.max?.toFixed(3) ?? '—'} ms, new-connection p50 ${m.newConnection.p50?.toFixed(3)} ms, CPU ${m.cpuMsPerScrape} ms a scrape, RSS ${m.rssStartMb} → ${m.rssAfterMb} MB`,
      );
    return {
      modes,
      pages: { page: { ...latency(pageMs), bytes: pageBytes }, status: { ...latency(statusMs), bytes: statusBytes } },
      samples: {
        modes: running.map((r) => ({
          mode: r.mode,
          keepAliveMs: r.keepAliveMs.map((v) => round(v, 4)),
          missMs: r.missMs.map((v) => round(v, 3)),
          duringBcryptMs: r.duringBcryptMs.map((v) => round(v, 4)),
          newConnectionMs: r.newConnectionMs.map((v) => round(v, 4)),
        })),
        pageMs: pageMs.map((v) => round(v, 4)),
        statusMs: statusMs.map((v) => round(v, 4)),
      },
    };
  } finally {
    for (const r of running) {
      r.kept.close();
      r.fresh.close();
    }
    await Promise.all(started.map((r) => r.d.stop()));
    await mounts.cleanup();
  }
}

/** The in-process rows in a node of their own (bench/web-render.ts), with these node flags. */
function renderInChild(flags: string[], quick: boolean): Promise<RenderChild> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'web-render.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, script, quick ? 'quick' : 'full'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`web-render.js ${flags.join(' ')}: exit ${code ?? signal}: ${err.trim().slice(-500)}`));
      try {
        resolve(JSON.parse(out) as RenderChild);
      } catch {
        reject(new Error(`web-render.js ${flags.join(' ')}: not JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

export async function runWeb(dir: string, opts: BenchOptions): Promise<WebResult> {
  const loadBefore = os.loadavg()[0] ?? 0;
  const counts = opts.quick
    ? { keepAlive: 200, misses: 3, during: 2, newConnection: 50, pages: 100 }
    : { keepAlive: 1000, misses: 10, during: 5, newConnection: 200, pages: 500 };
  const flags = fs.existsSync(CLI) ? shebangFlags(CLI) : [];

  const render: RenderChild[] = [];
  for (const f of flags.length > 0 ? [[], flags] : [[]]) {
    progress(
      `web: the status page and a bcrypt in a node ${f.length ? `with the daemon's flags (${f.join(' ')})` : "with Node's defaults"}`,
    );
    const child = await renderInChild(f, opts.quick);
    for (const r of child.rows)
      progress(
        `web: ${r.doc} (${r.counts.mounts} mounts): page ${r.html.medianUs?.toFixed(0)} µs, ${r.htmlBytes} B; JSON ${r.json.medianUs?.toFixed(0)} µs, ${r.jsonBytes} B; snapshot ${r.snapshot.medianUs?.toFixed(0)} µs`,
      );
    progress(`web: bcrypt compare at cost ${BCRYPT_COST}: ${child.bcryptMs.map((v) => v.toFixed(0)).join(', ')} ms`);
    render.push(child);
  }

  const missing = daemonMissing();
  let daemon: Awaited<ReturnType<typeof runDaemons>> | null = null;
  if (missing === undefined) daemon = await runDaemons(dir, counts);
  else progress(`web: daemon rows skipped — ${missing}`);

  return {
    launch: `node ${flags.map((f) => `${f} `).join('')}dist/src/cli.js`,
    node: process.version,
    schedule: SCHEDULE,
    mounts: MOUNTS,
    bcryptCost: BCRYPT_COST,
    counts,
    modes: daemon?.modes ?? [],
    daemonSkipped: missing ?? null,
    pages: daemon?.pages ?? null,
    render,
    loadAvg: { before: round(loadBefore, 2), after: round(os.loadavg()[0] ?? 0, 2) },
    samples: daemon?.samples ?? { modes: [], pageMs: [], statusMs: [] },
  };
}
