// Prometheus metrics, kept up to date as the controller reports (a sink): a scrape only serialises
// what is already here — it never touches a mount and never waits on a probe. Probe-derived
// values are as of the last cycle.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../clock.js';
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
}

const RECOVERY_RESULTS: readonly RecoveryResult[] = ['success', 'failed', 'timeout', 'dry_run'];
const PROBE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const RECOVERY_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];

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
}

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const lastCycle = ' (as of the last probe cycle)';

  const accessible = new Gauge({
    name: 'nfs_mount_accessible',
    help: `1 if the last probe of the mount succeeded, else 0${lastCycle}.`,
    labelNames: ['mount'],
    registers,
  });
  const autofs = new Gauge({ name: 'nfs_autofs_status', help: `1 if the autofs automounter is running, else 0${lastCycle}.`, registers });
  const recoveries = new Counter({
    name: 'nfs_health_check_recoveries_total',
    help:
      'Recoveries by outcome: success (healthy afterwards; recovery_steps_total says whether escalation ' +
      'was needed), failed and timeout (still failing), dry_run.',
    labelNames: ['result'],
    registers,
  });
  const steps = new Counter({
    name: 'nfs_health_check_recovery_steps_total',
    help: 'Recovery commands run, by step (command, escalation, remount) and status (ok, failed, timeout, spawn_error).',
    labelNames: ['step', 'status'],
    registers,
  });
  const probes = new Counter({
    name: 'nfs_mount_probes_total',
    help: 'Probes by mount and result: ok, timeout, unmounted, automount_failed, or the errno name (ESTALE, EIO, ...).',
    labelNames: ['mount', 'result'],
    registers,
  });
  const duration = new Histogram({
    name: 'nfs_mount_probe_duration_seconds',
    help: 'Time a probe took, up to the probe timeout (probes skipped because an earlier call is still blocked are not observed).',
    labelNames: ['mount'],
    buckets: probeBuckets(opts.probeTimeoutMs),
    registers,
  });
  let readPool: (() => PoolThreads) | undefined;
  new Gauge({
    name: 'nfs_health_checkd_probe_threads',
    help:
      'Probe threads by state: idle (kept in the pool), busy (a call within its timeout), stuck ' +
      '(blocked in the kernel past its timeout; it cannot be ended).',
    labelNames: ['state'],
    registers,
    collect() {
      if (!readPool) return;
      const now = readPool();
      for (const state of ['idle', 'busy', 'stuck'] as const) this.set({ state }, now[state]);
    },
  });
  const stuck = new Gauge({
    name: 'nfs_mount_probe_stuck',
    help: '1 while a probe of the mount is blocked in the kernel past its timeout.',
    labelNames: ['mount'],
    registers,
  });
  const mounted = new Gauge({
    name: 'nfs_mount_mounted',
    help: `1 if the path is a mount point (from /proc/self/mountinfo)${lastCycle}.`,
    labelNames: ['mount'],
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'nfs_mount_last_success_timestamp_seconds',
    help: 'Unix time of the last successful probe of the mount.',
    labelNames: ['mount'],
    registers,
  });
  const recoveryDuration = new Histogram({
    name: 'nfs_recovery_duration_seconds',
    help: 'Time to recover, per mount: its first failed probe to its first good probe after a recovery.',
    labelNames: ['mount'],
    buckets: RECOVERY_BUCKETS,
    registers,
  });
  const lastCycleAt = new Gauge({
    name: 'nfs_health_checkd_last_cycle_timestamp_seconds',
    help: "Unix time the last scheduled probe cycle finished (the daemon's own wake-ups between ticks do not count).",
    registers,
  });
  const skipped = new Counter({
    name: 'nfs_health_checkd_skipped_ticks_total',
    help: 'Scheduled ticks skipped because the previous cycle was still running.',
    registers,
  });
  const collateral = new Counter({
    name: 'nfs_health_check_collateral_unmounts_total',
    help:
      "NFS mounts not under autofs (static fstab mounts) that a recovery's commands took away, by mount " +
      'and the outcome of mounting them again: remounted, failed, timeout, spawn_error.',
    labelNames: ['mount', 'outcome'],
    registers,
  });
  const detachedHolders = new Gauge({
    name: 'nfs_mount_detached_holders',
    help:
      'Processes still holding a detached former mount of this path (cwd, root, open files or mappings ' +
      'on the old server): their I/O fails until they are restarted. Rescanned every cycle (at least 5 ' +
      's apart) while non-zero.',
    labelNames: ['mount'],
    registers,
  });
  const restarts = new Counter({
    name: 'nfs_health_check_holder_restarts_total',
    help:
      'systemctl try-restart of units whose processes held a detached mount (holders.restart_units), by ' +
      'unit and result (ok, failed, timeout, spawn_error, dry_run).',
    labelNames: ['unit', 'result'],
    registers,
  });
  const scans = new Counter({
    name: 'nfs_health_checkd_holder_scans_total',
    help: 'Scans of /proc for the holders of failing and detached mounts, by result (ok, timeout, unavailable).',
    labelNames: ['result'],
    registers,
  });
  const scanDuration = new Histogram({
    name: 'nfs_health_checkd_holder_scan_duration_seconds',
    help: 'Time a completed holder scan of /proc took.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  new Gauge({
    name: 'nfs_health_checkd_build_info',
    help: 'Version of nfs-health-checkd and of Node.js; always 1.',
    labelNames: ['version', 'node_version'],
    registers,
  }).set({ version: opts.version, node_version: process.version }, 1);
  // The event-loop delay histogram samples on a timer of its own: at prom-client's 10 ms it woke
  // the idle daemon 100 times a second. Once a second still gives a scrape ~15 samples, and a
  // loop stalled for good is the watchdog's to catch (no WATCHDOG=1 without a live loop).
  collectDefaultMetrics({ register: registry, prefix: 'nfs_health_checkd_', eventLoopMonitoringPrecision: 1000 });

  // Zero series from the start, so rate() and increase() see the first event.
  for (const result of RECOVERY_RESULTS) recoveries.inc({ result }, 0);
  for (const path of opts.paths) {
    const labels = { mount: path };
    stuck.set(labels, 0);
    recoveryDuration.zero(labels);
    if (opts.holders ?? true) detachedHolders.set(labels, 0);
  }
  if (opts.holders ?? true) for (const result of ['ok', 'timeout', 'unavailable']) scans.inc({ result }, 0);

  /** Paths a recovery was run for since they started failing: their comeback is time-to-recover. */
  const recovering = new Set<string>();

  const sink: ControllerSink = {
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
    health(event) {
      if (event.kind !== 'recovered' || !recovering.delete(event.path)) return;
      recoveryDuration.observe({ mount: event.path }, event.downMs / 1000);
    },
    held() {},
    recoveryStarted(targets) {
      for (const t of targets) recovering.add(t.path);
    },
    step(step) {
      steps.inc({ step: step.kind, status: step.outcome.status });
    },
    recoveryFinished(report) {
      recoveries.inc({ result: report.result });
    },
    collateral(report) {
      collateral.inc({ mount: report.mountPoint, outcome: report.outcome });
    },
    released(call) {
      stuck.set({ mount: call.path }, call.stillStuck > 0 ? 1 : 0);
    },
    overlapped() {
      skipped.inc();
    },
    waitingForHangs() {},
    cycleFinished(info) {
      // Wake-ups do not count: their retries would hide a stalled schedule.
      if (info.scheduled) lastCycleAt.set(opts.clock.wallNow() / 1000);
      if (info.autofsRunning !== null) autofs.set(info.autofsRunning ? 1 : 0);
    },
  };
  const holderSink: HolderSink = {
    holderSeen() {},
    holderDetached() {},
    holderGone() {},
    holdersCounted(detached) {
      for (const [path, n] of detached) detachedHolders.set({ mount: path }, n);
    },
    scanned(report) {
      scans.inc({ result: report.result });
      if (report.result === 'ok') scanDuration.observe(report.ms / 1000);
    },
    restart(report) {
      restarts.inc({ unit: report.unit, result: report.result });
    },
    restartDidNotHelp() {},
  };
  return {
    registry,
    sink,
    holderSink,
    watchPool(read) {
      readPool = read;
    },
  };
}
