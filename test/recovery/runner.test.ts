// The runner against real processes: exit codes, output, spawn errors, and a deadline it never
// waits past even when the command ignores SIGTERM.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createRunner } from '../../src/recovery/runner.js';

const run = createRunner(systemClock);

describe('createRunner', () => {
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
    const inOwn = createRunner(systemClock, { mountNamespace: '/proc/self/ns/mnt' });
    const o = await inOwn(['echo', 'hi'], 5000);
    expect(o.argv).toEqual(['nsenter', '--mount=/proc/self/ns/mnt', '--', 'echo', 'hi']);
    expect(o).toMatchObject({ status: 'ok', output: 'hi' });
  });

  it('runs the argument array without a shell: metacharacters stay literal', async () => {
    const o = await run(['echo', '$(id); *'], 5000);
    expect(o.output).toBe('$(id); *');
  });
});
