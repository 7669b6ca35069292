// Turns the controller's reports into log lines: one per change of state (a mount going bad, changing
// fault, coming back), one per recovery step with its command, exit code, output and duration,
// one per recovery outcome — and not one per healthy probe per tick: a summary every few minutes.
import type { Clock } from '../clock.js';
import type { HealthEvent, Hold } from '../controller/policy.js';
import type { Evidence } from '../kernel/evidence.js';
import { errnoName } from '../probe/errno.js';
import type { ReleasedCall } from '../probe/prober.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { CollateralReport } from '../recovery/collateral.js';
import type { DryRunReport } from '../recovery/plan.js';
import type { RecoveryReport, RecoveryTarget, StepReport } from '../recovery/procedure.js';
import type { Logger } from './log.js';
import { HoldNews } from './hold-news.js';
import type { HolderSink, ControllerSink, RestartReport } from './sink.js';
import { describeHolds, type HolderReport } from '../holders/tracker.js';
import type { Holder, ProcessIdentity } from '../holders/scan.js';
import { serverKey } from '../server/address.js';
import type { ServerReport } from '../server/watch.js';
import type { PutBackReport } from '../controller/server-return.js';
import type { StalledReport } from '../server/reset-stalled.js';

const SUMMARY_EVERY_MS = 10 * 60_000;

function probeFields(r: ProbeResult | undefined): Record<string, unknown> {
  if (!r) return {};
  return {
    errno: r.errno,
    probe_ms: r.ms,
    mounted: r.mounted,
    fstype: r.fstype,
    stuck: r.stuck || undefined,
    skipped: r.skipped ?? undefined,
    blocked_ms: r.blockedMs ?? undefined,
  };
}

function stepFields(step: StepReport): Record<string, unknown> {
  const o = step.outcome;
  return {
    step: step.kind,
    mount: step.path,
    command: o.argv.join(' '),
    status: o.status,
    exit_code: o.exitCode,
    signal: o.signal ?? undefined,
    output: o.output || undefined,
    duration_ms: o.durationMs,
    detached: step.detached,
  };
}

/** A debug line per probe round; at info only a summary every SUMMARY_EVERY_MS. */
function roundLog(log: Logger, clock: Clock): Pick<ControllerSink, 'probed'> {
  let cycles = 0;
  let lastSummaryAt = clock.now();
  return {
    probed(results, cycleMs) {
      cycles += 1;
      log.debug({ cycle_ms: Math.round(cycleMs), results: results.map((r) => [r.path, r.result]) }, 'probe round');
      if (clock.now() - lastSummaryAt < SUMMARY_EVERY_MS) return;
      lastSummaryAt = clock.now();
      log.info({ cycles, mounts: Object.fromEntries(results.map((r) => [r.path, r.result])) }, 'summary');
    },
  };
}

function logHealth(log: Logger, event: HealthEvent, r: ProbeResult | undefined): void {
  switch (event.kind) {
    case 'initial':
      if (event.result === 'ok') log.info({ mount: event.path, result: event.result, ...probeFields(r) }, 'mount healthy');
      else log.warn({ mount: event.path, result: event.result, ...probeFields(r) }, 'mount failing');
      return;
    case 'failing':
      log.warn({ mount: event.path, result: event.result, previous: event.previous, ...probeFields(r) }, 'mount failing');
      return;
    case 'changed':
      log.warn({ mount: event.path, result: event.result, previous: event.previous, ...probeFields(r) }, 'mount fault changed');
      return;
    case 'recovered':
      log.info(
        { mount: event.path, result: 'ok', previous: event.previous, down_ms: Math.round(event.downMs), ...probeFields(r) },
        'mount recovered',
      );
  }
}

/** A held recovery, said once per new reason (at debug while it lasts), not every tick. */
function holdLog(log: Logger, clock: Clock) {
  const news = new HoldNews();
  return {
    held(decision: Hold): void {
      const fields = {
        reason: decision.reason,
        mounts: decision.targets,
        until_in_ms: decision.untilMs === null ? undefined : Math.round(decision.untilMs - clock.now()),
      };
      if (news.isNew(decision)) log.info(fields, 'recovery held');
      else log.debug(fields, 'recovery held');
    },
    forget: () => news.forget(),
  };
}

function logRecoveryStarted(log: Logger, targets: readonly RecoveryTarget[]): void {
  const results = Object.fromEntries(targets.map((t) => [t.path, t.result]));
  const blocked = targets.filter((t) => t.blockedMs !== null);
  const blockedMs = blocked.length > 0 ? Object.fromEntries(blocked.map((t) => [t.path, t.blockedMs])) : undefined;
  log.warn({ mounts: targets.map((t) => t.path), results, blocked_ms: blockedMs }, 'recovery starting');
}

function logStep(log: Logger, step: StepReport): void {
  if (step.outcome.status === 'ok') log.info(stepFields(step), 'recovery step');
  else log.warn(stepFields(step), 'recovery step');
}

function logRecoveryFinished(log: Logger, report: RecoveryReport | DryRunReport, targets: readonly RecoveryTarget[]): void {
  const paths = targets.map((t) => t.path);
  if (report.result === 'dry_run') {
    const collateral = report.collateral.length > 0 ? report.collateral : undefined;
    log.warn(
      { result: 'dry_run', mounts: paths, would_run: report.wouldRun.map((a) => a.join(' ')), would_mount_again: collateral },
      'recovery finished (dry run: nothing ran)',
    );
    return;
  }
  const fields = {
    result: report.result,
    escalated: report.steps.some((s) => s.kind === 'escalation') || undefined,
    mounts: paths,
    still_failing: report.stillFailing.length > 0 ? report.stillFailing : undefined,
    collateral: report.collateral.length > 0 ? report.collateral.map((c) => `${c.mountPoint}: ${c.outcome}`) : undefined,
    steps: report.steps.length,
    duration_ms: report.durationMs,
  };
  if (report.stillFailing.length === 0) log.info(fields, 'recovery finished');
  else log.error(fields, 'recovery finished');
}

function logCollateral(log: Logger, c: CollateralReport): void {
  const o = c.command;
  const fields = {
    mount: c.mountPoint,
    fstype: c.fstype,
    source: c.source,
    via: c.via,
    outcome: c.outcome,
    command: o.argv.join(' '),
    exit_code: o.exitCode,
    output: o.output || undefined,
    duration_ms: o.durationMs,
  };
  if (c.outcome === 'remounted') log.warn(fields, 'mount taken away by recovery: mounted again');
  else log.error(fields, 'mount taken away by recovery: not mounted again');
}

function logServer(log: Logger, r: ServerReport, paths: readonly string[], goneMs: number | null): void {
  const fields = { server: serverKey(r.address), mounts: paths, ...(r.reason !== null ? { reason: r.reason } : {}) };
  if (r.answering) log.info({ ...fields, gone_ms: goneMs ?? undefined, unanswered_checks: r.unanswered }, 'server answering again');
  else log.warn(fields, 'server not answering');
}

function logPutBack(log: Logger, r: PutBackReport): void {
  const o = r.command;
  const fields = {
    mount: r.mountPoint,
    server: serverKey(r.server),
    outcome: r.outcome,
    tries: r.tries,
    down_ms: r.downMs,
    ...(o ? { command: o.argv.join(' '), exit_code: o.exitCode, output: o.output || undefined, duration_ms: o.durationMs } : {}),
  };
  if (r.outcome === 'remounted' || r.outcome === 'already_mounted') log.warn(fields, 'static mount put back: its server answers again');
  else log.error(fields, 'static mount still not mounted: its server answers, the mount failed');
}

function logStalled(log: Logger, r: StalledReport): void {
  const fields = {
    server: serverKey(r.server),
    result: r.result,
    seen: r.seen,
    connections: r.stalled.map((c) => ({ local: c.local, wait_ms: c.waitMs, retransmits: c.retransmits })),
    ...(r.error !== null ? { error: r.error } : {}),
  };
  if (r.result === 'none') log.info(fields, 'NFS client connections to a server that answers again: none waiting to retransmit');
  else if (r.result === 'ok') log.info(fields, 'NFS client connection reset: it was waiting to retransmit to a server that answers again');
  else if (r.result === 'dry_run') log.warn(fields, 'NFS client connection waiting to retransmit (dry run: not reset)');
  else log.warn(fields, "NFS client connections not reset: new mounts of this server wait for the kernel's retransmission");
}

function logReleased(log: Logger, call: ReleasedCall, hung: boolean): void {
  const result = call.raw.kind === 'error' ? errnoName(call.raw.errno, call.raw.code) : call.raw.kind;
  const fields = { mount: call.path, blocked_ms: Math.round(call.blockedMs), result };
  // Returned before hang_after: slow, not hung, and never unmounted for its slowness (its
  // result, ok or an errno, is the next probe's to report).
  if (hung) log.info(fields, 'stuck probe returned');
  else log.warn(fields, 'slow probe returned: not hung');
}

/** Whether automount runs, said when it changes (and at start), not every cycle. */
function autofsLog(log: Logger): Pick<ControllerSink, 'cycleFinished'> {
  let autofsWas: boolean | null = null;
  return {
    cycleFinished({ autofsRunning }) {
      if (autofsRunning === null || autofsRunning === autofsWas) return;
      if (autofsRunning) log.info({ autofs: 'running' }, 'autofs running');
      else log.warn({ autofs: 'not running' }, 'autofs not running: unmounted paths will not be mounted again');
      autofsWas = autofsRunning;
    },
  };
}

export function createLogSink(log: Logger, clock: Clock): ControllerSink {
  const rounds = roundLog(log, clock);
  const holds = holdLog(log, clock);
  const autofs = autofsLog(log);
  return {
    probed: rounds.probed,
    health(event, r) {
      if (event.kind === 'recovered') holds.forget();
      logHealth(log, event, r);
    },
    held: holds.held,
    recoveryStarted(targets) {
      holds.forget();
      logRecoveryStarted(log, targets);
    },
    step: (step) => logStep(log, step),
    recoveryFinished: (report, targets) => logRecoveryFinished(log, report, targets),
    collateral: (c) => logCollateral(log, c),
    released: (call, hung) => logReleased(log, call, hung),
    overlapped: () => log.warn('tick skipped: the previous cycle is still running'),
    earlyProbe: (e) => log.info(evidenceFields(e), 'kernel evidence: probing early'),
    earlyProbed: (e, r) => {
      const fields = { ...evidenceFields(e), result: r.result, ...probeFields(r) };
      if (r.result === 'ok') log.info(fields, 'kernel evidence: early probe found the mount healthy');
      else log.warn(fields, 'kernel evidence: early probe found the mount failing');
    },
    server: (r, paths, goneMs) => logServer(log, r, paths, goneMs),
    autofsReload: (paths, servers, dryRun) =>
      log.info(
        { mounts: paths, servers, dry_run: dryRun || undefined },
        dryRun ? 'autofs reload (dry run: nothing ran): would clear its negative cache' : 'autofs reload: clearing its negative cache',
      ),
    autofsReloaded: (paths, o) => {
      if (o === null) return;
      const fields = {
        mounts: paths,
        command: o.argv.join(' '),
        status: o.status,
        exit_code: o.exitCode,
        output: o.output || undefined,
        duration_ms: o.durationMs,
      };
      if (o.status === 'ok') log.info(fields, 'autofs reloaded');
      else log.warn(fields, 'autofs reload failed');
    },
    putBack: (r) => logPutBack(log, r),
    stalledReset: (r) => logStalled(log, r),
    waitingForHangs: (paths, ms) => log.info({ mounts: paths, wait_ms: Math.round(ms) }, 'waiting for blocked calls to reach hang_after'),
    cycleFinished: autofs.cycleFinished,
  };
}

/** An evidence's log fields: which counters moved on which operations, and by how much. */
export function evidenceFields(e: Evidence): Record<string, unknown> {
  return {
    mount: e.path,
    kind: e.kind,
    ...(Object.keys(e.moved).length > 0 ? { moved: e.moved } : {}),
    ...(e.mountIds ? { mount_id_before: e.mountIds.before, mount_id_after: e.mountIds.after } : {}),
    sample_ms: Math.round(e.sampleMs),
  };
}

function holderFields(h: HolderReport): Record<string, unknown> {
  return { mount: h.path, mount_id: h.mountId, state: h.state, ...processFields(h) };
}

/** Who a process is and what it holds, as every holder line says it. */
function processFields(p: ProcessIdentity & Pick<Holder, 'holds'>): Record<string, unknown> {
  return { pid: p.pid, comm: p.comm, uid: p.uid ?? undefined, unit: p.unit ?? 'none', holds: describeHolds(p) };
}

/** Every completed scan at debug; a failing one once per new problem, not every cycle. */
function scanLog(log: Logger): Pick<HolderSink, 'scanned'> {
  let lastScanProblem = '';
  return {
    scanned(report) {
      if (report.result === 'ok') {
        lastScanProblem = '';
        log.debug({ scan_ms: Math.round(report.ms), processes: report.scanned, unreadable: report.unreadable }, 'holder scan');
        return;
      }
      const key = `${report.result}:${report.reason ?? ''}:${report.blockedPid ?? ''}`;
      if (key === lastScanProblem) return;
      lastScanProblem = key;
      if (report.result === 'timeout') {
        log.warn(
          { scan_ms: Math.round(report.ms), blocked_pid: report.blockedPid ?? undefined },
          'holder scan timed out: that process is left out of later scans',
        );
      } else log.warn({ reason: report.reason }, 'holder scan unavailable');
    },
  };
}

function logRestart(log: Logger, report: RestartReport): void {
  const fields = {
    unit: report.unit,
    result: report.result,
    mounts: report.paths,
    pids: report.pids,
    command: report.outcome?.argv.join(' '),
    exit_code: report.outcome?.exitCode ?? undefined,
    output: report.outcome?.output || undefined,
    duration_ms: report.outcome?.durationMs,
  };
  if (report.result === 'ok') log.info(fields, 'unit restarted: it held a detached mount');
  else if (report.result === 'dry_run') log.warn(fields, 'unit restart (dry run: nothing ran)');
  else log.warn(fields, 'unit restart failed');
}

/** Holder reports as log lines: one per process when found, one when it moves or goes. */
export function createHolderLogSink(log: Logger): HolderSink {
  return {
    holderSeen(h) {
      const what = h.state === 'detached' ? 'holder found on detached mount' : 'holder found on failing mount';
      log.warn(holderFields(h), what);
    },
    holderDetached(h) {
      log.warn(holderFields(h), 'holder left on detached mount');
    },
    holderGone(h) {
      log.info({ mount: h.path, mount_id: h.mountId, state: h.state, pid: h.pid, comm: h.comm, unit: h.unit ?? 'none' }, 'holder gone');
    },
    holdersCounted() {},
    scanned: scanLog(log).scanned,
    restart: (report) => logRestart(log, report),
    restartDidNotHelp(unit, holders) {
      log.error(
        { unit, mounts: [...new Set(holders.map((h) => h.path))], pids: holders.map((h) => h.pid) },
        'unit still holds a detached mount after its restart: not restarted again',
      );
    },
    orphanByDevice(o) {
      log.warn(
        { mount: 'unknown', dev: o.dev, ...processFields(o) },
        'holder found on a mount in no mount table, by its mapped files: detached before this start, not followed',
      );
    },
  };
}
