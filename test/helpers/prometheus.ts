// A real Prometheus server (Debian's `prometheus` package, /usr/bin/prometheus) for tests, and
// `promtool` for checking the packaged rules.
//
// startPrometheus() runs its own server: its own prometheus.yml (one static scrape job on the given
// targets), its own temp --storage.tsdb.path, listening on 127.0.0.1 on a free port. Targets must
// be loopback addresses too: nothing here talks to, or listens on, anything but the loopback.
// stop() sends SIGTERM, then SIGKILL after a few seconds, and removes the temp dir. If a test
// forgets to stop it, the server is killed when the test process exits (exit, SIGTERM, SIGINT,
// SIGHUP) and, where util-linux's setpriv exists, by the kernel when the process that started it
// dies (PR_SET_PDEATHSIG), even by SIGKILL; the temp dir such a death leaves is removed by the
// next startPrometheus().
//
// Measured (Debian 12, Prometheus 2.42, 1 s scrape interval): ready 0.05-0.1 s after spawn; a
// static target is first scraped and "up" 5.3-5.6 s after spawn, because Prometheus's discovery
// manager hands new targets to the scrape manager on a 5 s tick (not configurable in 2.42).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findExecutable, type Availability } from './tools.js';

export type { Availability };

/** `<tool> --version` first line, or why the tool cannot be used here. */
function checkTool(name: string, pkg: string): { ok: true; bin: string; version: string } | { ok: false; reason: string } {
  const bin = findExecutable(name);
  if (bin === undefined) return { ok: false, reason: `${name} not found in PATH (Debian: apt-get install ${pkg})` };
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error?.message ?? `exit ${String(r.status ?? r.signal)}: ${(r.stderr + r.stdout).trim()}`;
    return { ok: false, reason: `${bin} --version failed: ${why}` };
  }
  // Prometheus tools print their version on stdout (older ones on stderr).
  const version = (r.stdout + r.stderr).split('\n')[0]?.trim() ?? '';
  return { ok: true, bin, version };
}

let prometheusCheck: ReturnType<typeof checkTool> | undefined;
let promtoolCheck: ReturnType<typeof checkTool> | undefined;

/** Whether a Prometheus server can be started here (cached). Print the reason when skipping. */
export function prometheusAvailable(): Availability {
  prometheusCheck ??= checkTool('prometheus', 'prometheus');
  return prometheusCheck.ok ? { ok: true } : prometheusCheck;
}

/** Whether `promtool` can run here (cached). Print the reason when skipping. */
export function promtoolAvailable(): Availability {
  promtoolCheck ??= checkTool('promtool', 'prometheus');
  return promtoolCheck.ok ? { ok: true } : promtoolCheck;
}

/** First line of `promtool --version`, e.g. "promtool, version 2.42.0+ds (...)". */
export function promtoolVersion(): string | undefined {
  promtoolAvailable();
  return promtoolCheck?.ok === true ? promtoolCheck.version : undefined;
}

export interface ToolRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr together, in no particular interleaving (promtool splits them oddly). */
  output: string;
}

/** Runs promtool with a deadline, `input` on its stdin. Requires promtoolAvailable().ok. */
export function runPromtool(args: string[], opts: { cwd?: string; timeoutMs?: number; input?: string } = {}): ToolRun {
  promtoolAvailable();
  if (promtoolCheck?.ok !== true) throw new Error(`promtool unavailable: ${promtoolCheck?.reason ?? 'unknown'}`);
  const r = spawnSync(promtoolCheck.bin, args, {
    cwd: opts.cwd,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
  if (r.error !== undefined && r.signal === null) throw r.error;
  return { status: r.status, signal: r.signal, output: `${r.stdout}${r.stderr}` };
}

// ---------------------------------------------------------------------------------------------
// A Prometheus server

export interface Sample {
  metric: Record<string, string>;
  /** [unix seconds, value as Prometheus formats it ("1", "NaN", "+Inf", ...)] */
  value: [number, string];
}

export interface TargetState {
  health: string;
  scrapeUrl: string;
  lastError: string;
  labels: Record<string, string>;
}

export interface StartPrometheusOptions {
  /** Scrape (and rule evaluation) interval; default 1000. */
  scrapeIntervalMs?: number;
  /** Scrape job name; default "nfs-health-checkd", as in packaging/prometheus. */
  job?: string;
  /** How long to wait for the server to answer /-/ready; default 30000. */
  readyTimeoutMs?: number;
  /** Rule files to load (absolute paths), evaluated every scrape interval. */
  ruleFiles?: string[];
  /** More fields of the scrape config: `scheme`, `tls_config`, `basic_auth`, … */
  scrape?: Record<string, unknown>;
}

export interface RunningPrometheus {
  /** e.g. "http://127.0.0.1:41234" */
  url: string;
  pid: number;
  /** The temp dir holding prometheus.yml and the TSDB; removed by stop(). */
  dir: string;
  /** Instant query at "now". Rejects with Prometheus's error for a bad expression. */
  query(expr: string): Promise<Sample[]>;
  /** The active targets, as /api/v1/targets reports them. */
  targets(): Promise<TargetState[]>;
  /** GET any API path ("/api/v1/alerts"): the `data` of the answer; rejects with its error. */
  api(pathAndQuery: string): Promise<unknown>;
  /** Resolves once every configured target has been scraped successfully ("up"). */
  waitForTargetUp(timeoutMs: number): Promise<void>;
  /** SIGTERM, SIGKILL after 5 s, then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** The server's log (stderr), last 64 KiB. */
  log(): string;
}

const HTTP_TIMEOUT_MS = 5_000;
const TERM_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;
const LOG_LIMIT = 64 * 1024;

// Safety net: servers a test forgot to stop die with the test process. Vitest ends its fork
// workers with SIGTERM, which skips 'exit', hence the signal handlers.
const live = new Map<ChildProcess, string>();
let exitHooksInstalled = false;

function emergencyStop(): void {
  for (const [child, dir] of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort: the process is going away anyway
    }
  }
  live.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', emergencyStop);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      emergencyStop();
      // Then die of the signal as we would have, unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

const TEMP_PREFIX = 'nfs-hc-prometheus-';
const OWNER_FILE = 'owner.pid';

/**
 * Removes temp dirs of earlier runs whose test process died by SIGKILL (its server died with it,
 * by PR_SET_PDEATHSIG, but nothing could remove the dir).
 */
function sweepOrphanDirs(): void {
  let names: string[];
  try {
    names = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(TEMP_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(os.tmpdir(), name);
    try {
      const owner = Number(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8').trim());
      if (!Number.isInteger(owner) || owner <= 0 || pidAlive(owner)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, or already gone
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const LOOPBACK_TARGET = /^(?:127(?:\.\d{1,3}){3}|localhost|\[::1\]):\d{1,5}$/;

/** A port free on 127.0.0.1 right now (the kernel's choice); the caller retries if it is taken. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from the kernel'))));
    });
  });
}

function durationMs(ms: number): string {
  return `${Math.round(ms)}ms`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function parseSample(v: unknown): [number, string] {
  if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') return [v[0], v[1]];
  throw new Error(`unexpected sample ${JSON.stringify(v)}`);
}

/** GET a Prometheus API path; returns `data` of a successful answer, throws with its error. */
async function apiGet(base: string, pathAndQuery: string): Promise<unknown> {
  const res = await fetch(`${base}${pathAndQuery}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`GET ${pathAndQuery}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (!isObject(body) || body.status !== 'success') {
    const err = isObject(body) ? `${String(body.errorType)}: ${String(body.error)}` : text.slice(0, 200);
    throw new Error(`GET ${pathAndQuery}: HTTP ${res.status}: ${err}`);
  }
  return body.data;
}

/**
 * Starts Prometheus scraping `targets` ("127.0.0.1:PORT", loopback only) at /metrics, and
 * resolves once it answers /-/ready. Requires prometheusAvailable().ok.
 */
export async function startPrometheus(targets: string[], opts: StartPrometheusOptions = {}): Promise<RunningPrometheus> {
  prometheusAvailable();
  if (prometheusCheck?.ok !== true) throw new Error(`prometheus unavailable: ${prometheusCheck?.reason ?? 'unknown'}`);
  const bin = prometheusCheck.bin;
  for (const t of targets) {
    if (!LOOPBACK_TARGET.test(t)) throw new Error(`target ${JSON.stringify(t)} is not a loopback host:port`);
  }
  const intervalMs = opts.scrapeIntervalMs ?? 1_000;
  if (!Number.isInteger(intervalMs) || intervalMs < 100) throw new Error(`scrapeIntervalMs ${intervalMs}: want an integer ≥ 100`);
  const job = opts.job ?? 'nfs-health-checkd';

  sweepOrphanDirs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), TEMP_PREFIX));
  fs.writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  const configFile = path.join(dir, 'prometheus.yml');
  // YAML is a superset of JSON: no quoting to get wrong.
  const config = {
    global: {
      scrape_interval: durationMs(intervalMs),
      scrape_timeout: durationMs(Math.min(intervalMs, 10_000)),
      evaluation_interval: durationMs(intervalMs),
    },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [{ job_name: job, ...opts.scrape, static_configs: [{ targets }] }],
  };
  fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);

  // setpriv (util-linux) makes the kernel SIGKILL the server when the thread that started it dies.
  const setpriv = findExecutable('setpriv');
  installExitHooks();

  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    try {
      return await launch({ bin, setpriv, dir, configFile, port, readyTimeoutMs: opts.readyTimeoutMs ?? 30_000, targets });
    } catch (e) {
      lastError = e instanceof Error ? e : new Error(String(e));
      // Another process took the port between freePort() and the server's bind: try another.
      if (!/address already in use/i.test(lastError.message)) break;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastError ?? new Error('prometheus did not start');
}

interface LaunchArgs {
  bin: string;
  setpriv: string | undefined;
  dir: string;
  configFile: string;
  port: number;
  readyTimeoutMs: number;
  targets: string[];
}

async function launch(a: LaunchArgs): Promise<RunningPrometheus> {
  const listen = `127.0.0.1:${a.port}`;
  const url = `http://${listen}`;
  const dataDir = path.join(a.dir, `data-${a.port}`);
  const args = [`--config.file=${a.configFile}`, `--storage.tsdb.path=${dataDir}`, `--web.listen-address=${listen}`, '--log.level=info'];
  const [cmd, argv] = a.setpriv !== undefined ? [a.setpriv, ['--pdeathsig', 'KILL', '--', a.bin, ...args]] : [a.bin, args];
  const child = spawn(cmd, argv, { cwd: a.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) {
    await new Promise<void>((resolve) => child.once('error', () => resolve()));
    throw new Error(`could not start ${a.bin}`);
  }
  const pid = child.pid;
  live.set(child, a.dir);

  let log = '';
  const append = (chunk: string): void => {
    log += chunk;
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  child.stdout!.setEncoding('utf8').on('data', append);
  child.stderr!.setEncoding('utf8').on('data', append);

  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const termed = await Promise.race([exit.then(() => true), sleep(TERM_GRACE_MS).then(() => false)]);
        if (!termed) {
          child.kill('SIGKILL');
          await Promise.race([exit, sleep(KILL_WAIT_MS)]);
        }
      }
      live.delete(child);
      fs.rmSync(a.dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  // Ready: /-/ready answers 200 once the TSDB is open and the config loaded.
  const deadline = performance.now() + a.readyTimeoutMs;
  for (;;) {
    if (exited) {
      // Let the last of its log arrive.
      await sleep(50);
      live.delete(child);
      throw new Error(`prometheus exited before it was ready:\n${log.slice(-4_000)}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      // Stop this server but keep the dir: startPrometheus() removes it.
      child.kill('SIGKILL');
      await Promise.race([exit, sleep(KILL_WAIT_MS)]);
      live.delete(child);
      throw new Error(`prometheus not ready after ${a.readyTimeoutMs} ms:\n${log.slice(-4_000)}`);
    }
    await sleep(50);
  }

  const query = async (expr: string): Promise<Sample[]> => {
    const data = await apiGet(url, `/api/v1/query?query=${encodeURIComponent(expr)}`);
    if (!isObject(data)) throw new Error(`query ${expr}: no data`);
    if (data.resultType === 'scalar' || data.resultType === 'string') {
      return [{ metric: {}, value: parseSample(data.result) }];
    }
    if (!Array.isArray(data.result)) throw new Error(`query ${expr}: unexpected result ${JSON.stringify(data)}`);
    if (data.resultType !== 'vector') throw new Error(`query ${expr}: a ${String(data.resultType)}, not an instant vector`);
    return data.result.map((r: unknown) => {
      if (!isObject(r)) throw new Error(`query ${expr}: unexpected sample ${JSON.stringify(r)}`);
      return { metric: stringRecord(r.metric), value: parseSample(r.value) };
    });
  };

  const targetStates = async (): Promise<TargetState[]> => {
    const data = await apiGet(url, '/api/v1/targets?state=active');
    if (!isObject(data) || !Array.isArray(data.activeTargets)) throw new Error(`targets: unexpected ${JSON.stringify(data)}`);
    return data.activeTargets.map((t: unknown) => {
      const o = isObject(t) ? t : {};
      return {
        health: String(o.health),
        scrapeUrl: String(o.scrapeUrl),
        lastError: typeof o.lastError === 'string' ? o.lastError : '',
        labels: stringRecord(o.labels),
      };
    });
  };

  const waitForTargetUp = async (timeoutMs: number): Promise<void> => {
    const until = performance.now() + timeoutMs;
    let last: TargetState[];
    for (;;) {
      if (exited) throw new Error(`prometheus exited:\n${log.slice(-4_000)}`);
      last = await targetStates();
      if (last.length >= a.targets.length && last.every((t) => t.health === 'up')) return;
      if (performance.now() > until) break;
      await sleep(100);
    }
    const states = last.map((t) => `${t.scrapeUrl}: ${t.health}${t.lastError !== '' ? ` (${t.lastError})` : ''}`);
    throw new Error(`targets not up after ${timeoutMs} ms: ${states.length > 0 ? states.join('; ') : 'none discovered yet'}`);
  };

  return {
    url,
    pid,
    dir: a.dir,
    query,
    targets: targetStates,
    api: (p) => apiGet(url, p),
    waitForTargetUp,
    stop,
    log: () => log,
  };
}
