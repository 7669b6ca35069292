// `nfs-health-checkd check`: one probe round, a line (or JSON) per mount, exit 0 when all are ok.
// Probes run in child processes, not threads: a probe blocked in the kernel must not stop this
// process from exiting with its status (Node's exit would wait for a blocked thread forever).
import { systemClock } from './clock.js';
import type { Config } from './config/types.js';
import { createProcessScanner } from './holders/scanner.js';
import { describeHolds, type HolderReport } from './holders/tracker.js';
import { HolderWatch } from './holders/watch.js';
import { fanOutHolders } from './observe/sink.js';
import { readMountTable } from './probe/mountinfo.js';
import { createProbeMounts, type ProbeResult } from './probe/probe-mounts.js';
import { Prober } from './probe/prober.js';
import { spawnProcessWorker } from './probe/worker.js';
import { recoveryTarget, runRecovery, type RecoveryReport, type StepReport } from './recovery/procedure.js';
import { createRunner } from './recovery/runner.js';

export interface CheckOptions {
  json: boolean;
  /** Run a recovery when a result is a trigger (ignores cooldown and `recovery.enabled`; honours dry_run). */
  recover: boolean;
  out: (line: string) => void;
}

export function formatResult(r: ProbeResult): string {
  const where = r.mounted ? (r.fstype ?? '') : r.automounted ? 'not mounted (autofs)' : 'not a mount point';
  const stuck = r.skipped ? ` (earlier probe still blocked: ${r.skipped})` : '';
  return `${r.result.padEnd(16)} ${r.mount}  ${r.ms.toFixed(1)} ms  ${where}${stuck}`;
}

export function formatHolder(h: HolderReport): string {
  const who = `${h.comm}[${h.pid}]${h.uid === null ? '' : ` uid ${h.uid}`}, unit ${h.unit ?? 'none'}`;
  return `holder           ${h.mount}  ${h.state} mount ${h.mountId}: ${who}: ${describeHolds(h).join(', ')}`;
}

function formatStep(s: StepReport): string {
  const o = s.outcome;
  const code = o.exitCode === null ? '' : ` exit ${o.exitCode}`;
  const out = o.output ? `: ${o.output.split('\n')[0]}` : '';
  return `recovery ${s.kind}: ${o.argv.join(' ')} -> ${o.status}${code} in ${o.durationMs} ms${out}`;
}

/** Returns the exit status: 0 when every mount is ok (after recovery, when asked for), else 1. */
export async function runCheck(config: Config, opts: CheckOptions): Promise<number> {
  const clock = systemClock;
  const prober = new Prober({
    timeoutMs: config.probe.timeoutMs,
    maxStuck: config.probe.maxStuckPerMount,
    spawn: spawnProcessWorker,
    clock,
  });
  const probe = createProbeMounts(prober, readMountTable);
  const paths = config.mounts.map((m) => m.path);
  // Who is on a failing mount, and after --recover on the mount it detached; never restarted here.
  const holders = config.holders.enabled
    ? new HolderWatch({
        config: { ...config.holders, restartUnits: [] },
        dryRun: true,
        paths,
        scan: createProcessScanner({ timeoutMs: config.holders.scanTimeoutMs, clock }),
        table: readMountTable,
        run: createRunner(clock),
        clock,
        sink: fanOutHolders([]), // check reports holders once, at the end, not as they come
        selfPid: process.pid,
        ownUnit: null,
      })
    : undefined;
  let results = await probe(paths);
  holders?.observe(results);
  await holders?.settled();
  let recovery: RecoveryReport | { result: 'dry_run' } | undefined;

  const triggered = results.filter((r) => config.recovery.triggers.includes(r.result));
  if (opts.recover && triggered.length > 0) {
    if (config.recovery.dryRun) {
      recovery = { result: 'dry_run' };
    } else {
      if (!opts.json) for (const r of results) opts.out(formatResult(r));
      const report = await runRecovery(
        triggered.map(recoveryTarget),
        config.recovery,
        { run: createRunner(clock, { mountNamespace: config.recovery.mountNamespace }), table: readMountTable, probe, clock, onStep: (s) => !opts.json && opts.out(formatStep(s)) },
      );
      recovery = report;
      const after = new Map(report.reprobe.map((r) => [r.mount, r]));
      results = results.map((r) => after.get(r.mount) ?? r);
      holders?.observe(report.reprobe, 'check');
      await holders?.settled();
    }
  }
  prober.close();
  const held = holders?.holders() ?? [];

  if (opts.json) {
    opts.out(JSON.stringify({ results, holders: held, ...(recovery ? { recovery } : {}) }, null, 2));
  } else {
    if (recovery) opts.out(`recovery: ${recovery.result}`);
    for (const r of results) opts.out(formatResult(r));
    for (const h of held) opts.out(formatHolder(h));
  }
  return results.every((r) => r.result === 'ok') ? 0 : 1;
}
