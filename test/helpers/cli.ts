// Runs the built CLI (npm test builds first) as users do: a real process, real argv, real exit.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-info.js';

// From the package root, so it is right whether this file runs from test/ or compiled in dist/.
export const CLI = join(packageRoot(), 'dist', 'src', 'cli.js');

export function cliBuilt(): boolean {
  return existsSync(CLI);
}

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 30_000): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
