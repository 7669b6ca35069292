// Turns monitor reports into log lines: one per change of state (a mount going bad, changing
// fault, coming back), one per recovery step with its command, exit code, output and duration,
// one per recovery outcome — and not one per healthy probe per tick: a summary every few minutes.
import type { Clock } from '../clock.js';
import { errnoName } from '../probe/classify.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { StepReport } from '../recovery/procedure.js';
import type { Logger } from './log.js';
import type { MonitorSink } from './sink.js';

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
  };
}

function stepFields(step: StepReport): Record<string, unknown> {
  const o = step.outcome;
  return {
    step: step.kind,
    mount: step.mount,
    command: o.argv.join(' '),
    status: o.status,
    exit_code: o.exitCode,
    signal: o.signal ?? undefined,
    output: o.output || undefined,
    duration_ms: o.durationMs,
    detached: step.detached,
  };
}

export function createLogSink(log: Logger, clock: Clock): MonitorSink {
  let cycles = 0;
  let lastSummaryAt = clock.now();
  let lastHold = '';
  let autofsWas: boolean | null = null;

  return {
    probed(results, cycleMs) {
      cycles += 1;
      log.debug({ cycle_ms: Math.round(cycleMs), results: results.map((r) => [r.mount, r.result]) }, 'probe round');
      if (clock.now() - lastSummaryAt < SUMMARY_EVERY_MS) return;
      lastSummaryAt = clock.now();
      log.info(
        { cycles, mounts: Object.fromEntries(results.map((r) => [r.mount, r.result])) },
        'summary',
      );
    },
    health(event, r) {
      switch (event.kind) {
        case 'initial':
          if (event.result === 'ok') log.info({ mount: event.mount, result: event.result, ...probeFields(r) }, 'mount healthy');
          else log.warn({ mount: event.mount, result: event.result, ...probeFields(r) }, 'mount failing');
          return;
        case 'failing':
          log.warn({ mount: event.mount, result: event.result, previous: event.previous, ...probeFields(r) }, 'mount failing');
          return;
        case 'changed':
          log.warn({ mount: event.mount, result: event.result, previous: event.previous, ...probeFields(r) }, 'mount fault changed');
          return;
        case 'recovered':
          lastHold = '';
          log.info({ mount: event.mount, result: 'ok', previous: event.previous, down_ms: Math.round(event.downMs), ...probeFields(r) }, 'mount recovered');
      }
    },
    held(decision) {
      // Said once per new reason, not every tick while it lasts.
      const key = `${decision.reason}:${decision.targets.join(',')}`;
      const fields = { reason: decision.reason, mounts: decision.targets, until_in_ms: decision.untilMs === null ? undefined : Math.round(decision.untilMs - clock.now()) };
      if (key === lastHold) {
        log.debug(fields, 'recovery held');
        return;
      }
      lastHold = key;
      log.info(fields, 'recovery held');
    },
    recoveryStarted(targets) {
      lastHold = '';
      log.warn({ mounts: targets.map((t) => t.path) }, 'recovery starting');
    },
    step(step) {
      const ok = step.outcome.status === 'ok';
      if (ok) log.info(stepFields(step), 'recovery step');
      else log.warn(stepFields(step), 'recovery step');
    },
    recoveryFinished(report, targets) {
      const mounts = targets.map((t) => t.path);
      if (report.result === 'dry_run') {
        log.warn({ result: 'dry_run', mounts, would_run: report.wouldRun.map((a) => a.join(' ')) }, 'recovery finished (dry run: nothing ran)');
        return;
      }
      const fields = {
        result: report.result,
        escalated: report.steps.some((s) => s.kind === 'escalation') || undefined,
        mounts,
        still_failing: report.stillFailing.length > 0 ? report.stillFailing : undefined,
        steps: report.steps.length,
        duration_ms: report.durationMs,
      };
      if (report.stillFailing.length === 0) log.info(fields, 'recovery finished');
      else log.error(fields, 'recovery finished');
    },
    released(call) {
      const result = call.raw.kind === 'error' ? errnoName(call.raw.errno, call.raw.code) : call.raw.kind;
      log.info({ mount: call.path, blocked_ms: Math.round(call.blockedMs), result }, 'stuck probe returned');
    },
    overlapped() {
      log.warn('tick skipped: the previous cycle is still running');
    },
    cycleFinished({ autofsRunning }) {
      if (autofsRunning === null || autofsRunning === autofsWas) return;
      // Said when it changes (and at start), not every cycle.
      if (autofsRunning) log.info({ autofs: 'running' }, 'autofs running');
      else log.warn({ autofs: 'not running' }, 'autofs not running: unmounted paths will not be mounted again');
      autofsWas = autofsRunning;
    },
  };
}
