// One recovery, step by step: the configured command; then, for each target still holding the very
// mount that failed (same mount ID), the escalation steps in order until it no longer does; an
// optional remount for paths autofs will not mount again; then every NFS mount not under autofs
// that the steps took away is mounted again (collateral.ts); then an immediate re-probe, whose
// access makes autofs mount the path afresh. Every step has its own deadline and is reported.
import { basename } from 'node:path';
import type { Clock } from '../clock.js';
import type { RecoveryConfig } from '../config/types.js';
import { mountAt, type MountTable } from '../probe/mountinfo.js';
import type { ProbeMounts, ProbeResult } from '../probe/probe-mounts.js';
import { collateralAtRisk, collateralOutcome, remountCommand, takenAway, type AtRiskMount, type CollateralReport } from './collateral.js';
import { parseFstab } from './fstab.js';
import type { CommandOutcome, RunCommand } from '../exec/runner.js';
import { serverOfMount } from '../server/address.js';

export interface RecoveryTarget {
  path: string;
  /**
   * ID of the mount on the path when it failed; null when nothing but autofs was there — autofs's
   * own mount must never be unmounted, or the path is lost until autofs restarts.
   */
  mountId: number | null;
  /** Under autofs: the next access mounts it again, no remount needed. */
  underAutofs: boolean;
  /** The triggering result, and for a hang how long its call had been blocked. */
  result: string;
  blockedMs: number | null;
}

// success: every target healthy afterwards, whichever step did it (the steps say which).
export type RecoveryResult = 'success' | 'failed' | 'timeout' | 'dry_run';

export interface StepReport {
  kind: 'command' | 'escalation' | 'remount';
  /** The target's path the step was for (for collateral, the mount point); absent for the command, which covers every mount. */
  path?: string;
  outcome: CommandOutcome;
  /** For escalation steps: the failed mount is gone from the path afterwards. */
  detached?: boolean;
  /** For remount steps: a mount the recovery took away, not a target. */
  collateral?: boolean;
}

export interface RecoveryReport {
  result: Exclude<RecoveryResult, 'dry_run'>;
  steps: StepReport[];
  reprobe: ProbeResult[];
  stillFailing: string[];
  /** Mounts not under autofs that the steps took away, each with how mounting it again went. */
  collateral: CollateralReport[];
  durationMs: number;
}

export interface ProcedureDeps {
  run: RunCommand;
  table: MountTable;
  probe: ProbeMounts;
  clock: Clock;
  /** /etc/fstab as the commands see it; null: unreadable (mounts are then made as they were). */
  fstab: () => string | null;
  /** Told of each step as it finishes, so it is logged even if a later step hangs. */
  onStep?: (step: StepReport) => void;
  /** Told of each mount taken away, once mounting it again is done. */
  onCollateral?: (report: CollateralReport) => void;
  /** Told, before the first unmount, of the static mounts the steps may take away (with a server to wait for). */
  onAtRisk?: (mounts: AtRiskMount[]) => void;
}

/** The target a failing probe result makes: escalation only ever aims at a mount other than autofs. */
export function recoveryTarget(r: ProbeResult): RecoveryTarget {
  return { path: r.path, mountId: r.mounted ? r.mountId : null, underAutofs: r.underAutofs, result: r.result, blockedMs: r.blockedMs };
}

// util-linux mount and umount take `--` before operands; a path is then never read as an option.
const TAKES_DOUBLE_DASH = new Set(['umount', 'mount']);

/** argv with the path appended, after `--` where the tool supports it. */
export function withPath(argv: readonly string[], path: string): string[] {
  const tool = basename(argv[0] ?? '');
  return TAKES_DOUBLE_DASH.has(tool) ? [...argv, '--', path] : [...argv, path];
}

export async function runRecovery(targets: readonly RecoveryTarget[], cfg: RecoveryConfig, deps: ProcedureDeps): Promise<RecoveryReport> {
  const started = deps.clock.now();
  const steps: StepReport[] = [];
  const record = (step: StepReport): StepReport => {
    steps.push(step);
    deps.onStep?.(step);
    return step;
  };

  const atRisk = collateralAtRisk(deps.table(), targets, cfg);
  // Read once, before the unmounts: what puts each at-risk mount back is known before it can be lost.
  const fstab = atRisk.length > 0 ? parseFstab(deps.fstab() ?? '') : [];
  const noted = atRisk.flatMap((m) => {
    const server = serverOfMount(m);
    return server ? [{ mountPoint: m.mountPoint, argv: remountCommand(m, fstab).argv, server }] : [];
  });
  if (noted.length > 0) deps.onAtRisk?.(noted);
  if (cfg.command.length > 0) record({ kind: 'command', outcome: await deps.run(cfg.command, cfg.timeoutMs) });

  for (const target of targets) {
    const { path, mountId } = target;
    if (mountId === null) continue;
    let gone = mountAt(deps.table(), path)?.id !== mountId;
    for (const prefix of cfg.escalation) {
      if (gone) break;
      const outcome = await deps.run(withPath(prefix, path), cfg.timeoutMs);
      gone = mountAt(deps.table(), path)?.id !== mountId;
      record({ kind: 'escalation', path, outcome, detached: gone });
    }
    if (gone && !target.underAutofs && cfg.remount.length > 0) {
      record({ kind: 'remount', path, outcome: await deps.run(withPath(cfg.remount, path), cfg.timeoutMs) });
    }
  }

  const collateral: CollateralReport[] = [];
  const gone = takenAway(atRisk, deps.table());
  for (const m of gone) {
    const { argv, via } = remountCommand(m, fstab);
    const outcome = await deps.run(argv, cfg.timeoutMs);
    record({ kind: 'remount', path: m.mountPoint, outcome, collateral: true });
    const report: CollateralReport = {
      mountPoint: m.mountPoint,
      fstype: m.fstype,
      source: m.source,
      via,
      outcome: collateralOutcome(outcome),
      command: outcome,
      argv,
      server: serverOfMount(m),
    };
    collateral.push(report);
    deps.onCollateral?.(report);
  }

  const reprobe = await deps.probe(targets.map((t) => t.path));
  const stillFailing = reprobe.filter((r) => r.result !== 'ok').map((r) => r.path);
  return {
    result: outcomeOf(steps, stillFailing),
    steps,
    reprobe,
    stillFailing,
    collateral,
    durationMs: Math.round(deps.clock.now() - started),
  };
}

function outcomeOf(steps: readonly StepReport[], stillFailing: readonly string[]): RecoveryReport['result'] {
  if (stillFailing.length === 0) return 'success';
  return steps.some((s) => s.outcome.status === 'timeout') ? 'timeout' : 'failed';
}
