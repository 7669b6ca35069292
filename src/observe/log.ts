// pino JSON lines: always on stdout, where journald collects them, and in a file when configured.
// Every write is synchronous (fs.writeSync), so no log line ever waits for libuv's thread pool,
// which hung calls elsewhere could exhaust.
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LogConfig, LogLevel } from '../config/types.js';
import { StartupError } from '../startup-error.js';
import { LogFile } from './log-file.js';

export type { Logger };

function options(level: LogLevel): LoggerOptions {
  return {
    level,
    base: { pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    // "level":"warn" reads better in journalctl and jq than pino's numbers.
    formatters: { level: (label) => ({ level: label }) },
  };
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(options(level), destination ?? pino.destination({ fd: 1, sync: true }));
}

export interface Logging {
  log: Logger;
  /** Reopens the log file (SIGHUP from logrotate); says on the log what happened. */
  reopen(): void;
}

export function createLogging(cfg: LogConfig, stdout: DestinationStream = pino.destination({ fd: 1, sync: true })): Logging {
  if (cfg.file === null) {
    const log = pino(options(cfg.level), stdout);
    return { log, reopen: () => log.info({ signal: 'SIGHUP' }, 'no log file to reopen') };
  }
  // Trouble with the file itself is told on stdout only: the file is what is failing.
  const stdoutOnly = pino(options(cfg.level), stdout);
  let file: LogFile;
  try {
    file = new LogFile(cfg.file, {
      failed: (err) =>
        stdoutOnly.error(
          { file: cfg.file, error: err.message, code: err.code },
          'log file write failed; logging to stdout only until it works again',
        ),
      resumed: (lost) => stdoutOnly.warn({ file: cfg.file, lost_lines: lost }, 'log file writable again'),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StartupError(`log.file: cannot open ${cfg.file}: ${e.code ?? e.message}`);
  }
  const log = pino(
    options(cfg.level),
    pino.multistream([
      { stream: stdout, level: 'trace' },
      { stream: file, level: 'trace' },
    ]),
  );
  return {
    log,
    reopen() {
      try {
        file.reopen();
        log.info({ file: cfg.file, signal: 'SIGHUP' }, 'log file reopened');
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        log.error({ file: cfg.file, error: e.message, code: e.code }, 'log file reopen failed; still writing the old file');
      }
    },
  };
}
