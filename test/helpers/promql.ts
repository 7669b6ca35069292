// What the packaged Prometheus rules and Grafana dashboard may query, and a small PromQL reader
// that finds the metric names an expression uses — enough to catch a misspelt or invented metric,
// not a PromQL parser (promtool and a real Prometheus check the syntax).

/** The NFS client's own counters (/proc/self/mountstats), per configured mount. */
const NFS_CLIENT_COUNTERS = [
  'nfs_mount_operations_requests_total',
  'nfs_mount_operations_transmissions_total',
  'nfs_mount_operations_major_timeouts_total',
  'nfs_mount_operations_queue_time_seconds_total',
  'nfs_mount_operations_response_time_seconds_total',
  'nfs_mount_operations_request_time_seconds_total',
  'nfs_mount_operations_errors_total',
  'nfs_mount_transport_sends_total',
  'nfs_mount_transport_receives_total',
] as const;

/** The metrics nfs-health-checkd exposes (src/observe/metrics.ts), as documented for operators. */
export const DAEMON_METRICS = {
  gauges: [
    'nfs_mount_accessible',
    'nfs_autofs_status',
    'nfs_mount_probe_stuck',
    'nfs_mount_mounted',
    'nfs_mount_last_success_timestamp_seconds',
    'nfs_health_checkd_build_info',
    'nfs_health_checkd_last_cycle_timestamp_seconds',
    'nfs_mount_detached_holders',
  ],
  counters: [
    'nfs_health_check_recoveries_total',
    'nfs_health_check_recovery_steps_total',
    'nfs_mount_probes_total',
    'nfs_health_checkd_skipped_ticks_total',
    'nfs_health_check_holder_restarts_total',
    'nfs_health_checkd_holder_scans_total',
    'nfs_health_check_collateral_unmounts_total',
    'nfs_health_check_static_mount_put_backs_total',
    'nfs_health_check_autofs_reloads_total',
    'nfs_health_check_stalled_connections_reset_total',
    'nfs_mount_kernel_evidence_total',
    ...NFS_CLIENT_COUNTERS,
  ],
  histograms: ['nfs_mount_probe_duration_seconds', 'nfs_recovery_duration_seconds', 'nfs_health_checkd_holder_scan_duration_seconds'],
  /** Node process metrics (prom-client's defaults, prefixed) the dashboard uses. */
  process: [
    'nfs_health_checkd_process_resident_memory_bytes',
    'nfs_health_checkd_process_cpu_seconds_total',
    'nfs_health_checkd_nodejs_heap_size_used_bytes',
    'nfs_health_checkd_nodejs_eventloop_lag_seconds',
  ],
} as const;

/**
 * Counters labelled by something known only when it happens (the mount a recovery took away):
 * their series appear with their first event, so a daemon that has had none exposes none.
 */
export const FIRST_EVENT_SERIES: ReadonlySet<string> = new Set([
  'nfs_health_check_collateral_unmounts_total',
  'nfs_health_check_static_mount_put_backs_total',
  'nfs_health_check_stalled_connections_reset_total',
]);

/**
 * Series that exist only with an NFS mount on a configured path (the kernel's counters): a daemon
 * watching no NFS mount exposes none. (nfs_mount_kernel_evidence_total is there from the start,
 * at 0, whenever evidence is on.)
 */
export const NFS_CLIENT_SERIES: ReadonlySet<string> = new Set(NFS_CLIENT_COUNTERS);

/** Every series name a query may select: the above, histogram series, and Prometheus's `up`. */
export const KNOWN_SERIES: ReadonlySet<string> = new Set([
  ...DAEMON_METRICS.gauges,
  ...DAEMON_METRICS.counters,
  ...DAEMON_METRICS.histograms.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
  ...DAEMON_METRICS.process,
  'up',
]);

// Identifiers that are PromQL, not metric names: aggregations (`sum by (x) (...)`, which are not
// always followed by a parenthesis), binary/set operators and modifiers.
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'start',
  'end',
  'inf',
  'nan',
]);

/** The metric names an expression selects, in order of appearance, without repeats. */
export function metricNames(expr: string): string[] {
  const s = expr
    // string literals (label values, regexes, printf formats)
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    // label matchers, range and subquery selectors ([5m], [$__rate_interval], [1h:5m])
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '')
    // label lists of grouping and matching modifiers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1')
    // Grafana variables ($instance, ${instance}, $__range)
    .replace(/\$\{?\w+\}?/g, '')
    // durations after offset, @ timestamps
    .replace(/\boffset\s+-?[\dsmhdwy]+/g, '')
    .replace(/@\s*[\d.]+/g, '');
  const names: string[] = [];
  for (const m of s.matchAll(/(?<![\w.:$])[a-zA-Z_:][\w:]*/g)) {
    const word = m[0];
    const after = s.slice((m.index ?? 0) + word.length);
    if (/^\s*\(/.test(after)) continue; // a function call
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (!names.includes(word)) names.push(word);
  }
  return names;
}

/** The labels of every `by (...)` grouping in an expression. */
export function groupings(expr: string): string[][] {
  return [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].map((m) =>
    (m[1] ?? '')
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  );
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboards

export interface DashboardQuery {
  /** Where it is, for messages: `panel "Probe latency p50 / p99" target B`. */
  where: string;
  /** The PromQL (for `label_values(expr, label)` variables: expr). */
  expr: string;
  /** The panel's title, for panel queries. */
  panel?: string;
}

export interface DashboardPanel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Array<{ refId?: string; expr?: string; datasource?: { type?: string; uid?: string } }>;
  panels?: DashboardPanel[];
}

export interface Dashboard {
  title?: string;
  uid?: string;
  schemaVersion?: number;
  panels?: DashboardPanel[];
  templating?: { list?: Array<{ type?: string; name?: string; query?: unknown; definition?: string; datasource?: { uid?: string } }> };
  annotations?: { list?: Array<{ name?: string; expr?: string; datasource?: { uid?: string } }> };
}

/** Every panel, including those inside collapsed rows. */
export function allPanels(d: Dashboard): DashboardPanel[] {
  const out: DashboardPanel[] = [];
  const walk = (ps: DashboardPanel[] | undefined): void => {
    for (const p of ps ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

/** The PromQL of a Grafana Prometheus variable query: label_values(expr, label), query_result(expr). */
export function variableExpr(query: string): string | undefined {
  const q = query.trim();
  const lv = /^label_values\(\s*(.*?)\s*,\s*\w+\s*\)$/s.exec(q);
  if (lv) return lv[1];
  const qr = /^(?:query_result|metrics)\(\s*(.*)\s*\)$/s.exec(q);
  if (qr) return qr[1];
  if (/^label_values\(\s*\w+\s*\)$/.test(q) || /^label_names\(\)$/.test(q)) return undefined;
  return q;
}

/** Every PromQL query of a dashboard: panel targets, query variables, annotations. */
export function dashboardQueries(d: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr === 'string') {
        out.push({ where: `panel ${JSON.stringify(p.title)} target ${t.refId ?? '?'}`, expr: t.expr, panel: p.title ?? '' });
      }
    }
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : typeof v.definition === 'string' ? v.definition : undefined;
    const expr = q === undefined ? undefined : variableExpr(q);
    if (expr !== undefined) out.push({ where: `variable $${v.name ?? '?'}`, expr });
  }
  for (const a of d.annotations?.list ?? []) {
    if (typeof a.expr === 'string') out.push({ where: `annotation ${JSON.stringify(a.name)}`, expr: a.expr });
  }
  return out;
}

/**
 * A dashboard query as Grafana would send it with every variable at "All" (or the given values),
 * for running against a real Prometheus.
 */
export function expandGrafanaVariables(expr: string, values: Record<string, string> = {}): string {
  const builtins: Record<string, string> = {
    __rate_interval: '1m',
    __interval: '15s',
    __range: '1h',
    __range_s: '3600',
    ...values,
  };
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => builtins[a ?? b ?? ''] ?? '.*');
}
