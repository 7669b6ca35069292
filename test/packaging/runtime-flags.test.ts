// The daemon runs on the same node flags and allocator setting however it is started: the
// packages' launcher, the container, the checkout's #! line (install.sh's link runs it) and
// `npm start` — each file read as it stands, and npm start's command run for real.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configYaml, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { LAUNCHER, launcherEnv, launcherFlags, npmStart, shebangFlags } from '../helpers/launch.js';
import { built, requires } from '../helpers/prerequisite.js';

const ROOT = path.join(import.meta.dirname, '..', '..');

/** The node options of the Dockerfile's `ENTRYPOINT [..., "node", FLAGS..., CLI]`. */
function containerFlags(): string[] {
  const line = fs
    .readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '));
  const entry = JSON.parse(line?.slice('ENTRYPOINT '.length) ?? '[]') as string[];
  return entry.slice(entry.indexOf('node') + 1, -1);
}

describe('one set of runtime flags', () => {
  const flags = launcherFlags(LAUNCHER);

  it('npm start, the checkout’s #! line and the container pass node the launcher’s flags', () => {
    expect(flags).toContain('--lite-mode');
    expect(npmStart().flags).toEqual(flags);
    expect(shebangFlags(path.join(ROOT, 'src', 'cli.ts'))).toEqual(flags);
    expect(containerFlags()).toEqual(flags);
  });

  it('npm start defaults the environment the launcher defaults, and the container sets it', () => {
    const env = launcherEnv(LAUNCHER);
    expect(env).toContain('MALLOC_ARENA_MAX=1');
    expect(npmStart().env).toEqual(env);
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    for (const e of env) expect(dockerfile).toMatch(new RegExp(`^\\s*(ENV )?.*\\b${e}\\b`, 'm'));
  });
});

requires(built()).describe('npm start’s command, run by sh as npm runs it', () => {
  const dirs: string[] = [];
  const daemons: RunningDaemon[] = [];
  afterAll(() => {
    for (const d of daemons.splice(0)) d.kill();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  /** The node process sh started for the command, its argv and environment, then stopped. */
  async function run(env: NodeJS.ProcessEnv): Promise<{ argv: string[]; environ: string[] }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nhc-npm-start-'));
    dirs.push(dir);
    // npm runs the script with sh -c in the package root and appends the arguments after --.
    const command = ['sh', '-c', `cd "$1" && shift && ${npmStart().command} "$@"`, 'sh', ROOT];
    const d = startDaemon(dir, configYaml([dir]), env, { command });
    daemons.push(d);
    await d.metricsBase();
    // sh runs the command as its child (an `&&` list is not exec'd): the daemon is the node under it.
    const children = fs.readFileSync(`/proc/${d.pid}/task/${d.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    const read = (pid: number, f: string): string[] => fs.readFileSync(`/proc/${pid}/${f}`, 'utf8').split('\0').filter(Boolean);
    const node = [d.pid, ...children.map(Number)].find((p) => path.basename(read(p, 'cmdline')[0] ?? '') === 'node');
    expect(node, `no node process under sh ${d.pid}`).toBeDefined();
    const seen = { argv: read(node!, 'cmdline'), environ: read(node!, 'environ') };
    // The daemon stops on SIGTERM, and sh exits with it.
    process.kill(node!, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      d.exited,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10_000))),
    ]);
    clearTimeout(timer);
    expect(exit, 'sh and the daemon did not exit within 10 s of SIGTERM').toBeDefined();
    return seen;
  }

  it('starts the daemon with the flags, MALLOC_ARENA_MAX=1 by default and the value the environment sets otherwise', async () => {
    const env = { ...process.env };
    delete env.MALLOC_ARENA_MAX;
    delete env.NODE_OPTIONS;
    const plain = await run(env);
    expect(plain.argv.slice(1, -2)).toEqual([...launcherFlags(LAUNCHER), 'dist/src/cli.js']);
    expect(plain.environ).toContain('MALLOC_ARENA_MAX=1');
    const set = await run({ ...env, MALLOC_ARENA_MAX: '2' });
    expect(set.environ).toContain('MALLOC_ARENA_MAX=2');
    expect(set.environ).not.toContain('MALLOC_ARENA_MAX=1');
  });
});
