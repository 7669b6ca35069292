// The e2e suite's judge, on hand-written guest outputs: each check passes on what a good run
// leaves and fails on what a bad one would.
import { describe, expect, it } from 'vitest';
import {
  analyzeBaseline,
  analyzeFailover,
  analyzeFailoverReader,
  analyzeHolders,
  analyzeInstall,
  analyzeNegativeCache,
  analyzeRemove,
  analyzeSilent,
  analyzeSystemd,
  describeEarlyProbe,
  needlessRecoveries,
  parseJob,
  parseMetrics,
  withNeedless,
  type Job,
} from './analyze.js';

const T0 = Date.parse('2026-11-26T12:00:00.000Z');
const at = (s: number): number => T0 + s * 1000;

/** One journal record as `journalctl -o json` writes it: a daemon line (PID 500) or systemd's. */
function rec(s: number, fields: Record<string, unknown>, pid = '500'): string {
  return JSON.stringify({ _PID: pid, MESSAGE: JSON.stringify({ level: 'info', time: new Date(at(s)).toISOString(), ...fields }) });
}

/** The escalation's `umount -l` that detached `mount`, as the daemon logs it. */
function detachStep(s: number, mount = '/airflow/dags', durationMs = 200): string {
  return rec(s, {
    msg: 'recovery step',
    step: 'escalation',
    mount,
    command: `umount -l -- ${mount}`,
    status: 'ok',
    detached: true,
    duration_ms: durationMs,
  });
}

function job(o: {
  rc?: number | null;
  events?: Record<string, number>;
  values?: Record<string, string | number>;
  lines?: string[];
  metrics?: string;
}): Job {
  return parseJob({
    rc: o.rc === undefined ? 0 : o.rc,
    events: Object.entries(o.events ?? {})
      .map(([k, s]) => `${k} ${at(s) * 1000}`)
      .join('\n'),
    values: Object.entries(o.values ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join('\n'),
    journalJson: (o.lines ?? []).join('\n'),
    metrics: o.metrics ?? '',
  });
}

const failed = (a: { checks: { what: string; ok: boolean }[] }): string[] => a.checks.filter((c) => !c.ok).map((c) => c.what);

describe('parseJob', () => {
  it("keeps the daemon's JSON lines, sets aside systemd's, and names a daemon line that is not JSON", () => {
    const j = job({
      lines: [
        JSON.stringify({ _PID: '1', MESSAGE: 'Started nfs-health-checkd.service.' }),
        rec(1, { msg: 'mount healthy', mount: '/airflow/dags' }),
        JSON.stringify({ _PID: '500', MESSAGE: 'Error: boom' }),
        '-- No entries --',
      ],
    });
    expect(j.daemon).toHaveLength(1);
    expect(j.daemon[0]).toMatchObject({ t: at(1), msg: 'mount healthy', mount: '/airflow/dags', journal_pid: 500 });
    expect(j.notJson).toEqual(['Error: boom']);
  });

  it('reads events in µs as ms, the first of a repeated one, and a scrape keyed as written', () => {
    const j = parseJob({
      rc: 0,
      events: `a ${at(2) * 1000}\na ${at(9) * 1000}\n`,
      values: 'x 1\ny two words\n',
      journalJson: '',
      metrics: '',
    });
    expect(j.events.get('a')).toBe(at(2));
    expect(j.values.get('y')).toBe('two words');
    const m = parseMetrics('# HELP x\nnfs_health_check_recoveries_total{result="success"} 2\nnfs_recovery_duration_seconds_count 1\n');
    expect(m.get('nfs_health_check_recoveries_total{result="success"}')).toBe(2);
    expect(m.get('nfs_recovery_duration_seconds_count')).toBe(1);
  });
});

describe('analyzeFailover', () => {
  // /mnt/static as findmnt shows it: mounted at boot from netns "client", again by the daemon.
  const staticAt = (clientaddr: string): string =>
    `10.99.0.1:/srv/a/static nfs4   rw,relatime,sync,vers=4.1,rsize=8192,wsize=8192,soft,noac,proto=tcp,timeo=10,retrans=2,sec=sys,clientaddr=${clientaddr},lookupcache=none,local_lock=none,addr=10.99.0.1`;
  const remounted = (s: number): string =>
    rec(s, {
      level: 'warn',
      msg: 'mount taken away by recovery: mounted again',
      mount: '/mnt/static',
      fstype: 'nfs4',
      source: '10.99.0.1:/srv/a/static',
      via: 'fstab',
      outcome: 'remounted',
      command: 'mount -- /mnt/static',
      duration_ms: 900,
    });
  const good = (recoveredAt: number) => ({
    events: {
      failover_start: 0,
      failover_done: 2,
      dags_new_server: recoveredAt,
      logs_new_server: recoveredAt + 1,
      static_new_server: recoveredAt + 1.5,
    },
    values: {
      holders_alive: 1,
      new_log_written: 1,
      holder_cwd_readable: 0,
      static_boot_mounted: 1,
      static_before: staticAt('10.99.0.2'),
      static_old_server: 1,
      static_after: staticAt('10.99.0.1'),
    },
    lines: [
      rec(-5, { msg: 'mount healthy', mount: '/airflow/dags', result: 'ok' }),
      rec(recoveredAt - 4, { msg: 'mount failing', mount: '/airflow/dags', result: 'ESTALE' }),
      rec(recoveredAt - 3.5, {
        msg: 'recovery step',
        step: 'command',
        command: 'umount -a -t nfs,nfs4',
        status: 'failed',
        exit_code: 16,
        output: 'umount.nfs4: /airflow/dags: device is busy',
        duration_ms: 300,
      }),
      rec(recoveredAt - 3, {
        msg: 'recovery step',
        step: 'escalation',
        mount: '/airflow/dags',
        command: 'umount -f -- /airflow/dags',
        status: 'failed',
        detached: false,
        duration_ms: 200,
      }),
      detachStep(recoveredAt - 2.5),
      remounted(recoveredAt - 1.2),
      rec(recoveredAt - 1, {
        msg: 'recovery finished',
        result: 'success',
        escalated: true,
        mounts: ['/airflow/dags'],
        steps: 3,
        duration_ms: 3000,
      }),
    ],
    metrics:
      'nfs_health_check_recoveries_total{result="success"} 1\nnfs_recovery_duration_seconds_count 1\nnfs_recovery_duration_seconds_sum 3.2\n' +
      'nfs_health_check_collateral_unmounts_total{mount="/mnt/static",outcome="remounted"} 1\n',
  });
  const isCollateral = (line: string): boolean => line.includes('mount taken away by recovery');

  it('a recovery within interval + timeout + 5 s passes every check and is timed from the failover', () => {
    const a = analyzeFailover(job(good(12)), { intervalS: 5, probeTimeoutS: 5 });
    expect(failed(a)).toEqual([]);
    expect(a.times).toEqual({ detection: 8, firstStep: 8.2, accessible: 12 });
    expect(a.figures).toMatchObject({ static_new_server_s: 13.5, static_remount_ms: 900 });
  });

  it('/mnt/static left unmounted by the recovery (nothing mounts it again) fails its three checks', () => {
    const g = good(12);
    const { static_new_server: _, ...events } = g.events;
    const left = job({
      ...g,
      events,
      values: { ...g.values, static_after: 'none' },
      lines: g.lines.filter((l) => !isCollateral(l)),
      metrics: g.metrics
        .split('\n')
        .filter((l) => !l.includes('collateral'))
        .join('\n'),
    });
    const a = analyzeFailover(left, { intervalS: 5, probeTimeoutS: 5 });
    expect(failed(a)).toEqual([
      '/mnt/static mounted again after the recovery, serving the new server',
      'the journal names it: "mount taken away by recovery: mounted again", mount /mnt/static, via fstab, outcome remounted',
      '/metrics: nfs_health_check_collateral_unmounts_total{mount="/mnt/static",outcome="remounted"} ≥ 1',
    ]);
    expect(a.checks.find((c) => c.what.startsWith('/mnt/static mounted again'))?.detail).toBe('not served: none');
  });

  it('a remount that failed, one not from fstab, or a static mount absent at boot: each fails its check', () => {
    const g = good(12);
    const notAgain = rec(10.8, {
      level: 'error',
      msg: 'mount taken away by recovery: not mounted again',
      mount: '/mnt/static',
      fstype: 'nfs4',
      source: '10.99.0.1:/srv/a/static',
      via: 'fstab',
      outcome: 'timeout',
      command: 'mount -- /mnt/static',
      duration_ms: 10_000,
    });
    const timedOut = analyzeFailover(job({ ...g, lines: [...g.lines.filter((l) => !isCollateral(l)), notAgain] }), {
      intervalS: 5,
      probeTimeoutS: 5,
    });
    expect(failed(timedOut)).toEqual([expect.stringMatching(/^the journal names it/)]);
    expect(timedOut.checks.find((c) => c.what.startsWith('the journal names it'))?.detail).toMatch(
      /not mounted again \(error\): timeout, via fstab: mount -- \/mnt\/static, 10000 ms/,
    );
    const recorded = g.lines.map((l) => (isCollateral(l) ? l.replace('"via\\":\\"fstab', '"via\\":\\"recorded') : l));
    expect(failed(analyzeFailover(job({ ...g, lines: recorded }), { intervalS: 5, probeTimeoutS: 5 }))).toEqual([
      expect.stringMatching(/^the journal names it/),
    ]);
    const noBoot = analyzeFailover(
      job({ ...g, values: { ...g.values, static_boot_mounted: 0, static_before: 'none', static_old_server: 0 } }),
      { intervalS: 5, probeTimeoutS: 5 },
    );
    expect(failed(noBoot)).toEqual([expect.stringMatching(/^\/mnt\/static \(\/etc\/fstab, nobody on it\) mounted by systemd at boot/)]);
    // Gone before the failover and mounted again by the job: the failover still tests it, and says so.
    const retaken = analyzeFailover(job({ ...g, values: { ...g.values, static_mounted_by_job: 1 } }), { intervalS: 5, probeTimeoutS: 5 });
    expect(failed(retaken)).toEqual([]);
    expect(retaken.checks.find((c) => c.what.includes('mounted by systemd at boot'))?.detail).toBe(
      "10.99.0.1:/srv/a/static nfs4, clientaddr 10.99.0.2; old server's file read; gone before the failover: mounted again by the job",
    );
  });

  it('too slow, not counted as success, or a stack trace in the journal: each fails its own check', () => {
    const slow = analyzeFailover(job(good(16)), { intervalS: 5, probeTimeoutS: 5 });
    expect(failed(slow)).toEqual([expect.stringMatching(/^ls \/airflow\/dags shows the new server's files.* ≤ 15 s$/)]);

    const g = good(12);
    const bad = job({
      ...g,
      metrics: g.metrics
        .replace(/^nfs_health_check_recoveries_total.*\n/, 'nfs_health_check_recoveries_total{result="success"} 0\n')
        .replace(/^nfs_recovery_duration.*\n/gm, ''),
      lines: [...g.lines, JSON.stringify({ _PID: '500', MESSAGE: '    at Object.<anonymous>' })],
    });
    expect(failed(analyzeFailover(bad, { intervalS: 5, probeTimeoutS: 5 }))).toEqual([
      '/metrics: nfs_health_check_recoveries_total{result="success"} ≥ 1',
      '/metrics: an nfs_recovery_duration_seconds sample',
      'journalctl -u nfs-health-checkd -o cat: every daemon line is a JSON object',
    ]);
  });

  it('a guest that never got to the failover fails, with no times', () => {
    const a = analyzeFailover(job({ rc: null }), { intervalS: 30, probeTimeoutS: 5 });
    expect(failed(a)).toEqual(['the job inside the VM completed']);
    expect(a.times).toEqual({ detection: null, firstStep: null, accessible: null });
  });

  it('reports, without judging, an early probe before the "mount failing" line and where in the interval the failover came', () => {
    const g = good(12);
    const none = analyzeFailover(job(g), { intervalS: 30, probeTimeoutS: 5 });
    expect(none.figures).toMatchObject({ failover_phase_s: 0, early_probe_s: null, early_probe: null });

    const early = rec(6.5, {
      msg: 'kernel evidence: probing early',
      mount: '/airflow/dags',
      kind: 'errors',
      moved: { LOOKUP: { errors: 3 } },
      sample_ms: 1001,
    });
    const a = analyzeFailover(job({ ...g, lines: [...g.lines, early] }), { intervalS: 30, probeTimeoutS: 5 });
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({ early_probe_s: 6.5, early_probe: 'errors: LOOKUP errors +3 (sample 1001 ms)' });

    // One after the "mount failing" line (the recovery's own unmount, say) is not what found it.
    const late = rec(9.5, { msg: 'kernel evidence: probing early', mount: '/airflow/dags', kind: 'mount_table', sample_ms: 1000 });
    expect(analyzeFailover(job({ ...g, lines: [...g.lines, late] }), { intervalS: 30, probeTimeoutS: 5 }).figures.early_probe_s).toBeNull();
  });
});

describe('analyzeFailoverReader', () => {
  // T0 is a tick of the 30 s schedule: the failover starts 2 s after it.
  const p = { intervalS: 30, phaseS: 2, withinS: 8 };
  const early = (s: number, mount = '/airflow/dags'): string =>
    rec(s, {
      msg: 'kernel evidence: probing early',
      mount,
      kind: 'errors',
      moved: { GETATTR: { errors: 2 }, LOOKUP: { errors: 1 } },
      sample_ms: 1000,
    });
  /** The daemon's lines: detection at `failingAt`, the recovery done 2 s later; an early probe line when given. */
  const run = (o: { failingAt: number; earlyAt?: number; accessibleAt: number; start?: number; extra?: string[] }) =>
    job({
      events: { failover_start: o.start ?? 2, failover_done: (o.start ?? 2) + 2, dags_new_server: o.accessibleAt },
      lines: [
        rec(0.1, { msg: 'mount healthy', mount: '/airflow/dags', result: 'ok' }),
        ...(o.earlyAt === undefined ? [] : [early(o.earlyAt)]),
        rec(o.failingAt, { msg: 'mount failing', mount: '/airflow/dags', result: 'ESTALE' }),
        rec(o.failingAt + 0.8, {
          msg: 'recovery step',
          step: 'command',
          command: 'umount -a -t nfs,nfs4',
          status: 'failed',
          duration_ms: 300,
        }),
        detachStep(o.failingAt + 1.2),
        rec(o.failingAt + 2, { msg: 'recovery finished', result: 'success', mounts: ['/airflow/dags'], steps: 3, duration_ms: 2000 }),
        ...(o.extra ?? []),
      ],
    });

  it('an early probe on the counted errors, then the new server within 8 s: passes, with its kind and what moved', () => {
    const a = analyzeFailoverReader(run({ earlyAt: 4.6, failingAt: 5, accessibleAt: 8.5 }), p);
    expect(failed(a)).toEqual([]);
    expect(a.times).toEqual({ detection: 3, firstStep: 3.5, accessible: 6.5 });
    expect(a.figures).toMatchObject({
      failover_phase_s: 2,
      early_probe_s: 2.6,
      early_probe_kind: 'errors',
      early_probe: 'errors: GETATTR errors +2, LOOKUP errors +1 (sample 1000 ms)',
      early_probes: 1,
    });
  });

  it('found only by the next tick (no kernel evidence): the 8 s check and the early-probe check fail, the rest pass', () => {
    const a = analyzeFailoverReader(run({ failingAt: 30.4, accessibleAt: 32.6 }), p);
    expect(failed(a)).toEqual([
      "ls /airflow/dags shows the new server's files, nobody acting ≤ 8 s",
      'a "kernel evidence: probing early" line for /airflow/dags between the failover and its "mount failing" line',
    ]);
    expect(a.times.accessible).toBe(30.6);
    expect(a.figures).toMatchObject({ early_probe_s: null, early_probe_kind: null, early_probes: 0 });
  });

  it('an early line after the detection, or for another mount, is not the one that found it; nor is a failover in the wrong phase', () => {
    const after = analyzeFailoverReader(run({ failingAt: 5, accessibleAt: 8, extra: [early(7), early(4.5, '/airflow/logs')] }), p);
    expect(failed(after)).toEqual([
      'a "kernel evidence: probing early" line for /airflow/dags between the failover and its "mount failing" line',
    ]);
    expect(after.figures.early_probes).toBe(2);

    const late = analyzeFailoverReader(run({ start: 17, earlyAt: 19, failingAt: 19.5, accessibleAt: 22 }), p);
    expect(failed(late)).toEqual(['the failover started 2 s after a tick (the next one 28 s away)']);
    expect(late.figures.failover_phase_s).toBe(17);
  });

  it('a guest that never got to the failover fails, with no times', () => {
    const a = analyzeFailoverReader(job({ rc: null }), p);
    expect(failed(a)).toEqual(['the job inside the VM completed']);
    expect(a.times).toEqual({ detection: null, firstStep: null, accessible: null });
  });

  it('names an early probe without counters (the mount left the table) by its kind alone', () => {
    const l = job({
      lines: [rec(1, { msg: 'kernel evidence: probing early', mount: '/airflow/dags', kind: 'mount_table', sample_ms: 998 })],
    });
    const [line] = l.daemon;
    expect(line && describeEarlyProbe(line)).toBe('mount_table (sample 998 ms)');
  });
});

describe('analyzeSilent', () => {
  const p = {
    intervalS: 30,
    probeTimeoutS: 5,
    hangAfterS: 15,
    cooldownS: 30,
    maxBackoffS: 300,
    maxStuck: 3,
    mounts: 2,
    backWithinS: 15,
    servedWithinS: 10,
    hard: false,
  };
  const attempt = (start: number, stillFailing: boolean): string[] => [
    rec(start, { msg: 'recovery starting', mounts: ['/airflow/dags'] }),
    rec(start + 10, { msg: 'recovery step', step: 'command', command: 'umount -a -t nfs,nfs4', status: 'timeout', duration_ms: 10_000 }),
    rec(start + 11, {
      msg: 'recovery step',
      step: 'escalation',
      mount: '/airflow/dags',
      command: 'umount -f -- /airflow/dags',
      status: 'ok',
      duration_ms: 500,
    }),
    rec(start + 11.3, { msg: 'stuck probe returned', mount: '/airflow/dags', result: 'EIO', blocked_ms: 9000 }),
    rec(start + 12, {
      msg: 'recovery finished',
      result: stillFailing ? 'failed' : 'success',
      mounts: ['/airflow/dags'],
      ...(stillFailing ? { still_failing: ['/airflow/dags'] } : {}),
    }),
  ];
  const silentJob = (starts: number[], threadsMax = 17, o: { served?: number; reloads?: [number, number] } = {}) =>
    job({
      events: {
        block: 0,
        dags_inaccessible: 7,
        dags_stuck: 7,
        unblock: 140,
        daemon_accessible: 145,
        client_accessible: 140 + (o.served ?? 5),
      },
      values: {
        threads_before: 13,
        threads_max: threadsMax,
        threads_after: 13,
        reloads_at_unblock: o.reloads?.[0] ?? 0,
        reloads_after: (o.reloads?.[0] ?? 0) + (o.reloads?.[1] ?? 1),
      },
      lines: [
        // The first probe after the silence, started at 1 s, timed out at 6 s.
        rec(6, { msg: 'mount failing', mount: '/airflow/dags', result: 'timeout', stuck: true, probe_ms: 5000 }),
        ...starts.flatMap((s) => attempt(s, true)),
        rec(135, { msg: 'mount fault changed', mount: '/airflow/dags', result: 'automount_failed' }),
        rec(1, {
          msg: "server checks: autofs' mounts are reached from this network namespace",
          netns: '/proc/396/ns/net',
          why: "net:[4026532241], not the daemon's net:[4026531840]",
        }),
        rec(141.5, { msg: 'server answering again', server: '10.99.0.1:2049', gone_ms: 135_500 }),
        rec(141.6, { msg: 'autofs reload: clearing its negative cache', mounts: ['/airflow/dags'] }),
        rec(145, { msg: 'mount recovered', mount: '/airflow/dags' }),
      ],
    });

  it('backed-off attempts, bounded threads and a return within 10 s pass; what the daemon saw at the return is kept', () => {
    // The first once the call is 15 s old; each ends 12 s after it starts: waits of 30 s, then 60 s, after the ends.
    const a = analyzeSilent(silentJob([16, 58, 130]), p);
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({
      recovery_attempts: 3,
      result_at_return: 'automount_failed',
      recovery_at_call_age_s: 15,
      served_s: 5,
      server_gone_s: 135.5,
      reloads_during: 0,
      reloads_after: 1,
    });
    expect(a.times).toEqual({ detection: 6, firstStep: 16, accessible: 5 });
  });

  it('served after 10 s, a reload while the server was silent, none after autofs refused the path, or too many, fail', () => {
    const served = /^a client reads the new mount's files/;
    const reloads = /^autofs reloads:/;
    expect(failed(analyzeSilent(silentJob([16, 58, 130], 17, { served: 12 }), p))).toEqual([expect.stringMatching(served)]);
    expect(failed(analyzeSilent(silentJob([16, 58, 130], 17, { reloads: [1, 1] }), p))).toEqual([expect.stringMatching(reloads)]);
    expect(failed(analyzeSilent(silentJob([16, 58, 130], 17, { reloads: [0, 0] }), p))).toEqual([expect.stringMatching(reloads)]);
    expect(failed(analyzeSilent(silentJob([16, 58, 130], 17, { reloads: [0, 4] }), p))).toEqual([expect.stringMatching(reloads)]);
  });

  it("server checks from the daemon's own namespace fail: the VM's autofs has one of its own", () => {
    const own = silentJob([16, 58, 130]);
    own.daemon = own.daemon.map((l) => (typeof l.netns === 'string' ? { ...l, netns: 'own' } : l));
    expect(failed(analyzeSilent(own, p))).toEqual([expect.stringMatching(/^the server checks are made from autofs' network namespace/)]);
  });

  it('no "server answering again" line, or one that says it was gone less than the silence, fails', () => {
    const line = /^logged "server answering again"/;
    const none = silentJob([16, 58, 130]);
    none.daemon = none.daemon.filter((l) => l.msg !== 'server answering again');
    expect(failed(analyzeSilent(none, p))).toEqual([expect.stringMatching(line)]);
    const short = silentJob([16, 58, 130]);
    short.daemon = short.daemon.map((l) => (l.msg === 'server answering again' ? { ...l, gone_ms: 20_000 } : l));
    expect(failed(analyzeSilent(short, p))).toEqual([expect.stringMatching(line)]);
  });

  it('a timeout recovered before the call is hang_after old (at its timeout), or long after, fails', () => {
    const hangCheck = /^the first recovery started once the stuck call was hang_after 15 s old/;
    const early = analyzeSilent(silentJob([6.5, 48.5]), p);
    expect(failed(early)).toEqual([expect.stringMatching(hangCheck)]);
    expect(early.checks.find((c) => hangCheck.test(c.what))?.detail).toBe('the call was 5.50 s old');
    expect(failed(analyzeSilent(silentJob([14, 56]), p))).toEqual([expect.stringMatching(hangCheck)]);
    expect(failed(analyzeSilent(silentJob([17.5, 59.5]), p))).toEqual([]);
    expect(failed(analyzeSilent(silentJob([18.5, 60.5]), p))).toEqual([expect.stringMatching(hangCheck)]);
  });

  it('an attempt inside the backoff, or threads past the bound, fail', () => {
    // 2nd attempt 30 s after the 1st ended: fine (cooldown); 3rd 40 s after the 2nd: under 60 s.
    const a = analyzeSilent(silentJob([16, 58, 110], 20), p);
    expect(failed(a)).toEqual([
      expect.stringMatching(/^recoveries during the 140 s outage respect cooldown 30 s/),
      expect.stringMatching(/^threads bounded/),
    ]);
    expect(a.checks.find((c) => c.what.startsWith('recoveries'))?.detail).toBe('attempt 3 came 40.0 s after attempt 2, backoff 60 s');
  });

  it('hard mounts: the stuck probe must return right after umount -f', () => {
    const hard = { ...p, hard: true };
    const withHard = (j: Job): Job => (j.values.set('mount_hard', '1'), j);
    expect(failed(analyzeSilent(withHard(silentJob([16])), hard))).toEqual([]);
    const late = withHard(silentJob([16]));
    late.daemon = late.daemon.map((l) => (l.msg === 'stuck probe returned' ? { ...l, t: l.t + 5000 } : l));
    expect(failed(analyzeSilent(late, hard))).toEqual(['the stuck probe is released by the umount -f step']);
  });
});

describe('needless recoveries', () => {
  const lines = [
    rec(-40, { msg: 'mount failing', mount: '/airflow/dags', result: 'timeout', stuck: true }),
    rec(-35, { level: 'warn', msg: 'recovery starting', mounts: ['/airflow/dags', '/airflow/logs'] }),
    rec(-34, { msg: 'recovery finished', result: 'success', mounts: ['/airflow/dags', '/airflow/logs'] }),
    rec(-20, { msg: 'recovery starting (dry run)', mounts: ['/airflow/dags'] }),
    rec(6, { level: 'warn', msg: 'recovery starting', mounts: ['/airflow/dags'] }),
  ];
  const base = { times: { detection: null, firstStep: null, accessible: null }, checks: [], figures: { steps: 2 } };

  it('counts the "recovery starting" lines before the fault, and says when they came', () => {
    const j = job({ events: { failover_start: 0 }, lines });
    expect(needlessRecoveries(j, 'failover_start').map((l) => l.t)).toEqual([at(-35)]);
    const a = withNeedless(base, j, 'failover_start');
    expect(a.figures).toEqual({ steps: 2, needless_recoveries: 1 });
    expect(a.checks).toEqual([
      { what: 'no recovery before failover_start', ok: false, detail: '1: 35.0 s before: ["/airflow/dags","/airflow/logs"]' },
    ]);
  });

  it('no fault, or a job that never got to it: every one of the boot counts', () => {
    expect(needlessRecoveries(job({ lines }), null)).toHaveLength(2);
    expect(needlessRecoveries(job({ events: { healthy: -50 }, lines }), 'block')).toHaveLength(2);
    const a = withNeedless(base, job({ lines }), null);
    expect(a.checks[0]).toMatchObject({ what: 'no recovery in the whole boot (no fault)', ok: false });
    expect(a.checks[0]?.detail).toMatch(/^2: 11:59:25\.000: \["\/airflow\/dags","\/airflow\/logs"\]; 12:00:06\.000: /);
  });

  it('none before the fault passes, with the figure 0', () => {
    const a = withNeedless(base, job({ events: { block: -36 }, lines }), 'block');
    expect(a.checks).toEqual([{ what: 'no recovery before block', ok: true, detail: '0' }]);
    expect(a.figures.needless_recoveries).toBe(0);
  });
});

describe('analyzeSystemd', () => {
  const values = {
    boot_id: 'bbbb-2',
    is_enabled: 'enabled',
    ns_host: 'mnt:[4026531841]',
    ns_daemon: 'mnt:[4026531841]',
    ns_daemon_after: 'mnt:[4026531841]',
    ready_states: 'deactivating activating active',
    metrics_when_active: 1,
    activating_s: 3.1,
    status_text: 'ok: 2 mounts',
    rotated_files: 4,
    file_lines: 30,
    gz_lines: 20,
    journal_lines: 50,
    file_lines_unique: 50,
    stop_s: 1.2,
    stop_state: 'inactive/success',
    timeout_stop_s: 15,
    restarts: 1,
    watchdog_log: 1,
    web_alpha: 200,
    web_no_password: 401,
    web_plain_http: '000',
    web_status_rc: 0,
    web_beta_after_reload: 200,
    web_alpha_after_reload: 401,
    web_reloaded_lines: 1,
    web_beta_after_bad: 200,
    web_kept_lines: 1,
    web_same_pid: 1,
    web_password_lines: 0,
  };
  const events = { block: 0, dags_stuck: 9, sigstop: 100, watchdog_restarted: 170 };

  it('a good run passes', () => {
    const a = analyzeSystemd(job({ values, events }), { installBootId: 'aaaa-1' });
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({ watchdog_restart_s: 70, stop_s: 1.2 });
  });

  it('the same boot as the install, a private namespace, a lost line, a failed stop: each fails', () => {
    const bad = {
      ...values,
      boot_id: 'aaaa-1',
      ns_daemon: 'mnt:[4026532398]',
      file_lines: 29,
      stop_state: 'failed/timeout',
      ready_states: 'active',
      web_alpha_after_reload: 200,
      web_kept_lines: 0,
      web_password_lines: 1,
    };
    expect(failed(analyzeSystemd(job({ values: bad, events }), { installBootId: 'aaaa-1' }))).toEqual([
      'enabled and running after a reboot (not the install boot)',
      "the daemon's mount namespace is PID 1's",
      'active only after READY=1: activating (after the old process), then active with /metrics already serving',
      'no line lost or doubled across the rotations',
      'the stopped unit is inactive, not failed',
      'systemctl reload applies a new web config: the new user in, the old one 401, no restart',
      'a bad web config on reload: one error line, the settings in force kept, the same process',
      'no password in the journal',
    ]);
  });
});

describe('analyzeBaseline', () => {
  it('the old script noticing but never recovering is what the suite expects to show', () => {
    const values = { daemon_after_timer_start: 'inactive', still_stale: 1, error_lines: 3 };
    const a = analyzeBaseline(job({ events: { failover_start: 0, first_error: 21 }, values }), { waitS: 80 });
    expect(failed(a)).toEqual([]);
    expect(a.times).toEqual({ detection: 21, firstStep: 21, accessible: null });
    const recovered = analyzeBaseline(
      job({ events: { failover_start: 0, first_error: 21, dags_new_server: 30 }, values: { ...values, still_stale: 0 } }),
      { waitS: 80 },
    );
    expect(failed(recovered)).toEqual([expect.stringMatching(/never recovered while the mount was held/)]);
  });
});

describe('analyzeNegativeCache', () => {
  const values = {
    default_fail_s: 10.2,
    default_first: "0.45 s: ls: cannot access '/airflow/logs/scheduler.log': No such file or directory",
    default_cost_s: 61.3,
    reload_after: '0.92 s: ok',
    reload_cost_s: 3.1,
    short_fail_s: 10.1,
    short_first: '0.3 s: ls: x',
    short_cost_s: 11.2,
  };
  it('reports the cache, its cost, whether a reload clears it and what the map option saves', () => {
    const a = analyzeNegativeCache(job({ values }));
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({ negative_cache_cost_s: 61.3, reload_clears_it: 'yes', negative_timeout_10_cost_s: 11.2 });
  });
  it('no cached failure, or a map option that changes nothing: the checks say so', () => {
    const a = analyzeNegativeCache(job({ values: { ...values, default_first: '1.2 s: ok', short_cost_s: 'never' } }));
    expect(failed(a)).toEqual([
      'a failed automount is cached: right after the server returns, access still fails at once',
      '--negative-timeout=10 on the map shortens it',
    ]);
  });
});

describe('analyzeHolders', () => {
  const p = { intervalS: 5, probeTimeoutS: 5 };
  const sched = { pid: 700, comm: 'e2e-airflow-sch', uid: 50000, unit: 'airflow-scheduler.service' };
  const other = { pid: 800, comm: 'sleep', uid: 65534, unit: 'e2e-runner.service' };
  const holder = (s: number, msg: string, who: typeof sched, mount: string, state: string, holds: string[], daemonPid = '500'): string =>
    rec(s, { level: 'warn', msg, mount, mount_id: mount.endsWith('dags') ? 40 : 41, state, ...who, holds }, daemonPid);
  const values = {
    sched_pid: 700,
    sched_uid: 50000,
    airflow_uid: 50000,
    other_pid: 800,
    other_uid: 65534,
    other_unit: 'e2e-runner.service',
    daemon_pid_before: 300,
    daemon_pid_after: 300,
    daemon_nrestarts_before: 0,
    daemon_nrestarts_after: 0,
    other_alive: 1,
    lines_doubled: 0,
    first_pid_lines_new_server: 0,
    sched_not_logged: 14,
  };
  const common = [
    rec(4, { msg: 'mount failing', mount: '/airflow/dags', result: 'ESTALE' }),
    holder(4.3, 'holder found on failing mount', sched, '/airflow/dags', 'failing', ['cwd /airflow/dags']),
    holder(4.3, 'holder found on failing mount', sched, '/airflow/logs', 'failing', ['fd 3 → /airflow/logs/scheduler.log']),
    holder(4.3, 'holder found on failing mount', other, '/airflow/dags', 'failing', ['cwd /airflow/dags']),
    rec(4.5, {
      msg: 'recovery step',
      step: 'command',
      command: 'umount -a -t nfs,nfs4',
      status: 'failed',
      exit_code: 16,
      duration_ms: 300,
    }),
    detachStep(5, undefined, 100),
    rec(5.2, {
      msg: 'recovery step',
      step: 'escalation',
      mount: '/airflow/logs',
      command: 'umount -l -- /airflow/logs',
      status: 'ok',
      detached: true,
      duration_ms: 100,
    }),
    holder(5.6, 'holder left on detached mount', sched, '/airflow/dags', 'detached', ['cwd /']),
    holder(5.6, 'holder left on detached mount', sched, '/airflow/logs', 'detached', ['fd 3 → /scheduler.log']),
    holder(5.6, 'holder left on detached mount', other, '/airflow/dags', 'detached', ['cwd /']),
    rec(6, { msg: 'recovery finished', result: 'success', mounts: ['/airflow/dags', '/airflow/logs'], steps: 3, duration_ms: 1500 }),
    rec(9.5, { msg: 'mount recovered', mount: '/airflow/dags' }),
    rec(9.5, { msg: 'mount recovered', mount: '/airflow/logs' }),
  ];
  const scans =
    'nfs_health_checkd_holder_scans_total{result="ok"} 6\nnfs_health_checkd_holder_scans_total{result="timeout"} 0\nnfs_health_checkd_holder_scans_total{result="unavailable"} 0\n';
  const restarted = rec(10.2, {
    msg: 'unit restarted: it held a detached mount',
    unit: 'airflow-scheduler.service',
    result: 'ok',
    mounts: ['/airflow/dags', '/airflow/logs'],
    pids: [700],
    command: 'systemctl try-restart -- airflow-scheduler.service',
    exit_code: 0,
    duration_ms: 600,
  });
  const restartJob = (
    o: { restartLines?: string[]; logsGauge?: number; values?: Record<string, string | number>; events?: Record<string, number> } = {},
  ) =>
    job({
      events: o.events ?? {
        failover_start: 0,
        failover_done: 2,
        dags_new_server: 9.8,
        logs_detached_held: 6,
        logs_detached_none: 12,
        sched_stopped: 20,
      },
      values: {
        ...values,
        sched_pid_after: 900,
        sched_nrestarts: 0,
        new_pid: 900,
        new_pid_lines_new_server: 14,
        new_first_seq: 31,
        new_first_line_us: at(10.4) * 1000,
        lines_attempted: 44,
        lines_lost: 12,
        lost_seqs: '19-30',
        lines_lost_after_restart: 0,
        lines_new_server: 14,
        ...o.values,
      },
      lines: [
        ...common,
        ...(o.restartLines ?? [restarted]),
        rec(10.5, { msg: 'holder gone', mount: '/airflow/dags', state: 'detached', pid: 700, unit: 'airflow-scheduler.service' }),
        rec(10.5, { msg: 'holder gone', mount: '/airflow/logs', state: 'detached', pid: 700, unit: 'airflow-scheduler.service' }),
      ],
      metrics: `${scans}nfs_mount_detached_holders{mount="/airflow/dags"} 1\nnfs_mount_detached_holders{mount="/airflow/logs"} ${o.logsGauge ?? 0}\nnfs_health_check_holder_restarts_total{unit="airflow-scheduler.service",result="ok"} 1\n`,
    });

  it('restart_units: reported by unit and PID, the scheduler alone restarted once the paths are healthy, its lines on the new server', () => {
    const a = analyzeHolders(restartJob(), { ...p, restart: true });
    expect(failed(a)).toEqual([]);
    expect(a.times).toEqual({ detection: 4, firstStep: 4.2, accessible: 9.8 });
    expect(a.figures).toMatchObject({
      holders_reported_s: 4.3,
      scheduler_restarted_s: 10.2,
      first_line_new_server_s: 10.4,
      lines_lost: 12,
      lost_seqs: '19-30',
      watched_s: 20,
    });
  });

  it('a restart faster than the guest samples the gauge: the journal shows the count up, the end shows 0', () => {
    const unsampled = restartJob({ events: { failover_start: 0, failover_done: 2, dags_new_server: 9.8, sched_stopped: 20 } });
    expect(failed(analyzeHolders(unsampled, { ...p, restart: true }))).toEqual([]);
    // A rise the sampler saw must be followed by the fall.
    const stuck = restartJob({
      events: { failover_start: 0, failover_done: 2, dags_new_server: 9.8, logs_detached_held: 6, sched_stopped: 20 },
    });
    expect(failed(analyzeHolders(stuck, { ...p, restart: true }))).toEqual([
      'the old scheduler is gone from the old mounts; nfs_mount_detached_holders{mount="/airflow/logs"} back to 0',
    ]);
  });

  it('a restart before the paths are healthy, twice, of the wrong unit, or one that leaves the log held: each fails its check', () => {
    const early = rec(8, {
      msg: 'unit restarted: it held a detached mount',
      unit: 'airflow-scheduler.service',
      result: 'ok',
      mounts: ['/airflow/logs'],
      pids: [700],
      command: 'systemctl try-restart -- airflow-scheduler.service',
      duration_ms: 500,
    });
    expect(failed(analyzeHolders(restartJob({ restartLines: [early] }), { ...p, restart: true }))).toEqual([
      '…only once both paths were healthy again ("mount recovered" first)',
    ]);
    const wrong = rec(10.4, {
      msg: 'unit restarted: it held a detached mount',
      unit: 'e2e-runner.service',
      result: 'ok',
      pids: [800],
      command: 'systemctl try-restart -- e2e-runner.service',
      duration_ms: 500,
    });
    const twice = restartJob({ restartLines: [restarted, wrong] });
    expect(failed(analyzeHolders(twice, { ...p, restart: true }))).toEqual([
      'the scheduler restarted once: systemctl try-restart -- airflow-scheduler.service, ok, naming its PID',
      'no other unit restarted, no restart failed, none needed again',
    ]);
    const held = restartJob({ logsGauge: 1, values: { lines_lost_after_restart: 3, daemon_pid_after: 301 } });
    expect(failed(analyzeHolders(held, { ...p, restart: true }))).toEqual([
      'the daemon kept its PID (no restart of nfs-health-checkd)',
      'a new scheduler process (not a crash loop) writes to the new server, nothing lost after its first line',
      'the old scheduler is gone from the old mounts; nfs_mount_detached_holders{mount="/airflow/logs"} back to 0',
    ]);
  });

  const reportJob = (extra: string[] = [], v: Record<string, string | number> = {}) =>
    job({
      events: { failover_start: 0, failover_done: 2, dags_new_server: 9.8, logs_detached_held: 6, sched_stopped: 42 },
      values: {
        ...values,
        sched_pid_after: 700,
        sched_nrestarts: 0,
        new_pid: 'none',
        new_pid_lines_new_server: 0,
        new_first_seq: 'none',
        new_first_line_us: 'none',
        lines_attempted: 90,
        lines_lost: 80,
        lost_seqs: '11-90',
        lines_lost_after_restart: 0,
        lines_new_server: 0,
        ...v,
      },
      lines: [...common, ...extra],
      metrics: `${scans}nfs_mount_detached_holders{mount="/airflow/dags"} 2\nnfs_mount_detached_holders{mount="/airflow/logs"} 1\n`,
    });

  it('report only: both holders reported and left alone, the scheduler still counted on the old /airflow/logs', () => {
    const a = analyzeHolders(reportJob(), { ...p, restart: false });
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({
      holders_reported_s: 4.3,
      scheduler_restarted_s: null,
      first_line_new_server_s: null,
      lines_lost: 80,
    });
  });

  it('report only: a restart, a holder never reported, the unrelated one gone or seen in a unit of its own name: the checks say so', () => {
    const restart = rec(10, { msg: 'unit restart (dry run: nothing ran)', unit: 'airflow-scheduler.service', result: 'dry_run' });
    const gone = rec(12, { msg: 'holder gone', mount: '/airflow/dags', state: 'detached', pid: 800, unit: 'e2e-runner.service' });
    const a = analyzeHolders(reportJob([restart, gone], { other_unit: 'airflow-worker.service' }), { ...p, restart: false });
    expect(failed(a)).toEqual([
      'the holders run as other users: the scheduler as airflow in airflow-scheduler.service, the other as nobody outside any airflow-* unit',
      'the unrelated holder reported by PID and user, in its own unit, on the detached /airflow/dags',
      'the unrelated holder is left running and still reported (no "holder gone"; nfs_mount_detached_holders{mount="/airflow/dags"} counts it)',
      'nothing restarted: no restart line, no restart counted, the scheduler keeps its PID',
    ]);
    const unseen = reportJob();
    unseen.daemon = unseen.daemon.filter((l) => !(l.pid === 700 && l.mount === '/airflow/logs'));
    expect(failed(analyzeHolders(unseen, { ...p, restart: false }))).toEqual([
      'the scheduler reported by PID, unit and user: its cwd on /airflow/dags, its log descriptor on /airflow/logs',
      '…and on both mounts once detached',
    ]);
  });

  // The daemon restarted (PID 500 → 501) and upgraded (501 → 502) mid-incident: each new daemon
  // resumes the state and names both holders on the detached mounts again.
  const STATE_FILE = '/run/nfs-health-checkd/state.json';
  const NS = 'mnt:[4026531841]';
  // The old daemon stopping at `stop`, the new one starting at `s` - 0.1, resuming, scanning 2 s later.
  const comeBack = (stop: number, oldPid: string, s: number, pid: string): string[] => [
    rec(stop, { msg: 'stopping', signal: 'SIGTERM' }, oldPid),
    rec(s - 0.1, { msg: 'starting', version: '0.1.0' }, pid),
    rec(
      s,
      {
        msg: 'incident state resumed',
        file: STATE_FILE,
        paths: [],
        detached: [
          { mount: '/airflow/dags', mount_id: 40, dev: '0:52', batch: 1 },
          { mount: '/airflow/logs', mount_id: 41, dev: '0:52', batch: 1 },
        ],
        put_back: [],
        units_restarted: [],
        dropped: [],
      },
      pid,
    ),
    holder(s + 2, 'holder found on detached mount', sched, '/airflow/dags', 'detached', ['cwd /'], pid),
    holder(s + 2, 'holder found on detached mount', sched, '/airflow/logs', 'detached', ['fd 3 → /scheduler.log'], pid),
    holder(s + 2, 'holder found on detached mount', other, '/airflow/dags', 'detached', ['cwd /'], pid),
  ];
  const phase = (name: string, before: number, after: number): Record<string, string | number> => ({
    [`${name}_daemon_pid_before`]: before,
    [`${name}_gauge_before`]: 1,
    [`${name}_state_file_before`]: 'present',
    [`${name}_rc`]: 0,
    [`${name}_daemon_pid`]: after,
    [`${name}_gauge_after`]: 1,
    [`${name}_ns_daemon`]: NS,
    [`${name}_run_dir`]: 700,
  });
  const daemonRestartJob = (
    o: { lines?: string[]; values?: Record<string, string | number>; events?: Record<string, number>; without?: string[] } = {},
  ) =>
    job({
      events: Object.fromEntries(
        Object.entries({
          failover_start: 0,
          failover_done: 2,
          logs_detached_held: 6,
          holders_named: 6.5,
          restart_start: 7,
          restart_done: 9,
          restart_holders_logged: 11.5,
          restart_gauge_back: 11.5,
          restart_holders_back: 11.5,
          upgrade_start: 12,
          upgrade_done: 25,
          upgrade_holders_logged: 27.5,
          upgrade_gauge_back: 27.5,
          upgrade_holders_back: 27.5,
          dags_new_server: 9.8,
          sched_stopped: 40,
          ...o.events,
        }).filter(([k]) => !o.without?.includes(k)),
      ),
      values: {
        ...values,
        daemon_pid_after: 502,
        sched_pid_after: 700,
        sched_nrestarts: 0,
        lines_attempted: 80,
        lines_lost: 72,
        lost_seqs: '9-80',
        lines_new_server: 0,
        ns_host: NS,
        ...phase('restart', 500, 501),
        ...phase('upgrade', 501, 502),
        ...o.values,
      },
      lines: o.lines ?? [...common, ...comeBack(7.5, '500', 9.2, '501'), ...comeBack(22, '501', 25.3, '502')],
      metrics: `${scans}nfs_mount_detached_holders{mount="/airflow/dags"} 2\nnfs_mount_detached_holders{mount="/airflow/logs"} 1\n`,
    });
  const pd = { ...p, restart: false, daemonRestartWithinS: 30 };

  it('daemon restarted and upgraded mid-incident: each new daemon resumes the state and names the scheduler again', () => {
    const a = analyzeHolders(daemonRestartJob(), pd);
    expect(failed(a)).toEqual([]);
    expect(a.checks.map((c) => c.what)).not.toContain('the daemon kept its PID (no restart of nfs-health-checkd)');
    expect(a.checks.find((c) => c.what.startsWith('upgrade: the new daemon resumed'))?.detail).toBe(
      'detached /airflow/dags, /airflow/logs; paths none; put_back []; dropped []',
    );
    expect(a.figures).toMatchObject({
      restart_daemon_pids: '500 → 501',
      restart_gauge_before: '1',
      restart_gauge_after: '1',
      restart_command_s: 2,
      restart_down_s: 1.6,
      restart_holder_named_s: 3.7,
      restart_gauge_back_s: 4,
      restart_named_after_start_s: 2.1,
      upgrade_daemon_pids: '501 → 502',
      upgrade_command_s: 13,
      upgrade_down_s: 3.2,
      upgrade_holder_named_s: 5.3,
      upgrade_gauge_back_s: 5.5,
      upgrade_named_after_start_s: 2.1,
      holders_reported_s: 4.3,
    });
    expect(a.checks.find((c) => c.what.startsWith('upgrade: the new daemon names'))?.detail).toBe(
      '5.30 s after the old daemon stopping: holder found on detached mount',
    );
  });

  it('daemon restarted: without the old daemon\'s "stopping" line, the times run from the command\'s start', () => {
    const lines = [...common, ...comeBack(7.5, '500', 9.2, '501'), ...comeBack(22, '501', 25.3, '502')].filter(
      (l) => !l.includes('stopping'),
    );
    const a = analyzeHolders(daemonRestartJob({ lines }), pd);
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({
      restart_holder_named_s: 4.2,
      restart_down_s: null,
      upgrade_holder_named_s: 15.3,
      upgrade_gauge_back_s: 15.5,
    });
    expect(a.checks.find((c) => c.what.startsWith('upgrade: the new daemon names'))?.detail).toBe(
      '15.30 s after the start of dpkg -i of the same .deb: holder found on detached mount',
    );
  });

  it('daemon restarted: the old daemon naming the scheduler, no resumed state, a gauge not back, a recovery again: each fails its check', () => {
    // After the restart only the old PID's lines name the scheduler; the new one says the state was not resumed.
    const lines = [
      ...common,
      rec(
        9.2,
        { level: 'warn', msg: 'incident state not resumed: starting afresh', file: STATE_FILE, reason: 'written in another boot' },
        '501',
      ),
      holder(9.4, 'holder found on detached mount', sched, '/airflow/logs', 'detached', ['fd 3 → /scheduler.log'], '500'),
      rec(12, { msg: 'recovery starting', mounts: ['/airflow/dags'] }, '501'),
      ...comeBack(22, '501', 25.3, '502'),
    ];
    const a = analyzeHolders(
      daemonRestartJob({
        lines,
        events: { restart_gauge_back: 50 },
        values: { restart_gauge_after: 0, upgrade_ns_daemon: 'mnt:[4026532200]', upgrade_run_dir: 'absent' },
      }),
      pd,
    );
    expect(failed(a)).toEqual([
      'restart: the new daemon resumed the incident state ("incident state resumed" from /run/nfs-health-checkd/state.json, /airflow/logs among the detached)',
      'restart: the new daemon names the scheduler (its PID, airflow-scheduler.service) as a holder of the detached /airflow/logs within 30 s',
      'restart: nfs_mount_detached_holders{mount="/airflow/logs"} back to its value before (1) within 30 s',
      'restart: the new daemon recovered nothing again (the paths were healthy)',
      "upgrade: dpkg -i of the same .deb succeeded and the daemon came back under a new PID, in PID 1's mount namespace",
      'upgrade: /run/nfs-health-checkd is there, mode 0700',
    ]);
    expect(a.checks.find((c) => c.what.startsWith('restart: the new daemon resumed'))?.detail).toBe(
      'incident state not resumed: starting afresh: written in another boot',
    );
  });

  it('daemon restarted: the incident never named before the restart, a failed dpkg -i, a crash: the checks say so', () => {
    const a = analyzeHolders(
      daemonRestartJob({
        without: ['holders_named'],
        values: { upgrade_rc: 1, upgrade_daemon_pid: 501, daemon_nrestarts_after: 1 },
      }),
      pd,
    );
    expect(failed(a)).toEqual([
      'the daemon was restarted only by the scenario (NRestarts unchanged: no crash, no watchdog)',
      'before the restart: the daemon named the scheduler on the detached /airflow/logs, nfs_mount_detached_holders{mount="/airflow/logs"} ≥ 1, /run/nfs-health-checkd/state.json written',
      "upgrade: dpkg -i of the same .deb succeeded and the daemon came back under a new PID, in PID 1's mount namespace",
      'upgrade: the new daemon resumed the incident state ("incident state resumed" from /run/nfs-health-checkd/state.json, /airflow/logs among the detached)',
      'upgrade: the new daemon names the scheduler (its PID, airflow-scheduler.service) as a holder of the detached /airflow/logs within 30 s',
    ]);
  });

  it('a guest that never got to the failover fails, with no times', () => {
    const a = analyzeHolders(job({ rc: 1 }), { ...p, restart: true });
    expect(failed(a)).toEqual(['the job inside the VM completed']);
  });
});

describe('analyzeInstall', () => {
  const values = {
    guest_node: 'none',
    install_s: 21.4,
    deb_version: '0.1.0',
    enable_now_s: 6.2,
    is_enabled: 'enabled',
    is_active: 'active',
    daemon_exe: '/usr/lib/nfs-health-checkd/node',
    accessible: 1,
  };

  it('the .deb installed on a guest without node, enabled, active on its own runtime, mounts accessible: passes', () => {
    const a = analyzeInstall(job({ values }), { version: '0.1.0' });
    expect(failed(a)).toEqual([]);
    expect(a.figures).toEqual({ install_s: 21.4, enable_now_s: 6.2 });
  });

  it('a node on the guest, another version, a daemon on the system node, or no access: each fails its check', () => {
    const bad = { ...values, guest_node: '/usr/bin/node', deb_version: '0.0.9', daemon_exe: '/usr/bin/node', is_active: 'failed' };
    const { accessible: _, ...noAccess } = bad;
    expect(failed(analyzeInstall(job({ values: noAccess }), { version: '0.1.0' }))).toEqual([
      "no node on the guest's PATH (the package brings its own runtime)",
      'dpkg -i installed nfs-health-checkd 0.1.0',
      'systemctl enable --now nfs-health-checkd: enabled and active',
      'the daemon runs on the packaged runtime /usr/lib/nfs-health-checkd/node',
      'both mounts accessible (/metrics)',
    ]);
  });

  it('a dpkg -i that failed (the job stopped there) fails every check after it', () => {
    const a = analyzeInstall(job({ rc: 1, values: { guest_node: 'none' } }), { version: '0.1.0' });
    expect(failed(a)).toHaveLength(5);
    expect(failed(a)).not.toContain("no node on the guest's PATH (the package brings its own runtime)");
    expect(a.figures).toEqual({ install_s: null, enable_now_s: null });
  });
});

describe('analyzeRemove', () => {
  const values = {
    active_before: 'active',
    procs_before: 1,
    remove_rc: 0,
    remove_s: 4.1,
    dpkg_status_removed: 'rc',
    config_after_remove: 'present',
    logrotate_after_remove: 'present',
    unit_file_after_remove: 'absent',
    bin_after_remove: 'absent',
    procs_after_remove: 0,
    procs_left: '',
    is_active_after_remove: 'inactive',
    purge_rc: 0,
    purge_s: 1.3,
    config_dir_after_purge: 'absent',
    logrotate_after_purge: 'absent',
    dpkg_s_rc: 1,
    unit_links_after_purge: '',
    run_dir_running: 700,
    run_dir_after_restart: 700,
    run_dir_file_after_restart: 'present',
    run_dir_after_remove: 'present',
    run_dir_after_purge: 'absent',
  };

  it('/run/nfs-health-checkd missing while running, emptied by a restart, or left by the purge: each fails its check', () => {
    const restartEmptied = analyzeRemove(job({ values: { ...values, run_dir_file_after_restart: 'absent' } }));
    expect(failed(restartEmptied)).toEqual([
      '/run/nfs-health-checkd is there (mode 0700) while the daemon runs, and survives systemctl restart with what is in it',
    ]);
    expect(failed(analyzeRemove(job({ values: { ...values, run_dir_running: 'absent' } })))).toEqual([
      '/run/nfs-health-checkd is there (mode 0700) while the daemon runs, and survives systemctl restart with what is in it',
    ]);
    const left = analyzeRemove(job({ values: { ...values, run_dir_after_purge: 'present' } }));
    expect(failed(left)).toEqual(['dpkg -r keeps /run/nfs-health-checkd (the incident state), dpkg -P removes it']);
    expect(left.checks.find((c) => c.what.startsWith('dpkg -r keeps'))?.detail).toBe('after dpkg -r present, after dpkg -P present');
  });

  it('remove keeps the conffiles and takes the unit, the binary and the daemon; purge takes the rest: passes', () => {
    const a = analyzeRemove(job({ values }));
    expect(failed(a)).toEqual([]);
    expect(a.figures).toEqual({ remove_s: 4.1, purge_s: 1.3 });
    expect(a.checks.map((c) => c.what)).toContain('dpkg -r stopped the daemon: no process of /usr/lib/nfs-health-checkd/ left');
  });

  it('a removal that drops the config, leaves the unit, the binary or the daemon running: each fails its check', () => {
    const bad = {
      ...values,
      config_after_remove: 'absent',
      unit_file_after_remove: 'present',
      bin_after_remove: 'present',
      procs_after_remove: 1,
      procs_left: '812 /usr/lib/nfs-health-checkd/node /usr/lib/nfs-health-checkd/app/cli.js;',
      is_active_after_remove: 'active',
    };
    const a = analyzeRemove(job({ values: bad }));
    expect(failed(a)).toEqual([
      'dpkg -r kept the conffiles /etc/nfs-health-checkd/config.yaml and /etc/logrotate.d/nfs-health-checkd',
      'dpkg -r removed the unit file /lib/systemd/system/nfs-health-checkd.service',
      'dpkg -r removed /usr/bin/nfs-health-checkd',
      'dpkg -r stopped the daemon: no process of /usr/lib/nfs-health-checkd/ left',
      'dpkg -r: systemctl is-active nfs-health-checkd is not active',
    ]);
    expect(a.checks.find((c) => c.what.startsWith('dpkg -r stopped'))?.detail).toBe(
      '1 left: 812 /usr/lib/nfs-health-checkd/node /usr/lib/nfs-health-checkd/app/cli.js',
    );
  });

  it('a purge that leaves /etc/nfs-health-checkd, a package dpkg still knows, links left behind: each fails its check', () => {
    const bad = {
      ...values,
      config_dir_after_purge: 'present',
      dpkg_s_rc: 0,
      unit_links_after_purge: '/etc/systemd/system/multi-user.target.wants/nfs-health-checkd.service ',
    };
    const a = analyzeRemove(job({ values: bad }));
    expect(failed(a)).toEqual([
      'dpkg -P nfs-health-checkd succeeded and removed /etc/nfs-health-checkd and the logrotate conffile',
      'dpkg -s nfs-health-checkd fails after the purge (dpkg knows it no more)',
      'dpkg -P left no enablement link or mask in /etc/systemd/system',
    ]);
    expect(a.checks.find((c) => c.what.startsWith('dpkg -P left'))?.detail).toBe(
      '/etc/systemd/system/multi-user.target.wants/nfs-health-checkd.service',
    );
  });

  it('a dpkg -r that failed, or a daemon that never ran: the checks say so; values never written fail rather than pass', () => {
    expect(failed(analyzeRemove(job({ values: { ...values, remove_rc: 1, dpkg_status_removed: 'iF' } })))).toEqual([
      'dpkg -r nfs-health-checkd succeeded: state rc (removed, config files kept)',
    ]);
    expect(failed(analyzeRemove(job({ values: { ...values, active_before: 'failed', procs_before: 0 } })))).toEqual([
      'the daemon was running before the removal',
    ]);
    // A guest that stopped before writing anything: every check fails, none passes on a missing value.
    expect(analyzeRemove(job({ rc: null })).checks.every((c) => !c.ok)).toBe(true);
  });
});
