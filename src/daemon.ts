// The composition root: builds the real parts from the config once, runs the first cycle at once
// and then on schedule, and owns reopening and stopping. Nothing else creates workers, timers,
// servers or processes.
import { systemClock, sleep, type Clock } from './clock.js';
import type { Config, LoadedConfig } from './config/types.js';
import { formatListen } from './observe/http.js';
import { realProc } from './holders/proc.js';
import { unitOf } from './holders/scan.js';
import { createThreadScanner } from './holders/scanner.js';
import { HolderWatch } from './holders/watch.js';
import { Monitor } from './monitor.js';
import { automountRunning } from './probe/autofs-status.js';
import { loopHealth, type Health } from './observe/health.js';
import { startHttpServer, type HttpServer } from './observe/http.js';
import { createLogging, type Logger } from './observe/log.js';
import { createHolderLogSink, createLogSink } from './observe/log-sink.js';
import { createMetrics } from './observe/metrics.js';
import { fanOut, fanOutHolders } from './observe/sink.js';
import { packageVersion } from './package-info.js';
import { readMountTable } from './probe/mountinfo.js';
import { resolveMountPaths } from './probe/mount-paths.js';
import { createProbeMounts } from './probe/probe-mounts.js';
import { Prober, poolOptions } from './probe/prober.js';
import { spawnThreadWorker } from './probe/worker.js';
import { fstabReader } from './recovery/fstab.js';
import { createRunner } from './exec/runner.js';
import { startSchedule } from './schedule.js';
import { createNotifier } from './systemd-notify.js';

/** How long shutdown waits for a cycle or recovery step in progress before leaving anyway. */
const STOP_GRACE_MS = 2000;

/** Starts the daemon; rejects with a StartupError (before anything runs) when it cannot. */
export async function runDaemon(loaded: LoadedConfig): Promise<void> {
  const clock = systemClock;
  const version = packageVersion();
  const logging = createLogging(loaded.config.log);
  const log = logging.log;
  const config = await withMountPoints(loaded.config, clock, log);
  const paths = config.mounts.map((m) => m.path);
  const metrics = config.metrics.enabled
    ? createMetrics({ version, mounts: paths, probeTimeoutMs: config.probe.timeoutMs, clock, holders: config.holders.enabled })
    : undefined;
  const sink = fanOut([createLogSink(log, clock), ...(metrics ? [metrics.sink] : [])]);
  const prober = new Prober({
    timeoutMs: config.probe.timeoutMs,
    maxStuck: config.probe.maxStuckPerMount,
    pool: poolOptions(config.probe),
    spawn: spawnThreadWorker,
    clock,
    // The monitor decides whether a call that came back late was a hang or a slow mount.
    onReleased: (call) => monitor.released(call),
  });
  metrics?.watchPool(() => prober.threads());
  const scanner = config.holders.enabled ? createThreadScanner({ timeoutMs: config.holders.scanTimeoutMs, clock }) : undefined;
  const holders = scanner
    ? new HolderWatch({
        config: config.holders,
        dryRun: config.recovery.dryRun,
        paths,
        scan: scanner.scan,
        table: readMountTable,
        run: createRunner(clock),
        clock,
        sink: fanOutHolders([createHolderLogSink(log), ...(metrics ? [metrics.holderSink] : [])]),
        selfPid: process.pid,
        ownUnit: unitOf(realProc().read(process.pid, 'cgroup')),
      })
    : undefined;
  const monitor = new Monitor({
    config,
    clock,
    probe: createProbeMounts(prober, readMountTable, clock),
    run: createRunner(clock, { mountNamespace: config.recovery.mountNamespace }),
    table: readMountTable,
    fstab: fstabReader(config.recovery.mountNamespace),
    sink,
    autofsRunning: () => automountRunning(readMountTable()),
    ...(holders ? { holders } : {}),
  });

  let stopping = false;
  const startedAt = clock.now();
  let intervalMs = 30_000;
  const health = (): Health =>
    loopHealth({ now: clock.now(), startedAt, lastCycleAt: monitor.lastScheduledCycleAt, intervalMs, probeTimeoutMs: config.probe.timeoutMs, stopping });

  // Bound before anything is scheduled: a port in use stops the start with one line.
  let http: HttpServer | undefined;
  if (metrics) {
    http = await startHttpServer({ listen: config.metrics.listen, registry: metrics.registry, health, version });
  }

  log.info(
    {
      version,
      node: process.version,
      config: loaded.sources,
      mounts: paths,
      schedule: config.schedule,
      probe_timeout_ms: config.probe.timeoutMs,
      recovery: config.recovery.enabled ? (config.recovery.dryRun ? 'dry_run' : 'enabled') : 'disabled',
      metrics: http ? `http://${formatListen(http.address)}/metrics` : 'disabled',
      log_file: config.log.file,
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
  intervalMs = schedule.intervalMs;
  void monitor.start();

  // Serving (port bound, first cycle under way): tell systemd, and keep its watchdog fed while
  // the loop is alive.
  // Node's own spawn, not execa: the watchdog pings for the life of the process (see Launcher).
  const notifier = createNotifier({ env: process.env, pid: process.pid, run: createRunner(clock, { launcher: 'node' }), clock, log });
  notifier.ready(`probing ${paths.length} mount(s)`);
  notifier.startWatchdog(() => {
    const h = health();
    if (!h.ok) return { ok: false, status: h.reason };
    const results = monitor.results();
    const bad = results.filter((r) => r.result !== 'ok');
    // Before the first round has results, say so rather than "0 mount(s) ok".
    const status =
      results.length === 0 ? `probing ${paths.length} mount(s): first round under way`
      : bad.length === 0 ? `${results.length} mount(s) ok`
      : bad.map((r) => `${r.mount}: ${r.result}`).join(', ');
    return { ok: true, status };
  });

  const stop = async (signal: NodeJS.Signals, exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const told = notifier.stopping();
    schedule.stop();
    monitor.stop();
    holders?.stop();
    http?.close();
    await Promise.race([Promise.all([monitor.idle(), holders?.idle(), told]), sleep(clock, STOP_GRACE_MS)]);
    prober.close();
    scanner?.close();
    leave(log, prober.busyTotal() + (scanner?.stuck() ?? 0), signal, exitCode);
  };

  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  // logrotate renames the file and sends SIGHUP (whose default action would end the daemon).
  process.on('SIGHUP', () => logging.reopen());
  const crash = (err: unknown): void => {
    log.fatal({ err }, 'internal error');
    void stop('SIGTERM', 70);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

/** The config with each configured symbolic link replaced by the mount point it names, logged. */
async function withMountPoints(config: Config, clock: Clock, log: Logger): Promise<Config> {
  const found = await resolveMountPaths(config, clock);
  for (const r of found.resolved) {
    log.info({ configured: r.configured, mount: r.mount, links: r.links }, 'mount path is a symbolic link: probing the mount point it names');
  }
  for (const u of found.unresolved) {
    log.warn({ configured: u.configured, reason: u.why }, 'mount path not resolved: probed as configured');
  }
  return { ...config, mounts: found.paths.map((path) => ({ path })) };
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
