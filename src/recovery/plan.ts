// What a recovery would act on, and what a dry run says it would run, for the controller. Pure:
// results, the config and a mount table in, targets and a plan out.
import type { RecoveryConfig } from '../config/types.js';
import type { MountEntry } from '../probe/mountinfo.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import { collateralAtRisk } from './collateral.js';
import { recoveryTarget, withPath, type RecoveryTarget } from './procedure.js';

export interface DryRunReport {
  result: 'dry_run';
  /** The commands a real recovery would start with; escalation depends on what they do. */
  wouldRun: string[][];
  /** NFS mounts not under autofs that the command may take away (and the daemon would mount again). */
  collateral: string[];
}

/**
 * The targets for the paths the policy chose, from their latest results. `blockedMs` gives a
 * blocked call's age now: it has aged since its path was last probed (a wake-up probes only some).
 */
export function recoveryTargets(
  paths: readonly string[],
  latest: (path: string) => ProbeResult | undefined,
  blockedMs: (path: string) => number | null,
): RecoveryTarget[] {
  return paths.flatMap((path) => {
    const r = latest(path);
    return r ? [{ ...recoveryTarget(r), blockedMs: blockedMs(path) }] : [];
  });
}

/** What a recovery of these targets would start with, and which static mounts it may take away. */
export function dryRunPlan(targets: readonly RecoveryTarget[], cfg: RecoveryConfig, table: readonly MountEntry[]): DryRunReport {
  const wouldRun = [
    ...(cfg.command.length > 0 ? [cfg.command] : []),
    ...targets.flatMap((t) => (t.mountId === null ? [] : cfg.escalation.map((e) => withPath(e, t.path)))),
  ];
  const collateral = collateralAtRisk(table, targets, cfg).map((m) => m.mountPoint);
  return { result: 'dry_run', wouldRun, collateral };
}
