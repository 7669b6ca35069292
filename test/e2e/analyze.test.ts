// The e2e suite's judge, on hand-written guest outputs: each check passes on what a good run
// leaves and fails on what a bad one would.
import { describe, expect, it } from 'vitest';
import { analyzeBaseline, analyzeFailover, analyzeNegativeCache, analyzeSilent, analyzeSystemd, parseJob, parseMetrics, type Job } from './analyze.js';

const T0 = Date.parse('2026-11-26T12:00:00.000Z');
const at = (s: number): number => T0 + s * 1000;

/** One journal record as `journalctl -o json` writes it: a daemon line (PID 500) or systemd's. */
function rec(s: number, fields: Record<string, unknown>, pid = '500'): string {
  return JSON.stringify({ _PID: pid, MESSAGE: JSON.stringify({ level: 'info', time: new Date(at(s)).toISOString(), ...fields }) });
}

function job(o: { rc?: number | null; events?: Record<string, number>; values?: Record<string, string | number>; lines?: string[]; metrics?: string }): Job {
  return parseJob({
    rc: o.rc === undefined ? 0 : o.rc,
    events: Object.entries(o.events ?? {}).map(([k, s]) => `${k} ${at(s) * 1000}`).join('\n'),
    values: Object.entries(o.values ?? {}).map(([k, v]) => `${k} ${v}`).join('\n'),
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
    expect(j.daemon[0]).toMatchObject({ t: at(1), msg: 'mount healthy', mount: '/airflow/dags' });
    expect(j.notJson).toEqual(['Error: boom']);
  });

  it('reads events in µs as ms, the first of a repeated one, and a scrape keyed as written', () => {
    const j = parseJob({ rc: 0, events: `a ${at(2) * 1000}\na ${at(9) * 1000}\n`, values: 'x 1\ny two words\n', journalJson: '', metrics: '' });
    expect(j.events.get('a')).toBe(at(2));
    expect(j.values.get('y')).toBe('two words');
    const m = parseMetrics('# HELP x\nnfs_health_check_recoveries_total{result="success"} 2\nnfs_recovery_duration_seconds_count 1\n');
    expect(m.get('nfs_health_check_recoveries_total{result="success"}')).toBe(2);
    expect(m.get('nfs_recovery_duration_seconds_count')).toBe(1);
  });
});

describe('analyzeFailover', () => {
  const good = (recoveredAt: number) => ({
    events: { failover_start: 0, failover_done: 2, dags_new_server: recoveredAt, logs_new_server: recoveredAt + 1 },
    values: { holders_alive: 1, new_log_written: 1, holder_cwd_readable: 0 },
    lines: [
      rec(-5, { msg: 'mount healthy', mount: '/airflow/dags', result: 'ok' }),
      rec(recoveredAt - 4, { msg: 'mount failing', mount: '/airflow/dags', result: 'ESTALE' }),
      rec(recoveredAt - 3.5, { msg: 'recovery step', step: 'command', command: 'umount -a -t nfs,nfs4', status: 'failed', exit_code: 16, output: 'umount.nfs4: /airflow/dags: device is busy', duration_ms: 300 }),
      rec(recoveredAt - 3, { msg: 'recovery step', step: 'escalation', mount: '/airflow/dags', command: 'umount -f -- /airflow/dags', status: 'failed', detached: false, duration_ms: 200 }),
      rec(recoveredAt - 2.5, { msg: 'recovery step', step: 'escalation', mount: '/airflow/dags', command: 'umount -l -- /airflow/dags', status: 'ok', detached: true, duration_ms: 200 }),
      rec(recoveredAt - 1, { msg: 'recovery finished', result: 'success', escalated: true, mounts: ['/airflow/dags'], steps: 3, duration_ms: 3000 }),
    ],
    metrics: 'nfs_health_check_recoveries_total{result="success"} 1\nnfs_recovery_duration_seconds_count 1\nnfs_recovery_duration_seconds_sum 3.2\n',
  });

  it('a recovery within interval + timeout + 5 s passes every check and is timed from the failover', () => {
    const a = analyzeFailover(job(good(12)), { intervalS: 5, probeTimeoutS: 5 });
    expect(failed(a)).toEqual([]);
    expect(a.times).toEqual({ detection: 8, firstStep: 8.2, accessible: 12 });
  });

  it('too slow, not counted as success, or a stack trace in the journal: each fails its own check', () => {
    const slow = analyzeFailover(job(good(16)), { intervalS: 5, probeTimeoutS: 5 });
    expect(failed(slow)).toEqual([expect.stringMatching(/^ls \/airflow\/dags shows the new server's files.* ≤ 15 s$/)]);

    const g = good(12);
    const bad = job({ ...g, metrics: 'nfs_health_check_recoveries_total{result="success"} 0\n', lines: [...g.lines, JSON.stringify({ _PID: '500', MESSAGE: '    at Object.<anonymous>' })] });
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
});

describe('analyzeSilent', () => {
  const p = { intervalS: 30, probeTimeoutS: 5, cooldownS: 30, maxBackoffS: 300, maxStuck: 3, mounts: 2, backWithinS: 90, hard: false };
  const attempt = (start: number, stillFailing: boolean): string[] => [
    rec(start, { msg: 'recovery starting', mounts: ['/airflow/dags'] }),
    rec(start + 10, { msg: 'recovery step', step: 'command', command: 'umount -a -t nfs,nfs4', status: 'timeout', duration_ms: 10_000 }),
    rec(start + 11, { msg: 'recovery step', step: 'escalation', mount: '/airflow/dags', command: 'umount -f -- /airflow/dags', status: 'ok', duration_ms: 500 }),
    rec(start + 11.3, { msg: 'stuck probe returned', mount: '/airflow/dags', result: 'EIO', blocked_ms: 9000 }),
    rec(start + 12, { msg: 'recovery finished', result: stillFailing ? 'failed' : 'success', mounts: ['/airflow/dags'], ...(stillFailing ? { still_failing: ['/airflow/dags'] } : {}) }),
  ];
  const silentJob = (starts: number[], threadsMax = 17) =>
    job({
      events: { block: 0, dags_inaccessible: 20, dags_stuck: 21, unblock: 120, daemon_accessible: 150, client_accessible: 151 },
      values: { threads_before: 13, threads_max: threadsMax, threads_after: 13 },
      lines: [
        rec(4, { msg: 'mount failing', mount: '/airflow/dags', result: 'timeout', stuck: true }),
        ...starts.flatMap((s) => attempt(s, true)),
        rec(110, { msg: 'mount fault changed', mount: '/airflow/dags', result: 'automount_failed' }),
        rec(150, { msg: 'mount recovered', mount: '/airflow/dags' }),
      ],
    });

  it('backed-off attempts, bounded threads and a return within 90 s pass; what the daemon saw at the return is kept', () => {
    // Each ends 12 s after it starts: waits of 30 s, then 60 s, after the ends.
    const a = analyzeSilent(silentJob([5, 47, 119]), p);
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({ recovery_attempts: 3, result_at_return: 'automount_failed' });
    expect(a.times).toEqual({ detection: 4, firstStep: 5, accessible: 30 });
  });

  it('an attempt inside the backoff, or threads past the bound, fail', () => {
    // 2nd attempt 30 s after the 1st ended: fine (cooldown); 3rd 40 s after the 2nd: under 60 s.
    const a = analyzeSilent(silentJob([15, 57, 109], 20), p);
    expect(failed(a)).toEqual([
      expect.stringMatching(/^recoveries during the 120 s outage respect cooldown 30 s/),
      expect.stringMatching(/^threads bounded/),
    ]);
    expect(a.checks.find((c) => c.what.startsWith('recoveries'))?.detail).toBe('attempt 3 came 40.0 s after attempt 2, backoff 60 s');
  });

  it('hard mounts: the stuck probe must return right after umount -f', () => {
    const hard = { ...p, hard: true };
    const withHard = (j: Job): Job => (j.values.set('mount_hard', '1'), j);
    expect(failed(analyzeSilent(withHard(silentJob([15])), hard))).toEqual([]);
    const late = withHard(silentJob([15]));
    late.daemon = late.daemon.map((l) => (l.msg === 'stuck probe returned' ? { ...l, t: l.t + 5000 } : l));
    expect(failed(analyzeSilent(late, hard))).toEqual(['the stuck probe is released by the umount -f step']);
  });
});

describe('analyzeSystemd', () => {
  const values = {
    boot_id: 'bbbb-2', is_enabled: 'enabled', ns_host: 'mnt:[4026531841]', ns_daemon: 'mnt:[4026531841]', ns_daemon_after: 'mnt:[4026531841]',
    ready_states: 'deactivating activating active', metrics_when_active: 1, activating_s: 3.1, status_text: 'ok: 2 mounts',
    rotated_files: 4, file_lines: 30, gz_lines: 20, journal_lines: 50, file_lines_unique: 50,
    stop_s: 1.2, stop_state: 'inactive/success', timeout_stop_s: 15, restarts: 1, watchdog_log: 1,
  };
  const events = { block: 0, dags_stuck: 9, sigstop: 100, watchdog_restarted: 170 };

  it('a good run passes', () => {
    const a = analyzeSystemd(job({ values, events }), { installBootId: 'aaaa-1' });
    expect(failed(a)).toEqual([]);
    expect(a.figures).toMatchObject({ watchdog_restart_s: 70, stop_s: 1.2 });
  });

  it('the same boot as the install, a private namespace, a lost line, a failed stop: each fails', () => {
    const bad = { ...values, boot_id: 'aaaa-1', ns_daemon: 'mnt:[4026532398]', file_lines: 29, stop_state: 'failed/timeout', ready_states: 'active' };
    expect(failed(analyzeSystemd(job({ values: bad, events }), { installBootId: 'aaaa-1' }))).toEqual([
      'enabled and running after a reboot (not the install boot)',
      "the daemon's mount namespace is PID 1's",
      'active only after READY=1: activating (after the old process), then active with /metrics already serving',
      'no line lost or doubled across the rotations',
      'the stopped unit is inactive, not failed',
    ]);
  });
});

describe('analyzeBaseline', () => {
  it('the old script noticing but never recovering is what the suite expects to show', () => {
    const values = { daemon_after_timer_start: 'inactive', still_stale: 1, error_lines: 3 };
    const a = analyzeBaseline(job({ events: { failover_start: 0, first_error: 21 }, values }), { waitS: 80 });
    expect(failed(a)).toEqual([]);
    expect(a.times).toEqual({ detection: 21, firstStep: 21, accessible: null });
    const recovered = analyzeBaseline(job({ events: { failover_start: 0, first_error: 21, dags_new_server: 30 }, values: { ...values, still_stale: 0 } }), { waitS: 80 });
    expect(failed(recovered)).toEqual([expect.stringMatching(/never recovered while the mount was held/)]);
  });
});

describe('analyzeNegativeCache', () => {
  const values = {
    default_fail_s: 10.2, default_first: '0.45 s: ls: cannot access \'/airflow/logs/scheduler.log\': No such file or directory', default_cost_s: 61.3,
    reload_after: '0.92 s: ok', reload_cost_s: 3.1, short_fail_s: 10.1, short_first: '0.3 s: ls: x', short_cost_s: 11.2,
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
