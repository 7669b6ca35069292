// Figure 2: time to recovered — fault onset → the mount answers `ls` again through real autofs
// (Debian automount in front of faultfs), with a process holding the mount as Airflow does (cwd
// there and a file open). Scenarios: ESTALE after a failover (faultfs `stale`: mounts made before
// the switch answer ESTALE, new ones work), and a killable hang that ends when the server comes
// back (`hang_killable`, then `ok` COMEBACK later). An observer runs `ls PATH` (1 s deadline) every
// 100 ms, as Airflow's next access would; its access is also what lets autofs mount afresh.
// Daemon and baseline run one after the other (the baseline's `umount -a -t fuse.faultfs` would
// otherwise unmount the daemon side's mounts too).
import path from 'node:path';
import { startAutofs } from '../test/helpers/autofs.js';
import { runBounded } from '../test/helpers/faultfs.js';
import { is } from '../test/helpers/daemon.js';
import {
  endGroup,
  epochMs,
  holdMountDetached,
  poll,
  progress,
  sleep,
  startBaselineTimer,
  startBenchDaemon,
  summarize,
  ratio,
  type BenchOptions,
  type Summary,
} from './common.js';

export const COMEBACK_MS = 5_000;
const WINDOW_MS = 20_000;

type Scenario = 'ESTALE (failover)' | 'killable hang, server back after 5 s';
const SCENARIOS: Scenario[] = ['ESTALE (failover)', 'killable hang, server back after 5 s'];

export interface RecoverySample {
  scenario: Scenario;
  side: 'daemon' | 'baseline';
  run: number;
  /** onset → first successful `ls` that started after the onset; null = not within the window. */
  recoveredMs: number | null;
}

export interface RecoveryRow {
  scenario: Scenario;
  daemon: Summary;
  baseline: Summary;
  daemonNever: number;
  baselineNever: number;
  runs: number;
  ratioMedian: number | null;
}

export interface RecoveryResult {
  rows: RecoveryRow[];
  samples: RecoverySample[];
  windowMs: number;
  note: string;
}

async function oneRun(dir: string, scenario: Scenario, side: 'daemon' | 'baseline', run: number): Promise<RecoverySample> {
  const auto = await startAutofs(['dags'] as const, { dir });
  const p = auto.paths.dags;
  let stopContender: (() => Promise<boolean>) | undefined;
  let holder: ReturnType<typeof holdMountDetached> | undefined;
  let comeback: NodeJS.Timeout | undefined;
  try {
    const first = await runBounded('ls', [p], 5_000);
    if (first.code !== 0) throw new Error(`autofs did not mount ${p}: ${first.stderr}`);
    holder = holdMountDetached(p, path.join(p, 'example_dag.py'));
    if (side === 'daemon') {
      const d = startBenchDaemon(dir, `rec-${run}-${Date.now()}`, {
        mounts: [p],
        schedule: '* * * * * *',
        timeoutS: 1,
        recovery: true,
        level: 'info',
      });
      stopContender = d.stop;
      if (!(await d.waitFor(is('mount healthy', p), 15_000))) throw new Error('daemon not healthy');
    } else {
      const b = startBaselineTimer(dir, `rec-${run}-${Date.now()}`, {
        periodS: 1,
        timeoutS: 1,
        umount: 'umount -a -t fuse.faultfs',
        mounts: [p],
      });
      stopContender = b.stop;
      if (!(await poll(() => b.entries().length > 0, 15_000))) throw new Error('baseline not healthy');
    }
    await sleep(100 + Math.random() * 1000); // the failover comes after the holder's start, at a random phase
    const onset = epochMs();
    if (scenario === 'ESTALE (failover)') auto.setMode('dags', 'stale');
    else {
      auto.setMode('dags', 'hang_killable');
      comeback = setTimeout(() => auto.setMode('dags', 'ok'), COMEBACK_MS);
    }
    let recoveredMs: number | null = null;
    while (epochMs() - onset < WINDOW_MS) {
      const started = epochMs();
      const r = await runBounded('ls', [p], 1_000);
      if (r.code === 0 && started >= onset) {
        recoveredMs = epochMs() - onset;
        break;
      }
      await sleep(100);
    }
    return { scenario, side, run, recoveredMs };
  } finally {
    if (comeback) clearTimeout(comeback);
    const stopping = stopContender?.();
    if (holder) await endGroup(holder);
    await auto.stop().catch((e: Error) => progress(`autofs cleanup: ${e.message.split('\n')[0]}`));
    await stopping;
  }
}

export async function runRecovery(dir: string, opts: BenchOptions): Promise<RecoveryResult> {
  const runs = opts.quick ? 3 : 10;
  const samples: RecoverySample[] = [];
  for (const scenario of SCENARIOS) {
    for (const side of ['daemon', 'baseline'] as const) {
      for (let run = 0; run < runs; run++) {
        progress(`recovery: ${scenario}, ${side}, run ${run + 1}/${runs}`);
        samples.push(await oneRun(dir, scenario, side, run));
      }
    }
  }
  const rows = SCENARIOS.map((scenario): RecoveryRow => {
    const pick = (side: 'daemon' | 'baseline') =>
      samples.filter((s) => s.scenario === scenario && s.side === side).flatMap((s) => (s.recoveredMs === null ? [] : [s.recoveredMs]));
    const d = pick('daemon');
    const b = pick('baseline');
    const daemon = summarize(d);
    const baseline = summarize(b);
    return {
      scenario,
      daemon,
      baseline,
      daemonNever: runs - d.length,
      baselineNever: runs - b.length,
      runs,
      ratioMedian: d.length === runs && b.length === runs ? ratio(daemon.median, baseline.median) : null,
    };
  });
  return {
    rows,
    samples,
    windowMs: WINDOW_MS,
    note: '1 s schedule and 1 s timeout on both sides; baseline unmount command `umount -a -t fuse.faultfs`; daemon recovery as in the integration tests (umount -a, then umount -f / -l per path).',
  };
}
