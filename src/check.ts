// `nfs-health-checkd check`: one probe round, a line (or JSON) per mount, exit 0 when all are ok.
// Probes run in child processes, not threads: a probe blocked in the kernel must not stop this
// process from exiting with its status (Node's exit would wait for a blocked thread forever).
import { sleep, systemClock } from './clock.js';
import type { Config } from './config/types.js';
import { describeHolds, type HolderReport } from './holders/tracker.js';
import type { ProbeResult } from './probe/probe-mounts.js';
import type { CollateralReport } from './recovery/collateral.js';
import { dryRunPlan, recoveryTargets, type DryRunReport } from './recovery/plan.js';
import { RecoveryPolicy } from './recovery/policy.js';
import { runRecovery, type RecoveryReport, type StepReport } from './recovery/procedure.js';
import { realEffects, wire, type Effects } from './wire.js';

export interface CheckOptions {
  json: boolean;
  /** Run a recovery when a result is a trigger (ignores cooldown and `recovery.enabled`; honours dry_run). */
  recover: boolean;
  out: (line: string) => void;
}

export function formatResult(r: ProbeResult): string {
  const where = r.mounted ? (r.fstype ?? '') : r.automounted ? 'not mounted (autofs)' : 'not a mount point';
  const blocked = r.blockedMs !== null && r.skipped ? `, blocked ${(r.blockedMs / 1000).toFixed(1)} s` : '';
  const stuck = r.skipped ? ` (earlier probe still blocked: ${r.skipped}${blocked})` : '';
  return `${r.result.padEnd(17)} ${r.mount}  ${r.ms.toFixed(1)} ms  ${where}${stuck}`;
}

export function formatHolder(h: HolderReport): string {
  const who = `${h.comm}[${h.pid}]${h.uid === null ? '' : ` uid ${h.uid}`}, unit ${h.unit ?? 'none'}`;
  return `holder            ${h.mount}  ${h.state} mount ${h.mountId}: ${who}: ${describeHolds(h).join(', ')}`;
}

function formatCollateral(c: CollateralReport): string {
  const how = c.outcome === 'remounted' ? 'mounted again' : `NOT mounted again (${c.outcome})`;
  return `collateral        ${c.mount}  taken away by the recovery, ${how} (${c.via}: ${c.command.argv.join(' ')})`;
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
  const { clock } = effects;
  // A configured symbolic link is probed as the mount point it names, and said so.
  const links = await effects.resolveMounts(configured);
  const config: Config = { ...configured, mounts: links.paths.map((path) => ({ path })) };
  if (!opts.json) {
    for (const l of links.resolved) opts.out(`link              ${l.configured} -> ${l.mount}  (probing the mount point it names)`);
    for (const u of links.unresolved) opts.out(`link              ${u.configured}  not resolved (${u.why}): probed as configured`);
  }
  // Who is on a failing mount, and after --recover on the mount it detached; never restarted here.
  const { probe, holders, procedure, paths, close } = wire(config, effects, { role: 'check' });
  let results = await probe(paths);
  holders?.observe(results);
  await holders?.settled();
  let recovery: RecoveryReport | DryRunReport | undefined;

  // The daemon's rule, without cooldown: a timeout is a hang once its call has been blocked for
  // hang_after. With --recover, a younger one is waited for once (its call may return first).
  const r = config.recovery;
  const policy = new RecoveryPolicy({ enabled: true, triggers: r.triggers, hangAfterMs: r.hangAfterMs, cooldownMs: 0, maxBackoffMs: 0 });
  policy.observe(results, clock.now());
  const pending = opts.recover ? policy.pendingHangs(clock.now()) : [];
  if (pending.length > 0) {
    const waitMs = Math.max(...pending.map((p) => p.at)) - clock.now();
    if (!opts.json)
      opts.out(
        `waiting ${(waitMs / 1000).toFixed(1)} s: a timeout is a hang once its call has been blocked ${r.hangAfterMs / 1000} s (recovery.hang_after)`,
      );
    await sleep(clock, waitMs);
    const again = new Map((await probe(pending.map((p) => p.mount))).map((x) => [x.mount, x]));
    results = results.map((x) => again.get(x.mount) ?? x);
    policy.observe([...again.values()], clock.now());
  }
  const decision = policy.decide(clock.now());
  const latest = new Map(results.map((x) => [x.mount, x]));
  const targets =
    decision.kind === 'recover'
      ? recoveryTargets(
          decision.targets,
          (p) => latest.get(p),
          (p) => policy.blockedMs(p, clock.now()),
        )
      : [];
  if (opts.recover && targets.length > 0) {
    if (config.recovery.dryRun) {
      recovery = dryRunPlan(targets, config.recovery, effects.table());
    } else {
      if (!opts.json) for (const r of results) opts.out(formatResult(r));
      const report = await runRecovery(targets, config.recovery, {
        ...procedure,
        onStep: (s) => !opts.json && opts.out(formatStep(s)),
        onCollateral: (c) => !opts.json && opts.out(formatCollateral(c)),
      });
      recovery = report;
      const after = new Map(report.reprobe.map((r) => [r.mount, r]));
      results = results.map((r) => after.get(r.mount) ?? r);
      holders?.observe(report.reprobe, 'check');
      await holders?.settled();
    }
  }
  close();
  const held = holders?.holders() ?? [];

  if (opts.json) {
    const resolved = links.resolved.length > 0 ? { links: links.resolved } : {};
    opts.out(JSON.stringify({ ...resolved, results, holders: held, ...(recovery ? { recovery } : {}) }, null, 2));
  } else {
    if (recovery) opts.out(`recovery: ${recovery.result}`);
    if (recovery?.result === 'dry_run') for (const argv of recovery.wouldRun) opts.out(`would run         ${argv.join(' ')}`);
    if (recovery?.result === 'dry_run')
      for (const m of recovery.collateral) opts.out(`would remount     ${m}  (an NFS mount not under autofs the command may take away)`);
    for (const r of results) opts.out(formatResult(r));
    for (const h of held) opts.out(formatHolder(h));
  }
  return results.every((r) => r.result === 'ok') ? 0 : 1;
}
