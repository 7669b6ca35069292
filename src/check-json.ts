// The `check --json` document. Scripts read its keys, so they are written out here in the order they
// have always had, not taken from the names inside: `mount` for a configured path (a mount point for
// collateral), `automounted` for a path under autofs.
import type { HolderReport } from './holders/tracker.js';
import type { ProbeResult } from './probe/probe-mounts.js';
import type { ResolvedMounts } from './probe/resolve-links.js';
import type { CollateralReport } from './recovery/collateral.js';
import type { DryRunReport } from './recovery/plan.js';
import type { RecoveryReport, StepReport } from './recovery/procedure.js';

export interface CheckDocument {
  /** Configured symbolic links and the mount point each names; the key is left out when none. */
  links: ResolvedMounts['resolved'];
  results: readonly ProbeResult[];
  holders: readonly HolderReport[];
  recovery: RecoveryReport | DryRunReport | undefined;
}

export function checkJson(d: CheckDocument): string {
  const links = d.links.length > 0 ? { links: d.links.map(linkJson) } : {};
  const recovery = d.recovery ? { recovery: recoveryJson(d.recovery) } : {};
  return JSON.stringify({ ...links, results: d.results.map(resultJson), holders: d.holders.map(holderJson), ...recovery }, null, 2);
}

function linkJson(l: ResolvedMounts['resolved'][number]): object {
  return { configured: l.configured, mount: l.path, links: l.links };
}

export function resultJson(r: ProbeResult): object {
  return {
    mount: r.path,
    result: r.result,
    ...(r.errno !== undefined ? { errno: r.errno } : {}),
    ms: r.ms,
    mounted: r.mounted,
    fstype: r.fstype,
    mountId: r.mountId,
    automounted: r.underAutofs,
    stuck: r.stuck,
    skipped: r.skipped,
    blockedMs: r.blockedMs,
  };
}

export function holderJson(h: HolderReport): object {
  const { path, state, ...holder } = h;
  return { ...holder, mount: path, state };
}

function recoveryJson(r: RecoveryReport | DryRunReport): object {
  if (r.result === 'dry_run') return r;
  // Spread first, then replaced: each key keeps its place.
  return { ...r, steps: r.steps.map(stepJson), reprobe: r.reprobe.map(resultJson), collateral: r.collateral.map(collateralJson) };
}

function stepJson(s: StepReport): object {
  return {
    kind: s.kind,
    ...(s.path !== undefined ? { mount: s.path } : {}),
    outcome: s.outcome,
    ...(s.detached !== undefined ? { detached: s.detached } : {}),
    ...(s.collateral !== undefined ? { collateral: s.collateral } : {}),
  };
}

// argv and server are the daemon's, for putting the mount back later: the command is in `command`.
function collateralJson(c: CollateralReport): object {
  const { mountPoint, argv: _argv, server: _server, ...rest } = c;
  return { mount: mountPoint, ...rest };
}
