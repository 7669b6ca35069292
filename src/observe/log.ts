// pino JSON lines on stdout, where journald collects them. Writes are synchronous (fs.writeSync on
// fd 1), so they never wait for libuv's thread pool, which hung calls elsewhere could exhaust.
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/types.js';

export type { Logger };

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      // "level":"warn" reads better in journalctl and jq than pino's numbers.
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
