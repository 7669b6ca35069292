// Runs the built daemon as systemd would — a real process on a config file — and reads its JSON
// log lines back, each stamped with when it arrived, so tests can time detection and recovery.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './cli.js';
import { mountFaultfs, waitFor, type FaultMount } from './faultfs.js';

export interface LogLine {
  level: string;
  msg: string;
  mount?: string;
  result?: string;
  /** performance.now() when the test process read the line. */
  at: number;
  /** The same moment as `at`, in ms since the epoch (performance.timeOrigin + at). */
  t: number;
  /** The line as written. */
  raw: string;
  [key: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningDaemon {
  pid: number;
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves with the first line (from index `from` on) that matches; rejects after the timeout. */
  waitForLine(match: (l: LogLine) => boolean, timeoutMs: number, from?: number): Promise<LogLine>;
  /** Base URL of the metrics server, from the "starting" line (the port may have been 0). */
  metricsBase(): Promise<string>;
  /** Threads of the daemon process now (/proc/PID/task). */
  threads(): number;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Sends a signal and waits (up to timeoutMs) for the exit; undefined if it did not exit. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<(Exit & { ms: number }) | undefined>;
  /** Last resort for test cleanup. */
  kill(): void;
  stderr(): string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface StartOptions {
  /** The config file's name in `dir`, without .yaml (several daemons may share a dir). */
  name?: string;
  /** In a process group of its own, so the daemon and its children can be ended together. */
  detached?: boolean;
  /** The command that runs the CLI (default: this node on the built dist/src/cli.js). */
  command?: string[];
}

export function startDaemon(dir: string, configYaml: string, env: NodeJS.ProcessEnv = process.env, opts: StartOptions = {}): RunningDaemon {
  const configFile = join(dir, `${opts.name ?? 'config'}.yaml`);
  writeFileSync(configFile, configYaml);
  const [cmd, ...args] = opts.command ?? [process.execPath, CLI];
  const child = spawn(cmd!, [...args, '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    detached: opts.detached ?? false,
  });
  running.add(child);
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    const at = performance.now();
    const t = performance.timeOrigin + at;
    for (const text of complete) {
      if (text.trim() === '') continue;
      try {
        lines.push({ ...(JSON.parse(text) as { level: string; msg: string }), at, t, raw: text });
      } catch {
        lines.push({ level: 'unparsable', msg: text, at, t, raw: text });
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      for (const w of waiters) w();
      resolve({ code, signal });
    }),
  );

  const waitForLine = (match: (l: LogLine) => boolean, timeoutMs: number, from = 0): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.slice(from).find(match);
        if (found) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`daemon exited before the line came; stderr: ${stderr}\nlast lines: ${tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${tail()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const tail = (): string =>
    lines
      .slice(-8)
      .map((l) => JSON.stringify(l))
      .join('\n');

  return {
    pid: child.pid!,
    child,
    lines,
    waitForLine,
    async metricsBase() {
      const start = await waitForLine((l) => l.msg === 'starting', 10_000);
      return String(start.metrics).replace(/\/metrics$/, '');
    },
    threads: () => readdirSync(`/proc/${child.pid}/task`).length,
    exited,
    async stop(signal, timeoutMs) {
      const started = performance.now();
      child.kill(signal);
      const exit = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
      return exit && { ...exit, ms: performance.now() - started };
    },
    kill: () => void child.kill('SIGKILL'),
    stderr: () => stderr,
  };
}

/**
 * A config for tests on faultfs mounts: 1 s schedule, 1 s probe timeout, recovery that unmounts
 * faultfs mounts, metrics on a free loopback port, debug logs on stdout only (unless `logFile`),
 * no incident state (unless `stateFile`: tests run side by side, and must not resume each other's).
 */
export function configYaml(mounts: string[], extra: { recovery?: string; logFile?: string; stateFile?: string } = {}): string {
  return [
    'mounts:',
    ...mounts.map((m) => `  - path: ${m}`),
    'schedule: "* * * * * *"',
    'probe:',
    '  timeout: 1s',
    'recovery:',
    extra.recovery ??
      [
        '  command: [umount, -a, -t, fuse.faultfs]',
        '  timeout: 2s',
        '  escalation: [[umount, -f], [umount, -l]]',
        '  cooldown: 1s',
        '  max_backoff: 10s',
      ].join('\n'),
    'metrics:',
    '  listen: "127.0.0.1:0"',
    'log:',
    '  level: debug',
    `  file: "${extra.logFile ?? ''}"`,
    'state:',
    `  file: "${extra.stateFile ?? ''}"`,
    '',
  ].join('\n');
}

/** A process that holds the mount as Airflow does: its cwd there and a file open. */
export function holdMount(dir: string, file: string): ChildProcess {
  return spawn('sh', ['-c', 'exec 3<"$1"; exec sleep 600', 'sh', file], { cwd: dir, stdio: 'ignore' });
}

/** Whether a holdMount process holds the mount within 5 s: once its shell has exec'd sleep, the file open and the cwd set. */
export function holding(holder: ChildProcess): Promise<boolean> {
  const comm = (): string => {
    try {
      return readFileSync(`/proc/${holder.pid}/comm`, 'utf8');
    } catch {
      return '';
    }
  };
  return waitFor(() => comm() === 'sleep\n', 5_000);
}

/** Matches a log line by message, and mount and result when given. */
export const is =
  (msg: string, mount?: string, result?: string) =>
  (l: LogLine): boolean =>
    l.msg === msg && (mount === undefined || l.mount === mount) && (result === undefined || l.result === result);

/** Two fresh faultfs mounts and a temp dir: the stage of the daemon's integration tests. */
export interface TwoMounts {
  dir: string;
  a: FaultMount;
  b: FaultMount;
}

export async function setUpTwoMounts(prefix: string): Promise<TwoMounts> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, a: await mountFaultfs(), b: await mountFaultfs() };
}

/**
 * Ends the daemon and the holders, removes the mounts and the dir. The daemon is killed first but
 * awaited last: with a probe stuck in an uninterruptible hang it can only die once the mounts go.
 * Resolves whether it had died within 5 s.
 */
export async function tearDownTwoMounts(stage: TwoMounts, daemon: RunningDaemon | undefined, holders: ChildProcess[]): Promise<boolean> {
  daemon?.kill();
  for (const h of holders) h.kill('SIGKILL');
  await Promise.all([stage.a.cleanup(), stage.b.cleanup()]);
  const died = daemon ? (await Promise.race([daemon.exited, new Promise((r) => setTimeout(() => r('alive'), 5000))])) !== 'alive' : true;
  rmSync(stage.dir, { recursive: true, force: true });
  return died;
}
