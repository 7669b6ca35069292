// Turns the results into the printed table (Markdown, so it can go into the README as is).
import type { DetectionResult } from './detection.js';
import type { RecoveryResult } from './recovery.js';
import type { ScrapeResult } from './scrape.js';
import type { FootprintResult } from './footprint.js';
import type { ScaleResult } from './scale.js';
import type { HoldersResult } from './holders.js';
import type { RuntimeResult } from './runtime.js';
import type { GrowthResult, GrowthSample, GrowthVariant } from './growth.js';
import type { MountstatsResult, MountstatsRow, ParseTiming } from './mountstats.js';
import type { EvidenceResult, EvidenceSide } from './evidence.js';
import type { ServerCaseKey, ServerCaseRow, ServersResult } from './servers.js';
import type { KeepTiming, StateResult, StateRow, Timing } from './state.js';
import type { Latency, WebMode, WebModeRow, WebResult } from './web.js';
import type { RenderChild, RenderRow, UsTiming } from './web-render.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  date: string;
  mode: 'quick' | 'full';
}

export type Figure<T> = { status: 'ok'; result: T } | { status: 'skipped' | 'error'; reason: string };

export interface Results {
  machine: Machine;
  /** When each figure was measured (an --only run keeps the other figures of the file). */
  figureDates: Record<string, string>;
  figures: {
    detection?: Figure<DetectionResult>;
    recovery?: Figure<RecoveryResult>;
    scrape?: Figure<ScrapeResult>;
    footprint?: Figure<FootprintResult>;
    scale?: Figure<ScaleResult>;
    holders?: Figure<HoldersResult>;
    runtime?: Figure<RuntimeResult>;
    growth?: Figure<GrowthResult>;
    mountstats?: Figure<MountstatsResult>;
    evidence?: Figure<EvidenceResult>;
    servers?: Figure<ServersResult>;
    state?: Figure<StateResult>;
    web?: Figure<WebResult>;
  };
}

const ms = (v: number | null | undefined, d = 0): string => (v == null ? '—' : `${v.toFixed(d)} ms`);
const s = (v: number | null | undefined, d = 2): string => (v == null ? '—' : `${(v / 1000).toFixed(d)} s`);
const x = (v: number | null | undefined): string => (v == null ? '—' : `${v.toFixed(2)}×`);
const mb = (v: number | null | undefined): string => (v == null ? '—' : `${v.toFixed(1)} MB`);

function medMax(sum: { median: number | null; max: number | null; n: number }, never: number, windowMs: number, runs: number): string {
  const part = sum.n > 0 ? `${s(sum.median)} / ${s(sum.max)}` : '';
  const nv = never > 0 ? `never (within ${Math.round(windowMs / 1000)} s) ×${never}/${runs}` : '';
  return [part, nv].filter(Boolean).join('; ') || '—';
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function notRun(name: string, f: { status: string; reason: string }): string {
  return `_${name}: ${f.status} — ${f.reason}_`;
}

export function renderTable(r: Results): string {
  const m = r.machine;
  const out: string[] = [
    `nfs-health-checkd vs the bash timer baseline — ${m.mode} run, ${m.date}`,
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, Linux ${m.kernel}, Node ${m.node}`,
    '',
  ];
  const f = r.figures;

  if (f.detection) {
    out.push('### 1. Detection latency after fault onset (median / max)', '');
    if (f.detection.status === 'ok') {
      out.push(
        table(
          ['schedule', 'fault', 'daemon', 'baseline', 'ratio median', 'ratio max', 'daemon ≤ tick+timeout+0.1 s'],
          f.detection.result.rows.map((row) => [
            `${row.schedule} (timeout ${row.timeoutS} s)`,
            row.fault,
            medMax(row.daemon, row.daemonNever, row.windowMs, row.runs),
            medMax(row.baseline, row.baselineNever, row.windowMs, row.runs),
            x(row.ratioMedian),
            x(row.ratioMax),
            `${row.daemonWithinTarget}/${row.runs}`,
          ]),
        ),
      );
    } else out.push(notRun('detection', f.detection));
    out.push('');
  }

  if (f.recovery) {
    out.push('### 2. Time to recovered through real autofs, mount held (median / max)', '');
    if (f.recovery.status === 'ok') {
      const w = f.recovery.result.windowMs;
      out.push(
        table(
          ['scenario', 'daemon', 'baseline', 'never recovered (daemon / baseline)', 'ratio median'],
          f.recovery.result.rows.map((row) => [
            row.scenario,
            medMax(row.daemon, row.daemonNever, w, row.runs),
            medMax(row.baseline, row.baselineNever, w, row.runs),
            `${row.daemonNever}/${row.runs} / ${row.baselineNever}/${row.runs}`,
            x(row.ratioMedian),
          ]),
        ),
      );
    } else out.push(notRun('recovery', f.recovery));
    out.push('');
  }

  if (f.scrape) {
    out.push('### 3. /metrics latency (2 mounts)', '');
    if (f.scrape.status === 'ok') {
      out.push(
        table(
          [
            'mounts hung',
            'daemon p50',
            'daemon p99',
            'daemon max',
            'scrapes',
            'exporter.sh median',
            'exporter.sh max',
            'runs',
            'ratio p50',
          ],
          f.scrape.result.rows.map((row) => [
            String(row.hung),
            ms(row.daemon.p50, 2),
            ms(row.daemon.p99, 2),
            ms(row.daemon.max, 2),
            String(row.daemon.n),
            ms(row.baseline.median),
            ms(row.baseline.max),
            String(row.baseline.n),
            row.ratioP50 == null ? '—' : row.ratioP50.toExponential(1),
          ]),
        ),
      );
    } else out.push(notRun('scrape', f.scrape));
    out.push('');
  }

  if (f.footprint) {
    out.push('### 4. Steady-state cost', '');
    if (f.footprint.status === 'ok') {
      const h = f.footprint.result.healthy;
      const g = f.footprint.result.hung;
      out.push(
        table(
          ['measure', 'daemon', 'baseline', 'ratio'],
          [
            [
              `CPU per cycle, 2 healthy mounts, 1 s period (${h.cycles} s)`,
              ms(h.daemonCpuPerCycleMs, 2) + ` (${h.daemonCycles} cycles)`,
              ms(h.baselineCpuPerCycleMs, 2) + ` (${h.baselineRuns} runs)`,
              x(h.ratioCpu),
            ],
            [
              `RSS after ${h.daemonCycles} cycles`,
              `${mb(h.daemonRssMb)} (at start ${mb(h.daemonRssStartMb)})`,
              `timer bash ${mb(h.baselineTimerRssMb)}, no resident checker`,
              '—',
            ],
            [
              `threads, ${g.cycles} cycles of 1 mount in an uninterruptible hang`,
              `before ${g.threadsBefore ?? '—'}, first ${g.threadsFirst ?? '—'}, last ${g.threadsLast ?? '—'}, max ${g.threadsMax ?? '—'}`,
              `stuck: ${g.baselineChecksAfterOnset} checks after the onset`,
              '—',
            ],
            [
              `RSS, same`,
              `before ${mb(g.rssBeforeMb)}, first ${mb(g.rssFirstMb)}, last ${mb(g.rssLastMb)}, max ${mb(g.rssMaxMb)}`,
              '—',
              '—',
            ],
          ],
        ),
      );
    } else out.push(notRun('footprint', f.footprint));
    out.push('');
  }

  if (f.scale) {
    out.push('### 5. Scale (a tenth of the mounts hung, or as many as the row says)', '');
    if (f.scale.status === 'ok') {
      out.push(
        table(
          [
            'mounts (hung)',
            'daemon 1st cycle',
            'slowest healthy probe in it',
            'later cycles median / max',
            'daemon CPU/cycle',
            'daemon RSS',
            'threads',
            'scrape p50 / max',
            'baseline run (stops at 1st hung)',
            'baseline CPU',
            'baseline healthy-only loop',
            'its CPU',
          ],
          f.scale.result.rows.map((row) => [
            `${row.mounts} (${row.hung})`,
            ms(row.firstCycleMs),
            ms(row.firstCycleHealthyMaxMs ?? null),
            `${ms(row.cycleMs.median)} / ${ms(row.cycleMs.max)}`,
            ms(row.daemonCpuPerCycleMs, 1),
            mb(row.daemonRssMb),
            String(row.daemonThreads ?? '—'),
            `${ms(row.scrapeMs.p50, 2)} / ${ms(row.scrapeMs.max, 2)}`,
            ms(row.baselineRunMs),
            ms(row.baselineRunCpuMs),
            ms(row.baselineHealthyOnlyRunMs),
            ms(row.baselineHealthyOnlyCpuMs),
          ]),
        ),
      );
    } else out.push(notRun('scale', f.scale));
    out.push('');
  }

  if (f.holders) {
    out.push('### 6. Holder scan (src/holders) among extra processes', '');
    if (f.holders.status === 'ok') {
      const h = f.holders.result;
      out.push(
        `${h.extraProcesses} extra processes, ${h.procTotal} in /proc; ${h.holders} holders on a faultfs mount. Scan time (median / p95 / max):`,
        '',
      );
      out.push(
        table(
          [
            'mount watched',
            'scan',
            'runs',
            'median / p95 / max',
            "thread's 1st scan",
            'processes scanned',
            'fds listed',
            'fd links read',
            'fdinfo read',
            'maps read',
            'holders found',
            'share of a 1 s interval (max)',
          ],
          h.scans.map((row) => [
            row.case === 'failing' ? 'failing (attached)' : 'detached (umount -l)',
            row.how === 'thread' ? 'createThreadScanner' : 'scanHolders in-process',
            String(row.runs),
            `${ms(row.ms.median, 1)} / ${ms(row.ms.p95, 1)} / ${ms(row.ms.max, 1)}`,
            ms(row.firstMs, 1),
            String(row.reads.processes),
            String(row.reads.fds),
            String(row.reads.fdLinks),
            String(row.reads.fdinfo),
            String(row.reads.maps),
            `${row.holdersFound}/${row.holdersExpected}`,
            row.ms.max == null ? '—' : `${((row.ms.max / 1000) * 100).toFixed(1)} %`,
          ]),
        ),
      );
      const d = h.daemon;
      const line = (r: HoldersResult['daemon']['on']): string[] => [
        r.holders ? 'enabled' : 'disabled',
        String(r.cycles),
        `${ms(r.cycleMs.median)} / ${ms(r.cycleMs.p95)} / ${ms(r.cycleMs.max)}`,
        `${ms(r.lateMs.median)} / ${ms(r.lateMs.max)}`,
        `${ms(r.scrapeMs.median, 2)} / ${ms(r.scrapeMs.p99, 2)} / ${ms(r.scrapeMs.max, 2)} (${r.scrapeMs.n})`,
        ms(r.cpuPerCycleMs, 1),
        r.holders
          ? `${r.scans}, ${ms(r.scanMs.median)} / ${ms(r.scanMs.max)}, ${r.scanProcesses ?? '—'} processes, ${r.scanTimeouts} timed out`
          : '—',
        r.detachedHoldersGauge == null ? '—' : String(r.detachedHoldersGauge),
      ];
      out.push(
        '',
        'The daemon (1 s schedule, 1 s timeout, recovery off; one of two mounts detached under its holders, rescanned at most every max(5 s, 10 × the last scan)):',
        '',
        table(
          [
            'holders',
            'cycles',
            'probe round cycle_ms median / p95 / max',
            'round start after tick median / max',
            'scrape p50 / p99 / max (n)',
            'CPU/cycle',
            'holder scans, scan_ms median / max',
            'detached holders gauge',
          ],
          [
            line(d.off),
            line(d.on),
            [
              'ratio on/off',
              '—',
              `${x(d.ratioCycleMedian)} / ${x(d.ratioCycleP95)} / ${x(d.ratioCycleMax)}`,
              '—',
              `${x(d.ratioScrapeP50)} / ${x(d.ratioScrapeP99)}`,
              x(d.ratioCpu),
              '—',
              '—',
            ],
          ],
        ),
        '',
        `Cleanup: sleep processes before ${h.cleanup.sleepBefore}, after ${h.cleanup.sleepAfter}; processes left in the figure's groups ${h.cleanup.ownLeft ?? '—'}; mounts left ${h.cleanup.mountsLeft}.`,
      );
    } else out.push(notRun('holders', f.holders));
    out.push('');
  }

  if (f.runtime) {
    out.push('### 7. The release runtime (npm run package) against a checkout install', '');
    if (f.runtime.status === 'ok') {
      const t = f.runtime.result;
      const row = (name: string, side: RuntimeResult['release']): string[] => [
        name,
        side.node,
        mb(side.diskMb),
        ms(side.versionMs),
        ms(side.startingMs),
        mb(side.rssMb),
      ];
      out.push(
        `Artifacts: .deb ${mb(t.debMb)}, .rpm ${mb(t.rpmMb)}, tarball ${mb(t.tarballMb)}. Start-up is the median of spawns; RSS after ${t.steadyS} s of 1 s cycles on 2 healthy mounts.`,
        '',
        table(
          ['install', 'Node.js', 'on disk', '--version', 'spawn → "starting"', 'RSS'],
          [
            row('release: bundle + its own runtime', t.release),
            row('checkout: dist/src + node_modules, system node', t.checkout),
            row('the bundle on the system node', t.bundleOnSystemNode),
          ],
        ),
        '',
        `Ratio release / checkout: start-up ${x(t.ratioStarting)}, RSS ${x(t.ratioRss)}.`,
      );
    } else out.push(notRun('runtime', f.runtime));
    out.push('');
  }

  if (f.growth) {
    out.push('### 8. Growth with the mount count: before and after the shared probe pool', '');
    if (f.growth.status === 'ok') out.push(growthSection(f.growth.result));
    else out.push(notRun('growth', f.growth));
    out.push('');
  }

  if (f.mountstats) {
    out.push('### 9. Kernel evidence: parsing /proc/self/mountstats', '');
    if (f.mountstats.status === 'ok') out.push(mountstatsSection(f.mountstats.result));
    else out.push(notRun('mountstats', f.mountstats));
    out.push('');
  }

  if (f.evidence) {
    out.push('### 10. Kernel evidence: the idle daemon, watch on vs off', '');
    if (f.evidence.status === 'ok') out.push(evidenceSection(f.evidence.result));
    else out.push(notRun('evidence', f.evidence));
    out.push('');
  }

  if (f.servers) {
    out.push("### 11. Server checks: what watching a down mount's server costs", '');
    if (f.servers.status === 'ok') out.push(serversSection(f.servers.result));
    else out.push(notRun('servers', f.servers));
    out.push('');
  }

  if (f.state) {
    out.push('### 12. Incident state: what keeping it costs', '');
    if (f.state.status === 'ok') out.push(stateSection(f.state.result));
    else out.push(notRun('state', f.state));
    out.push('');
  }

  if (f.web) {
    out.push('### 13. The web config and the status page: what they cost the daemon', '');
    if (f.web.status === 'ok') out.push(webSection(f.web.result));
    else out.push(notRun('web', f.web));
    out.push('');
  }
  return out.join('\n');
}

const WEB_COLUMNS: { mode: WebMode; head: string }[] = [
  { mode: 'plain', head: 'plain HTTP' },
  { mode: 'tls', head: 'TLS' },
  { mode: 'tls-auth', head: 'TLS + basic auth' },
  { mode: 'mtls-auth', head: 'TLS + client certificate (RequireAndVerifyClientCert) + basic auth' },
];

function webSection(r: WebResult): string {
  const out: string[] = [];
  const byMode = new Map(r.modes.map((m) => [m.mode, m]));
  const cols = WEB_COLUMNS.flatMap((c) => {
    const row = byMode.get(c.mode);
    return row ? [{ ...c, row }] : [];
  });
  const plain = byMode.get('plain');
  const others = cols.filter((c) => c.mode !== 'plain');
  const ms3 = (v: number | null): string => ms(v, 3);
  const line = (
    measure: string,
    get: (row: WebModeRow) => number | null,
    fmt: (v: number | null) => string,
    withRatio = true,
  ): string[] => [
    measure,
    ...cols.map((c) => fmt(get(c.row))),
    withRatio && plain ? others.map((c) => x(ratio(get(c.row), get(plain)))).join('; ') : '—',
  ];
  const lat = (get: (row: WebModeRow) => Latency | null, q: 'p50' | 'p99' | 'max') => (row: WebModeRow) => get(row)?.[q] ?? null;
  const n = r.counts;
  if (cols.length > 0) {
    out.push(
      `Four daemons at once (${r.launch}, Node ${r.node}) on the same ${r.mounts} healthy bind mounts, schedule "${r.schedule}", recovery off, one for each way of serving; users' hashes bcrypt cost ${r.bcryptCost} (bcryptjs). Scraped as Prometheus scrapes: the first scrape, then ${n.keepAlive} over one kept connection, the daemons taking turns scrape by scrape; ${n.misses} by users not verified yet; ${n.newConnection} on a new connection each (no TLS session resumed). Every answer checked (200, a body). Load average (1 min) ${r.loadAvg.before.toFixed(2)} before, ${r.loadAvg.after.toFixed(2)} after.`,
      '',
      table(
        ['measure', ...cols.map((c) => c.head), `÷ plain (${others.map((c) => c.head.replace(/ \(.*\)/, '')).join('; ')})`],
        [
          line(
            '/metrics over one kept connection, p50',
            lat((m) => m.keepAlive, 'p50'),
            ms3,
          ),
          line(
            '  p99',
            lat((m) => m.keepAlive, 'p99'),
            ms3,
          ),
          line(
            '  max',
            lat((m) => m.keepAlive, 'max'),
            ms3,
          ),
          line(
            `  connections opened for its ${n.keepAlive} scrapes (the server ends one after 100 requests)`,
            (m) => m.keepAlive.connections,
            (v) => (v === null ? '—' : String(v)),
            false,
          ),
          line('the first scrape: a new connection, and with credentials a bcrypt', (m) => m.firstMs, ms3),
          line(
            `a user not verified yet, on the kept connection: a bcrypt, p50 (of ${n.misses})`,
            lat((m) => m.misses, 'p50'),
            ms3,
            false,
          ),
          line(
            '  max',
            lat((m) => m.misses, 'max'),
            ms3,
            false,
          ),
          line(
            '  daemon CPU per such scrape (utime + stime)',
            (m) => m.cpuMsPerMiss,
            (v) => ms(v, 1),
            false,
          ),
          line(
            `verified scrapes on a second connection while such a bcrypt runs (${n.during} of them), p50`,
            lat((m) => m.duringBcrypt, 'p50'),
            ms3,
            false,
          ),
          line(
            '  max',
            lat((m) => m.duringBcrypt, 'max'),
            ms3,
            false,
          ),
          line(
            '  how many',
            (m) => m.duringBcrypt?.n ?? null,
            (v) => (v === null ? '—' : String(v)),
            false,
          ),
          line(
            'a new connection for every scrape, p50',
            lat((m) => m.newConnection, 'p50'),
            ms3,
          ),
          line(
            '  p99',
            lat((m) => m.newConnection, 'p99'),
            ms3,
          ),
          line('daemon CPU per scrape over the kept connection (utime + stime; its probe rounds in it)', (m) => m.cpuMsPerScrape, ms3),
          line('RSS after start', (m) => m.rssStartMb, mb),
          line('RSS after every series', (m) => m.rssAfterMb, mb),
          line(
            '/metrics body',
            (m) => m.metricsBytes,
            (v) => (v === null ? '—' : `${v.toLocaleString('en-US')} B`),
            false,
          ),
          ['checked: TLS spoken; refused', ...cols.map((c) => `${c.row.tlsVersion ?? 'plain'}; ${c.row.refused ?? '—'}`), '—'],
        ],
      ),
      '',
    );
  }
  if (r.daemonSkipped !== null) out.push(`_The daemon rows: skipped — ${r.daemonSkipped}_`, '');
  const usP = (t: UsTiming): string => `${us(t.medianUs)} / ${us(t.p99Us)}`;
  const bytes = (v: number): string => `${v.toLocaleString('en-US')} B`;
  const what = (row: RenderRow): string =>
    row.doc === 'healthy' ? `${row.counts.mounts} mounts, healthy: the daemon's own` : `${row.counts.mounts} mounts at the board's bounds`;
  const boundedCounts = r.render.flatMap((child) => child.rows).find((row) => row.doc === 'bounded')?.counts;
  const bounds = boundedCounts
    ? ` At the bounds: ${boundedCounts.mounts} mounts failing, ${boundedCounts.holders} holders, a recovery of ${boundedCounts.targets} targets with ${boundedCounts.steps} steps (outputs cut at ${boundedCounts.longestOutput} characters) and ${boundedCounts.collateral} mounts taken away, ${boundedCounts.putBackWaiting} + ${boundedCounts.putBackDone} put-backs waiting and done, ${boundedCounts.events} events.`
    : '';
  const nodeOf = (child: RenderChild): string => (child.flags.length === 0 ? "Node's defaults" : `the daemon's: ${child.flags.join(' ')}`);
  const docs: RenderRow['doc'][] = ['healthy', 'bounded'];
  const renderRows = docs.flatMap((doc) =>
    r.render.flatMap((child) =>
      child.rows
        .filter((row) => row.doc === doc)
        .map((row) => [
          what(row),
          nodeOf(child),
          `${usP(row.html)} (${row.iterations})`,
          bytes(row.htmlBytes),
          usP(row.json),
          bytes(row.jsonBytes),
          `${x(ratio(row.html.medianUs, row.json.medianUs))}; ${x(ratio(row.htmlBytes, row.jsonBytes))}`,
          usP(row.snapshot),
        ]),
    ),
  );
  const p = r.pages;
  const pageRows = p
    ? [
        [
          `GET / and GET /status of the plain daemon (${r.mounts} mounts), one kept connection, alternating`,
          "the daemon's",
          `${ms(p.page.p50, 3)} / ${ms(p.page.p99, 3)} (${p.page.n})`,
          bytes(p.page.bytes),
          `${ms(p.status.p50, 3)} / ${ms(p.status.p99, 3)}`,
          bytes(p.status.bytes),
          `${x(ratio(p.page.p50, p.status.p50))}; ${x(ratio(p.page.bytes, p.status.bytes))}`,
          '—',
        ],
      ]
    : [];
  const bcryptLine = r.render
    .map((child) => {
      const l = child.bcryptMs;
      return `${ms(median(l), 0)} with ${nodeOf(child)} (${l.length}; ${ms(Math.min(...l), 0)}–${ms(Math.max(...l), 0)})`;
    })
    .join(', ');
  out.push(
    `The status page: renderStatusPage (GET /) against JSON.stringify (GET /status) of the same board snapshot, each in a node of its own, with Node's defaults and with the daemon's flags, the two alternating after a warm-up (median / p99, measured renders); board.snapshot() is the deep copy both routes take first.${bounds}`,
    '',
    table(
      [
        'document',
        'node flags',
        'page: median / p99 (n)',
        'page bytes',
        'JSON: median / p99',
        'JSON bytes',
        'page ÷ JSON (time; bytes)',
        'board.snapshot(): median / p99',
      ],
      [...renderRows, ...pageRows],
    ),
    '',
    `bcryptjs.compare at cost ${r.bcryptCost}, median (n; range): ${bcryptLine}.`,
  );
  return out.join('\n');
}

const us = (v: number | null): string => (v === null ? '—' : `${v < 100 ? v.toFixed(1) : v.toFixed(0)} µs`);
const medP99 = (t: Timing): string => `${us(t.medianUs)} / ${us(t.p99Us)}`;

function stateSection(r: StateResult): string {
  const [small, large] = r.rows;
  const line = (measure: string, get: (row: StateRow) => Timing | undefined, also?: (row: StateRow) => string): string[] => {
    const a = small ? get(small) : undefined;
    const b = large ? get(large) : undefined;
    return [
      measure,
      a ? `${medP99(a)}${also && small ? also(small) : ''}` : '—',
      b ? `${medP99(b)}${also && large ? also(large) : ''}` : '—',
      x(ratio(b?.medianUs ?? null, a?.medianUs ?? null)),
    ];
  };
  const per = (get: (row: StateRow) => number | null, fmt: (v: number | null) => string, measure: string, sizes = true): string[] => {
    const a = small ? get(small) : null;
    const b = large ? get(large) : null;
    return [measure, fmt(a), fmt(b), sizes ? x(ratio(b, a)) : '—'];
  };
  const over = (k: KeepTiming | undefined, u: KeepTiming): number | null => ratio(k?.total.medianUs ?? null, u.total.medianUs);
  const rows: string[][] = [
    per(
      (row) => row.fileBytes,
      (v) => (v === null ? '—' : `${v.toLocaleString('en-US')} B`),
      'the state file',
    ),
    line('unchanged: snapshot + save (encode, compare; no write) — every probe round', (row) => row.unchanged.total),
    line('  of which snapshot()', (row) => row.unchanged.snapshot),
  ];
  for (const t of r.targets) {
    rows.push(
      line(
        `changed: snapshot + save with its atomic write, into ${t.key === 'tmpfs' ? 'a tmpfs' : 'os.tmpdir()'} (${t.fstype})`,
        (row) => row.changed[t.key]?.total,
      ),
      line('  of which the save (encode, write, fsync, rename)', (row) => row.changed[t.key]?.save),
      per((row) => over(row.changed[t.key], row.unchanged), x, '  changed ÷ unchanged (median)', false),
    );
  }
  rows.push(
    line('read back at start: decodeIncident + resume', (row) => row.readBack.total),
    line('  of which decodeIncident', (row) => row.readBack.decode),
    line('  of which resume', (row) => row.readBack.resume),
  );
  const it = r.iterations;
  const where = r.targets.map((t) => `${t.key === 'tmpfs' ? 'a tmpfs' : 'os.tmpdir()'} ${t.how}, ${t.fstype}`);
  const out = [
    `An incident at 2 and at 500 configured paths, every one failing and in backoff, ${r.detached} detached mounts with ${r.dirsPerDetached} cwd/root memories each and 2 units restarted each, ${r.putBacks} static mounts to put back (ControllerIncident, HolderIncident). In-process, median / p99: unchanged ${it.unchanged} saves after ${it.warmup} of warm-up, changed ${it.changed} (A and B alternating: the first path's backoff one recovery on) into each of ${where.join(' and ')}; read back ${it.readBack} times, a fresh string each time, against the real mount table. Every write counted; every read-back checked. Node ${r.node}; load average (1 min) ${r.loadAvg.before.toFixed(2)} before, ${r.loadAvg.after.toFixed(2)} after.`,
    '',
    table(['measure', '2 paths', '500 paths', '500 ÷ 2 (median)'], rows),
    '',
  ];
  const sc = r.scans;
  if (sc.status === 'skipped') {
    out.push(`_The start-up scan rows: skipped — ${sc.reason}_`);
    return out.join('\n');
  }
  const stat = (v: { median: number | null; p95: number | null; max: number | null }): string =>
    `${ms(v.median, 1)} / ${ms(v.p95, 1)} / ${ms(v.max, 1)}`;
  out.push(
    `The scan at a start with no state file (scanHolders with \`orphans: true\`, nothing watched) against the ordinary scan with one watched mount, ${sc.extraProcesses} extra processes (figure 6's), ${sc.procTotal} in /proc, ${sc.holders} holders on a faultfs mount; the two alternating, ${sc.rows[0]?.runs ?? 0} runs each (median / p95 / max):`,
    '',
    table(
      [
        'the mount (5 holders on it)',
        'scan',
        'normal: one watched mount',
        'orphans: true, nothing watched',
        'orphan ÷ normal (median; p95)',
        "thread's first scan (normal; orphan)",
        'fdinfo read (normal; orphan)',
        'maps read (normal; orphan)',
        'ns/mnt links; mountinfo read (orphan)',
        'holders found (normal)',
        'orphans of the 5: by fd; by mapping (all orphans)',
      ],
      sc.rows.map((row) => [
        row.mount === 'failing' ? 'failing (attached)' : 'detached (umount -l): in no table',
        row.how === 'thread' ? 'createThreadScanner' : 'scanHolders in-process',
        stat(row.normalMs),
        stat(row.orphanMs),
        `${x(ratio(row.orphanMs.median, row.normalMs.median))}; ${x(ratio(row.orphanMs.p95, row.normalMs.p95))}`,
        row.firstMs ? `${ms(row.firstMs.normal, 1)}; ${ms(row.firstMs.orphan, 1)}` : '—',
        `${row.normalReads.fdinfo}; ${row.orphanReads.fdinfo}`,
        `${row.normalReads.maps}; ${row.orphanReads.maps}`,
        `${row.orphanReads.nsLinks}; ${row.orphanReads.mountinfo}`,
        `${row.holdersFound}/${sc.holders}`,
        `${row.ownOrphans.byFd}/${row.ownOrphans.expectedByFd}; ${row.ownOrphans.byDev}/${row.ownOrphans.expectedByDev} (${row.allOrphans})`,
      ]),
    ),
    '',
    `Cleanup: sleep processes before ${sc.cleanup.sleepBefore}, after ${sc.cleanup.sleepAfter}; processes left in the figure's groups ${sc.cleanup.ownLeft}; mounts left ${sc.cleanup.mountsLeft}.`,
  );
  return out.join('\n');
}

const SERVER_CASES: { key: ServerCaseKey; head: string }[] = [
  { key: 'here-answering', head: 'in-process, answering' },
  { key: 'here-refused', head: 'in-process, refused' },
  { key: 'netns-answering', head: 'through the namespace, answering' },
  { key: 'netns-refused', head: 'through the namespace, refused' },
  { key: 'netns-first', head: "through the namespace, a checker's first check (starts its child)" },
  { key: 'bare-node', head: 'for scale: a child `node -e 0`, no check (what each namespace check cost before, at least)' },
];

function serversSection(r: ServersResult): string {
  const by = new Map(r.rows.map((row) => [row.key, row]));
  const cases = SERVER_CASES.flatMap((c) => {
    const row = by.get(c.key);
    return row ? [{ ...c, row }] : [];
  });
  const here = by.get('here-answering');
  const ns = by.get('netns-answering');
  const tick = 1000 / r.clkTck;
  // The namespace path against the in-process one, answering with answering, refused with refused.
  const nsRatio = (get: (row: ServerCaseRow) => number | null): string =>
    (
      [
        ['netns-answering', 'here-answering'],
        ['netns-refused', 'here-refused'],
      ] as const
    )
      .map(([a, b]) => {
        const ra = by.get(a);
        const rb = by.get(b);
        return x(ra && rb ? ratio(get(ra), get(rb)) : null);
      })
      .join('; ');
  const line = (
    measure: string,
    get: (row: ServerCaseRow) => number | null,
    fmt: (v: number | null) => string,
    withRatio: boolean,
  ): string[] => [measure, ...cases.map((c) => fmt(get(c.row))), ...(ns ? [withRatio ? nsRatio(get) : '—'] : [])];
  const ms3 = (v: number | null): string => ms(v, 3);
  const rows = [
    line(
      'checks (after warm-up)',
      (row) => row.n,
      (v) => `${v ?? '—'}`,
      false,
    ),
    line('wall per check, median', (row) => row.wallMs.median, ms3, true),
    line('wall per check, p99', (row) => row.wallMs.p99, ms3, true),
    line('wall per check, max', (row) => row.wallMs.max, ms3, true),
    line(
      'the connect itself, as the check reports it (whole ms), median',
      (row) => row.connectMs.median,
      (v) => ms(v),
      false,
    ),
    line('CPU per check, this process (process.cpuUsage)', (row) => row.selfCpuMsPerCheck, ms3, true),
    line(`CPU per check, its reaped children (cutime + cstime, ${tick} ms ticks)`, (row) => row.childCpuMsPerCheck, ms3, false),
    line(
      'CPU per check, the namespace child up across the row (schedstat)',
      (row) => (row.liveChildPids.length ? row.liveChildCpuMsPerCheck : null),
      ms3,
      false,
    ),
    line('CPU per check, in all', (row) => row.cpuMsPerCheck, ms3, true),
    line(
      `CPU per minute, one down server checked every ${r.intervalS} s (${r.checksPerMinute} checks)`,
      // A first check is paid once per child started, not every interval.
      (row) => (row.key === 'netns-first' ? null : row.cpuMsPerMinute),
      (v) => ms(v, 1),
      false,
    ),
    line(
      '  as a share of one core',
      (row) => (row.key === 'netns-first' ? null : row.corePercent),
      (v) => (v === null ? '—' : `${v.toFixed(3)} %`),
      false,
    ),
  ];
  const head = ['measure', ...cases.map((c) => c.head), ...(ns ? ['namespace ÷ in-process (answering; refused)'] : [])];
  const counts = [here, ns].flatMap((row) => (row ? [`${row.path} ${row.warmup} + ${row.n}`] : [])).join(', ');
  const first = by.get('netns-first');
  const resolution = first ? `, ${(tick / first.n).toFixed(2)} ms per check over the first-check row's ${first.n}` : '';
  const c = r.namespaceChild;
  const kb = (v: number | null): string => (v === null ? '—' : `${(v / 1024).toFixed(1)} MB`);
  const childLine = c
    ? [
        '',
        `A fresh namespace child (pid ${c.pid}, ${c.threads} threads) at the daemon's pace, a check every ${r.intervalS} s, after ${c.settleS} s of it to settle: ${c.paced.checks} answering checks in ${c.paced.seconds} s, its CPU ${c.paced.childCpuMs.toFixed(3)} ms (${c.paced.childSwitches} context switches) and this process's ${c.paced.selfCpuMs.toFixed(3)} ms: ${c.paced.cpuMsPerMinute.toFixed(1)} ms a minute in all, ${c.paced.corePercent.toFixed(3)} % of a core; then ${c.idle.seconds} s with no check: its CPU ${c.idle.childCpuMs.toFixed(3)} ms (${c.idle.childSwitches} context switches). Memory: RSS ${kb(c.rssKb)}, PSS ${kb(c.pssKb)}, private ${kb(c.privateKb)}.`,
      ]
    : [];
  return [
    `One bounded TCP connect (src/server/check.ts, timeout ${r.timeoutMs} ms) to 127.0.0.1: to a listener that accepts (a Node of its own) and to a port nothing listens on; in-process, and through a fresh network namespace (\`ip netns add\`, lo up, the listener inside it) by the namespace's long-lived child Node entered by \`nsenter --net=/proc/PID/ns/net\` (src/server/netns-checker.ts), as the daemon does when autofs is in another namespace: the two namespace rows once the child is up, the first-check row each by a fresh checker whose child starts for it (and is ended and reaped after it, inside its CPU). One check at a time, ${r.gapMs} ms apart, warm-up + measured: ${counts}; every outcome checked; the p99 of fewer than 100 checks is their max. The children's CPU comes in steps of ${tick} ms (CLK_TCK ${r.clkTck})${resolution}. Node ${r.node}; load average (1 min) ${r.loadAvg.before.toFixed(2)} before, ${r.loadAvg.after.toFixed(2)} after.`,
    '',
    table(head, rows),
    ...childLine,
    ...(r.namespaceSkipped === null ? [] : ['', `_The namespace rows: skipped — ${r.namespaceSkipped}_`]),
  ].join('\n');
}

function evidenceSection(r: EvidenceResult): string {
  const num = (v: number | null, d: number): string => (v === null ? '—' : v.toFixed(d));
  const diff = (a: number | null, b: number | null, d: number): string =>
    a === null || b === null ? '—' : `${a - b >= 0 ? '+' : ''}${(a - b).toFixed(d)}`;
  const others = (sd: EvidenceSide): number =>
    Object.entries(sd.byThread).reduce((sum, [name, g]) => (name === 'main' ? sum : sum + g.switchesPerS), 0);
  const range = (xs: number[]): string => (xs.length > 1 ? ` (windows ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})` : '');
  const rows = r.rows.flatMap((row) => {
    const { on, off } = row;
    const wakeOk = on.wakeupsPerS <= r.goal.wakeupsPerS;
    const thrOk = on.threads === null || off.threads === null ? null : on.threads === off.threads;
    const line = (measure: string, a: number | null, b: number | null, d: number, onNote = '', offNote = ''): string[] => [
      String(row.mounts),
      measure,
      `${num(a, d)}${onNote}`,
      `${num(b, d)}${offNote}`,
      diff(a, b, d),
      x(ratio(a, b)),
    ];
    return [
      line(
        `main-thread wake-ups/s (goal on ≤ ${r.goal.wakeupsPerS})`,
        on.wakeupsPerS,
        off.wakeupsPerS,
        2,
        `${mark(wakeOk)}${range(on.windowWakeupsPerS)}`,
        range(off.windowWakeupsPerS),
      ),
      line('  of which voluntary (slept, woken)', on.voluntaryPerS, off.voluntaryPerS, 2),
      line('  of which preempted', on.preemptedPerS, off.preemptedPerS, 2),
      line('other threads’ wake-ups/s', others(on), others(off), 2),
      line('minor GCs/s (scavenges)', on.gcPerS.minor ?? null, off.gcPerS.minor ?? null, 2),
      line('CPU ms/s (utime + stime)', on.cpuMsPerS, off.cpuMsPerS, 2),
      line('CPU ms/s (schedstat, every thread)', on.schedCpuMsPerS, off.schedCpuMsPerS, 2),
      line('CPU ms/s of the main thread (schedstat)', on.byThread.main?.cpuMsPerS ?? null, off.byThread.main?.cpuMsPerS ?? null, 2),
      line('threads (goal: the same)', on.threads, off.threads, 0, mark(thrOk)),
      line('RSS MB', on.rssMb, off.rssMb, 1),
    ];
  });
  const windows = r.rows.map((row) => `${row.mounts} mounts: ${row.windows} × ~${Math.round(row.seconds / row.windows)} s`).join('; ');
  return [
    `Two daemons at once (${r.launch}, Node ${r.node}) on the same healthy bind mounts of tmpfs dirs, recovery off, schedule "${r.schedule}": one with evidence.enabled (interval ${r.intervalS} s), one without. Past the first minute, over windows from 3 s after a round to before the next (${windows}); per second of window time. Load average (1 min) ${r.loadAvg.before.toFixed(2)} before, ${r.loadAvg.after.toFixed(2)} after.`,
    '',
    table(['mounts', 'measure', 'watch on', 'watch off', 'on − off', 'on ÷ off'], rows),
  ].join('\n');
}

function mountstatsSection(r: MountstatsResult): string {
  const goal = (row: MountstatsRow, v: number | null): string =>
    row.nfsMounts === r.goal.mounts ? mark(v === null ? null : v <= r.goal.ms) : '';
  const load = ` Load average (1 min) ${r.loadAvg.before.toFixed(2)} before, ${r.loadAvg.after.toFixed(2)} after.`;
  return [
    `Parse time, median / p99 over ${r.iterations} parses after ${r.warmup} of warm-up, in-process. ${r.note}${load}`,
    '',
    table(
      [
        'NFS mounts (all mounts)',
        'mountstats text',
        'parseMountstats',
        `its parses > ${r.goal.ms} ms; with a GC pause in them; p99 of the others`,
        'parseMountstats, 2 mounts watched (the daemon at its defaults)',
        'mountinfo text',
        'parseMountinfo',
        'same',
        'mountstats ÷ mountinfo (median)',
      ],
      r.rows.map((row) => [
        row.nfsMounts === r.goal.mounts
          ? `${row.nfsMounts} (${row.allMounts}); goal ≤ ${r.goal.ms} ms`
          : `${row.nfsMounts} (${row.allMounts})`,
        `${row.mountstatsKiB.toFixed(1)} KiB`,
        `${ms(row.mountstats.medianMs, 3)}${goal(row, row.mountstats.medianMs)} / ${ms(row.mountstats.p99Ms, 3)}${goal(row, row.mountstats.p99Ms)}`,
        gcPart(row.mountstats),
        row.twoWatched ? `${ms(row.twoWatched.medianMs, 3)} / ${ms(row.twoWatched.p99Ms, 3)}` : '—',
        `${row.mountinfoKiB.toFixed(1)} KiB`,
        `${ms(row.mountinfo.medianMs, 3)} / ${ms(row.mountinfo.p99Ms, 3)}`,
        gcPart(row.mountinfo),
        x(ratio(row.mountstats.medianMs, row.mountinfo.medianMs)),
      ]),
    ),
  ].join('\n');
}

function gcPart(t: ParseTiming): string {
  return `${t.overGoal}; ${t.withGc}; ${ms(t.p99WithoutGcMs, 3)}`;
}

function median(xs: readonly number[]): number | null {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? null : (sorted[Math.ceil(sorted.length / 2) - 1] ?? null);
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

/** Issue 13's goals: RSS by mount count, threads, idle wake-ups, CPU. */
const RSS_GOAL_MB: Record<number, number> = { 2: 60, 100: 80, 500: 110 };
const THREADS_GOAL = 14;
const WAKEUPS_GOAL = 5;
const CPU_100_GOAL_MS_PER_S = 30;

const mark = (ok: boolean | null): string => (ok === null ? '' : ok ? ' ✓' : ' ✗');

function growthSection(g: GrowthResult): string {
  const variants = (['before', 'after', 'start', 'bundle', 'release'] as GrowthVariant[]).filter((v) => g.nodes[v] !== undefined);
  const cell = (sample: GrowthSample | undefined, goal: number | undefined, v: GrowthVariant): string => {
    if (!sample) return '—';
    const rssOk = v === 'before' || goal === undefined || sample.rssMb === null ? null : sample.rssMb <= goal;
    const thrOk = v === 'before' || sample.threads === null ? null : sample.threads <= THREADS_GOAL;
    const wakeOk = v === 'before' || sample.wakeupsPerS === null ? null : sample.wakeupsPerS <= WAKEUPS_GOAL;
    return `${mb(sample.rssMb)}${mark(rssOk)} (anon ${mb(sample.anonMb)}, file ${mb(sample.fileMb)}); ${sample.threads ?? '—'} threads${mark(thrOk)}; ${sample.wakeupsPerS ?? '—'} wake-ups/s${mark(wakeOk)}`;
  };
  const head = [
    'mounts (goal: RSS; ≤ 14 threads; ≤ 5 wake-ups/s)',
    ...variants.map((v) => `${v}: ${g.launch[v] ?? ''} (Node ${g.nodes[v] ?? '?'})`),
  ];
  const rows = g.rows.map((r) => [
    `${r.mounts} (≤ ${RSS_GOAL_MB[r.mounts] ?? '—'} MB)`,
    ...variants.map((v) => cell(r.samples[v], RSS_GOAL_MB[r.mounts], v)),
  ]);
  const two = g.twoMounts;
  const hundred = g.hundredMounts;
  const cpuRow = (v: GrowthVariant): string[] => {
    const r = two.ratio[v] ?? null;
    const per = hundred.cpuMsPerS[v] ?? null;
    return [
      v,
      `${ms(two.cpuPerCycleMs[v], 2)} over ${Math.round(two.cycles[v] ?? 0)} cycles`,
      `${x(r)}${v === 'before' ? '' : mark(r === null ? null : r <= 1)}`,
      `${ms(per, 1)}/s${v === 'before' || per === null ? '' : mark(per <= CPU_100_GOAL_MS_PER_S)} (${ms(hundred.cpuPerCycleMs[v], 1)} a cycle)`,
    ];
  };
  return [
    `Healthy bind mounts of tmpfs dirs, recovery off. Past the first minute (the pool's idle time), RSS, threads and the main thread's context switches over 24 s between two rounds of a 30 s schedule; every column at once on the same mounts. before = ${g.beforeRef.slice(0, 12)}.`,
    '',
    table(head, rows),
    '',
    `CPU at a 1 s schedule, all at once: 2 mounts beside the bash timer (${ms(two.baselineCpuPerCycleMs, 2)} a run over ${two.baselineRuns} runs; goal ≤ 1.0×), and 100 mounts over ${hundred.seconds} s (goal ≤ ${CPU_100_GOAL_MS_PER_S} ms/s).`,
    '',
    table(['daemon', '2 mounts: CPU per cycle', '÷ bash timer', '100 mounts: CPU per second'], variants.map(cpuRow)),
  ].join('\n');
}
