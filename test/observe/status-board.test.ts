// The status board, report by report on a hand-moved clock: what GET /status and `status` show.
import { describe, expect, it } from 'vitest';
import type { CommandOutcome } from '../../src/exec/runner.js';
import type { HolderReport } from '../../src/holders/tracker.js';
import { createStatusBoard, MAX_EVENTS } from '../../src/observe/status-board.js';
import type { CollateralReport } from '../../src/recovery/collateral.js';
import type { RecoveryTarget } from '../../src/recovery/procedure.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { probeResult } from '../helpers/probe-result.js';

const DAGS = '/airflow/dags';
const LOGS = '/airflow/logs';
const iso = (clock: FakeClock): string => new Date(clock.wallNow()).toISOString();

function setup() {
  const clock = new FakeClock();
  const board = createStatusBoard({ clock, paths: [DAGS, LOGS], daemon: { version: '1.2.3', pid: 4242, schedule: '*/30 * * * * *' } });
  return { clock, board, sink: board.sink, holders: board.holderSink };
}

function outcome(argv: string[], over: Partial<CommandOutcome> = {}): CommandOutcome {
  return { argv, status: 'ok', exitCode: 0, signal: null, output: '', durationMs: 12, ...over };
}

function holder(over: Partial<HolderReport> = {}): HolderReport {
  return {
    path: DAGS,
    state: 'failing',
    pid: 777,
    start: '1234',
    ppid: 1,
    comm: 'airflow',
    uid: 50000,
    unit: 'airflow-scheduler.service',
    mountId: 9,
    holds: [
      { kind: 'cwd', target: `${DAGS}/sub` },
      { kind: 'fd', fd: 3, target: `${DAGS}/scheduler.log` },
    ],
    ...over,
  };
}

const target = (path: string, result: string, blockedMs: number | null = null): RecoveryTarget => ({
  path,
  mountId: 9,
  underAutofs: false,
  result,
  blockedMs,
});

describe('status board', () => {
  it('before any probe: every configured mount, unknown, and the daemon it describes', () => {
    const { clock, board } = setup();
    const started = iso(clock);
    clock.advance(5_000);
    const doc = board.snapshot();
    expect(doc.version).toBe(1);
    expect(doc.generated_at).toBe(iso(clock));
    expect(doc.daemon).toEqual({ version: '1.2.3', pid: 4242, schedule: '*/30 * * * * *', started_at: started });
    expect(doc.mounts.map((m) => [m.mount, m.state, m.since])).toEqual([
      [DAGS, 'unknown', null],
      [LOGS, 'unknown', null],
    ]);
    expect(doc.recovery).toBeNull();
    expect(doc.put_back).toEqual({ waiting: [], done: [] });
    expect(doc.holders).toEqual([]);
    expect(doc.events).toEqual([]);
    // Plain JSON: what the endpoint serves is the same document.
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('a mount keeps its failing-since through a change of fault, and gets a new since when it recovers', () => {
    const { clock, board, sink } = setup();
    sink.health({ kind: 'initial', path: DAGS, result: 'ok' }, probeResult(DAGS));
    sink.probed([probeResult(DAGS), probeResult(LOGS, { mountId: 12 })], 3);
    const okSince = iso(clock);
    clock.advance(30_000);
    sink.probed([probeResult(DAGS), probeResult(LOGS, { mountId: 12 })], 3);
    let dags = board.snapshot().mounts[0]!;
    expect(dags).toMatchObject({ state: 'ok', result: 'ok', since: okSince, last_probed_at: iso(clock), mount_id: 9 });

    clock.advance(30_000);
    const failedAt = iso(clock);
    const estale = probeResult(DAGS, { result: 'ESTALE', errno: 'ESTALE', mountId: 9 });
    sink.probed([estale, probeResult(LOGS)], 3);
    sink.health({ kind: 'failing', path: DAGS, result: 'ESTALE', previous: 'ok' }, estale);
    dags = board.snapshot().mounts[0]!;
    expect(dags).toMatchObject({ state: 'failing', result: 'ESTALE', errno: 'ESTALE', since: failedAt });

    clock.advance(30_000);
    const hung = probeResult(DAGS, { result: 'timeout', blockedMs: 5_000.4 });
    sink.probed([hung, probeResult(LOGS)], 5_000);
    sink.health({ kind: 'changed', path: DAGS, result: 'timeout', previous: 'ESTALE' }, hung);
    dags = board.snapshot().mounts[0]!;
    expect(dags).toMatchObject({
      state: 'failing',
      result: 'timeout',
      errno: null,
      since: failedAt,
      blocked_ms: 5_000,
      last_probed_at: iso(clock),
    });

    clock.advance(10_000);
    const back = probeResult(DAGS, { mountId: 31 });
    sink.health({ kind: 'recovered', path: DAGS, previous: 'timeout', downMs: 70_000 }, back);
    dags = board.snapshot().mounts[0]!;
    expect(dags).toMatchObject({ state: 'ok', since: iso(clock), mount_id: 31 });
    expect(board.snapshot().mounts[1]).toMatchObject({ state: 'ok', since: okSince });

    expect(board.snapshot().events.map((e) => [e.level, e.text])).toEqual([
      ['info', `mount recovered: ${DAGS} after 70.0 s down (was timeout)`],
      ['warn', `mount fault changed: ${DAGS}: timeout (was ESTALE)`],
      ['warn', `mount failing: ${DAGS}: ESTALE (was ok)`],
      ['info', `mount healthy: ${DAGS}`],
    ]);
  });

  it('a recovery: running with its targets, each step as it finishes, then its outcome per mount', () => {
    const { clock, board, sink } = setup();
    clock.advance(1_000);
    const startedAt = iso(clock);
    sink.recoveryStarted([target(DAGS, 'ESTALE'), target(LOGS, 'timeout', 16_000.6)]);
    let r = board.snapshot().recovery!;
    expect(r).toMatchObject({ running: true, started_at: startedAt, finished_at: null, result: null, steps: [] });
    expect(r.targets).toEqual([
      { mount: DAGS, result: 'ESTALE', blocked_ms: null, outcome: null },
      { mount: LOGS, result: 'timeout', blocked_ms: 16_001, outcome: null },
    ]);

    clock.advance(40);
    const umount = outcome(['umount', '-a', '-t', 'nfs,nfs4'], {
      status: 'failed',
      exitCode: 32,
      output: `umount: busy\n${'x'.repeat(900)}`,
    });
    sink.step({ kind: 'command', outcome: umount });
    clock.advance(20);
    sink.step({ kind: 'escalation', path: LOGS, outcome: outcome(['umount', '-l', LOGS], { durationMs: 3 }), detached: true });
    r = board.snapshot().recovery!;
    expect(r.running).toBe(true);
    expect(r.steps).toHaveLength(2);
    expect(r.steps[0]).toMatchObject({ kind: 'command', mount: null, argv: umount.argv, status: 'failed', exit_code: 32, duration_ms: 12 });
    expect(r.steps[0]!.output.length).toBeLessThan(510);
    expect(r.steps[0]!.output.startsWith('umount: busy')).toBe(true);
    expect(r.steps[1]).toMatchObject({ kind: 'escalation', mount: LOGS, status: 'ok', detached: true, at: iso(clock) });

    const fstab: CollateralReport = {
      mountPoint: '/data',
      fstype: 'nfs4',
      source: 'srv:/data',
      via: 'fstab',
      outcome: 'timeout',
      command: outcome(['mount', '/data'], { status: 'timeout', exitCode: null }),
      argv: ['mount', '/data'],
      server: { host: '10.0.0.5', port: 2049 },
    };
    sink.collateral(fstab);
    clock.advance(100);
    sink.recoveryFinished({ result: 'failed', steps: [], reprobe: [], stillFailing: [LOGS], collateral: [fstab], durationMs: 160 }, [
      target(DAGS, 'ESTALE'),
      target(LOGS, 'timeout'),
    ]);
    r = board.snapshot().recovery!;
    expect(r).toMatchObject({ running: false, finished_at: iso(clock), result: 'failed', still_failing: [LOGS], duration_ms: 160 });
    expect(r.targets.map((t) => [t.mount, t.outcome])).toEqual([
      [DAGS, 'ok'],
      [LOGS, 'still_failing'],
    ]);
    expect(r.collateral).toEqual([
      expect.objectContaining({ mount: '/data', via: 'fstab', outcome: 'timeout', argv: ['mount', '/data'], exit_code: null }),
    ]);
    // The static mount it could not put back waits for its server.
    const takenAt = new Date(clock.wallNow() - 100).toISOString();
    expect(board.snapshot().put_back.waiting).toEqual([
      { mount: '/data', server: '10.0.0.5:2049', since: takenAt, outcome: 'timeout', tries: 1, at: null },
    ]);
    expect(
      board
        .snapshot()
        .events.slice(0, 3)
        .map((e) => e.level),
    ).toEqual(['error', 'error', 'warn']);
    expect(board.snapshot().events[0]!.text).toBe('recovery finished: failed in 160 ms, 0 step(s), still failing: /airflow/logs');
  });

  it('a dry run: what would run, and each target marked dry_run', () => {
    const { board, sink } = setup();
    sink.recoveryStarted([target(DAGS, 'ESTALE')]);
    sink.recoveryFinished({ result: 'dry_run', wouldRun: [['umount', '-a', '-t', 'nfs,nfs4']], collateral: [] }, [target(DAGS, 'ESTALE')]);
    const r = board.snapshot().recovery!;
    expect(r).toMatchObject({ running: false, result: 'dry_run', would_run: [['umount', '-a', '-t', 'nfs,nfs4']] });
    expect(r.targets[0]!.outcome).toBe('dry_run');
  });

  it('a static mount waiting for its server is put back when it answers: from waiting to done', () => {
    const { clock, board, sink } = setup();
    const server = { host: '10.0.0.5', port: 2049 };
    const failed: CollateralReport = {
      mountPoint: '/data',
      fstype: 'nfs4',
      source: 'srv:/data',
      via: 'recorded',
      outcome: 'failed',
      command: outcome(['mount', '-t', 'nfs4', 'srv:/data', '/data'], { status: 'failed', exitCode: 32 }),
      argv: [],
      server,
    };
    sink.collateral(failed);
    const since = iso(clock);
    clock.advance(60_000);
    const answering = { key: '10.0.0.5:2049', address: server, answering: true, at: 0, downSince: 0, unanswered: 30, reason: null };
    sink.server(answering, ['/data'], 60_000);
    sink.putBack({ mountPoint: '/data', server, outcome: 'failed', command: null, downMs: 60_000, tries: 2 });
    expect(board.snapshot().put_back.waiting).toEqual([
      { mount: '/data', server: '10.0.0.5:2049', since, outcome: 'failed', tries: 2, at: null },
    ]);
    clock.advance(5_000);
    sink.putBack({ mountPoint: '/data', server, outcome: 'remounted', command: outcome(['mount', '/data']), downMs: 65_000, tries: 3 });
    const doc = board.snapshot();
    expect(doc.put_back.waiting).toEqual([]);
    expect(doc.put_back.done).toEqual([{ mount: '/data', server: '10.0.0.5:2049', since, outcome: 'remounted', tries: 3, at: iso(clock) }]);
    expect(doc.events.map((e) => e.text)).toEqual([
      'static mount put back: /data (remounted, server 10.0.0.5:2049 answers again)',
      'static mount still not mounted: /data (failed, try 2)',
      'server answering again: 10.0.0.5:2049 after 60.0 s (/data)',
      'mount taken away by recovery: /data: not mounted again (failed)',
    ]);
  });

  it('an incident resumed at start: its static mounts waiting to be put back, since when they were taken away', () => {
    const { clock, board } = setup();
    clock.advance(90_000);
    const server = { host: 'srv', port: 2049 };
    board.resumed(
      '/run/state.json',
      [{ mountPoint: '/data', argv: ['mount', '/data'], server, since: 30_000, tries: 2, lastTryAt: null, running: false }],
      new Map(),
    );
    const doc = board.snapshot();
    expect(doc.put_back.waiting).toEqual([
      {
        mount: '/data',
        server: 'srv:2049',
        since: new Date(clock.wallNow() - 60_000).toISOString(),
        outcome: 'not_mounted',
        tries: 2,
        at: null,
      },
    ]);
    expect(doc.events.map((e) => [e.level, e.text])).toEqual([['info', 'incident state resumed from /run/state.json']]);
  });

  it('a resumed failing path keeps its since while it still fails at the first probe; one found ok is ok since then', () => {
    const { clock, board, sink } = setup();
    clock.advance(90_000);
    const failedAt = new Date(clock.wallNow() - 80_000).toISOString();
    board.resumed(
      '/run/state.json',
      [],
      new Map([
        [DAGS, 10_000],
        [LOGS, 20_000],
        ['/gone', 5_000],
      ]),
    );
    clock.advance(1_000);
    sink.probed([probeResult(DAGS, { result: 'timeout' }), probeResult(LOGS)], 3);
    let doc = board.snapshot();
    expect(doc.mounts.map((m) => [m.mount, m.state, m.since])).toEqual([
      [DAGS, 'failing', failedAt],
      [LOGS, 'ok', iso(clock)],
    ]);

    // Once probed, the resumed since is spent: failing anew later starts a since of its own.
    clock.advance(1_000);
    sink.probed([probeResult(LOGS, { result: 'ESTALE', errno: 'ESTALE' })], 3);
    doc = board.snapshot();
    expect(doc.mounts.find((m) => m.mount === LOGS)?.since).toBe(iso(clock));
  });

  it('holders: added when seen, kept (with their first since) when detached, removed when gone; orphans as mount "unknown"', () => {
    const { clock, board, holders } = setup();
    holders.holderSeen(holder());
    const seenAt = iso(clock);
    holders.holderSeen(holder({ pid: 778, comm: 'gunicorn', unit: null, holds: [{ kind: 'root', target: DAGS }] }));
    clock.advance(2_000);
    holders.holderDetached(holder({ state: 'detached', holds: [{ kind: 'cwd', target: '/sub' }] }));
    let doc = board.snapshot();
    expect(doc.holders).toEqual([
      {
        mount: DAGS,
        state: 'detached',
        mount_id: 9,
        pid: 777,
        comm: 'airflow',
        uid: 50000,
        unit: 'airflow-scheduler.service',
        holds: ['cwd /sub'],
        since: seenAt,
      },
      expect.objectContaining({ pid: 778, state: 'failing', unit: null, holds: [`root ${DAGS}`] }),
    ]);
    holders.holderGone(holder({ pid: 778, comm: 'gunicorn', unit: null }));
    holders.orphanByDevice({
      pid: 99,
      start: '5',
      ppid: 1,
      comm: 'python3',
      uid: 0,
      unit: 'old.service',
      mountId: null,
      dev: '0:52',
      holds: [{ kind: 'fd', fd: 4, target: '/x.log' }],
    });
    doc = board.snapshot();
    expect(doc.holders.map((h) => [h.mount, h.state, h.pid, h.unit, h.holds])).toEqual([
      [DAGS, 'detached', 777, 'airflow-scheduler.service', ['cwd /sub']],
      ['unknown', 'unknown', 99, 'old.service', ['fd 4 → /x.log']],
    ]);
    expect(doc.events.map((e) => e.text)).toEqual([
      'holder found on a mount in no mount table: python3[99] unit old.service',
      `holder gone from ${DAGS}: gunicorn[778] unit none`,
      `holder left on detached mount ${DAGS}: airflow[777] unit airflow-scheduler.service`,
      `holder found on failing mount ${DAGS}: gunicorn[778] unit none`,
      `holder found on failing mount ${DAGS}: airflow[777] unit airflow-scheduler.service`,
    ]);
  });

  it('a held recovery is one event per new reason, not one per tick', () => {
    const { board, sink } = setup();
    for (let i = 0; i < 5; i++) sink.held({ kind: 'hold', reason: 'cooldown', targets: [DAGS], untilMs: 1 });
    sink.held({ kind: 'hold', reason: 'backoff', targets: [DAGS], untilMs: 1 });
    expect(board.snapshot().events.map((e) => e.text)).toEqual([`recovery held (backoff): ${DAGS}`, `recovery held (cooldown): ${DAGS}`]);
  });

  it('keeps the last 50 events, newest first, each with its wall-clock time', () => {
    const { clock, board, holders } = setup();
    for (let i = 0; i < MAX_EVENTS + 10; i++) {
      clock.advance(1_000);
      holders.restart({ unit: `u${i}.service`, result: 'ok', paths: [DAGS], pids: [i] });
    }
    const { events } = board.snapshot();
    expect(events).toHaveLength(MAX_EVENTS);
    expect(events[0]).toEqual({
      at: iso(clock),
      level: 'info',
      text: `unit restarted: u${MAX_EVENTS + 9}.service (it held a detached mount)`,
    });
    expect(events.at(-1)!.text).toBe('unit restarted: u10.service (it held a detached mount)');
  });

  it('a snapshot is a copy: later reports do not change a document already handed out', () => {
    const { board, sink } = setup();
    const before = board.snapshot();
    sink.probed([probeResult(DAGS, { result: 'EIO', errno: 'EIO' })], 2);
    expect(before.mounts[0]!.state).toBe('unknown');
    expect(board.snapshot().mounts[0]!.state).toBe('failing');
  });

  it('a result for a path not configured is ignored', () => {
    const { board, sink } = setup();
    sink.probed([probeResult('/elsewhere')], 1);
    expect(board.snapshot().mounts.map((m) => m.mount)).toEqual([DAGS, LOGS]);
  });
});
