// npm run bench [-- --quick] [-- --only=detection,scrape]   (or BENCH_QUICK=1)
// Runs the figures one after the other, prints progress on stderr and the table on stdout, and
// writes bench/results/latest.json with the machine, the mode and every figure's raw samples.
// Most figures need root and FUSE (and the built CLI); the in-process ones (mountstats) need neither;
// the bind-mount-only ones (evidence) need root and the CLI but not FUSE; servers needs neither FUSE
// nor the CLI, and root (with ip and nsenter) only for its namespace rows, which it skips without;
// state runs in-process, FUSE only for its scan rows and root (or a tmpfs /run) for its tmpfs row;
// web renders the status page in-process and needs the CLI, root and openssl only for its daemon rows.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fuseAvailable } from '../test/helpers/faultfs.js';
import { autofsAvailable } from '../test/helpers/autofs.js';
import { CLI } from '../test/helpers/cli.js';
import { ROOT, benchDir, killOwned, progress, removeBenchDir, type BenchOptions } from './common.js';
import { runDetection } from './detection.js';
import { runRecovery } from './recovery.js';
import { runScrape } from './scrape.js';
import { runFootprint } from './footprint.js';
import { runScale, type ScaleResult, type ScaleRow } from './scale.js';
import { runHolders } from './holders.js';
import { runRuntime } from './runtime.js';
import { runGrowth } from './growth.js';
import { runMountstats } from './mountstats.js';
import { runEvidence } from './evidence.js';
import { runServers } from './servers.js';
import { runState } from './state.js';
import { runWeb } from './web.js';
import { renderTable, type Figure, type Results } from './report.js';

const FIGURES = [
  'detection',
  'recovery',
  'scrape',
  'footprint',
  'scale',
  'holders',
  'runtime',
  'growth',
  'mountstats',
  'evidence',
  'servers',
  'state',
  'web',
] as const;
type FigureName = (typeof FIGURES)[number];

/** Figures that run in this process on generated input: no root, no FUSE, no built CLI. */
const IN_PROCESS: ReadonlySet<FigureName> = new Set(['mountstats']);

/** Figures that mount only tmpfs and bind mounts: root and the built CLI, no FUSE. */
const BIND_MOUNTS_ONLY: ReadonlySet<FigureName> = new Set(['evidence']);

/** Figures that check what they need themselves (FUSE, root, the built CLI, tools), skipping the rows that need what is missing. */
const OWN_PREREQUISITES: ReadonlySet<FigureName> = new Set(['servers', 'state', 'web']);

function parseArgs(argv: string[]): BenchOptions {
  let quick = process.env.BENCH_QUICK === '1';
  let only: Set<string> | undefined;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--full') quick = false;
    else if (a.startsWith('--only=')) {
      only = new Set(a.slice('--only='.length).split(',').filter(Boolean));
      for (const n of only)
        if (!(FIGURES as readonly string[]).includes(n)) throw new Error(`--only: unknown figure ${n} (${FIGURES.join(', ')})`);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: npm run bench -- [--quick|--full] [--only=${FIGURES.join(',')}]\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { quick, only };
}

// Ctrl-C / SIGTERM: end our processes first; the harness's own handler (installed with the first
// temp dir) then detaches every mount and removes the dirs; then we exit.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    progress(`${signal}: cleaning up`);
    killOwned();
    setImmediate(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const mode = opts.quick ? 'quick' : 'full';
  const results: Results = {
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryGiB: os.totalmem() / 2 ** 30,
      kernel: os.release(),
      node: process.version,
      date: new Date().toISOString(),
      mode,
    },
    figures: {},
    figureDates: {},
  };
  const out = path.join(ROOT, 'bench', 'results', 'latest.json');
  let extraScaleRows: ScaleRow[] = [];
  if (opts.only) {
    // --only updates the selected figures of the last run of the same mode, keeping the others.
    try {
      const prev = JSON.parse(fs.readFileSync(out, 'utf8')) as Results;
      if (prev.machine.mode === mode) {
        results.figures = prev.figures;
        if (opts.only.has('scale') && process.env.BENCH_SCALE_SIZES && prev.figures.scale?.status === 'ok') {
          // extra sizes: added to the rows already there
          extraScaleRows = prev.figures.scale.result.rows;
        }
        results.figureDates = prev.figureDates ?? Object.fromEntries(Object.keys(prev.figures).map((k) => [k, prev.machine.date]));
      }
    } catch {
      // no previous results
    }
  }
  // Checked only for the figures that need them: the FUSE check builds test/faultfs.
  const needs = (name: FigureName): string | undefined => {
    if (IN_PROCESS.has(name) || OWN_PREREQUISITES.has(name)) return undefined;
    if (!fs.existsSync(CLI)) return `${CLI} is missing (npm run build)`;
    if (BIND_MOUNTS_ONLY.has(name)) return process.getuid?.() === 0 ? undefined : 'needs root (mount --bind)';
    const fuse = fuseAvailable();
    if (!fuse.ok) return fuse.reason;
    const autofs = name === 'recovery' ? autofsAvailable() : undefined;
    if (autofs && !autofs.ok) return autofs.reason;
    return undefined;
  };
  const runners: { [K in FigureName]: (dir: string, o: BenchOptions) => Promise<unknown> } = {
    detection: runDetection,
    recovery: runRecovery,
    scrape: runScrape,
    footprint: runFootprint,
    scale: runScale,
    holders: runHolders,
    runtime: runRuntime,
    growth: runGrowth,
    mountstats: runMountstats,
    evidence: runEvidence,
    servers: runServers,
    state: runState,
    web: runWeb,
  };
  progress(`${mode} run; figures: ${FIGURES.filter((f) => !opts.only || opts.only.has(f)).join(', ')}`);
  for (const name of FIGURES) {
    if (opts.only && !opts.only.has(name)) continue;
    const missing = needs(name);
    let fig: Figure<unknown>;
    if (missing) {
      progress(`${name}: skipped — ${missing}`);
      fig = { status: 'skipped', reason: missing };
    } else {
      const dir = benchDir(name);
      const t = Date.now();
      try {
        fig = { status: 'ok', result: await runners[name](dir, opts) };
        progress(`${name}: done in ${Math.round((Date.now() - t) / 1000)} s`);
      } catch (err) {
        progress(`${name}: error — ${(err as Error).stack ?? String(err)}`);
        fig = { status: 'error', reason: (err as Error).message };
      } finally {
        await removeBenchDir(dir).catch((e: Error) => progress(`${name}: cleanup: ${e.message}`));
      }
    }
    if (name === 'scale' && fig.status === 'ok' && extraScaleRows.length > 0) {
      const r = fig.result as ScaleResult;
      const key = (x: ScaleRow) => `${x.mounts}:${x.hung}`;
      const sizes = new Set(r.rows.map(key));
      r.rows = [...extraScaleRows.filter((x) => !sizes.has(key(x))), ...r.rows].sort((a, b) => a.mounts - b.mounts || b.hung - a.hung);
    }
    (results.figures as Record<string, Figure<unknown>>)[name] = fig;
    results.figureDates[name] = new Date().toISOString();
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(`${out}.tmp`, JSON.stringify(results, null, 2) + '\n');
  fs.renameSync(`${out}.tmp`, out);
  process.stdout.write(renderTable(results) + '\n');
  progress(`wrote ${path.relative(ROOT, out)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    progress(`fatal: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
