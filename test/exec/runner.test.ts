// The runner against real processes, started by execa and by node's spawn alike: exit codes,
// output, spawn errors, and a deadline it never waits past even when the command ignores SIGTERM.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createRunner, type Launcher } from '../../src/exec/runner.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe.each<Launcher>(['execa', 'node'])('createRunner through %s', (launcher) => {
  const run = createRunner(systemClock, { launcher });

  it('reports success with exit code 0 and the output', async () => {
    const o = await run(['sh', '-c', 'echo hello; echo world >&2'], 5000);
    expect(o).toMatchObject({ status: 'ok', exitCode: 0, signal: null, argv: ['sh', '-c', 'echo hello; echo world >&2'] });
    expect(o.output).toContain('hello');
    expect(o.output).toContain('world');
  });

  it('reports a failing command with its exit code and stderr (as umount says "busy")', async () => {
    const o = await run(['sh', '-c', 'echo "umount: /x: target is busy." >&2; exit 32'], 5000);
    expect(o).toMatchObject({ status: 'failed', exitCode: 32, output: 'umount: /x: target is busy.' });
  });

  it('reports a command that does not exist as a spawn error, not a crash', async () => {
    const o = await run(['/nonexistent/umount', '-a'], 5000);
    expect(o.status).toBe('spawn_error');
    expect(o.exitCode).toBeNull();
    expect(o.output).toMatch(/ENOENT|not found|no such file/i);
  });

  it('gives up at the deadline, kills the command, and keeps what it printed', async () => {
    const started = performance.now();
    const o = await run(['sh', '-c', 'trap "" TERM; echo started; sleep 30'], 300);
    const elapsed = performance.now() - started;
    expect(o.status).toBe('timeout');
    expect(o.output).toBe('started');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5000);
  });

  it('with a mount namespace, runs the command through nsenter, and reports what it ran', async () => {
    const inOwn = createRunner(systemClock, { mountNamespace: '/proc/self/ns/mnt', launcher });
    const o = await inOwn(['echo', 'hi'], 5000);
    expect(o.argv).toEqual(['nsenter', '--mount=/proc/self/ns/mnt', '--', 'echo', 'hi']);
    expect(o).toMatchObject({ status: 'ok', output: 'hi' });
  });

  it('runs the argument array without a shell: metacharacters stay literal', async () => {
    const o = await run(['echo', '$(id); *'], 5000);
    expect(o.output).toBe('$(id); *');
  });
});

it('a deadline that passes before execa has started the command still kills it', async () => {
  const clock = new FakeClock();
  const marker = `${30 + Math.random()}`; // names this test's sleep among the machine's processes
  const pending = createRunner(clock)(['sleep', marker], 1000);
  clock.advance(1000); // synchronously: the launch has not even begun
  expect((await pending).status).toBe('timeout');
  await new Promise((r) => setTimeout(r, 300));
  const alive = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() === `sleep ${marker}`);
  expect(alive).toEqual([]);
});

it('the execa runner can load execa ahead of its first command; the spawn runner has nothing to load', async () => {
  const run = createRunner(systemClock);
  expect(run.prepare).toBeTypeOf('function');
  run.prepare?.();
  run.prepare?.(); // loads once however often it is asked
  expect((await run(['true'], 5000)).status).toBe('ok');
  expect(createRunner(systemClock, { launcher: 'node' }).prepare).toBeUndefined();
});
