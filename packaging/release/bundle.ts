// Writes the application half of a release's app directory (usr/lib/nfs-health-checkd/):
//
//   app/cli.js, app/scan-worker.js,  the compiled daemon bundled by esbuild, dependencies inside
//   app/bcrypt-worker.js
//   package.json                     name and version, which the daemon reads at start
//   config/default.yaml              the packaged defaults, read beneath the user's config
//
// and the licences of every npm package inside the bundle, for the package's copyright file.
// The Node.js runtime beside them is build.sh's part. Run by build.sh after `npm run build`:
//
//   node dist/packaging/release/bundle.js APPDIR NOTICES-FILE
import { build, type Plugin } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// ESM output with CommonJS dependencies inside (pino, prom-client): those call require() for
// Node's built-ins, which an ES module does not have.
const REQUIRE_SHIM = "import { createRequire as __nhcCreateRequire } from 'node:module'; const require = __nhcCreateRequire(import.meta.url);";

/**
 * prom-client's index loads its Pushgateway client, which requires https (with tls and crypto:
 * ~3.6 MB resident on Node 24) at start. The daemon is scraped and never pushes, so the bundle
 * carries a stand-in that says so if anything ever constructs one.
 */
const noPushgateway: Plugin = {
  name: 'no-pushgateway',
  setup(b) {
    b.onResolve({ filter: /\/pushgateway(\.js)?$/ }, (args) =>
      args.importer.includes(`node_modules${path.sep}prom-client${path.sep}`) ? { path: 'pushgateway', namespace: 'nhc-stub' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'nhc-stub' }, () => ({
      loader: 'js',
      contents: "module.exports = class Pushgateway { constructor() { throw new Error('prom-client Pushgateway is not in this bundle'); } };",
    }));
  },
};

interface Manifest {
  name: string;
  version: string;
  description?: string;
  license?: string;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** node_modules/<name>/ (scoped or not) of a bundled input path, or null for our own code. */
function packageDirOf(input: string): string | null {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (!m) return null;
  return input.slice(0, m.index + m[0].length - 1).replace(/^\//, '');
}

const LICENCE_FILE = /^(licen[cs]e|copying)(\.(md|txt))?$/i;

/** One section per bundled package: name, version, licence, and its licence text when it ships one. */
function notices(packageDirs: string[], root: string): string {
  const sections = [...new Set(packageDirs)].sort().map((dir) => {
    const abs = path.join(root, dir);
    const m = readManifest(abs);
    const file = fs.readdirSync(abs).find((f) => LICENCE_FILE.test(f));
    const text = file ? fs.readFileSync(path.join(abs, file), 'utf8').trim() : `(no licence file shipped; package.json says ${m.license ?? 'nothing'})`;
    return `${m.name} ${m.version} (${m.license ?? 'licence not stated'})\n\n${text}\n`;
  });
  return sections.join(`\n${'-'.repeat(72)}\n\n`);
}

async function main(appDir: string, noticesFile: string): Promise<void> {
  const pkg = readManifest(ROOT);
  const appOut = path.join(appDir, 'app');
  const result = await build({
    entryPoints: [
      path.join(ROOT, 'dist/src/cli.js'),
      path.join(ROOT, 'dist/src/holders/scan-worker.js'),
      path.join(ROOT, 'dist/src/observe/bcrypt-worker.js'),
    ],
    // Flat: the scanner finds scan-worker.js beside the file it runs from, the bcrypt thread
    // bcrypt-worker.js beside it or one up from lib/.
    entryNames: '[name]',
    // What is imported on demand (execa, at the first recovery command) goes in a file of its own
    // under lib/, so the process does not hold its source until then.
    splitting: true,
    chunkNames: 'lib/[name]-[hash]',
    outdir: appOut,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Readable: a stack trace in the journal should name our functions.
    minify: false,
    legalComments: 'none',
    banner: { js: REQUIRE_SHIM },
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: ROOT,
    plugins: [noPushgateway],
  });
  // The bundle keeps the compiled CLI's `#!/usr/bin/env -S node …`; it is run through bin/, never by it.
  const cli = path.join(appOut, 'cli.js');
  fs.writeFileSync(cli, fs.readFileSync(cli, 'utf8').replace(/^#!.*\n/, ''));
  fs.chmodSync(cli, 0o644);

  const manifest = { name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, private: true, type: 'module' };
  fs.writeFileSync(path.join(appDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.mkdirSync(path.join(appDir, 'config'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'config/default.yaml'), path.join(appDir, 'config/default.yaml'));

  const dirs = Object.keys(result.metafile.inputs).map(packageDirOf).filter((d): d is string => d !== null);
  fs.writeFileSync(noticesFile, notices(dirs, ROOT));
}

const [appDir, noticesFile] = process.argv.slice(2);
if (!appDir || !noticesFile) {
  console.error('usage: node dist/packaging/release/bundle.js APPDIR NOTICES-FILE');
  process.exit(64);
}
await main(path.resolve(appDir), path.resolve(noticesFile));
