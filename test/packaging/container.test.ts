// The container packaging: Dockerfile, .dockerignore, the container config, the Kubernetes
// DaemonSet and the compose example. No Docker engine runs here, so the image is never built:
// the Dockerfile is parsed (instructions, stages, continuation lines) and checked for what the
// image must do, hadolint lints it when installed, the configs the containers would read are
// validated by the daemon's own loader, and the HEALTHCHECK command is run for real — against a
// scripted /healthz and against the built daemon.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DEFAULT_ETC_FILE, loadConfig } from '../../src/config/load.js';
import { HOST_MOUNT_NAMESPACE } from '../../src/config/schema.js';
import { CLI, cliBuilt } from '../helpers/cli.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { findExecutable } from '../helpers/tools.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const DOCKERIGNORE = path.join(ROOT, '.dockerignore');
const CONTAINER_CONFIG = path.join(ROOT, 'packaging', 'container', 'config.yaml');
const K8S = path.join(ROOT, 'packaging', 'kubernetes', 'nfs-health-checkd.yaml');
const COMPOSE = path.join(ROOT, 'packaging', 'compose', 'compose.yaml');
const METRICS_PORT = 12049;
// Where the incident state lives (state.file): on the host, so a restarted container resumes it.
const STATE_DIR = '/run/nfs-health-checkd';

// ---- a small Dockerfile parser ---------------------------------------------------------------

interface Instruction {
  /** Upper-cased: FROM, RUN, COPY, … */
  keyword: string;
  /** Everything after the keyword, continuation lines joined (escape + newline removed). */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

interface Dockerfile {
  directives: Record<string, string>;
  instructions: Instruction[];
  stages: Stage[];
}

/**
 * Docker's rules: parser directives (`# key=value`) only before anything else; `#` lines are
 * comments, also between continuation lines; a line ending in the escape character (default `\`)
 * continues on the next, joined without the escape and the newline.
 */
function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  const directives: Record<string, string> = {};
  let i = 0;
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(\S+)\s*$/.exec(lines[i] ?? '');
    if (!m?.[1] || !m[2]) break;
    directives[m[1].toLowerCase()] = m[2];
  }
  const escape = directives.escape ?? '\\';
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  for (; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const trimmed = raw.trim();
    if (trimmed.startsWith('#')) continue; // a comment, even inside a continued instruction
    if (trimmed === '' && pending === undefined) continue;
    const body = raw.trimEnd();
    const continues = body.endsWith(escape);
    const piece = continues ? body.slice(0, -escape.length) : body;
    if (pending === undefined) pending = { text: piece, line: i + 1 };
    else pending.text += piece;
    if (continues) continue;
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(pending.text);
    if (m?.[1]) instructions.push({ keyword: m[1].toUpperCase(), args: (m[2] ?? '').trim(), line: pending.line });
    pending = undefined;
  }
  if (pending !== undefined) throw new Error(`line ${pending.line}: the last instruction ends in a continuation`);

  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const { rest } = splitFlags(ins.args);
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!m?.[1]) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ image: m[1], name: m[2], instructions: [] });
    } else {
      const stage = stages[stages.length - 1];
      if (stage === undefined) {
        if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
        continue;
      }
      stage.instructions.push(ins);
    }
  }
  return { directives, instructions, stages };
}

/** Leading `--name=value` options of an instruction, and what follows them. */
function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!m?.[1]) return { flags, rest };
    flags[m[1]] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
}

/** The exec (JSON array) form of CMD, ENTRYPOINT, HEALTHCHECK CMD; undefined for shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.trimStart().startsWith('[')) return undefined;
  const value: unknown = JSON.parse(args);
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new Error(`not an array of strings: ${args}`);
  }
  return value;
}

/** COPY/ADD: options, sources and destination (shell-like form, no spaces in paths). */
function copyArgs(ins: Instruction): { flags: Record<string, string>; sources: string[]; dest: string } {
  const { flags, rest } = splitFlags(ins.args);
  const words = execForm(rest) ?? rest.split(/\s+/).filter(Boolean);
  const dest = words.pop();
  if (dest === undefined || words.length === 0) throw new Error(`line ${ins.line}: COPY needs sources and a destination`);
  return { flags, sources: words, dest };
}

/** Docker durations as HEALTHCHECK options use them: 30s, 1m30s, 500ms. */
function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, ns: 0.000001 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g, (_all, n: string, unit: string) => {
    total += Number(n) * (units[unit] ?? Number.NaN);
    return '';
  });
  if (rest !== '' || text === '') throw new Error(`not a duration: ${text}`);
  return total;
}

// ---- .dockerignore, as Docker reads it ------------------------------------------------------

/** Whether a context-relative path is left out of the build context. Last matching line wins. */
function dockerignore(text: string): (relPath: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exception = l.startsWith('!');
      const pattern = path.posix.normalize((exception ? l.slice(1) : l).trim().replace(/^\/+/, '')).replace(/\/+$/, '');
      return { exception, regex: globRegex(pattern) };
    });
  return (relPath) => {
    const parts = relPath.split('/');
    // A pattern matching a directory excludes everything in it ("parent matches").
    const candidates = parts.map((_, n) => parts.slice(0, n + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.exception;
    }
    return excluded;
  };
}

/** Go filepath.Match plus Docker's `**`. */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function filesUnder(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (!fs.statSync(abs).isDirectory()) return [rel];
  return fs
    .readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(ROOT, path.join(d.parentPath, d.name)).split(path.sep).join('/'));
}

// ---- helpers ----------------------------------------------------------------------------------

interface Run {
  code: number | null;
  ms: number;
  stderr: string;
}

function runNode(args: string[], timeoutMs: number): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, _stdout, stderr) => {
      const ms = performance.now() - started;
      if (err === null) resolve({ code: 0, ms, stderr });
      else resolve({ code: typeof err.code === 'number' ? err.code : null, ms, stderr });
    });
  });
}

/** The comment lines right above the first line matching `line` (none: ''). */
function commentAbove(text: string, line: RegExp): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => line.test(l));
  if (at < 0) throw new Error(`no line matching ${line}`);
  const comments: string[] = [];
  for (let i = at - 1; i >= 0 && /^\s*#/.test(lines[i] ?? ''); i--) comments.unshift(lines[i] ?? '');
  return comments.join('\n');
}

function withTempFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfs-hc-container-'));
  tempDirs.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** An image reference must carry a tag other than latest (or a digest). */
function pinned(image: string): boolean {
  if (image.includes('@sha256:')) return true;
  const lastPart = image.split('/').pop() ?? image;
  const tag = lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : undefined;
  return tag !== undefined && tag !== 'latest';
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const dockerfileText = fs.readFileSync(DOCKERFILE, 'utf8');
const dockerfile = parseDockerfile(dockerfileText);
const containerConfigText = fs.readFileSync(CONTAINER_CONFIG, 'utf8');

const hadolint = findExecutable('hadolint');
// Not installed by .ci/run (Debian has no package): a skip even under CI, named in the summary.
const hadolintTool = prerequisite('hadolint', hadolint !== undefined, 'optional', 'not installed (no Debian package; not in .ci/run)');
if (skips(hadolintTool)) {
  console.warn(
    'hadolint test skipped: hadolint is not installed (no Debian package; npm\'s "hadolint" is only a wrapper ' +
      'around the binary) — the Dockerfile is checked by the parser below instead',
  );
}
const daemonBuilt = built();
const daemonSkip = cliBuilt() ? undefined : `${CLI} not built (npm run build)`;
if (skips(daemonBuilt)) console.warn(`HEALTHCHECK against the real daemon skipped: ${daemonSkip}`);

// ---- Dockerfile ---------------------------------------------------------------------------------

describe('the Dockerfile parser', () => {
  it('joins continuation lines, skips comments between them, reads stages and directives', () => {
    const parsed = parseDockerfile(
      [
        '# escape=\\',
        'ARG BASE=x',
        'FROM  node:22-slim  AS  build',
        'RUN a \\',
        '  # a comment inside',
        '  && b',
        '',
        'from node:22-slim',
        'COPY --from=build /a ./b',
      ].join('\n'),
    );
    expect(parsed.directives).toEqual({ escape: '\\' });
    expect(parsed.stages.map((s) => [s.image, s.name])).toEqual([
      ['node:22-slim', 'build'],
      ['node:22-slim', undefined],
    ]);
    expect(parsed.stages[0]?.instructions[0]).toEqual({ keyword: 'RUN', args: 'a   && b', line: 4 });
    expect(copyArgs(parsed.stages[1]?.instructions[0] as Instruction)).toEqual({ flags: { from: 'build' }, sources: ['/a'], dest: './b' });
    expect(() => parseDockerfile('FROM x\nRUN a \\')).toThrow(/continuation/);
    expect(durationMs('1m30s')).toBe(90_000);
  });

  it('reads .dockerignore as Docker does: directories, globs, ** and exceptions', () => {
    const ignored = dockerignore('node_modules\n*.o\n**/*.tmp\npackaging\n!packaging/container/config.yaml\n');
    expect(ignored('node_modules/yaml/package.json')).toBe(true);
    expect(ignored('a.o')).toBe(true);
    expect(ignored('test/faultfs/x.o')).toBe(false); // *.o is anchored to the root, as in Docker
    expect(ignored('deep/er/x.tmp')).toBe(true);
    expect(ignored('packaging/systemd/x.service')).toBe(true);
    expect(ignored('packaging/container/config.yaml')).toBe(false);
    expect(ignored('src/cli.ts')).toBe(false);
  });
});

describe('Dockerfile', () => {
  const [build, runtime] = dockerfile.stages;
  const runs = (stage: Stage | undefined): string[] => (stage?.instructions ?? []).filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const only = (keyword: string): Instruction => {
    const found = runtime?.instructions.filter((i) => i.keyword === keyword) ?? [];
    expect(found, `one ${keyword} in the runtime stage`).toHaveLength(1);
    return found[0] as Instruction;
  };

  it('has two node:24-slim stages (the major the packages ship), a named build stage and the runtime', () => {
    expect(dockerfile.stages.map((s) => s.image)).toEqual(['node:24-slim', 'node:24-slim']);
    expect(build?.name).toBeDefined();
    for (const stage of dockerfile.stages) expect(pinned(stage.image), stage.image).toBe(true);
    expect(dockerfileText).not.toMatch(/:latest\b/);
  });

  it("builds with npm ci and npm run build, then bundles with the packages' bundle.js", () => {
    const build_ = runs(build).join('\n');
    const ci = build_.indexOf('npm ci');
    const compile = build_.indexOf('npm run build');
    const bundle = build_.search(/node dist\/packaging\/release\/bundle\.js \/out /);
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(compile).toBeGreaterThan(ci);
    expect(bundle).toBeGreaterThan(compile);
    // The runtime stage installs no npm packages of its own: it takes the bundle.
    expect(runs(runtime).join('\n')).not.toMatch(/\bnpm\b/);
  });

  it('installs util-linux (nsenter), mount (umount) and tini without recommends, and drops apt lists', () => {
    const apt = runs(runtime).find((r) => r.includes('apt-get install'));
    expect(apt).toBeDefined();
    const words = (apt ?? '').split(/\s+/);
    for (const pkg of ['util-linux', 'mount', 'tini']) expect(words, pkg).toContain(pkg);
    expect(apt).toContain('--no-install-recommends');
    expect(apt).toMatch(/apt-get update\s+&&/);
    expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
  });

  it("copies from the build stage only the bundle's directory (app/, package.json, config/), no node_modules", () => {
    const copies = (runtime?.instructions ?? []).filter((i) => i.keyword === 'COPY').map(copyArgs);
    const fromBuild = copies.filter((c) => c.flags.from !== undefined);
    for (const c of fromBuild) expect(c.flags.from).toBe(build?.name);
    expect(fromBuild.flatMap((c) => c.sources)).toEqual(['/out']);
    // From the context, only the container config, to where the daemon looks for one.
    const fromContext = copies.filter((c) => c.flags.from === undefined);
    expect(fromContext).toEqual([{ flags: {}, sources: ['packaging/container/config.yaml'], dest: DEFAULT_ETC_FILE }]);
  });

  it('starts the bundled daemon where the packages put it, under tini, as root', () => {
    const workdir = only('WORKDIR').args;
    const entry = execForm(only('ENTRYPOINT').args);
    expect(entry).toEqual(['/usr/bin/tini', '--', 'node', '--lite-mode', '--no-node-snapshot', path.posix.join(workdir, 'app/cli.js')]);
    expect(entry?.[5]).toBe('/usr/lib/nfs-health-checkd/app/cli.js');
    // The bundle's directory lands on the WORKDIR, so that path exists in the image.
    const out = (runtime?.instructions ?? [])
      .filter((i) => i.keyword === 'COPY')
      .map(copyArgs)
      .find((c) => c.sources.includes('/out'));
    expect(path.posix.resolve(workdir, out?.dest ?? '?')).toBe('/usr/lib/nfs-health-checkd');
    // Under hostPID tini is not PID 1: it must register as a subreaper to reap orphans.
    expect(only('ENV').args).toMatch(/\bTINI_SUBREAPER=1\b/);
    // The launcher's allocator setting, since the image runs node without the launcher.
    expect(only('ENV').args).toMatch(/\bMALLOC_ARENA_MAX=1\b/);
    const users = runtime?.instructions.filter((i) => i.keyword === 'USER') ?? [];
    expect(users.every((u) => u.args === 'root' || u.args === '0')).toBe(true);
    expect(commentAbove(dockerfileText, /^USER root/)).toMatch(/root on purpose/);
  });

  it('stops on SIGTERM, exposes 12049, keeps the config in a volume, carries OCI labels', () => {
    expect(only('STOPSIGNAL').args).toBe('SIGTERM');
    expect(only('EXPOSE').args).toBe(String(METRICS_PORT));
    const volume = only('VOLUME').args;
    expect(volume).toBe(path.posix.dirname(DEFAULT_ETC_FILE));
    expect(DEFAULT_ETC_FILE).toBe('/etc/nfs-health-checkd/config.yaml');
    const labels = only('LABEL').args;
    for (const key of ['title', 'description', 'version', 'licenses', 'source']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });

  it("has a HEALTHCHECK on /healthz whose own deadline is inside Docker's timeout", () => {
    const { flags, rest } = splitFlags(only('HEALTHCHECK').args);
    expect(rest.startsWith('CMD ')).toBe(true);
    const argv = execForm(rest.slice(4));
    expect(argv?.slice(0, 2)).toEqual(['node', '-e']);
    const script = argv?.[2] ?? '';
    expect(script).toContain(`127.0.0.1:${METRICS_PORT}/healthz`);
    const fetchDeadline = Number(/AbortSignal\.timeout\((\d+)\)/.exec(script)?.[1]);
    expect(fetchDeadline).toBeLessThan(durationMs(flags.timeout ?? '30s'));
    // Healthy before /healthz could first go 503 (3 × 30 s + 5 s), so a start period is enough.
    expect(durationMs(flags['start-period'] ?? '0s')).toBeGreaterThan(0);
  });

  it('sends the build everything it COPYs, and no node_modules, dist, .git or test binaries', () => {
    const ignored = dockerignore(fs.readFileSync(DOCKERIGNORE, 'utf8'));
    const contextSources = dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
      .map(copyArgs)
      .filter((c) => c.flags.from === undefined)
      .flatMap((c) => c.sources);
    expect(contextSources).toEqual(
      expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'config', 'packaging/release/bundle.ts']),
    );
    for (const source of contextSources) {
      const files = filesUnder(source);
      expect(files.length, source).toBeGreaterThan(0);
      for (const file of files) expect(ignored(file), `${file} is needed by COPY ${source}`).toBe(false);
    }
    for (const file of [
      'node_modules/yaml/package.json',
      'dist/src/cli.js',
      '.git/HEAD',
      'test/faultfs/faultfs',
      'test/faultfs/faultfs.o',
    ]) {
      expect(ignored(file), file).toBe(true);
    }
  });

  requires(hadolintTool).it('passes hadolint', async () => {
    const result = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(hadolint ?? 'hadolint', ['--no-color', DOCKERFILE], { encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out: stdout + stderr }),
      );
    });
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });
});

// ---- the HEALTHCHECK command, run for real ---------------------------------------------------------

describe('the HEALTHCHECK command', () => {
  const healthcheck = ((): string => {
    const ins = dockerfile.stages[1]?.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    const argv = execForm(splitFlags(ins?.args ?? '').rest.replace(/^CMD\s+/, ''));
    return argv?.[2] ?? '';
  })();
  const against = (port: number): string => healthcheck.replace(`:${METRICS_PORT}/`, `:${port}/`);
  const servers: http.Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  async function serve(handler: http.RequestListener): Promise<number> {
    const server = http.createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  it('exits 0 while /healthz answers 200, 1 once it answers 503', async () => {
    let status = 200;
    const paths: string[] = [];
    const port = await serve((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(req.url === '/healthz' ? status : 404, { 'content-type': 'text/plain' }).end('x\n');
    });
    expect(against(port)).not.toBe(healthcheck);
    expect((await runNode(['-e', against(port)], 10_000)).code).toBe(0);
    status = 503;
    expect((await runNode(['-e', against(port)], 10_000)).code).toBe(1);
    expect(paths).toEqual(['/healthz', '/healthz']);
  });

  it('exits 1 when nothing listens, and by its own deadline when /healthz never answers', async () => {
    const closedPort = await serve(() => undefined);
    await new Promise((r) => servers.pop()?.close(r));
    expect((await runNode(['-e', against(closedPort)], 10_000)).code).toBe(1);

    const port = await serve(() => undefined); // accepts, never answers
    const hung = await runNode(['-e', against(port)], 10_000);
    expect(hung.code).toBe(1);
    const { flags } = splitFlags(dockerfile.stages[1]?.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '');
    expect(hung.ms).toBeLessThan(durationMs(flags.timeout ?? '30s'));
  });

  requires(daemonBuilt).describe('against the built daemon on the container config', () => {
    let daemon: RunningDaemon | undefined;
    afterAll(() => daemon?.kill());

    it('exits 0 while the daemon runs, 1 after it stopped — which takes less than the grace periods', async () => {
      // The container config, with a mount that reads fine, a free port and no recovery.
      const config = YAML.parse(containerConfigText) as Record<string, Record<string, unknown>>;
      config.mounts = [{ path: '/proc' }] as unknown as Record<string, unknown>;
      config.metrics = { listen: '127.0.0.1:0' };
      config.recovery = { ...config.recovery, enabled: false };
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfs-hc-container-'));
      tempDirs.push(dir);
      daemon = startDaemon(dir, YAML.stringify(config));
      const port = Number(new URL(await daemon.metricsBase()).port);
      await daemon.waitForLine((l) => l.msg === 'mount healthy', 15_000);
      expect((await runNode(['-e', against(port)], 10_000)).code).toBe(0);

      const stopped = await daemon.stop('SIGTERM', 10_000);
      expect(stopped?.code).toBe(0);
      expect(stopped?.ms ?? Infinity).toBeLessThan(5_000);
      expect((await runNode(['-e', against(port)], 10_000)).code).toBe(1);
    });
  });
});

// ---- the configs the containers read ------------------------------------------------------------

function expectContainerConfig(file: string): void {
  const { config, sources } = loadConfig({ file });
  expect(sources).toHaveLength(2); // the packaged defaults, then this file
  expect(config.recovery.mountNamespace).toBe(HOST_MOUNT_NAMESPACE);
  expect(config.recovery.mountNamespace).toBe('/proc/1/ns/mnt');
  expect(config.log.file).toBeNull();
  expect(config.metrics.enabled).toBe(true);
  expect(config.metrics.listen.port).toBe(METRICS_PORT);
  expect(config.recovery.enabled).toBe(true);
  expect(config.mounts.map((m) => m.path)).toEqual(['/airflow/dags', '/airflow/logs']);
  // In the directory the manifests keep on the host.
  expect(path.posix.dirname(config.state.file ?? '')).toBe(STATE_DIR);
}

describe('packaging/container/config.yaml', () => {
  it('is valid for the daemon: host mount namespace, logs on stdout only', () => {
    expectContainerConfig(CONTAINER_CONFIG);
  });
});

// ---- Kubernetes -----------------------------------------------------------------------------------

interface Probe {
  httpGet?: { path?: string; port?: number | string };
}
interface Container {
  name: string;
  image: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  securityContext?: { privileged?: boolean; runAsUser?: number };
  volumeMounts?: Array<{ name: string; mountPath: string; mountPropagation?: string; readOnly?: boolean }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    updateStrategy?: { type?: string };
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: {
        hostPID?: boolean;
        terminationGracePeriodSeconds?: number;
        tolerations?: Array<{ key?: string; operator?: string; effect?: string }>;
        containers: Container[];
        volumes?: Volume[];
      };
    };
  };
}

describe('packaging/kubernetes/nfs-health-checkd.yaml', () => {
  const text = fs.readFileSync(K8S, 'utf8');
  const docs = YAML.parseAllDocuments(text);
  const objects = docs.map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
  const configMap = objects.find((o) => o.kind === 'ConfigMap');
  const daemonSet = objects.find((o) => o.kind === 'DaemonSet');
  const pod = daemonSet?.spec?.template?.spec;
  const container = pod?.containers[0];

  it('parses: a ConfigMap and a DaemonSet, no Namespace', () => {
    for (const d of docs) expect(d.errors.map((e) => e.message)).toEqual([]);
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(['v1 ConfigMap', 'apps/v1 DaemonSet']);
    for (const o of objects) expect(o.metadata.namespace).toBeUndefined();
  });

  it("carries the container config, which the daemon's loader accepts", () => {
    const configText = configMap?.data?.['config.yaml'];
    expect(configText).toBe(containerConfigText);
    expectContainerConfig(withTempFile('config.yaml', configText ?? ''));
    const configVolume = pod?.volumes?.find((v) => v.configMap !== undefined);
    expect(configVolume?.configMap?.name).toBe(configMap?.metadata.name);
    const mount = container?.volumeMounts?.find((m) => m.name === configVolume?.name);
    expect(mount?.mountPath).toBe(path.posix.dirname(DEFAULT_ETC_FILE));
    expect(mount?.readOnly).toBe(true);
  });

  it('shares the host PID namespace and runs privileged, each with a comment saying why', () => {
    expect(pod?.hostPID).toBe(true);
    expect(container?.securityContext?.privileged).toBe(true);
    for (const line of [/^\s*hostPID: true/, /^\s*privileged: true/, /^\s*mountPropagation: Bidirectional/, /^\s*runAsUser: 0/]) {
      expect(commentAbove(text, line), String(line)).toMatch(/WHY/);
    }
  });

  it('mounts the host /airflow at /airflow with Bidirectional propagation', () => {
    const airflow = pod?.volumes?.find((v) => v.hostPath?.path === '/airflow');
    expect(airflow).toBeDefined();
    const mount = container?.volumeMounts?.find((m) => m.name === airflow?.name);
    expect(mount?.mountPath).toBe('/airflow');
    expect(mount?.mountPropagation).toBe('Bidirectional');
  });

  it("keeps the incident state in the host's /run/nfs-health-checkd (hostPath, DirectoryOrCreate), writable, saying why", () => {
    const state = pod?.volumes?.find((v) => v.hostPath?.path === STATE_DIR);
    expect(state?.hostPath?.type).toBe('DirectoryOrCreate');
    const mount = container?.volumeMounts?.find((m) => m.name === state?.name);
    expect(mount?.mountPath).toBe(STATE_DIR);
    expect(mount?.readOnly).toBeUndefined();
    expect(commentAbove(text, new RegExp(`^\\s*path: ${STATE_DIR}$`))).toMatch(/state.*restart/);
  });

  it('is scraped by annotation and probed on /healthz:12049', () => {
    expect(daemonSet?.spec?.template?.metadata?.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(METRICS_PORT),
      'prometheus.io/path': '/metrics',
    });
    expect(container?.ports).toEqual([{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }]);
    for (const probe of [container?.readinessProbe, container?.livenessProbe]) {
      expect(probe?.httpGet?.path).toBe('/healthz');
      const port = probe?.httpGet?.port;
      const number = typeof port === 'string' ? container?.ports?.find((p) => p.name === port)?.containerPort : port;
      expect(number).toBe(METRICS_PORT);
    }
  });

  it('rolls node by node, fits the daemon in its grace period and its resources, runs on tainted nodes', () => {
    expect(daemonSet?.spec?.updateStrategy?.type).toBe('RollingUpdate');
    expect(Object.keys(daemonSet?.spec?.selector?.matchLabels ?? {})).not.toHaveLength(0);
    for (const [k, v] of Object.entries(daemonSet?.spec?.selector?.matchLabels ?? {})) {
      expect(daemonSet?.spec?.template?.metadata?.labels?.[k]).toBe(v);
    }
    const grace = pod?.terminationGracePeriodSeconds ?? 30;
    expect(grace).toBeGreaterThan(5);
    expect(grace).toBeLessThanOrEqual(30);
    expect(container?.resources?.requests).toEqual({ cpu: '20m', memory: '64Mi' });
    expect(container?.resources?.limits).toEqual({ memory: '128Mi' });
    expect(pod?.tolerations).toEqual(expect.arrayContaining([{ operator: 'Exists', effect: 'NoSchedule' }]));
    expect(text).toMatch(/#\s*priorityClassName: system-node-critical/);
  });

  it('names a pinned placeholder image', () => {
    expect(container?.image).toBe('ghcr.io/example/nfs-health-checkd:0.1.0');
    expect(pinned(container?.image ?? '')).toBe(true);
    expect(commentAbove(text, /^\s*image: /)).toMatch(/[Pp]laceholder/);
  });
});

// ---- compose -----------------------------------------------------------------------------------

interface ComposeService {
  image: string;
  pid?: string;
  privileged?: boolean;
  init?: boolean;
  restart?: string;
  ports?: string[];
  volumes?: string[];
  stop_grace_period?: string;
}

describe('packaging/compose/compose.yaml', () => {
  const text = fs.readFileSync(COMPOSE, 'utf8');
  const compose = YAML.parse(text) as { services: Record<string, ComposeService> };
  const service = compose.services['nfs-health-checkd'];

  it('shares the host PID namespace, runs privileged, sees /airflow rshared — each explained', () => {
    expect(service?.pid).toBe('host');
    expect(service?.privileged).toBe(true);
    expect(service?.volumes).toContain('/airflow:/airflow:rshared');
    expect(service?.restart).toBe('unless-stopped');
    expect(service?.ports).toEqual([`${METRICS_PORT}:${METRICS_PORT}`]);
    expect(service?.init).toBeUndefined(); // tini is the image's ENTRYPOINT
    for (const line of [/^\s*pid: host/, /^\s*privileged: true/, /^\s*- \/airflow:\/airflow:rshared/, /^\s*restart:/]) {
      expect(commentAbove(text, line), String(line)).not.toBe('');
    }
    expect(durationMs(service?.stop_grace_period ?? '10s')).toBeGreaterThan(5_000);
  });

  it("keeps the incident state in the VM's /run/nfs-health-checkd, writable, saying why", () => {
    const bind = `${STATE_DIR}:${STATE_DIR}`;
    expect(service?.volumes).toContain(bind);
    expect(commentAbove(text, new RegExp(`^\\s*- ${bind}$`))).toMatch(/state.*restart/);
  });

  it('uses the same image as the DaemonSet', () => {
    const k8s = YAML.parseAllDocuments(fs.readFileSync(K8S, 'utf8'))
      .map((d) => d.toJS() as K8sObject | null)
      .find((o) => o?.kind === 'DaemonSet');
    expect(service?.image).toBe(k8s?.spec?.template?.spec?.containers[0]?.image);
  });

  it("mounts a config file read-only where the daemon looks, which the daemon's loader accepts", () => {
    const volume = (service?.volumes ?? []).map((v) => v.split(':')).find((v) => v[1] === DEFAULT_ETC_FILE);
    expect(volume?.[2]).toBe('ro');
    const source = path.resolve(path.dirname(COMPOSE), volume?.[0] ?? '?');
    expect(source).toBe(CONTAINER_CONFIG);
    expectContainerConfig(source);
  });
});
