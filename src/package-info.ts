// Where the installed package lives and what version it is: this code runs from src/ under the
// test runner and from dist/src/ when built, so paths are found by walking up to package.json.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = 'nfs-health-checkd';

function nameIn(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
  } catch {
    return undefined; // an unrelated or broken package.json on the way up
  }
}

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && nameIn(file) === NAME) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${NAME} package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

let root: string | undefined;

export function packageRoot(): string {
  root ??= findRoot();
  return root;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
