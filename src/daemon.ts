// The daemon's life: from wired parts (src/wire.ts) to serving, and back to stopped. Every value
// the parts are judged by (the schedule's interval for /healthz) is computed before anything is
// served; start and stop take no process-wide action, so a test runs them in-process on a
// hand-moved clock. runDaemon adds what belongs to the process: signals, and its exit.
import { systemClock, type Clock } from './clock.js';
import type { Config, LoadedConfig } from './config/types.js';
import type { Controller } from './controller/controller.js';
import { controllerConfig } from './controller/state.js';
import type { PolicyConfig } from './controller/policy.js';
import { KernelWatch } from './kernel/watch.js';
import { SERVER_CHECK_TIMEOUT_MS, ServerWatch } from './server/watch.js';
import { createStalledReset } from './server/reset-stalled.js';
import { loopHealth, type Health } from './observe/health.js';
import { formatListen, startHttpServer, type HttpServer } from './observe/http.js';
import { createLogging, type Logger, type Logging } from './observe/log.js';
import { createHolderLogSink, createLogSink } from './observe/log-sink.js';
import { createMetrics, type Metrics } from './observe/metrics.js';
import { createStatusBoard, type StatusBoard, type StatusDoc } from './observe/status-board.js';
import type * as WebConfigModule from './observe/web-config.js';
import type { WebSettings } from './observe/web-config.js';
import { fanOut, fanOutHolders } from './observe/sink.js';
import { packageVersion } from './package-info.js';
import type { ProbeResult } from './probe/probe-mounts.js';
import { scheduleIntervalMs, startSchedule, type Schedule } from './schedule.js';
import { createNotifier } from './systemd-notify.js';
import { realEffects, wire, type Effects } from './wire.js';
import { IncidentKeeper } from './state/keeper.js';
import { inIncident, resume, snapshot } from './state/resume.js';
import type { HolderWatch } from './holders/watch.js';
import type { MountEntry } from './probe/mountinfo.js';

/** How long shutdown waits for a cycle or recovery step in progress before leaving anyway. */
const STOP_GRACE_MS = 2000;

export interface DaemonIo {
  logging: Logging;
  version: string;
  /** The environment systemd gave the process (NOTIFY_SOCKET, WATCHDOG_USEC). */
  env: NodeJS.ProcessEnv;
  pid: number;
}

export interface Daemon {
  /**
   * Binds /metrics (a port in use rejects with a StartupError, nothing started), logs `starting`,
   * runs the first cycle and starts the schedule, and tells systemd it is ready.
   */
  start(): Promise<void>;
  /** Stops the schedule, the controller and the server; resolves with the calls still blocked in the kernel. */
  stop(signal: NodeJS.Signals): Promise<number>;
  health(): Health;
  readonly controller: Controller;
  readonly metrics: Metrics | undefined;
  /** What GET /status serves: the daemon's memory of mounts, recoveries, holders and events. */
  readonly board: StatusBoard;
  /** Where /metrics listens, once started; undefined when metrics are off. */
  http(): HttpServer | undefined;
  /**
   * Reads metrics.web_config_file again (SIGHUP) and serves new connections with it; a bad file is
   * one error line, and the settings in force stay.
   */
  reloadWebConfig(): Promise<void>;
}

/** `config` has its mount paths resolved already (see runDaemon); `sources` are the files read. */
export function createDaemon(loaded: LoadedConfig, effects: Effects, io: DaemonIo): Daemon {
  const { config } = loaded;
  const { clock } = effects;
  const { log } = io.logging;
  const paths = config.mounts.map((m) => m.path);
  const metrics = config.metrics.enabled
    ? createMetrics({
        version: io.version,
        paths,
        probeTimeoutMs: config.probe.timeoutMs,
        clock,
        holders: config.holders.enabled,
        kernelEvidence: config.evidence.enabled,
        autofsReloads: config.servers.watch && config.servers.autofsReload.length > 0,
      })
    : undefined;
  const board = createStatusBoard({ clock, paths, daemon: { version: io.version, pid: io.pid, schedule: config.schedule } });
  // The incident state: resumed at start, then written at each change (src/state/).
  const bootId = config.state.file === null ? '' : effects.bootId();
  const keeper = config.state.file === null ? undefined : new IncidentKeeper(effects.stateFile(config.state.file), bootId, log);
  let keeping = false; // not before the file is read: the first write would replace what it holds
  const keep = (): void => {
    if (!keeper || !keeping) return;
    keeper.save(snapshot(controller.incident(), parts.holders?.incident(), bootId, { now: clock.now(), wallNow: clock.wallNow() }));
  };
  const parts = wire(config, effects, {
    role: 'daemon',
    holderSink: fanOutHolders([createHolderLogSink(log), ...(metrics ? [metrics.holderSink] : []), board.holderSink]),
    // The controller decides whether a call that came back late was a hang or a slow mount.
    onReleased: (call) => controller.released(call),
    onIncidentChange: keep,
  });
  // Where autofs' mounts are reached from, said when it changes (at the first check, and when the
  // automount daemon is restarted into another namespace).
  let said: string | undefined;
  const netnsOf = (from: 'autofs' | 'self'): string | null => {
    if (from === 'self') return null;
    const { netns, why } = effects.autofsNetns(paths);
    if (said !== (netns ?? '')) {
      said = netns ?? '';
      log.info({ netns: netns ?? 'own', why }, "server checks: autofs' mounts are reached from this network namespace");
    }
    return netns;
  };
  const sr = config.servers;
  const servers = sr.watch
    ? new ServerWatch({
        clock,
        check: effects.checkServer,
        intervalMs: sr.checkIntervalMs,
        timeoutMs: Math.min(SERVER_CHECK_TIMEOUT_MS, sr.checkIntervalMs),
        netns: netnsOf,
        onReport: (r) => controller.server(r),
      })
    : undefined;
  const controller = parts.controller(
    fanOut([createLogSink(log, clock), ...(metrics ? [metrics.sink] : []), board.sink]),
    false,
    servers
      ? {
          watch: (list) => servers.watch(list),
          mapServers: effects.mapServers(paths),
          resetStalled: createStalledReset({ run: effects.runner({ launcher: 'node' }), netns: netnsOf }),
        }
      : undefined,
  );
  metrics?.watchPool(() => parts.prober.threads());
  const kernel = config.evidence.enabled
    ? new KernelWatch({
        clock,
        paths,
        intervalMs: config.evidence.intervalMs,
        mountstats: effects.mountstats,
        mountinfo: effects.mountinfo,
        onEvidence: (e) => controller.evidence(e),
        log,
      })
    : undefined;
  if (kernel) metrics?.watchKernel(() => kernel.last());
  // Judged from the start by the schedule's own interval, not a placeholder until it runs.
  const intervalMs = scheduleIntervalMs(config.schedule, clock.wallNow());
  const notifier = createNotifier({ env: io.env, pid: io.pid, run: effects.runner({ launcher: 'node' }), clock, log });

  const webConfigFile = config.metrics.webConfigFile;
  let reloading = Promise.resolve();
  let startedAt = clock.now();
  let stopping = false;
  let http: HttpServer | undefined;
  let schedule: Schedule | undefined;
  const health = (): Health =>
    loopHealth({
      now: clock.now(),
      startedAt,
      lastCycleAt: controller.lastScheduledCycleAt,
      intervalMs,
      probeTimeoutMs: config.probe.timeoutMs,
      stopping,
    });

  return {
    controller,
    metrics,
    board,
    health,
    http: () => http,
    async start() {
      // Bound before anything is scheduled: a port in use or a bad web config stops the start with one line.
      let webFields: Record<string, unknown> = {};
      if (metrics) {
        const status = (): StatusDoc => board.snapshot();
        let web: WebSettings | undefined;
        if (webConfigFile !== null) {
          const webConfig = await loadWebConfig();
          web = webConfig.readWebConfig(webConfigFile);
          webFields = webConfig.webSummary(web);
        }
        http = await startHttpServer({
          listen: config.metrics.listen,
          registry: metrics.registry,
          health,
          status,
          version: io.version,
          web,
        });
      }
      startedAt = clock.now();
      log.info({ ...startingFields(loaded, io.version, http), ...webFields }, 'starting');
      const resumed = keeper
        ? resumeIncident(keeper, {
            controller,
            holders: parts.holders,
            paths,
            table: effects.table(),
            policy: controllerConfig(config).policy,
            clock,
            log,
            board,
          })
        : false;
      keeping = true;
      // Nothing known of an earlier process: who is still on a mount it may have detached is looked for.
      if (!resumed) parts.holders?.lookForOrphans();
      schedule = startSchedule({ expression: config.schedule, jitterMs: config.jitterMs, tick: () => void controller.tick(), clock, log });
      void controller.start();
      kernel?.start();

      // Serving (port bound, first cycle under way): tell systemd, and keep its watchdog fed while
      // the loop is alive.
      notifier.ready(`probing ${paths.length} mount(s)`);
      notifier.startWatchdog(() => {
        const h = health();
        return h.ok ? { ok: true, status: statusLine(controller.results(), paths.length) } : { ok: false, status: h.reason };
      });
    },
    reloadWebConfig() {
      const server = http;
      if (!server || webConfigFile === null) return Promise.resolve();
      // One after another: two quick SIGHUPs must not rebind the port at the same time.
      reloading = reloading.then(async () => {
        const webConfig = await loadWebConfig();
        try {
          const web = webConfig.readWebConfig(webConfigFile);
          await server.applyWeb(web);
          log.info(webConfig.webSummary(web), 'web config reloaded: new connections get it');
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          log.error({ web_config: webConfigFile, error }, 'web config not reloaded: the settings in force are kept');
        }
      });
      return reloading;
    },
    async stop(signal) {
      stopping = true;
      log.info({ signal }, 'stopping');
      const told = notifier.stopping();
      schedule?.stop();
      controller.stop();
      kernel?.stop();
      servers?.stop();
      effects.checkServer.close?.();
      parts.holders?.stop();
      http?.close();
      await within(clock, STOP_GRACE_MS, Promise.all([controller.idle(), parts.holders?.idle(), told]));
      parts.close();
      return parts.blocked();
    },
  };
}

/** What the last process left, checked against the machine now, handed to the parts and said in one line. */
function resumeIncident(
  keeper: IncidentKeeper,
  to: {
    controller: Controller;
    holders: HolderWatch | undefined;
    paths: readonly string[];
    table: readonly MountEntry[];
    policy: PolicyConfig;
    clock: Clock;
    log: Logger;
    board: StatusBoard;
  },
): boolean {
  const loaded = keeper.load();
  if (loaded.kind !== 'ok') return false;
  const { clock } = to;
  const r = resume(loaded.state, { paths: to.paths, table: to.table, policy: to.policy }, { now: clock.now(), wallNow: clock.wallNow() });
  to.controller.restore(r.controller);
  to.holders?.restore(r.holders);
  const waiting = [...r.controller.health].filter(([, h]) => inIncident(h, clock.now()));
  const { formers } = r.holders;
  if (waiting.length + formers.length + r.controller.putBack.length + r.dropped.length === 0) return true; // no incident was under way
  const failingSince = new Map(waiting.flatMap(([path, h]) => (h.failingSince === null ? [] : [[path, h.failingSince] as const])));
  to.board.resumed(keeper.path, r.controller.putBack, failingSince);
  to.log.info(
    {
      file: keeper.path,
      paths: waiting.map(([path, h]) => ({
        mount: path,
        result: h.result,
        failed_recoveries: h.failedRecoveries,
        wait: h.wait,
        wait_ms: Math.max(0, Math.round(h.nextRecoveryAt - clock.now())),
      })),
      detached: formers.map((f) => ({ mount: f.path, mount_id: f.mountId, dev: f.dev, batch: f.batch })),
      put_back: r.controller.putBack.map((p) => p.mountPoint),
      units_restarted: r.holders.restarted.map((k) => k.unit),
      recovery_cut_short: r.cutShort.length > 0 ? r.cutShort : undefined,
      dropped: r.dropped,
    },
    'incident state resumed',
  );
  return true;
}

/** The web config's parser, loaded only for a daemon that has one (it brings node:crypto). */
const loadWebConfig = (): Promise<typeof WebConfigModule> => import('./observe/web-config.js');

/** The `starting` line: what runs, from which files, serving where. */
function startingFields(loaded: LoadedConfig, version: string, http: HttpServer | undefined): Record<string, unknown> {
  const { config } = loaded;
  return {
    version,
    node: process.version,
    config: loaded.sources,
    mounts: config.mounts.map((m) => m.path),
    schedule: config.schedule,
    probe_timeout_ms: config.probe.timeoutMs,
    recovery: config.recovery.enabled ? (config.recovery.dryRun ? 'dry_run' : 'enabled') : 'disabled',
    metrics: http ? `${http.scheme()}://${formatListen(http.address)}/metrics` : 'disabled',
    log_file: config.log.file,
    kernel_evidence: config.evidence.enabled ? `every ${config.evidence.intervalMs} ms` : 'disabled',
  };
}

/** `systemctl status`'s line: the failing paths, or how many are ok. */
function statusLine(results: readonly ProbeResult[], pathCount: number): string {
  // Before the first round has results, say so rather than "0 mount(s) ok".
  if (results.length === 0) return `probing ${pathCount} mount(s): first round under way`;
  const bad = results.filter((r) => r.result !== 'ok');
  if (bad.length === 0) return `${results.length} mount(s) ok`;
  return bad.map((r) => `${r.path}: ${r.result}`).join(', ');
}

/** Waits for `work`, or `ms` on the clock, whichever comes first; leaves no timer behind. */
async function within(clock: Clock, ms: number, work: Promise<unknown>): Promise<void> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const timeout = new Promise<void>((resolve) => (timer = clock.setTimeout(resolve, ms)));
  await Promise.race([work, timeout]);
  if (timer) clock.clearTimeout(timer);
}

/** Starts the daemon; rejects with a StartupError (before anything runs) when it cannot. */
export async function runDaemon(loaded: LoadedConfig): Promise<void> {
  const clock = systemClock;
  const logging = createLogging(loaded.config.log);
  const log = logging.log;
  const effects = realEffects('daemon', clock);
  const config = await withMountPoints(loaded.config, effects, log);
  const daemon = createDaemon({ config, sources: loaded.sources }, effects, {
    logging,
    version: packageVersion(),
    env: process.env,
    pid: process.pid,
  });
  await daemon.start();

  let stopping = false;
  const stop = async (signal: NodeJS.Signals, exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    leave(log, await daemon.stop(signal), signal, exitCode);
  };
  process.on('SIGTERM', () => void stop('SIGTERM', 0));
  process.on('SIGINT', () => void stop('SIGINT', 0));
  // logrotate renames the file and sends SIGHUP (whose default action would end the daemon); the
  // same signal (systemctl reload) re-reads the web config, once the log goes to the new file.
  process.on('SIGHUP', () => {
    logging.reopen();
    void daemon.reloadWebConfig();
  });
  const crash = (err: unknown): void => {
    log.fatal({ err }, 'internal error');
    void stop('SIGTERM', 70);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

/** The config with each configured symbolic link replaced by the mount point it names, logged. */
async function withMountPoints(config: Config, effects: Effects, log: Logger): Promise<Config> {
  const found = await effects.resolveMounts(config);
  for (const r of found.resolved) {
    log.info(
      { configured: r.configured, mount: r.path, links: r.links },
      'mount path is a symbolic link: probing the mount point it names',
    );
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
