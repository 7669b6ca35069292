// Runs one recovery command with execa and a hard deadline. At the deadline the command is sent
// SIGKILL and reported timed out at once, without waiting for it to exit: a umount stuck in the
// kernel ignores even SIGKILL until its call returns, and may hold its pipes open.
import { execa } from 'execa';
import type { Clock } from '../clock.js';

export type CommandStatus = 'ok' | 'failed' | 'timeout' | 'spawn_error';

export interface CommandOutcome {
  argv: string[];
  status: CommandStatus;
  exitCode: number | null;
  signal: string | null;
  /** stdout and stderr as written so far, trimmed and bounded. */
  output: string;
  durationMs: number;
}

/** The command seam. */
export type RunCommand = (argv: readonly string[], deadlineMs: number) => Promise<CommandOutcome>;

const MAX_OUTPUT = 2000;

export interface RunnerOptions {
  /**
   * Run every command in this mount namespace (a /proc/PID/ns/mnt path) through nsenter: from a
   * container, only an unmount done in the host's namespace clears the host's stale mount.
   */
  mountNamespace?: string | null;
}

/** The argv actually run: the command itself, or nsenter into the namespace, then the command. */
export function inNamespace(argv: readonly string[], mountNamespace: string | null | undefined): string[] {
  return mountNamespace ? ['nsenter', `--mount=${mountNamespace}`, '--', ...argv] : [...argv];
}

export function createRunner(clock: Clock, opts: RunnerOptions = {}): RunCommand {
  return (command, deadlineMs) =>
    new Promise((resolve) => {
      const argv = inNamespace(command, opts.mountNamespace);
      const started = clock.now();
      const [file, ...args] = argv;
      let output = '';
      let settled = false;
      const finish = (status: CommandStatus, exitCode: number | null, signal: string | null): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        resolve({
          argv: [...argv],
          status,
          exitCode,
          signal,
          output: output.trim().slice(0, MAX_OUTPUT),
          durationMs: Math.round(clock.now() - started),
        });
      };

      // Never a shell: an argument array, no stdin, output collected here rather than buffered by
      // execa so that what a hung command printed before its deadline is still reported.
      const sub = execa(file ?? '', args, {
        reject: false,
        buffer: false,
        stdin: 'ignore',
        env: { LC_ALL: 'C' },
        cleanup: true,
      });
      const collect = (chunk: Buffer): void => {
        if (output.length < MAX_OUTPUT * 2) output += chunk.toString('utf8');
      };
      sub.stdout?.on('data', collect);
      sub.stderr?.on('data', collect);

      const timer = clock.setTimeout(() => {
        sub.kill('SIGKILL');
        finish('timeout', null, null);
      }, deadlineMs);

      void sub.then((result) => {
        if (result.failed && result.exitCode === undefined && !result.signal) {
          // execa could not start it (ENOENT, EACCES): its message says which.
          if (output === '') output = result.originalMessage ?? result.shortMessage ?? 'could not start';
          finish('spawn_error', null, null);
          return;
        }
        const exitCode = result.exitCode ?? null;
        finish(exitCode === 0 ? 'ok' : 'failed', exitCode, result.signal ?? null);
      });
    });
}
