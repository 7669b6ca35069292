// The composition root: builds the real parts from the config once, runs the first cycle at once
// and then on schedule, and owns stopping. Nothing else creates workers, timers or processes.
import { systemClock, sleep } from './clock.js';
import type { LoadedConfig } from './config/types.js';
import { Monitor } from './monitor.js';
import { createLogger, type Logger } from './observe/log.js';
import { createLogSink } from './observe/log-sink.js';
import { packageVersion } from './package-info.js';
import { readMountTable } from './probe/mountinfo.js';
import { createProbeMounts } from './probe/probe-mounts.js';
import { Prober } from './probe/prober.js';
import { spawnThreadWorker } from './probe/worker.js';
import { createRunner } from './recovery/runner.js';
import { startSchedule } from './schedule.js';

/** How long shutdown waits for a cycle or recovery step in progress before leaving anyway. */
const STOP_GRACE_MS = 2000;

export function runDaemon(loaded: LoadedConfig): void {
  const { config } = loaded;
  const clock = systemClock;
  const log = createLogger(config.log.level);
  const sink = createLogSink(log, clock);
  const prober = new Prober({
    timeoutMs: config.probe.timeoutMs,
    maxStuck: config.probe.maxStuckPerMount,
    spawn: spawnThreadWorker,
    clock,
    onReleased: (call) => sink.released(call),
  });
  const monitor = new Monitor({
    config,
    clock,
    probe: createProbeMounts(prober, readMountTable),
    run: createRunner(clock),
    table: readMountTable,
    sink,
  });

  log.info(
    {
      version: packageVersion(),
      node: process.version,
      config: loaded.sources,
      mounts: config.mounts.map((m) => m.path),
      schedule: config.schedule,
      probe_timeout_ms: config.probe.timeoutMs,
      recovery: config.recovery.enabled ? (config.recovery.dryRun ? 'dry_run' : 'enabled') : 'disabled',
    },
    'starting',
  );

  const schedule = startSchedule({
    expression: config.schedule,
    jitterMs: config.jitterMs,
    tick: () => void monitor.tick(),
    clock,
    log,
  });
  void monitor.tick();

  let stopping = false;
  const stop = async (signal: NodeJS.Signals, exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    schedule.stop();
    await Promise.race([monitor.idle(), sleep(clock, STOP_GRACE_MS)]);
    prober.close();
    leave(log, prober.busyTotal(), signal, exitCode);
  };

  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  // SIGHUP's default action would end the daemon; logrotate-style signals must not.
  process.on('SIGHUP', () => log.info({ signal: 'SIGHUP' }, 'SIGHUP ignored: no log file to reopen'));
  const crash = (err: unknown): void => {
    log.fatal({ err }, 'internal error');
    void stop('SIGTERM', 70);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

/**
 * Ends the process. Node's exit joins every worker thread, and a thread blocked in the kernel on
 * a hung mount never joins — so with calls still blocked the process ends by the signal's default
 * action instead, which the kernel carries out at once for killable waits (as NFS's are).
 */
function leave(log: Logger, blocked: number, signal: NodeJS.Signals, exitCode: number): void {
  log.info({ blocked_probes: blocked, exit: blocked > 0 ? signal : exitCode }, 'stopped');
  if (blocked === 0) process.exit(exitCode);
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}
