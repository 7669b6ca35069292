// The metrics sink: what each monitor report does to the exposition Prometheus reads.
import { describe, expect, it } from 'vitest';
import { createMetrics, probeBuckets } from '../../src/observe/metrics.js';
import type { ProbeResult } from '../../src/probe/probe-mounts.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { probeResult } from '../helpers/probe-result.js';

const A = '/airflow/dags';
const B = '/airflow/logs';

function result(path: string, r: Partial<ProbeResult> = {}): ProbeResult {
  return probeResult(path, { underAutofs: true, ...r });
}

function setup(holders = true) {
  const clock = new FakeClock();
  const m = createMetrics({ version: '1.2.3', paths: [A, B], probeTimeoutMs: 5000, clock, holders });
  const text = () => m.registry.metrics();
  const value = async (series: string): Promise<number | undefined> => {
    const line = (await text()).split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  return { clock, sink: m.sink, holderSink: m.holderSink, watchPool: m.watchPool, text, value };
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
    const { text } = setup(false);
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
