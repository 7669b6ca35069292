// Prometheus metrics, kept up to date as the controller reports (a sink): a scrape only serialises
// what is already here — it never touches a mount and never waits on a probe. Probe-derived
// values are as of the last cycle.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues, type Metric } from 'prom-client';
import type { Clock } from '../clock.js';
import { EVIDENCE_KINDS } from '../kernel/evidence.js';
import type { NfsMountStats, OpStats } from '../kernel/mountstats.js';
import type { RecoveryResult } from '../recovery/procedure.js';
import type { HolderSink, ControllerSink } from './sink.js';

export interface MetricsOptions {
  version: string;
  /** Every configured path: the `mount` label's values. */
  paths: readonly string[];
  probeTimeoutMs: number;
  clock: Clock;
  /** holders.enabled: without a scan, the holder series stay absent rather than a false 0. */
  holders?: boolean;
  /** Whether the kernel's evidence probes early: without it, no evidence series pretend none came. Default false. */
  kernelEvidence?: boolean;
  /** Whether autofs is reloaded when a server answers again: without it, no reload series read 0. Default false. */
  autofsReloads?: boolean;
}

const RECOVERY_RESULTS: readonly RecoveryResult[] = ['success', 'failed', 'timeout', 'dry_run'];
const PROBE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const RECOVERY_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];
const SCAN_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LAST_CYCLE = ' (as of the last probe cycle)';
const EVENT_LOOP_SAMPLE_MS = 5000;
const DEFAULT_PREFIX = 'nfs_health_checkd_';
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Probe latency buckets from 1 ms up to the probe timeout (which ends the last one). */
export function probeBuckets(timeoutMs: number): number[] {
  const timeout = timeoutMs / 1000;
  return [...PROBE_BUCKETS.filter((b) => b < timeout), timeout];
}

/** The probe pool's threads by state, read at each scrape. */
export interface PoolThreads {
  idle: number;
  busy: number;
  stuck: number;
}

export interface Metrics {
  registry: Registry;
  sink: ControllerSink;
  holderSink: HolderSink;
  /** Where the probe-thread gauge reads from (the prober is made after the metrics). */
  watchPool(read: () => PoolThreads): void;
  /**
   * Where the NFS client counters are read from at each scrape: the last parse of
   * /proc/self/mountstats per configured path (a path with no NFS mount is absent).
   */
  watchKernel(read: () => ReadonlyMap<string, NfsMountStats>): void;
}

// Made unregistered: createMetrics registers them, in the order of the /metrics text.
function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [] });
}

function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [] });
}

function histogram<L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets, registers: [] });
}

/** Each probe's result and latency, and what it saw of the mount: mounted, stuck, last good. */
function probeMetrics(opts: MetricsOptions) {
  const accessible = gauge('nfs_mount_accessible', `1 if the last probe of the mount succeeded, else 0${LAST_CYCLE}.`, ['mount']);
  const probes = counter(
    'nfs_mount_probes_total',
    'Probes by mount and result: ok, timeout, unmounted, automount_failed, or the errno name (ESTALE, EIO, ...).',
    ['mount', 'result'],
  );
  const duration = histogram(
    'nfs_mount_probe_duration_seconds',
    'Time a probe took, up to the probe timeout (probes skipped because an earlier call is still blocked are not observed).',
    probeBuckets(opts.probeTimeoutMs),
    ['mount'],
  );
  const stuck = gauge('nfs_mount_probe_stuck', '1 while a probe of the mount is blocked in the kernel past its timeout.', ['mount']);
  const mounted = gauge('nfs_mount_mounted', `1 if the path is a mount point (from /proc/self/mountinfo)${LAST_CYCLE}.`, ['mount']);
  const lastSuccess = gauge('nfs_mount_last_success_timestamp_seconds', 'Unix time of the last successful probe of the mount.', ['mount']);
  for (const path of opts.paths) stuck.set({ mount: path }, 0);

  const sink: Pick<ControllerSink, 'probed' | 'released'> = {
    probed(results) {
      for (const r of results) {
        const labels = { mount: r.path };
        probes.inc({ ...labels, result: r.result });
        if (!r.skipped) duration.observe(labels, r.ms / 1000);
        accessible.set(labels, r.result === 'ok' ? 1 : 0);
        stuck.set(labels, r.stuck ? 1 : 0);
        mounted.set(labels, r.mounted ? 1 : 0);
        if (r.result === 'ok') lastSuccess.set(labels, opts.clock.wallNow() / 1000);
      }
    },
    released(call) {
      stuck.set({ mount: call.path }, call.stillStuck > 0 ? 1 : 0);
    },
  };
  return { accessible, probes, duration, stuck, mounted, lastSuccess, sink };
}

/** Recoveries by outcome, their commands by step, and each mount's time to recover. */
function recoveryMetrics(paths: readonly string[]) {
  const recoveries = counter(
    'nfs_health_check_recoveries_total',
    'Recoveries by outcome: success (healthy afterwards; recovery_steps_total says whether escalation ' +
      'was needed), failed and timeout (still failing), dry_run.',
    ['result'],
  );
  const steps = counter(
    'nfs_health_check_recovery_steps_total',
    'Recovery commands run, by step (command, escalation, remount) and status (ok, failed, timeout, spawn_error).',
    ['step', 'status'],
  );
  const duration = histogram(
    'nfs_recovery_duration_seconds',
    'Time to recover, per mount: its first failed probe to its first good probe after a recovery.',
    RECOVERY_BUCKETS,
    ['mount'],
  );
  // Zero series from the start, so rate() and increase() see the first event.
  for (const result of RECOVERY_RESULTS) recoveries.inc({ result }, 0);
  for (const path of paths) duration.zero({ mount: path });

  /** Paths a recovery was run for since they started failing: their comeback is time-to-recover. */
  const recovering = new Set<string>();
  const sink: Pick<ControllerSink, 'health' | 'recoveryStarted' | 'step' | 'recoveryFinished'> = {
    health(event) {
      if (event.kind !== 'recovered' || !recovering.delete(event.path)) return;
      duration.observe({ mount: event.path }, event.downMs / 1000);
    },
    recoveryStarted(targets) {
      for (const t of targets) recovering.add(t.path);
    },
    step(step) {
      steps.inc({ step: step.kind, status: step.outcome.status });
    },
    recoveryFinished(report) {
      recoveries.inc({ result: report.result });
    },
  };
  return { recoveries, steps, duration, sink };
}

/** Static mounts a recovery's commands took away, and whether they were mounted again. */
function collateralMetrics() {
  const collateral = counter(
    'nfs_health_check_collateral_unmounts_total',
    "NFS mounts not under autofs (static fstab mounts) that a recovery's commands took away, by mount " +
      'and the outcome of mounting them again: remounted, failed, timeout, spawn_error.',
    ['mount', 'outcome'],
  );
  const sink: Pick<ControllerSink, 'collateral'> = {
    collateral(report) {
      collateral.inc({ mount: report.mountPoint, outcome: report.outcome });
    },
  };
  return { collateral, sink };
}

const RELOAD_RESULTS = ['ok', 'failed', 'timeout', 'spawn_error', 'dry_run'] as const;

/** autofs reloads after a server answered again, and static mounts put back then. */
function serverReturnMetrics(enabled: boolean) {
  const reloads = counter(
    'nfs_health_check_autofs_reloads_total',
    "autofs reloads run to clear its negative cache once a down mount's server answered again, by " +
      'result: ok, failed, timeout, spawn_error, dry_run.',
    ['result'],
  );
  const putBacks = counter(
    'nfs_health_check_static_mount_put_backs_total',
    'Static NFS mounts a recovery took away and could not put back, tried again once their server ' +
      'answered, by mount and outcome: remounted, already_mounted, failed, timeout, spawn_error.',
    ['mount', 'outcome'],
  );
  const resets = counter(
    'nfs_health_check_stalled_connections_reset_total',
    "The NFS client's connections to a server answering again that still waited to retransmit, by " +
      'result: ok (reset), failed (ss failed, or the kernel cannot reset them), dry_run.',
    ['result'],
  );
  if (enabled) for (const result of RELOAD_RESULTS) reloads.inc({ result }, 0);
  const sink: Pick<ControllerSink, 'autofsReloaded' | 'putBack' | 'stalledReset'> = {
    stalledReset(report) {
      if (report.result !== 'none') resets.inc({ result: report.result }, report.stalled.length);
    },
    autofsReloaded(_paths, outcome) {
      reloads.inc({ result: outcome === null ? 'dry_run' : outcome.status });
    },
    putBack(report) {
      putBacks.inc({ mount: report.mountPoint, outcome: report.outcome });
    },
  };
  return { reloads, putBacks, resets, sink };
}

/** The schedule's own health (last cycle, skipped ticks) and the automounter's, once a cycle. */
function cycleMetrics(clock: Clock) {
  const autofs = gauge('nfs_autofs_status', `1 if the autofs automounter is running, else 0${LAST_CYCLE}.`);
  const lastCycleAt = gauge(
    'nfs_health_checkd_last_cycle_timestamp_seconds',
    "Unix time the last scheduled probe cycle finished (the daemon's own wake-ups between ticks do not count).",
  );
  const skipped = counter('nfs_health_checkd_skipped_ticks_total', 'Scheduled ticks skipped because the previous cycle was still running.');

  const sink: Pick<ControllerSink, 'overlapped' | 'cycleFinished'> = {
    overlapped() {
      skipped.inc();
    },
    cycleFinished(info) {
      // Wake-ups do not count: their retries would hide a stalled schedule.
      if (info.scheduled) lastCycleAt.set(clock.wallNow() / 1000);
      if (info.autofsRunning !== null) autofs.set(info.autofsRunning ? 1 : 0);
    },
  };
  return { autofs, lastCycleAt, skipped, sink };
}

/** Holders of detached mounts, the scans of /proc that find them, and the unit restarts for them. */
function holderMetrics(paths: readonly string[], enabled: boolean) {
  const detached = gauge(
    'nfs_mount_detached_holders',
    'Processes still holding a detached former mount of this path (cwd, root, open files or mappings ' +
      'on the old server): their I/O fails until they are restarted. Rescanned every cycle (at least 5 ' +
      's apart) while non-zero.',
    ['mount'],
  );
  const restarts = counter(
    'nfs_health_check_holder_restarts_total',
    'systemctl try-restart of units whose processes held a detached mount (holders.restart_units), by ' +
      'unit and result (ok, failed, timeout, spawn_error, dry_run).',
    ['unit', 'result'],
  );
  const scans = counter(
    'nfs_health_checkd_holder_scans_total',
    'Scans of /proc for the holders of failing and detached mounts, by result (ok, timeout, unavailable).',
    ['result'],
  );
  const scanDuration = histogram(
    'nfs_health_checkd_holder_scan_duration_seconds',
    'Time a completed holder scan of /proc took.',
    SCAN_BUCKETS,
  );
  if (enabled) {
    for (const path of paths) detached.set({ mount: path }, 0);
    for (const result of ['ok', 'timeout', 'unavailable']) scans.inc({ result }, 0);
  }

  const sink: HolderSink = {
    holderSeen() {},
    holderDetached() {},
    holderGone() {},
    holdersCounted(counted) {
      for (const [path, n] of counted) detached.set({ mount: path }, n);
    },
    scanned(report) {
      scans.inc({ result: report.result });
      if (report.result === 'ok') scanDuration.observe(report.ms / 1000);
    },
    restart(report) {
      restarts.inc({ unit: report.unit, result: report.result });
    },
    restartDidNotHelp() {},
    orphanByDevice() {},
  };
  return { detached, restarts, scans, scanDuration, sink };
}

/** The probe pool's threads by state, read from the pool at each scrape. */
function poolMetrics() {
  let readPool: (() => PoolThreads) | undefined;
  const threads = new Gauge({
    name: 'nfs_health_checkd_probe_threads',
    help:
      'Probe threads by state: idle (kept in the pool), busy (a call within its timeout), stuck ' +
      '(blocked in the kernel past its timeout; it cannot be ended).',
    labelNames: ['state'],
    registers: [],
    collect() {
      if (!readPool) return;
      const now = readPool();
      for (const state of ['idle', 'busy', 'stuck'] as const) this.set({ state }, now[state]);
    },
  });
  const watchPool = (read: () => PoolThreads): void => {
    readPool = read;
  };
  return { threads, watchPool };
}

/** Early probes on the kernel's evidence: zero series from the start, only when evidence is on. */
function evidenceMetrics(paths: readonly string[], enabled: boolean) {
  const evidence = counter(
    'nfs_mount_kernel_evidence_total',
    "Early probes caused by the kernel's evidence (the NFS client's counters in /proc/self/mountstats), by mount " +
      'and kind: errors, timeouts, mount_table.',
    ['mount', 'kind'],
  );
  if (enabled) {
    for (const path of paths) for (const kind of EVIDENCE_KINDS) evidence.inc({ mount: path, kind }, 0);
  }
  const sink: Pick<ControllerSink, 'earlyProbe'> = {
    earlyProbe(e) {
      if (enabled) evidence.inc({ mount: e.path, kind: e.kind });
    },
  };
  return { evidence, sink };
}

const KERNEL = ' From /proc/self/mountstats as last read; restarts from 0 when the mount is replaced.';

/** node_exporter's node_mountstats_nfs_operations_* counters, per configured mount. */
const OPERATION_COUNTERS: ReadonlyArray<{ name: string; help: string; value: (op: OpStats) => number | null }> = [
  { name: 'nfs_mount_operations_requests_total', help: 'Number of requests completed for a given operation.', value: (op) => op.ops },
  {
    name: 'nfs_mount_operations_transmissions_total',
    help:
      'Number of times an actual RPC request has been transmitted for a given operation: requests plus ' +
      'retransmissions (retransmissions = transmissions - requests).',
    value: (op) => op.trans,
  },
  {
    name: 'nfs_mount_operations_major_timeouts_total',
    help: 'Number of times a request has had a major timeout for a given operation.',
    value: (op) => op.timeouts,
  },
  {
    name: 'nfs_mount_operations_queue_time_seconds_total',
    help: 'Duration all requests spent queued for transmission for a given operation before they were sent, in seconds.',
    value: (op) => op.queueMs / 1000,
  },
  {
    name: 'nfs_mount_operations_response_time_seconds_total',
    help: 'Duration all requests took to get a reply back after they were transmitted (round trip) for a given operation, in seconds.',
    value: (op) => op.rttMs / 1000,
  },
  {
    name: 'nfs_mount_operations_request_time_seconds_total',
    help: 'Duration all requests took from when they were enqueued to when they were completely handled for a given operation, in seconds.',
    value: (op) => op.executeMs / 1000,
  },
  {
    name: 'nfs_mount_operations_errors_total',
    help: 'Number of requests that ended in an error for a given operation (absent where the kernel does not count them).',
    value: (op) => op.errors,
  },
];

/** NFSv4 lists every operation it knows, most never used: only those used get series. */
function used(op: OpStats): boolean {
  return op.ops > 0 || (op.errors ?? 0) > 0;
}

/** The NFS client's counters per configured mount, set at each scrape from the last parse. */
function mountstatsMetrics(paths: readonly string[]) {
  let readStats: (() => ReadonlyMap<string, NfsMountStats>) | undefined;
  // Reset then set: the kernel keeps the totals, and a mount gone since the last scrape loses its series.
  const kernelCounter = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    values: (stats: NfsMountStats, set: (labels: LabelValues<L>, value: number | null) => void) => void,
  ): Counter<L> =>
    new Counter({
      name,
      help: help + KERNEL,
      labelNames,
      registers: [],
      collect() {
        this.reset();
        if (!readStats) return;
        const now = readStats();
        for (const path of paths) {
          const stats = now.get(path);
          if (stats === undefined) continue;
          values(stats, (labels, value) => {
            // One odd value must not fail the whole scrape (prom-client throws on it).
            if (value !== null && Number.isFinite(value) && value >= 0) this.inc({ mount: path, ...labels }, value);
          });
        }
      },
    });

  const operations = OPERATION_COUNTERS.map(({ name, help, value }) =>
    kernelCounter(name, help, ['mount', 'operation'], (stats, set) => {
      for (const [operation, op] of stats.ops) if (used(op)) set({ operation }, value(op));
    }),
  );
  const sends = kernelCounter(
    'nfs_mount_transport_sends_total',
    "Number of RPC requests sent to the NFS server on the mount's transport.",
    ['mount'],
    (stats, set) => set({}, stats.xprt?.sends ?? null),
  );
  const receives = kernelCounter(
    'nfs_mount_transport_receives_total',
    "Number of RPC responses received from the NFS server on the mount's transport.",
    ['mount'],
    (stats, set) => set({}, stats.xprt?.recvs ?? null),
  );
  const watchKernel = (read: () => ReadonlyMap<string, NfsMountStats>): void => {
    readStats = read;
  };
  return { operations, sends, receives, watchKernel };
}

function buildInfo(version: string): Gauge<'version' | 'node_version'> {
  const info = gauge('nfs_health_checkd_build_info', 'Version of nfs-health-checkd and of Node.js; always 1.', ['version', 'node_version']);
  info.set({ version, node_version: process.version }, 1);
  return info;
}

export function createMetrics(opts: MetricsOptions): Metrics {
  const probe = probeMetrics(opts);
  const recovery = recoveryMetrics(opts.paths);
  const collateral = collateralMetrics();
  const cycle = cycleMetrics(opts.clock);
  const holders = holderMetrics(opts.paths, opts.holders ?? true);
  const pool = poolMetrics();
  const evidence = evidenceMetrics(opts.paths, opts.kernelEvidence ?? false);
  const kernel = mountstatsMetrics(opts.paths);
  const serverReturn = serverReturnMetrics(opts.autofsReloads ?? false);

  // Registration order is the order of the /metrics text, whatever group each metric is built in.
  const exposition: Metric[] = [
    probe.accessible,
    cycle.autofs,
    recovery.recoveries,
    recovery.steps,
    probe.probes,
    probe.duration,
    pool.threads,
    probe.stuck,
    probe.mounted,
    probe.lastSuccess,
    recovery.duration,
    cycle.lastCycleAt,
    cycle.skipped,
    collateral.collateral,
    serverReturn.putBacks,
    serverReturn.reloads,
    serverReturn.resets,
    holders.detached,
    holders.restarts,
    holders.scans,
    holders.scanDuration,
    evidence.evidence,
    ...kernel.operations,
    kernel.sends,
    kernel.receives,
    buildInfo(opts.version),
  ];
  const registry = new Registry();
  for (const metric of exposition) registry.registerMetric(metric);
  // The event-loop delay histogram samples on a timer of its own, and each sample wakes the idle
  // daemon (prom-client's default: a hundred times a second). Every 5 s still catches a stall
  // (its timer fires that much late), keeps the daemon within two wake-ups a second beside the
  // kernel watch's read (bench/README.md, figure 10), and nodejs_eventloop_lag_seconds is measured
  // at each scrape regardless. A loop stalled for good is the watchdog's.
  collectDefaultMetrics({ register: registry, prefix: DEFAULT_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  // Gauges named like counters (promtool flags them): the same counts by type stay, and sum() is the total.
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(DEFAULT_PREFIX + name);

  const sink: ControllerSink = {
    ...probe.sink,
    ...recovery.sink,
    ...collateral.sink,
    ...cycle.sink,
    ...evidence.sink,
    ...serverReturn.sink,
    held() {},
    server() {},
    autofsReload() {},
    waitingForHangs() {},
    earlyProbed() {},
  };
  return { registry, sink, holderSink: holders.sink, watchPool: pool.watchPool, watchKernel: kernel.watchKernel };
}
