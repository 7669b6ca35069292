// Runs one command with a hard deadline. At the deadline the command is sent SIGKILL and reported
// timed out at once, without waiting for it to exit: a umount stuck in the kernel ignores even
// SIGKILL until its call returns, and may hold its pipes open.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type * as Execa from 'execa';
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

/**
 * The command seam. `prepare` loads what the first command needs ahead of it, so that a recovery
 * can pay for that while it does something else first (its holder scan).
 */
export type RunCommand = ((argv: readonly string[], deadlineMs: number) => Promise<CommandOutcome>) & { prepare?: () => void };

const MAX_OUTPUT = 2000;

/**
 * What starts the process. Recovery commands go through execa, loaded on the first one: its heap
 * stays for the life of the process, which a node that never fails over need not pay.
 * A command run all the time (systemd-notify, every half watchdog interval) uses node's own spawn.
 */
export type Launcher = 'execa' | 'node';

export interface RunnerOptions {
  /**
   * Run every command in this mount namespace (a /proc/PID/ns/mnt path) through nsenter: from a
   * container, only an unmount done in the host's namespace clears the host's stale mount.
   */
  mountNamespace?: string | null;
  launcher?: Launcher;
}

/** A started command, whichever library started it. */
interface Started {
  stdout: Readable | null | undefined;
  stderr: Readable | null | undefined;
  kill(): void;
  /** Settles once; spawnError says why it could not start (ENOENT, EACCES). */
  exit: Promise<{ exitCode: number | null; signal: string | null; spawnError: string | null }>;
}

type ExecaModule = typeof Execa;
let execaModule: Promise<ExecaModule> | undefined;
const loadExeca = (): Promise<ExecaModule> => (execaModule ??= import('execa'));

// No shell, no stdin, an environment whose tools speak English (their messages are reported).
// Output is streamed to us rather than buffered so that what a hung command printed before its
// deadline is still reported.
async function launchWithExeca(file: string, args: string[]): Promise<Started> {
  const { execa } = await loadExeca();
  const sub = execa(file, args, { reject: false, buffer: false, stdin: 'ignore', env: { LC_ALL: 'C' }, cleanup: true });
  return {
    stdout: sub.stdout,
    stderr: sub.stderr,
    kill: () => sub.kill('SIGKILL'),
    exit: sub.then((result) =>
      result.failed && result.exitCode === undefined && !result.signal
        ? { exitCode: null, signal: null, spawnError: result.originalMessage ?? result.shortMessage ?? 'could not start' }
        : { exitCode: result.exitCode ?? null, signal: result.signal ?? null, spawnError: null },
    ),
  };
}

function launchWithNode(file: string, args: string[]): Started {
  const sub = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  return {
    stdout: sub.stdout,
    stderr: sub.stderr,
    kill: () => sub.kill('SIGKILL'),
    exit: new Promise((resolve) => {
      sub.once('error', (err) => resolve({ exitCode: null, signal: null, spawnError: err.message }));
      sub.once('close', (exitCode, signal) => resolve({ exitCode, signal, spawnError: null }));
    }),
  };
}

/** The argv actually run: the command itself, or nsenter into the namespace, then the command. */
export function inNamespace(argv: readonly string[], mountNamespace: string | null | undefined): string[] {
  return mountNamespace ? ['nsenter', `--mount=${mountNamespace}`, '--', ...argv] : [...argv];
}

export function createRunner(clock: Clock, opts: RunnerOptions = {}): RunCommand {
  const launch = opts.launcher === 'node' ? launchWithNode : launchWithExeca;
  const run: RunCommand = (command, deadlineMs) =>
    new Promise((resolve) => {
      const argv = inNamespace(command, opts.mountNamespace);
      const started = clock.now();
      const [file, ...args] = argv;
      let output = '';
      let settled = false;
      let sub: Started | undefined;
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
      const collect = (chunk: Buffer): void => {
        if (output.length < MAX_OUTPUT * 2) output += chunk.toString('utf8');
      };

      // The deadline counts from the call, loading execa included.
      const timer = clock.setTimeout(() => {
        sub?.kill();
        finish('timeout', null, null);
      }, deadlineMs);

      void Promise.resolve(launch(file ?? '', args)).then(
        (s) => {
          sub = s;
          if (settled) s.kill(); // the deadline passed while execa loaded
          s.stdout?.on('data', collect);
          s.stderr?.on('data', collect);
          void s.exit.then(({ exitCode, signal, spawnError }) => {
            if (spawnError !== null) {
              if (output === '') output = spawnError;
              finish('spawn_error', null, null);
              return;
            }
            finish(exitCode === 0 ? 'ok' : 'failed', exitCode, signal);
          });
        },
        (err: Error) => {
          // execa itself could not be loaded
          output = err.message;
          finish('spawn_error', null, null);
        },
      );
    });
  if (opts.launcher !== 'node') {
    // Loaded while the recovery waits for the holder scan, so the import adds nothing to it; a
    // failed one is reported by the command.
    run.prepare = () => void loadExeca().catch(() => undefined);
  }
  return run;
}
