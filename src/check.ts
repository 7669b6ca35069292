// `nfs-health-checkd check`: one probe round, a line (or JSON) per mount, exit 0 when all are ok.
// Probes run in child processes, not threads: a probe blocked in the kernel must not stop this
// process from exiting with its status (Node's exit would wait for a blocked thread forever).
import { checkJson } from './check-json.js';
import { systemClock } from './clock.js';
import type { Config } from './config/types.js';
import { describeHolds, type HolderReport } from './holders/tracker.js';
import type { ProbeResult } from './probe/probe-mounts.js';
import type { CollateralReport } from './recovery/collateral.js';
import type { ControllerSink } from './observe/sink.js';
import type { DryRunReport } from './recovery/plan.js';
import type { RecoveryReport, StepReport } from './recovery/procedure.js';
import { realEffects, wire, type Effects } from './wire.js';

export interface CheckOptions {
  json: boolean;
  /** Run a recovery when a result is a trigger (ignores cooldown and `recovery.enabled`; honours dry_run). */
  recover: boolean;
  out: (line: string) => void;
}

export function formatResult(r: ProbeResult): string {
  const where = r.mounted ? (r.fstype ?? '') : r.underAutofs ? 'not mounted (autofs)' : 'not a mount point';
  const blocked = r.blockedMs !== null && r.skipped ? `, blocked ${(r.blockedMs / 1000).toFixed(1)} s` : '';
  const stuck = r.skipped ? ` (earlier probe still blocked: ${r.skipped}${blocked})` : '';
  return `${r.result.padEnd(17)} ${r.path}  ${r.ms.toFixed(1)} ms  ${where}${stuck}`;
}

export function formatHolder(h: HolderReport): string {
  const who = `${h.comm}[${h.pid}]${h.uid === null ? '' : ` uid ${h.uid}`}, unit ${h.unit ?? 'none'}`;
  return `holder            ${h.path}  ${h.state} mount ${h.mountId}: ${who}: ${describeHolds(h).join(', ')}`;
}

function formatCollateral(c: CollateralReport): string {
  const how = c.outcome === 'remounted' ? 'mounted again' : `NOT mounted again (${c.outcome})`;
  return `collateral        ${c.mountPoint}  taken away by the recovery, ${how} (${c.via}: ${c.command.argv.join(' ')})`;
}

function formatStep(s: StepReport): string {
  const o = s.outcome;
  const code = o.exitCode === null ? '' : ` exit ${o.exitCode}`;
  const out = o.output ? `: ${o.output.split('\n')[0]}` : '';
  return `recovery ${s.kind}: ${o.argv.join(' ')} -> ${o.status}${code} in ${o.durationMs} ms${out}`;
}

/** Returns the exit status: 0 when every mount is ok (after recovery, when asked for), else 1. */
export async function runCheck(
  configured: Config,
  opts: CheckOptions,
  effects: Effects = realEffects('check', systemClock),
): Promise<number> {
  // A configured symbolic link is probed as the mount point it names, and said so.
  const links = await effects.resolveMounts(configured);
  // The daemon's rules without cooldown; a recovery only when asked for, whatever recovery.enabled says.
  const r = configured.recovery;
  const config: Config = {
    ...configured,
    mounts: links.paths.map((path) => ({ path })),
    recovery: { ...r, enabled: opts.recover, cooldownMs: 0, maxBackoffMs: 0 },
  };
  if (!opts.json) {
    for (const l of links.resolved) opts.out(`link              ${l.configured} -> ${l.path}  (probing the mount point it names)`);
    for (const u of links.unresolved) opts.out(`link              ${u.configured}  not resolved (${u.why}): probed as configured`);
  }
  // Who is on a failing mount, and after --recover on the mount it detached; never restarted here.
  const parts = wire(config, effects, { role: 'check' });
  let recovery: RecoveryReport | DryRunReport | undefined;
  const controller = parts.controller(
    checkSink({
      say: (line) => !opts.json && opts.out(line),
      hangAfterMs: r.hangAfterMs,
      // Before a real recovery's steps, the results that started it.
      recovering: () => {
        if (!opts.json && !r.dryRun) for (const x of controller.results()) opts.out(formatResult(x));
      },
      finished: (report) => (recovery = report),
    }),
    true,
  );
  void controller.start();
  await controller.finished();
  await parts.holders?.settled();
  parts.close();
  const results = controller.results();
  const held = parts.holders?.holders() ?? [];

  if (opts.json) {
    opts.out(checkJson({ links: links.resolved, results, holders: held, recovery }));
  } else {
    if (recovery) opts.out(`recovery: ${recovery.result}`);
    if (recovery?.result === 'dry_run') for (const argv of recovery.wouldRun) opts.out(`would run         ${argv.join(' ')}`);
    if (recovery?.result === 'dry_run')
      for (const m of recovery.collateral) opts.out(`would remount     ${m}  (an NFS mount not under autofs the command may take away)`);
    for (const x of results) opts.out(formatResult(x));
    for (const h of held) opts.out(formatHolder(h));
  }
  return results.every((x) => x.result === 'ok') ? 0 : 1;
}

/** What `check` says of the controller's reports while it runs; the rest it prints at the end. */
function checkSink(o: {
  say: (line: string) => void;
  hangAfterMs: number;
  recovering: () => void;
  finished: (report: RecoveryReport | DryRunReport) => void;
}): ControllerSink {
  const quiet = (): void => undefined;
  return {
    probed: quiet,
    health: quiet,
    held: quiet,
    released: quiet,
    overlapped: quiet,
    cycleFinished: quiet,
    earlyProbe: quiet,
    earlyProbed: quiet,
    server: quiet,
    autofsReload: quiet,
    autofsReloaded: quiet,
    putBack: quiet,
    stalledReset: quiet,
    waitingForHangs: (_paths, ms) =>
      o.say(
        `waiting ${(ms / 1000).toFixed(1)} s: a timeout is a hang once its call has been blocked ${o.hangAfterMs / 1000} s (recovery.hang_after)`,
      ),
    recoveryStarted: o.recovering,
    step: (s) => o.say(formatStep(s)),
    collateral: (c) => o.say(formatCollateral(c)),
    recoveryFinished: (report) => o.finished(report),
  };
}
