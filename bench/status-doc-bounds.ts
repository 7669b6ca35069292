// The status documents figure 13 renders, made by a real status board (src/observe/status-board.ts)
// from the reports its sinks get, so that what it keeps is what the board keeps: fed past every
// bound it has (events, recovery steps, holders, put-backs done, a step's output), the snapshot is
// the largest document the board hands GET / and GET /status for that many mounts.
import type { CommandOutcome } from '../src/exec/runner.js';
import type { HolderReport } from '../src/holders/tracker.js';
import { createStatusBoard, type StatusBoard, type StatusDoc } from '../src/observe/status-board.js';
import type { ProbeResult } from '../src/probe/probe-mounts.js';
import type { RecoveryTarget } from '../src/recovery/procedure.js';
import { FakeClock } from '../test/helpers/fake-clock.js';

/** What is fed: more of each than the board keeps. */
export const FED = { steps: 60, holders: 600, putBacksDone: 25, collateral: 20, outputChars: 2_000 } as const;

const SCHEDULE = '*/30 * * * * *';

/** The Nth configured path: NFS exports of an Airflow fleet. */
export const pathOf = (i: number): string => `/srv/nfs/share-${String(i).padStart(3, '0')}/dags`;

function probeResult(path: string, i: number, over: Partial<ProbeResult> = {}): ProbeResult {
  return {
    path,
    result: 'ok',
    ms: 1.4 + (i % 7) / 10,
    mounted: true,
    fstype: 'nfs4',
    mountId: 100 + i,
    underAutofs: false,
    stuck: false,
    skipped: null,
    blockedMs: null,
    ...over,
  };
}

function outcome(argv: string[], over: Partial<CommandOutcome> = {}): CommandOutcome {
  return { argv, status: 'ok', exitCode: 0, signal: null, output: '', durationMs: 12, ...over };
}

function holder(i: number, path: string): HolderReport {
  return {
    path,
    state: 'failing',
    pid: 20_000 + i,
    start: String(5_000_000 + i),
    ppid: 1,
    comm: i % 3 === 0 ? 'airflow' : i % 3 === 1 ? 'python3' : 'celery',
    uid: 50_000,
    unit: `airflow-worker@${i % 40}.service`,
    mountId: 100 + (i % 500),
    holds: [
      { kind: 'cwd', target: `${path}/sub-${i}` },
      { kind: 'fd', fd: 3 + (i % 20), target: `${path}/logs/task-${i}.log` },
      { kind: 'mmap', target: `${path}/example_dag_${i}.py` },
    ],
  };
}

/**
 * A board of `mounts` paths, each probed healthy. The daemon's own document on healthy mounts:
 * every mount ok and one event each (up to the board's bound of events).
 */
export function healthyBoard(mounts: number): { board: StatusBoard; clock: FakeClock } {
  const clock = new FakeClock();
  const paths = Array.from({ length: mounts }, (_, i) => pathOf(i));
  const board = createStatusBoard({ clock, paths, daemon: { version: '0.1.0', pid: 4242, schedule: SCHEDULE } });
  const results = paths.map((p, i) => probeResult(p, i));
  clock.advance(1_000);
  board.sink.probed(results, 5);
  for (const r of results) board.sink.health({ kind: 'initial', path: r.path, result: 'ok' }, r);
  return { board, clock };
}

/**
 * The worst case for `mounts` paths: every one failing (a hang on every other, ESTALE on the rest),
 * a recovery of them all that failed after more steps than the board keeps, each with a long
 * output; static mounts it took away, some put back (more than the board keeps) and some waiting;
 * more processes left on the mounts than the board keeps; and events past its bound.
 */
export function boundedBoard(mounts: number): StatusBoard {
  const { board, clock } = healthyBoard(mounts);
  const { sink, holderSink } = board;
  const paths = Array.from({ length: mounts }, (_, i) => pathOf(i));
  clock.advance(60_000);
  const failing = paths.map((p, i) =>
    i % 2 === 0
      ? probeResult(p, i, { result: 'timeout', ms: 5_000, blockedMs: 35_000 + i })
      : probeResult(p, i, { result: 'ESTALE', errno: 'ESTALE', ms: 0.8 }),
  );
  sink.probed(failing, 5_000);
  for (const r of failing) sink.health({ kind: 'failing', path: r.path, result: r.result, previous: 'ok' }, r);
  for (let i = 0; i < FED.holders; i++) holderSink.holderSeen(holder(i, paths[i % mounts] ?? pathOf(0)));

  clock.advance(1_000);
  const targets: RecoveryTarget[] = failing.map((r) => ({
    path: r.path,
    mountId: r.mountId,
    underAutofs: false,
    result: r.result,
    blockedMs: r.blockedMs,
  }));
  sink.recoveryStarted(targets);
  const busy = (p: string): string => `umount: ${p}: target is busy.\n`.repeat(FED.outputChars).slice(0, FED.outputChars);
  sink.step({
    kind: 'command',
    outcome: outcome(['umount', '-a', '-t', 'nfs,nfs4'], { status: 'failed', exitCode: 32, output: busy(paths[0] ?? '/') }),
  });
  for (let s = 1; s < FED.steps; s++) {
    const p = paths[s % mounts] ?? pathOf(0);
    clock.advance(100);
    sink.step({
      kind: 'escalation',
      path: p,
      outcome: outcome(['umount', s % 2 === 0 ? '-l' : '-f', '--', p], {
        status: s % 2 === 0 ? 'ok' : 'timeout',
        exitCode: s % 2 === 0 ? 0 : null,
        signal: s % 2 === 0 ? null : 'SIGKILL',
        output: s % 2 === 0 ? '' : busy(p),
        durationMs: s % 2 === 0 ? 14 : 10_002,
      }),
      detached: s % 2 === 0,
    });
  }
  for (let c = 0; c < FED.collateral; c++) {
    const mountPoint = `/mnt/static-${c}`;
    sink.collateral({
      mountPoint,
      fstype: 'nfs4',
      source: `nfs-b:/export/static-${c}`,
      via: 'fstab',
      outcome: 'failed',
      command: outcome(['mount', mountPoint], {
        status: 'failed',
        exitCode: 32,
        output: 'mount.nfs4: Connection refused',
        durationMs: 2_004,
      }),
      argv: ['mount', mountPoint],
      server: { host: 'nfs-b', port: 2049 },
    });
  }
  clock.advance(1_000);
  sink.recoveryFinished(
    { result: 'failed', steps: [], reprobe: failing, stillFailing: paths, collateral: [], durationMs: 12_345 },
    targets,
  );
  for (let d = 0; d < FED.putBacksDone; d++) {
    clock.advance(500);
    sink.putBack({
      mountPoint: `/mnt/archive-${d}`,
      server: { host: 'nfs-c', port: 2049 },
      outcome: 'remounted',
      command: outcome(['mount', `/mnt/archive-${d}`]),
      downMs: 90_000,
      tries: 2,
    });
  }
  return board;
}

/** How much of each part a document holds. */
export function docCounts(doc: StatusDoc): {
  mounts: number;
  holders: number;
  steps: number;
  targets: number;
  collateral: number;
  events: number;
  putBackWaiting: number;
  putBackDone: number;
  longestOutput: number;
} {
  const r = doc.recovery;
  return {
    mounts: doc.mounts.length,
    holders: doc.holders.length,
    steps: r?.steps.length ?? 0,
    targets: r?.targets.length ?? 0,
    collateral: r?.collateral.length ?? 0,
    events: doc.events.length,
    putBackWaiting: doc.put_back.waiting.length,
    putBackDone: doc.put_back.done.length,
    longestOutput: Math.max(0, ...(r?.steps ?? []).map((s) => s.output.length)),
  };
}
