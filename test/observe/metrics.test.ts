// The metrics sink: what each monitor report does to the exposition Prometheus reads.
import { describe, expect, it } from 'vitest';
import type { Evidence } from '../../src/kernel/evidence.js';
import type { NfsMountStats, OpStats } from '../../src/kernel/mountstats.js';
import { createMetrics, probeBuckets, type MetricsOptions } from '../../src/observe/metrics.js';
import type { ProbeResult } from '../../src/probe/probe-mounts.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { probeResult } from '../helpers/probe-result.js';
import { promtoolAvailable, runPromtool } from '../helpers/prometheus.js';

const A = '/airflow/dags';
const B = '/airflow/logs';

function result(path: string, r: Partial<ProbeResult> = {}): ProbeResult {
  return probeResult(path, { underAutofs: true, ...r });
}

function setup(opts: Pick<MetricsOptions, 'holders' | 'kernelEvidence' | 'autofsReloads'> = {}) {
  const clock = new FakeClock();
  const m = createMetrics({ version: '1.2.3', paths: [A, B], probeTimeoutMs: 5000, clock, holders: opts.holders ?? true, ...opts });
  const text = () => m.registry.metrics();
  const value = async (series: string): Promise<number | undefined> => {
    const line = (await text()).split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  return { clock, sink: m.sink, holderSink: m.holderSink, watchPool: m.watchPool, watchKernel: m.watchKernel, text, value };
}

describe('probeBuckets', () => {
  it('runs from 1 ms to the probe timeout, which ends the last bucket', () => {
    expect(probeBuckets(5000)).toEqual([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
    expect(probeBuckets(1500)).toEqual([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5]);
  });
});

describe('createMetrics', () => {
  it('holders: detached holders per mount from 0, restarts by unit and result, scans by result and time', async () => {
    const { holderSink, value, text } = setup();
    expect(await value(`nfs_mount_detached_holders{mount="${A}"}`)).toBe(0);
    expect(await value('nfs_health_checkd_holder_scans_total{result="timeout"}')).toBe(0);
    holderSink.holdersCounted(
      new Map([
        [A, 2],
        [B, 0],
      ]),
    );
    holderSink.scanned({ result: 'ok', ms: 250, scanned: 2000, unreadable: 0 });
    holderSink.scanned({ result: 'timeout', ms: 5000, blockedPid: 7 });
    holderSink.restart({ unit: 'airflow-scheduler.service', result: 'ok', paths: [A], pids: [10] });
    expect(await value(`nfs_mount_detached_holders{mount="${A}"}`)).toBe(2);
    expect(await value('nfs_health_checkd_holder_scans_total{result="ok"}')).toBe(1);
    expect(await value('nfs_health_checkd_holder_scans_total{result="timeout"}')).toBe(1);
    expect(await value('nfs_health_checkd_holder_scan_duration_seconds_bucket{le="0.25"}')).toBe(1);
    expect(await value('nfs_health_checkd_holder_scan_duration_seconds_count')).toBe(1);
    expect(await value('nfs_health_check_holder_restarts_total{unit="airflow-scheduler.service",result="ok"}')).toBe(1);
    expect(await text()).toMatch(/# HELP nfs_mount_detached_holders /);
  });

  it('holders off: no holder series pretend a scan found nobody', async () => {
    const { text } = setup({ holders: false });
    expect(await text()).not.toMatch(/^nfs_mount_detached_holders\{/m);
    expect(await text()).not.toMatch(/^nfs_health_checkd_holder_scans_total\{/m);
  });

  it('exposes build info, zeroed recovery counters and stuck gauges before any probe', async () => {
    const { text, value } = setup();
    expect(await text()).toContain(`nfs_health_checkd_build_info{version="1.2.3",node_version="${process.version}"} 1`);
    for (const r of ['success', 'failed', 'timeout', 'dry_run']) {
      expect(await value(`nfs_health_check_recoveries_total{result="${r}"}`)).toBe(0);
    }
    expect(await value(`nfs_mount_probe_stuck{mount="${A}"}`)).toBe(0);
    expect(await text()).toMatch(/^nfs_health_checkd_process_resident_memory_bytes \d+/m);
    expect(await text()).toMatch(/# HELP nfs_mount_accessible .*as of the last probe cycle/);
  });

  it('a probe round sets accessibility, mounted, stuck, last success and counts by result', async () => {
    const { clock, sink, value } = setup();
    clock.advance(10_000);
    sink.probed([result(A), result(B, { result: 'ESTALE', errno: 'ESTALE', ms: 0.4 })], 3);
    expect(await value(`nfs_mount_accessible{mount="${A}"}`)).toBe(1);
    expect(await value(`nfs_mount_accessible{mount="${B}"}`)).toBe(0);
    expect(await value(`nfs_mount_probes_total{mount="${B}",result="ESTALE"}`)).toBe(1);
    expect(await value(`nfs_mount_last_success_timestamp_seconds{mount="${A}"}`)).toBe(1_700_000_010);
    expect(await value(`nfs_mount_last_success_timestamp_seconds{mount="${B}"}`)).toBeUndefined();
    expect(await value(`nfs_mount_probe_duration_seconds_bucket{le="0.001",mount="${B}"}`)).toBe(1);
    expect(await value(`nfs_mount_probe_duration_seconds_bucket{le="0.001",mount="${A}"}`)).toBe(0);

    sink.probed([result(A, { result: 'timeout', ms: 5000, stuck: true }), result(B, { result: 'unmounted', mounted: false })], 5000);
    expect(await value(`nfs_mount_probe_stuck{mount="${A}"}`)).toBe(1);
    expect(await value(`nfs_mount_mounted{mount="${B}"}`)).toBe(0);
    expect(await value(`nfs_mount_probes_total{mount="${A}",result="timeout"}`)).toBe(1);
  });

  it('skipped probes (an earlier call still blocked) count as timeouts but are not timed', async () => {
    const { sink, value } = setup();
    sink.probed([result(A, { result: 'timeout', ms: 0, stuck: true, skipped: 'same_mount' })], 0);
    expect(await value(`nfs_mount_probes_total{mount="${A}",result="timeout"}`)).toBe(1);
    expect(await value(`nfs_mount_probe_duration_seconds_count{mount="${A}"}`)).toBeUndefined();
  });

  it('a blocked call that returns clears the stuck gauge once none is left', async () => {
    const { sink, value } = setup();
    sink.probed([result(A, { result: 'timeout', stuck: true })], 5000);
    sink.released({ path: A, blockedMs: 9000, raw: { kind: 'ok' }, stillStuck: 1 }, false);
    expect(await value(`nfs_mount_probe_stuck{mount="${A}"}`)).toBe(1);
    sink.released({ path: A, blockedMs: 9000, raw: { kind: 'ok' }, stillStuck: 0 }, false);
    expect(await value(`nfs_mount_probe_stuck{mount="${A}"}`)).toBe(0);
  });

  it('counts recoveries and steps by outcome, and times recovery only for mounts a recovery ran for', async () => {
    const { sink, value, text } = setup();
    const target = { path: A, mountId: 9, underAutofs: true, result: 'ESTALE', blockedMs: null };
    sink.recoveryStarted([target]);
    sink.step({
      kind: 'command',
      outcome: { argv: ['umount'], status: 'failed', exitCode: 16, signal: null, output: 'busy', durationMs: 4 },
    });
    sink.step({
      kind: 'escalation',
      path: A,
      detached: true,
      outcome: { argv: ['umount', '-l'], status: 'ok', exitCode: 0, signal: null, output: '', durationMs: 3 },
    });
    sink.health({ kind: 'recovered', path: A, previous: 'ESTALE', downMs: 8400 }, undefined);
    sink.recoveryFinished({ result: 'success', steps: [], reprobe: [], stillFailing: [], collateral: [], durationMs: 20 }, [target]);
    // B came back by itself: no recovery ran for it, so it is no time-to-recover sample.
    sink.health({ kind: 'recovered', path: B, previous: 'EIO', downMs: 60_000 }, undefined);
    expect(await value('nfs_health_check_recoveries_total{result="success"}')).toBe(1);
    expect(await text()).not.toContain('result="escalated"');
    expect(await value('nfs_health_check_recovery_steps_total{step="command",status="failed"}')).toBe(1);
    expect(await value('nfs_health_check_recovery_steps_total{step="escalation",status="ok"}')).toBe(1);
    expect(await value(`nfs_recovery_duration_seconds_count{mount="${A}"}`)).toBe(1);
    expect(await value(`nfs_recovery_duration_seconds_sum{mount="${A}"}`)).toBe(8.4);
    expect(await value(`nfs_recovery_duration_seconds_bucket{le="10",mount="${A}"}`)).toBe(1);
    expect(await value(`nfs_recovery_duration_seconds_bucket{le="5",mount="${A}"}`)).toBe(0);
    expect(await value(`nfs_recovery_duration_seconds_count{mount="${B}"}`)).toBe(0);
  });

  it('records autofs status, the last cycle time and skipped ticks', async () => {
    const { clock, sink, value } = setup();
    clock.advance(5000);
    sink.cycleFinished({ autofsRunning: false, scheduled: true });
    expect(await value('nfs_autofs_status')).toBe(0);
    expect(await value('nfs_health_checkd_last_cycle_timestamp_seconds')).toBe(1_700_000_005);
    sink.cycleFinished({ autofsRunning: true, scheduled: true });
    expect(await value('nfs_autofs_status')).toBe(1);
    sink.overlapped();
    expect(await value('nfs_health_checkd_skipped_ticks_total')).toBe(1);
  });
});

describe('nfs_health_checkd_probe_threads', () => {
  it('reads the pool at each scrape, by state', async () => {
    const { watchPool, value, text } = setup();
    expect(await text()).not.toContain('nfs_health_checkd_probe_threads{');
    let threads = { idle: 1, busy: 0, stuck: 0 };
    watchPool(() => threads);
    expect(await value('nfs_health_checkd_probe_threads{state="idle"}')).toBe(1);
    threads = { idle: 1, busy: 2, stuck: 3 };
    expect(await value('nfs_health_checkd_probe_threads{state="busy"}')).toBe(2);
    expect(await value('nfs_health_checkd_probe_threads{state="stuck"}')).toBe(3);
  });
});

function op(o: Partial<OpStats>): OpStats {
  return { ops: 0, trans: 0, timeouts: 0, bytesSent: 0, bytesRecv: 0, queueMs: 0, rttMs: 0, executeMs: 0, errors: 0, ...o };
}

function mountStats(mountPoint: string, ops: Record<string, OpStats>, o: Partial<NfsMountStats> = {}): NfsMountStats {
  return {
    device: '10.0.0.10:/export/dags',
    mountPoint,
    fstype: 'nfs4',
    statvers: '1.1',
    ageS: 3600,
    ops: new Map(Object.entries(ops)),
    xprt: { protocol: 'tcp', sends: 1500, recvs: 1498 },
    ...o,
  };
}

/** The /metrics lines of the NFS client's counters, without HELP and TYPE. */
async function kernelLines(text: () => Promise<string>): Promise<string[]> {
  return (await text()).split('\n').filter((l) => /^nfs_mount_(operations|transport)_/.test(l));
}

describe('the NFS client counters (watchKernel)', () => {
  it('exposes the last parse per configured mount, named as node_exporter names them', async () => {
    const { watchKernel, text } = setup();
    expect(await kernelLines(text)).toEqual([]);
    const stats = mountStats(A, {
      NULL: op({}),
      GETATTR: op({ ops: 120, trans: 123, timeouts: 1, queueMs: 30, rttMs: 480, executeMs: 540, errors: 2 }),
      READDIR: op({ ops: 0, errors: 0 }),
      LOOKUP: op({ ops: 0, errors: 3 }),
    });
    // B is not mounted: no stats, no series. An unconfigured path is not exposed.
    watchKernel(
      () =>
        new Map([
          [A, stats],
          ['/elsewhere', mountStats('/elsewhere', { GETATTR: op({ ops: 9, trans: 9 }) })],
        ]),
    );
    expect(await kernelLines(text)).toEqual([
      `nfs_mount_operations_requests_total{mount="${A}",operation="GETATTR"} 120`,
      `nfs_mount_operations_requests_total{mount="${A}",operation="LOOKUP"} 0`,
      `nfs_mount_operations_transmissions_total{mount="${A}",operation="GETATTR"} 123`,
      `nfs_mount_operations_transmissions_total{mount="${A}",operation="LOOKUP"} 0`,
      `nfs_mount_operations_major_timeouts_total{mount="${A}",operation="GETATTR"} 1`,
      `nfs_mount_operations_major_timeouts_total{mount="${A}",operation="LOOKUP"} 0`,
      `nfs_mount_operations_queue_time_seconds_total{mount="${A}",operation="GETATTR"} 0.03`,
      `nfs_mount_operations_queue_time_seconds_total{mount="${A}",operation="LOOKUP"} 0`,
      `nfs_mount_operations_response_time_seconds_total{mount="${A}",operation="GETATTR"} 0.48`,
      `nfs_mount_operations_response_time_seconds_total{mount="${A}",operation="LOOKUP"} 0`,
      `nfs_mount_operations_request_time_seconds_total{mount="${A}",operation="GETATTR"} 0.54`,
      `nfs_mount_operations_request_time_seconds_total{mount="${A}",operation="LOOKUP"} 0`,
      `nfs_mount_operations_errors_total{mount="${A}",operation="GETATTR"} 2`,
      `nfs_mount_operations_errors_total{mount="${A}",operation="LOOKUP"} 3`,
      `nfs_mount_transport_sends_total{mount="${A}"} 1500`,
      `nfs_mount_transport_receives_total{mount="${A}"} 1498`,
    ]);
    expect(await text()).toMatch(/^# TYPE nfs_mount_operations_response_time_seconds_total counter$/m);
    expect(await text()).toMatch(/^# HELP nfs_mount_operations_transmissions_total .*retransmissions = transmissions - requests/m);
  });

  it('a kernel without per-operation errors (statvers 1.0) gets no errors series; no xprt line, no transport series', async () => {
    const { watchKernel, text } = setup();
    const old = mountStats(
      B,
      { GETATTR: op({ ops: 5, trans: 5, rttMs: 10, executeMs: 12, errors: null }), READ: op({ errors: null }) },
      { statvers: '1.0', xprt: null },
    );
    watchKernel(() => new Map([[B, old]]));
    const lines = await kernelLines(text);
    expect(lines).toContain(`nfs_mount_operations_requests_total{mount="${B}",operation="GETATTR"} 5`);
    expect(lines).toContain(`nfs_mount_operations_response_time_seconds_total{mount="${B}",operation="GETATTR"} 0.01`);
    expect(lines.filter((l) => l.includes('errors_total') || l.includes('transport_') || l.includes('"READ"'))).toEqual([]);
    expect(lines).toHaveLength(6);
  });

  it('each scrape shows the latest parse, not a sum; a mount gone loses its series', async () => {
    const { watchKernel, value, text } = setup();
    let now = new Map([[A, mountStats(A, { GETATTR: op({ ops: 100, trans: 100, rttMs: 200 }) })]]);
    watchKernel(() => now);
    const requests = `nfs_mount_operations_requests_total{mount="${A}",operation="GETATTR"}`;
    expect(await value(requests)).toBe(100);
    expect(await value(requests)).toBe(100);
    now = new Map([
      [A, mountStats(A, { GETATTR: op({ ops: 130, trans: 131, rttMs: 260 }) }, { xprt: { protocol: 'tcp', sends: 1600, recvs: 1599 } })],
    ]);
    expect(await value(requests)).toBe(130);
    expect(await value(`nfs_mount_operations_transmissions_total{mount="${A}",operation="GETATTR"}`)).toBe(131);
    expect(await value(`nfs_mount_operations_response_time_seconds_total{mount="${A}",operation="GETATTR"}`)).toBe(0.26);
    expect(await value(`nfs_mount_transport_sends_total{mount="${A}"}`)).toBe(1600);
    // The mount replaced: the kernel's counters start again from 0 (a counter reset to Prometheus).
    now = new Map([[A, mountStats(A, { GETATTR: op({ ops: 2, trans: 2 }) })]]);
    expect(await value(requests)).toBe(2);
    now = new Map();
    expect(await kernelLines(text)).toEqual([]);
  });
});

describe('nfs_mount_kernel_evidence_total', () => {
  const evidence = (path: string, kind: Evidence['kind']): Evidence => ({ path, kind, moved: {}, sampleMs: 1000 });

  it('counts early probes by mount and kind, from zero series for every configured path and kind', async () => {
    const { sink, value } = setup({ kernelEvidence: true });
    for (const mount of [A, B]) {
      for (const kind of ['errors', 'timeouts', 'mount_table']) {
        expect(await value(`nfs_mount_kernel_evidence_total{mount="${mount}",kind="${kind}"}`)).toBe(0);
      }
    }
    sink.earlyProbe(evidence(A, 'timeouts'));
    sink.earlyProbe(evidence(A, 'timeouts'));
    sink.earlyProbe(evidence(B, 'mount_table'));
    expect(await value(`nfs_mount_kernel_evidence_total{mount="${A}",kind="timeouts"}`)).toBe(2);
    expect(await value(`nfs_mount_kernel_evidence_total{mount="${A}",kind="errors"}`)).toBe(0);
    expect(await value(`nfs_mount_kernel_evidence_total{mount="${B}",kind="mount_table"}`)).toBe(1);
  });

  it('kernel evidence off (the default): no series at all, and earlyProbe counts nothing', async () => {
    const { sink, text } = setup();
    sink.earlyProbe(evidence(A, 'errors'));
    expect(await text()).toContain('# TYPE nfs_mount_kernel_evidence_total counter');
    expect(await text()).not.toMatch(/^nfs_mount_kernel_evidence_total\{/m);
  });
});

const promtool = prerequisite('promtool', promtoolAvailable(), 'install');
if (skips(promtool)) console.warn(`promtool check metrics test skipped: ${promtool.reason}`);

describe('the exposition as Prometheus naming reads it', () => {
  it('no gauge is named like a counter: the runtime counts by type stay, their _total gauges are gone', async () => {
    const { text } = setup();
    const exposition = await text();
    expect(exposition).not.toMatch(/^# TYPE \S+_total gauge$/m);
    for (const kind of ['handles', 'requests', 'resources']) {
      expect(exposition).toMatch(new RegExp(`^# TYPE nfs_health_checkd_nodejs_active_${kind} gauge$`, 'm'));
      expect(exposition).not.toContain(`nfs_health_checkd_nodejs_active_${kind}_total`);
    }
  });

  requires(promtool).it('`promtool check metrics` finds nothing to fix, every optional family on', async () => {
    const { sink, watchPool, watchKernel, text } = setup({ kernelEvidence: true, autofsReloads: true });
    sink.probed([result(A), result(B, { result: 'ESTALE', errno: 'ESTALE', ms: 0.4 })], 3);
    watchPool(() => ({ idle: 1, busy: 0, stuck: 0 }));
    watchKernel(() => new Map([[A, mountStats(A, { GETATTR: op({ ops: 120, trans: 123, rttMs: 480, executeMs: 540 }) })]]));
    expect(runPromtool(['check', 'metrics'], { input: await text() })).toEqual({ status: 0, signal: null, output: '' });
  });
});
