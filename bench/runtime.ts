// Figure 7: the release's runtime against a checkout install. The release tree (npm run package:
// the daemon bundled by esbuild, with its own Node.js beside it) and the checkout (dist/src and
// the production node_modules, on this machine's node), side by side: bytes on disk, start-up
// (spawn → `--version` exits; spawn → the daemon's "starting" line, config loaded and metrics
// bound) and RSS after a stretch of 1 s cycles on 2 healthy faultfs mounts; and the bundle on
// this machine's node, to tell what the bundling does from what the runtime does.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI } from '../test/helpers/cli.js';
import { is } from '../test/helpers/daemon.js';
import { mountFaultfs, type FaultMount } from '../test/helpers/faultfs.js';
import { ROOT, procRssMb, progress, ratio, sleep, startBenchDaemon, type BenchOptions } from './common.js';

export interface RuntimeSide {
  node: string;
  diskMb: number;
  versionMs: number;
  startingMs: number;
  rssMb: number | null;
}

export interface RuntimeResult {
  release: RuntimeSide;
  checkout: RuntimeSide;
  bundleOnSystemNode: RuntimeSide;
  debMb: number;
  rpmMb: number;
  tarballMb: number;
  ratioStarting: number | null;
  ratioRss: number | null;
  steadyS: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function duMb(paths: string[]): number {
  const r = spawnSync('du', ['-scb', '--', ...paths], { encoding: 'utf8' });
  return Math.round(Number(r.stdout.trim().split('\n').pop()?.split('\t')[0]) / 1e5) / 10;
}

function timeMs(cmd: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}`);
  return performance.now() - t0;
}

/** The production dependencies' directories, as npm lists them (no devDependencies). */
function productionModules(): string[] {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
  return r.stdout
    .trim()
    .split('\n')
    .filter((p) => p.includes('/node_modules/'));
}

export async function runRuntime(dir: string, opts: BenchOptions): Promise<RuntimeResult> {
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const release = path.join(ROOT, 'release');
  const tarball = path.join(release, `nfs-health-checkd-${version}-linux-x64.tar.gz`);
  if (!fs.existsSync(tarball)) throw new Error(`${tarball} is missing: run npm run package first`);
  const unpacked = path.join(dir, 'unpacked');
  fs.mkdirSync(unpacked);
  if (spawnSync('tar', ['-xzf', tarball, '-C', unpacked]).status !== 0) throw new Error(`cannot unpack ${tarball}`);
  const app = path.join(unpacked, `nfs-health-checkd-${version}-linux-x64`, 'usr/lib/nfs-health-checkd');
  const sides = {
    release: {
      cmd: [path.join(app, 'bin/nfs-health-checkd')],
      node: spawnSync(path.join(app, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim(),
      disk: [app],
    },
    checkout: {
      cmd: [process.execPath, CLI],
      node: process.version,
      disk: [path.join(ROOT, 'dist/src'), ...productionModules(), process.execPath],
    },
    // The same bundle on this machine's node: which of the two differences (bundle, runtime) costs what.
    bundleOnSystemNode: {
      cmd: [process.execPath, path.join(app, 'app/cli.js')],
      node: process.version,
      disk: [path.join(app, 'app'), process.execPath],
    },
  };
  const runs = opts.quick ? 5 : 15;
  const steadyS = opts.quick ? 20 : 120;
  const mounts: FaultMount[] = [await mountFaultfs({ dir }), await mountFaultfs({ dir })];
  const paths = mounts.map((m) => m.mountpoint);
  const measure = async (name: keyof typeof sides): Promise<RuntimeSide> => {
    const side = sides[name];
    const versionMs = median(Array.from({ length: runs }, () => timeMs([...side.cmd, '--version'])));
    const starting: number[] = [];
    let rssMb: number | null = null;
    for (let i = 0; i < Math.max(3, Math.floor(runs / 2)); i++) {
      const t0 = performance.now();
      const d = startBenchDaemon(
        dir,
        `runtime-${name}-${i}`,
        { mounts: paths, schedule: '* * * * * *', timeoutS: 5, recovery: true, level: 'info' },
        side.cmd,
      );
      try {
        const line = await d.waitFor((l) => l.msg === 'starting', 15_000);
        if (!line) throw new Error(`${name}: no "starting" line: ${d.describe()}`);
        starting.push(line.at - t0);
        if (i === 0) {
          for (const p of paths)
            if (!(await d.waitFor(is('mount healthy', p), 15_000))) throw new Error(`${name}: not healthy: ${d.describe()}`);
          progress(`runtime: ${name}: ${steadyS} s of 1 s cycles`);
          await sleep(steadyS * 1000);
          rssMb = procRssMb(d.pid) ?? null;
        }
      } finally {
        await d.stop();
      }
    }
    return { node: side.node, diskMb: duMb(side.disk), versionMs: Math.round(versionMs), startingMs: Math.round(median(starting)), rssMb };
  };
  try {
    const r = await measure('release');
    const c = await measure('checkout');
    const b = await measure('bundleOnSystemNode');
    const size = (f: string): number => Math.round(fs.statSync(path.join(release, f)).size / 1e5) / 10;
    return {
      release: r,
      checkout: c,
      bundleOnSystemNode: b,
      debMb: size(`nfs-health-checkd_${version}_amd64.deb`),
      rpmMb: size(`nfs-health-checkd-${version}-1.x86_64.rpm`),
      tarballMb: size(`nfs-health-checkd-${version}-linux-x64.tar.gz`),
      ratioStarting: ratio(r.startingMs, c.startingMs),
      ratioRss: ratio(r.rssMb, c.rssMb),
      steadyS,
    };
  } finally {
    await Promise.all(mounts.map((m) => m.cleanup()));
  }
}
