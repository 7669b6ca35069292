// The packaged Prometheus alerting rules, their promtool unit tests, the example scrape config and
// the Grafana dashboard: valid, tested, and querying only metrics the daemon exposes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { promtoolAvailable, promtoolVersion, runPromtool } from '../helpers/prometheus.js';
import { KNOWN_SERIES, allPanels, dashboardQueries, groupings, metricNames, type Dashboard } from '../helpers/promql.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const PROM_DIR = path.join(ROOT, 'packaging', 'prometheus');
const RULES = path.join(PROM_DIR, 'nfs-health-checkd.rules.yml');
const RULES_TEST = path.join(PROM_DIR, 'nfs-health-checkd.rules.test.yml');
const SCRAPE_EXAMPLE = path.join(PROM_DIR, 'scrape-config.example.yml');
const DASHBOARD = path.join(ROOT, 'packaging', 'grafana', 'nfs-health-checkd.json');

const ALERTS = [
  'NFSMountInaccessible',
  'NFSRecoveryFailing',
  'NFSStaticMountNotRestored',
  'NFSProbeStuck',
  'NFSAutofsDown',
  'NFSHealthCheckDaemonDown',
  'NFSHealthCheckDaemonAbsent',
  'NFSHealthCheckLoopStalled',
  'NFSProcessesOnDetachedMount',
  'NFSHolderScansFailing',
];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function loadRules(): Rule[] {
  const doc = YAML.parse(fs.readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

/** PromQL run by annotation templates: {{ printf "EXPR" ... | query }}. */
function templateQueries(text: string): string[] {
  return [...text.matchAll(/printf\s+"((?:[^"\\]|\\.)*)"[^|}]*\|\s*query/g)].map((m) => (m[1] ?? '').replace(/\\"/g, '"'));
}

const promtool = prerequisite('promtool', promtoolAvailable(), 'install');
if (skips(promtool)) console.warn(`promtool tests skipped: ${promtool.reason}`);

const tempDirs: string[] = [];
function tempCopyOfRules(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfs-hc-rules-'));
  tempDirs.push(dir);
  for (const f of [RULES, RULES_TEST]) fs.copyFileSync(f, path.join(dir, path.basename(f)));
  return dir;
}
afterAll(() => {
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('metric name reader (what the checks below rely on)', () => {
  it('finds the metrics of an expression and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (instance, mount, le) (rate(nfs_mount_probe_duration_seconds_bucket{job=~"$job", mount=~"a|b"}[$__rate_interval])))',
      ),
    ).toEqual(['nfs_mount_probe_duration_seconds_bucket']);
    expect(metricNames('time() - nfs_health_checkd_last_cycle_timestamp_seconds > 300')).toEqual([
      'nfs_health_checkd_last_cycle_timestamp_seconds',
    ]);
    expect(metricNames('count(up{job="x"} == 0) or vector(0) unless on (instance) nfs_bogus offset 5m')).toEqual(['up', 'nfs_bogus']);
    expect(metricNames('sum(x_total) by (le) / ignoring(result) group_left y_total')).toEqual(['x_total', 'y_total']);
  });

  it('rejects what the daemon does not expose', () => {
    expect(KNOWN_SERIES.has('nfs_mount_probe_duration_seconds_bucket')).toBe(true);
    expect(KNOWN_SERIES.has('nfs_mount_probe_duration_seconds')).toBe(false); // a histogram has no bare series
    expect(KNOWN_SERIES.has('nfs_mount_accessible_total')).toBe(false);
  });
});

describe('alerting rules (packaging/prometheus/nfs-health-checkd.rules.yml)', () => {
  const rules = loadRules();

  it('has exactly the documented alerts, each with a severity, a summary, a description and a hold time', () => {
    expect(rules.map((r) => r.alert)).toEqual(ALERTS);
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toMatch(/\S/);
      expect(r.annotations?.description, r.alert).toMatch(/\S/);
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it('queries only metrics the daemon exposes (and up)', () => {
    for (const r of rules) {
      const exprs = [r.expr, ...Object.values(r.annotations ?? {}).flatMap(templateQueries)];
      for (const e of exprs) {
        const names = metricNames(e);
        expect(names.length, `${r.alert}: ${e}`).toBeGreaterThan(0);
        for (const n of names) expect(KNOWN_SERIES.has(n), `${r.alert} uses unknown metric ${n} in: ${e}`).toBe(true);
      }
    }
    // The one annotation query there is was found, so the check above covers annotations.
    expect(rules.flatMap((r) => Object.values(r.annotations ?? {}).flatMap(templateQueries))).toHaveLength(1);
  });

  it('keeps the instance label when it aggregates, and names the mount in per-mount alerts', () => {
    for (const r of rules) {
      for (const labels of groupings(r.expr)) expect(labels, `${r.alert}: ${r.expr}`).toContain('instance');
      expect(r.expr, r.alert).not.toMatch(/\bwithout\s*\(/);
      if (/nfs_mount_/.test(r.expr)) {
        expect(r.annotations?.summary, r.alert).toContain('{{ $labels.mount }}');
        expect(r.annotations?.description, r.alert).toContain('{{ $labels.mount }}');
      }
      if (!/^absent\(/.test(r.expr)) expect(r.annotations?.summary, r.alert).toContain('{{ $labels.instance }}');
    }
  });

  it('has a promtool unit test of every alert both firing and not firing', () => {
    const doc = YAML.parse(fs.readFileSync(RULES_TEST, 'utf8')) as {
      rule_files: string[];
      tests: Array<{ interval: string; alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    expect(doc.rule_files).toEqual([path.basename(RULES)]);
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert} never expected to fire`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert} never expected to stay quiet`,
      ).toBe(true);
    }
    for (const t of doc.tests) expect(t.interval).toBe('30s');
  });
});

requires(promtool).describe(`promtool (${promtoolVersion() ?? 'missing'})`, () => {
  it('`promtool check rules` accepts the rules', () => {
    const r = runPromtool(['check', 'rules', path.basename(RULES)], { cwd: PROM_DIR });
    expect(r.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(r.status, r.output).toBe(0);
  });

  it('`promtool test rules` passes the unit tests', () => {
    const r = runPromtool(['test', 'rules', path.basename(RULES_TEST)], { cwd: PROM_DIR });
    expect(r.output).toMatch(/^\s*SUCCESS\s*$/m);
    expect(r.output).not.toContain('FAILED');
    expect(r.status, r.output).toBe(0);
  });

  it('the unit tests fail when an alert misbehaves, and check rules fails on bad PromQL', () => {
    const dir = tempCopyOfRules();
    const copy = path.join(dir, path.basename(RULES));
    const original = fs.readFileSync(copy, 'utf8');

    // Fire NFSMountInaccessible after 1 m instead of 2 m: the test expecting quiet at 2m30s fails.
    const early = original.replace(/(expr: nfs_mount_accessible == 0\n\s+for:) 2m/, '$1 1m');
    expect(early).not.toBe(original);
    fs.writeFileSync(copy, early);
    const failed = runPromtool(['test', 'rules', path.basename(RULES_TEST)], { cwd: dir });
    expect(failed.status).toBe(1);
    expect(failed.output).toMatch(/FAILED[\s\S]*alertname: NFSMountInaccessible, time: 2m30s/);

    // Fire NFSProcessesOnDetachedMount after 4 m instead of 5 m: quiet expected at 5m30s.
    const holdersEarly = original.replace(/(expr: nfs_mount_detached_holders > 0\n\s+for:) 5m/, '$1 4m');
    expect(holdersEarly).not.toBe(original);
    fs.writeFileSync(copy, holdersEarly);
    const holdersFailed = runPromtool(['test', 'rules', path.basename(RULES_TEST)], { cwd: dir });
    expect(holdersFailed.status).toBe(1);
    expect(holdersFailed.output).toMatch(/FAILED[\s\S]*alertname: NFSProcessesOnDetachedMount, time: 5m30s/);

    // NFSHolderScansFailing without its `unless`: a single timeout among good scans would fire it.
    const noUnless = original.replace(/\n\s+unless on \(instance, job\)\n[^\n]*result="ok"[^\n]*/, '');
    expect(noUnless).not.toBe(original);
    fs.writeFileSync(copy, noUnless);
    const unlessFailed = runPromtool(['test', 'rules', path.basename(RULES_TEST)], { cwd: dir });
    expect(unlessFailed.status).toBe(1);
    expect(unlessFailed.output).toMatch(/FAILED[\s\S]*alertname: NFSHolderScansFailing/);

    // A syntax error in an expression.
    fs.writeFileSync(copy, original.replace('nfs_autofs_status == 0', 'nfs_autofs_status == (0'));
    const bad = runPromtool(['check', 'rules', path.basename(RULES)], { cwd: dir });
    expect(bad.status).not.toBe(0);
    expect(bad.output).toMatch(/FAILED|parse error/i);
  });

  it('the example scrape config is a valid Prometheus config that loads the rules', () => {
    const dir = tempCopyOfRules();
    const config = fs
      .readFileSync(SCRAPE_EXAMPLE, 'utf8')
      .replace('/etc/prometheus/rules/nfs-health-checkd.rules.yml', path.join(dir, path.basename(RULES)));
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
    const r = runPromtool(['check', 'config', 'prometheus.yml'], { cwd: dir });
    expect(r.output).toContain('SUCCESS: 1 rule files found');
    expect(r.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(r.status, r.output).toBe(0);
    const doc = YAML.parse(config) as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
    expect(doc.scrape_configs.map((s) => s.job_name)).toEqual(['nfs-health-checkd']);
    for (const t of doc.scrape_configs[0]?.static_configs.flatMap((s) => s.targets) ?? []) expect(t).toMatch(/:12049$/);
  });
});

describe('Grafana dashboard (packaging/grafana/nfs-health-checkd.json)', () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const panels = allPanels(dashboard).filter((p) => p.type !== 'row');
  const queries = dashboardQueries(dashboard);

  it('is a schema-39 dashboard on a templated Prometheus datasource, with instance and mount variables', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe('nfs-health-checkd');
    const vars = dashboard.templating?.list ?? [];
    expect(vars.find((v) => v.name === 'DS_PROMETHEUS')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['instance', 'mount']) {
      const v = vars.find((x) => x.name === name);
      expect(v?.type, name).toBe('query');
      expect(v?.query, name).toMatch(new RegExp(`^label_values\\(.*, ${name}\\)$`));
      expect(v?.datasource?.uid, name).toBe('${DS_PROMETHEUS}');
    }
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
  });

  it('has unique panel ids and a layout without overlaps inside 24 columns', () => {
    const all = allPanels(dashboard);
    const ids = all.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, string>();
    for (const p of all) {
      const g = p.gridPos;
      expect(g, p.title).toBeDefined();
      if (g === undefined) continue;
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = cells.get(`${x},${y}`);
          expect(other, `${p.title ?? '?'} overlaps ${other ?? ''}`).toBeUndefined();
          cells.set(`${x},${y}`, p.title ?? '?');
        }
      }
    }
  });

  it('queries only metrics the daemon exposes (and up)', () => {
    expect(queries.length).toBeGreaterThan(20);
    for (const q of queries) {
      const names = metricNames(q.expr);
      expect(names.length, `${q.where}: ${q.expr}`).toBeGreaterThan(0);
      for (const n of names) expect(KNOWN_SERIES.has(n), `${q.where} uses unknown metric ${n}: ${q.expr}`).toBe(true);
    }
  });

  it('has panels for accessibility, latency, probe results, recoveries, time to recover, stuck, mounted, autofs, holders, the NFS client and the daemon', () => {
    const panelUsing = (what: string, test: (expr: string) => boolean): void => {
      const found = panels.filter((p) => (p.targets ?? []).some((t) => typeof t.expr === 'string' && test(t.expr)));
      expect(found.length, `no panel for ${what}`).toBeGreaterThan(0);
    };
    panelUsing('accessibility', (e) => /^nfs_mount_accessible\{/.test(e));
    panelUsing('probe latency p50', (e) => /histogram_quantile\(0\.5,.*nfs_mount_probe_duration_seconds_bucket/.test(e));
    panelUsing('probe latency p99', (e) => /histogram_quantile\(0\.99,.*nfs_mount_probe_duration_seconds_bucket/.test(e));
    panelUsing('probe results', (e) => /by \(instance, mount, result\) \(rate\(nfs_mount_probes_total/.test(e));
    panelUsing('recoveries by result', (e) => /by \(instance, result\) \(increase\(nfs_health_check_recoveries_total/.test(e));
    panelUsing('time to recover', (e) => /histogram_quantile\(.*nfs_recovery_duration_seconds_bucket/.test(e));
    panelUsing('stuck probes', (e) => /nfs_mount_probe_stuck/.test(e));
    panelUsing('mounted', (e) => /nfs_mount_mounted/.test(e));
    panelUsing('autofs', (e) => /nfs_autofs_status/.test(e));
    panelUsing('daemon memory', (e) => /nfs_health_checkd_process_resident_memory_bytes/.test(e));
    panelUsing('processes on detached mounts', (e) => /^nfs_mount_detached_holders\{/.test(e));
    panelUsing('holder scans by result', (e) => /by \(instance, result\) \(rate\(nfs_health_checkd_holder_scans_total/.test(e));
    const perRequest = (m: string) => (e: string) =>
      new RegExp(
        `by \\(instance, mount, operation\\) \\(rate\\(${m}\\{.*\\) / \\(sum by \\(instance, mount, operation\\) \\(rate\\(nfs_mount_operations_requests_total\\{`,
      ).test(e);
    panelUsing('NFS round trip time', perRequest('nfs_mount_operations_response_time_seconds_total'));
    panelUsing('NFS execute time', perRequest('nfs_mount_operations_request_time_seconds_total'));
    panelUsing('NFS errors', (e) => /by \(instance, mount\) \(rate\(nfs_mount_operations_errors_total/.test(e));
    panelUsing('NFS major timeouts', (e) => /by \(instance, mount\) \(rate\(nfs_mount_operations_major_timeouts_total/.test(e));
    panelUsing('NFS retransmissions', (e) =>
      /nfs_mount_operations_transmissions_total\{.*\) - sum by \(instance, mount\) \(rate\(nfs_mount_operations_requests_total/.test(e),
    );
    panelUsing('early probes by kind', (e) => /by \(instance, mount, kind\) \(increase\(nfs_mount_kernel_evidence_total/.test(e));
    // Every histogram_quantile aggregates by le and keeps instance.
    for (const q of queries.filter((x) => x.expr.includes('histogram_quantile'))) {
      for (const g of groupings(q.expr)) expect(g, q.where).toEqual(expect.arrayContaining(['instance', 'le']));
    }
  });
});
