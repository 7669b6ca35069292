// End to end: the built daemon serves /metrics, a real Prometheus scrapes it with the packaged
// alerting rules loaded, and every query of the Grafana dashboard and of the rules finds real
// series. Mounts: /proc (a mount point that reads fine: "ok") and an empty temp dir (not a mount
// point: "unmounted", which is inaccessible but no recovery trigger; recovery is off anyway).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import YAML from 'yaml';
import { CLI, cliBuilt } from '../helpers/cli.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { prometheusAvailable, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import {
  dashboardQueries,
  expandGrafanaVariables,
  FIRST_EVENT_SERIES,
  metricNames,
  NFS_CLIENT_SERIES,
  type Dashboard,
} from '../helpers/promql.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const RULES = path.join(ROOT, 'packaging', 'prometheus', 'nfs-health-checkd.rules.yml');
const DASHBOARD = path.join(ROOT, 'packaging', 'grafana', 'nfs-health-checkd.json');
const JOB = 'nfs-health-checkd';

const prometheus = prerequisite('prometheus', prometheusAvailable(), 'install');
const skipReason = !prometheus.ok ? prometheus.reason : !cliBuilt() ? `${CLI} not built (npm run build)` : undefined;
if (skips(prometheus, built())) console.warn(`daemon + Prometheus tests skipped: ${skipReason}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
}

requires(prometheus, built()).describe('the real daemon scraped by a real Prometheus with the packaged rules', () => {
  let dir = '';
  let share = '';
  let daemon: ChildProcess | undefined;
  let prom: RunningPrometheus | undefined;
  let target = '';
  const killDaemon = (): void => {
    daemon?.kill('SIGKILL');
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfs-hc-metrics-e2e-'));
    share = path.join(dir, 'share');
    fs.mkdirSync(share);
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      config,
      YAML.stringify({
        mounts: [{ path: '/proc' }, { path: share }],
        schedule: '* * * * * *',
        probe: { timeout: '1s' },
        recovery: { enabled: false },
        metrics: { listen: '127.0.0.1:0' },
        log: { level: 'info', file: '' },
      }),
    );
    process.once('exit', killDaemon);
    const child = spawn(process.execPath, [CLI, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    daemon = child;
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const metricsUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "starting" line in 10 s:\n${out}`)), 10_000);
      child.once('exit', (code, signal) => reject(new Error(`daemon exited (${String(code ?? signal)}):\n${out}`)));
      child.stdout.on('data', (c: string) => {
        out += c;
        const m = /"metrics":"(http:\/\/[^"]+)"[^\n]*"msg":"starting"/.exec(out);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    target = new URL(metricsUrl).host;
    prom = await startPrometheus([target], { job: JOB, scrapeIntervalMs: 1_000, ruleFiles: [RULES] });
    await prom.waitForTargetUp(20_000);
    // Enough scrapes for rate() and increase() over the dashboard's windows.
    await until('3 scrapes', 15_000, async () => {
      const [s] = await prom!.query(`count_over_time(up{job="${JOB}"}[1m])`);
      return s !== undefined && Number(s.value[1]) >= 3 ? true : undefined;
    });
  });

  afterAll(async () => {
    await prom?.stop();
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      killDaemon();
    }
    process.removeListener('exit', killDaemon);
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('Prometheus stores every metric the dashboard and the rules use (but those that appear with their first event or an NFS mount)', async () => {
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    const rules = (YAML.parse(fs.readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> }).groups
      .flatMap((g) => g.rules)
      .map((r) => r.expr);
    const used = new Set([...dashboardQueries(dashboard).map((q) => q.expr), ...rules].flatMap(metricNames));
    const stored = new Set((await prom!.api('/api/v1/label/__name__/values')) as string[]);
    // Neither /proc nor the temp dir is an NFS mount: no NFS client series (the evidence counter is there, at 0).
    expect([...used].filter((n) => !stored.has(n) && !FIRST_EVENT_SERIES.has(n) && !NFS_CLIENT_SERIES.has(n))).toEqual([]);
    expect([...used].filter((n) => NFS_CLIENT_SERIES.has(n) && stored.has(n))).toEqual([]);
  });

  it('every dashboard query is valid PromQL and finds series (recoveries and the NFS client excepted: none happened, no NFS mount)', async () => {
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    const empty: string[] = [];
    for (const q of dashboardQueries(dashboard)) {
      const expr = expandGrafanaVariables(q.expr, { job: JOB, instance: target });
      const samples = await prom!.query(expr).catch((e: unknown) => {
        throw new Error(`${q.where}: ${String(e)}`);
      });
      if (samples.length === 0) empty.push(q.where);
    }
    // Only the queries that keep recoveries and autofs reloads that happened (`... > 0`) and those
    // of the NFS client's counters (no NFS mount here) may be empty here.
    expect(empty).toEqual([
      'panel "Recoveries by result" target A',
      'panel "Recoveries by result" target B',
      'panel "NFS round trip time per operation" target A',
      'panel "NFS execute time per operation" target A',
      'panel "NFS errors" target A',
      'panel "NFS major timeouts and retransmissions" target A',
      'panel "NFS major timeouts and retransmissions" target B',
      'panel "Early probes by kind" target A',
      'annotation "Recoveries"',
    ]);

    const accessible = await prom!.query(`nfs_mount_accessible{job="${JOB}", instance="${target}"}`);
    expect(Object.fromEntries(accessible.map((s) => [s.metric.mount, s.value[1]]))).toEqual({ '/proc': '1', [share]: '0' });
    const probes = await prom!.query(`sum by (mount, result) (nfs_mount_probes_total{instance="${target}"})`);
    expect(probes.map((s) => `${s.metric.mount} ${s.metric.result}`).sort()).toEqual(['/proc ok', `${share} unmounted`]);
  });

  it('the rules evaluate without errors; the inaccessible mount is pending NFSMountInaccessible', async () => {
    const groups = await until('rules evaluated', 10_000, async () => {
      const data = (await prom!.api('/api/v1/rules')) as {
        groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }> }>;
      };
      const all = data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001-')) ? all : undefined;
    });
    expect(groups.map((r) => [r.name, r.health, r.lastError ?? ''])).toEqual(groups.map((r) => [r.name, 'ok', '']));

    const alerts = await until('NFSMountInaccessible pending', 10_000, async () => {
      const { alerts: list } = (await prom!.api('/api/v1/alerts')) as { alerts: Alert[] };
      return list.some((a) => a.labels.alertname === 'NFSMountInaccessible') ? list : undefined;
    });
    const inaccessible = alerts.filter((a) => a.labels.alertname === 'NFSMountInaccessible');
    expect(inaccessible).toEqual([
      expect.objectContaining({
        state: 'pending', // for: 2m
        labels: { alertname: 'NFSMountInaccessible', severity: 'critical', job: JOB, instance: target, mount: share },
        annotations: expect.objectContaining({ summary: `NFS mount ${share} inaccessible on ${target}` }),
      }),
    ]);
    // autofs: pending exactly when the daemon reports automount not running.
    const [autofs] = await prom!.query(`nfs_autofs_status{instance="${target}"}`);
    const autofsAlert = alerts.some((a) => a.labels.alertname === 'NFSAutofsDown');
    expect(autofsAlert).toBe(autofs?.value[1] === '0');
    const others = alerts.map((a) => a.labels.alertname).filter((n) => n !== 'NFSMountInaccessible' && n !== 'NFSAutofsDown');
    expect(others).toEqual([]);
  });

  it('when the daemon stops, up drops to 0 and NFSHealthCheckDaemonDown goes pending', async () => {
    const exited = new Promise((r) => daemon!.once('exit', r));
    daemon!.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
    const down = await until('NFSHealthCheckDaemonDown pending', 10_000, async () => {
      const { alerts } = (await prom!.api('/api/v1/alerts')) as { alerts: Alert[] };
      return alerts.find((a) => a.labels.alertname === 'NFSHealthCheckDaemonDown');
    });
    expect(down).toMatchObject({ state: 'pending', labels: { severity: 'warning', job: JOB, instance: target } });
    expect((await prom!.query(`up{job="${JOB}"}`))[0]?.value[1]).toBe('0');
  });
});
