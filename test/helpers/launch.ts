// How each way of running the daemon starts node — the packages' launcher, the checkout's `#!`
// line, `npm start` — read from the files themselves, so the tests can hold them to one set of
// flags and the benchmark can run each as it is run.
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/package-info.js';

/** The packages' launcher (installed as bin/nfs-health-checkd beside the runtime). */
export const LAUNCHER = path.join(packageRoot(), 'packaging', 'release', 'nfs-health-checkd.sh');

/** The node options the launcher passes (its `exec "$app/node" … "$app/app/cli.js"` line). */
export function launcherFlags(launcher: string): string[] {
  const line = fs
    .readFileSync(launcher, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('exec '));
  const m = line?.match(/^exec "\$app\/node" (.*) "\$app\/app\/cli\.js" "\$@"$/);
  if (!m) throw new Error(`${launcher}: no exec "$app/node" … "$app/app/cli.js" "$@" line`);
  return m[1]!.split(/\s+/).filter(Boolean);
}

/** The environment defaults the launcher sets (its `: "${NAME:=VALUE}"` lines), as NAME=VALUE. */
export function launcherEnv(launcher: string): string[] {
  return fs
    .readFileSync(launcher, 'utf8')
    .split('\n')
    .flatMap((l) => {
      const m = /^: "\$\{([A-Z_][A-Z0-9_]*):=([^}]*)\}"$/.exec(l);
      return m ? [`${m[1]!}=${m[2]!}`] : [];
    });
}

/**
 * The node flags of a cli's `#!/usr/bin/env -S node FLAGS` line: how it runs when started by its
 * path, as install.sh's /usr/local/bin link starts it. None for `#!/usr/bin/env node`.
 */
export function shebangFlags(cli: string): string[] {
  const first = fs.readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env (?:-S )?node(.*)$/.exec(first);
  if (!m) throw new Error(`${cli}: no #!/usr/bin/env node line`);
  return m[1]!.split(/\s+/).filter(Boolean);
}

export interface NpmStart {
  /** What runs after the build, as the shell reads it (`NAME=${NAME:-VALUE} … node FLAGS dist/src/cli.js`). */
  command: string;
  /** Its environment defaults, as NAME=VALUE: each applies unless the environment sets NAME. */
  env: string[];
  flags: string[];
}

/** package.json's `start` script: `npm run build && NAME=${NAME:-VALUE} … node FLAGS dist/src/cli.js`. */
export function npmStart(packageJson = path.join(packageRoot(), 'package.json')): NpmStart {
  const script = (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { scripts?: Record<string, string> }).scripts?.start ?? '';
  const m = /^npm run build && ((?:[A-Z_][A-Z0-9_]*=\$\{[A-Z_][A-Z0-9_]*:-[^}]*\} )*)node((?: -[^\s]+)*) dist\/src\/cli\.js$/.exec(script);
  if (!m)
    throw new Error(
      `${packageJson}: the start script is not "npm run build && [NAME=\${NAME:-VALUE} …] node FLAGS dist/src/cli.js": ${script}`,
    );
  const env = [...m[1]!.matchAll(/([A-Z_][A-Z0-9_]*)=\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}/g)].map((a) => {
    if (a[1] !== a[2]) throw new Error(`${packageJson}: start sets ${a[1]!} from \${${a[2]!}}, not a default of its own`);
    return `${a[1]!}=${a[3]!}`;
  });
  return { command: script.slice('npm run build && '.length), env, flags: m[2]!.split(/\s+/).filter(Boolean) };
}
