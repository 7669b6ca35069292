// Reads what a scenario's guest job left in its share (events, values, the daemon's journal,
// a /metrics scrape) and turns it into measured times and pass/fail checks. Pure: unit-tested
// on recorded files (test/e2e/analyze.test.ts) without a VM.

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

/** Seconds from the scenario's fault to each milestone; null: it never happened. */
export interface Times {
  detection: number | null;
  firstStep: number | null;
  accessible: number | null;
}

export interface Analysis {
  times: Times;
  checks: Check[];
  /** Other figures worth reporting (counts, seconds), by name. */
  figures: Record<string, number | string | null>;
}

export interface JobFiles {
  rc: number | null;
  events: string;
  values: string;
  /** `journalctl -u nfs-health-checkd -o json`: to tell the daemon's lines from systemd's. */
  journalJson: string;
  metrics: string;
}

export interface DaemonLine {
  /** Unix ms. */
  t: number;
  msg: string;
  /** The process that wrote it (the journal's _PID): which daemon, across restarts. */
  journal_pid?: number;
  [field: string]: unknown;
}

export interface Job {
  rc: number | null;
  /** Unix ms of each event (the first, if repeated). */
  events: Map<string, number>;
  values: Map<string, string>;
  daemon: DaemonLine[];
  /** Lines the daemon's own processes wrote that are not JSON objects. */
  notJson: string[];
  metrics: Map<string, number>;
}

export function parseJob(f: JobFiles): Job {
  const events = new Map<string, number>();
  for (const line of f.events.split('\n')) {
    const [name, us] = line.trim().split(/\s+/);
    if (name && us && !events.has(name)) events.set(name, Number(us) / 1000);
  }
  const values = new Map<string, string>();
  for (const line of f.values.split('\n')) {
    const m = /^(\S+) ?(.*)$/.exec(line.trim());
    if (m?.[1]) values.set(m[1], m[2] ?? '');
  }
  const daemon: DaemonLine[] = [];
  const notJson: string[] = [];
  for (const entry of f.journalJson.split('\n')) {
    if (!entry.trim()) continue;
    let rec: { MESSAGE?: unknown; _PID?: unknown };
    try {
      rec = JSON.parse(entry) as typeof rec;
    } catch {
      continue; // journalctl's own notices ("-- No entries --")
    }
    // PID 1 is systemd reporting on the unit (Starting…, Started…); the rest is the daemon's.
    if (rec._PID === '1' || typeof rec.MESSAGE !== 'string') continue;
    const line = parseDaemonLine(rec.MESSAGE);
    if (line) daemon.push(typeof rec._PID === 'string' ? { ...line, journal_pid: Number(rec._PID) } : line);
    else notJson.push(rec.MESSAGE);
  }
  return { rc: f.rc, events, values, daemon, notJson, metrics: parseMetrics(f.metrics) };
}

function parseDaemonLine(text: string): DaemonLine | null {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.msg !== 'string') return null;
    const t = typeof o.time === 'string' ? Date.parse(o.time) : typeof o.time === 'number' ? o.time : NaN;
    if (Number.isNaN(t)) return null;
    return { ...o, t, msg: o.msg };
  } catch {
    return null;
  }
}

/** `name{labels} value` lines of a Prometheus text scrape, keyed by `name{labels}` as written. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    if (i > 0) out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** The sum of a metric over all its label sets (`name 3` and `name{mount="/a"} 3` alike). */
export function sumSeries(metrics: ReadonlyMap<string, number>, name: string): number | undefined {
  let sum: number | undefined;
  for (const [series, v] of metrics) if (series === name || series.startsWith(`${name}{`)) sum = (sum ?? 0) + v;
  return sum;
}

// ---------------------------------------------------------------------------------------------

const round2 = (v: number): number => Math.round(v * 100) / 100;
const sec = (from: number | undefined, to: number | undefined): number | null =>
  from === undefined || to === undefined ? null : round2((to - from) / 1000);
const fmt = (v: number | null): string => (v === null ? 'never' : `${v.toFixed(2)} s`);

function check(what: string, ok: boolean, detail: string): Check {
  return { what, ok, detail };
}

function within(what: string, v: number | null, limit: number): Check {
  return check(`${what} ≤ ${limit} s`, v !== null && v <= limit, fmt(v));
}

function first(job: Job, after: number, pred: (l: DaemonLine) => boolean): DaemonLine | undefined {
  return job.daemon.find((l) => l.t >= after && pred(l));
}

const forMount =
  (mount: string) =>
  (l: DaemonLine): boolean =>
    l.mount === mount || (Array.isArray(l.mounts) && l.mounts.includes(mount));
const isStep = (l: DaemonLine): boolean => l.msg === 'recovery step';
/** When a step started: its line is written when it ends. */
const stepStart = (l: DaemonLine): number => l.t - (typeof l.duration_ms === 'number' ? l.duration_ms : 0);

function jobCompleted(job: Job): Check {
  return check('the job inside the VM completed', job.rc === 0, `exit status ${job.rc ?? 'none (no result from the guest)'}`);
}

function journalIsJson(job: Job): Check {
  const n = job.daemon.length;
  return check(
    'journalctl -u nfs-health-checkd -o cat: every daemon line is a JSON object',
    n > 0 && job.notJson.length === 0,
    job.notJson.length ? `not JSON: ${JSON.stringify(job.notJson[0]).slice(0, 120)}` : `${n} lines`,
  );
}

/**
 * The "recovery starting" lines before the scenario's fault (the first event of that name), or in
 * the whole boot when it has none or never got to it: nothing was wrong yet, so each one was a
 * needless umount -a of every NFS mount on the node.
 */
export function needlessRecoveries(job: Job, fault: string | null): DaemonLine[] {
  const t = fault === null ? undefined : job.events.get(fault);
  return job.daemon.filter((l) => l.msg === 'recovery starting' && (t === undefined || l.t < t));
}

/** A scenario's analysis with its needless recoveries: figure needless_recoveries, a check it is 0. */
export function withNeedless(a: Analysis, job: Job, fault: string | null): Analysis {
  const lines = needlessRecoveries(job, fault);
  const t = fault === null ? undefined : job.events.get(fault);
  const when = (l: DaemonLine): string =>
    t === undefined ? new Date(l.t).toISOString().slice(11, 23) : `${((t - l.t) / 1000).toFixed(1)} s before`;
  const detail = lines.map((l) => `${when(l)}: ${JSON.stringify(l.mounts)}`).join('; ');
  return {
    ...a,
    checks: [
      ...a.checks,
      check(
        `no recovery ${fault === null ? 'in the whole boot (no fault)' : `before ${fault}`}`,
        lines.length === 0,
        `${lines.length}${detail ? `: ${detail}` : ''}`,
      ),
    ],
    figures: { ...a.figures, needless_recoveries: lines.length },
  };
}

export interface FailoverParams {
  intervalS: number;
  probeTimeoutS: number;
}

const STATIC = '/mnt/static';
const STATIC_SOURCE = '10.99.0.1:/srv/a/static';
/** A static_mount value ("SOURCE FSTYPE OPTIONS", or "none") is the NFS mount of the VIP's export. */
const fromVip = (m: string): boolean => m.startsWith(`${STATIC_SOURCE} nfs4 `);
/** Its source and type, and the client's address (which network namespace mounted it). */
const describeMount = (m: string): string => {
  const [source = '', fstype, options = ''] = m.split(/\s+/);
  if (!fstype) return m;
  const client = /clientaddr=([^,]+)/.exec(options)?.[1];
  return `${source} ${fstype}${client ? `, clientaddr ${client}` : ''}`;
};

const EARLY_PROBE = 'kernel evidence: probing early';

/** The first "kernel evidence: probing early" line for the mount in [from, to]. */
function earlyProbe(job: Job, mount: string, from: number, to: number): DaemonLine | undefined {
  return job.daemon.find((l) => l.t >= from && l.t <= to && l.msg === EARLY_PROBE && l.mount === mount);
}

const entriesOf = (v: unknown): [string, unknown][] => (typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.entries(v) : []);

/** An early probe's kind and the counters that moved: `errors: LOOKUP errors +2, GETATTR errors +1 (sample 1000 ms)`. */
export function describeEarlyProbe(l: DaemonLine): string {
  const moved = entriesOf(l.moved).flatMap(([op, m]) => entriesOf(m).map(([k, n]) => `${op} ${k} +${String(n)}`));
  const sample = typeof l.sample_ms === 'number' ? ` (sample ${l.sample_ms} ms)` : '';
  return `${String(l.kind)}${moved.length ? `: ${moved.join(', ')}` : ''}${sample}`;
}

/** Where in the schedule's interval the failover started: seconds after the last tick. */
const phaseOf = (t: number, intervalS: number): number => round2((t % (intervalS * 1000)) / 1000);

/** The recovery's "recovery finished" line said success. */
function recoverySucceeded(finished: DaemonLine | undefined): Check {
  return check(
    'the recovery finished with result success',
    finished?.result === 'success',
    finished
      ? `${String(finished.result)} in ${String(finished.duration_ms)} ms, ${String(finished.steps)} steps`
      : 'no "recovery finished" line',
  );
}

/** What the daemon did about /airflow/dags after a failover at t0, and the scenario's times. */
function afterFailover(job: Job, t0: number) {
  const dags = '/airflow/dags';
  const failing = first(job, t0, (l) => l.msg === 'mount failing' && l.mount === dags);
  const steps = job.daemon.filter((l) => l.t >= t0 && isStep(l));
  const finished = first(job, t0, (l) => l.msg === 'recovery finished' && forMount(dags)(l));
  const times: Times = {
    detection: sec(t0, failing?.t),
    firstStep: sec(t0, steps[0] ? stepStart(steps[0]) : undefined),
    accessible: sec(t0, job.events.get('dags_new_server')),
  };
  return { dags, failing, steps, finished, times };
}

/** Scenario 1: failover with holders; recovered by the daemon within interval + timeout + 5 s. */
export function analyzeFailover(job: Job, p: FailoverParams): Analysis {
  const t0 = job.events.get('failover_start');
  const checks = [jobCompleted(job)];
  if (t0 === undefined) return { times: { detection: null, firstStep: null, accessible: null }, checks, figures: {} };
  const { dags, failing, steps, finished, times } = afterFailover(job, t0);
  const command = steps.find((l) => l.step === 'command');
  const detach = steps.find((l) => l.step === 'escalation' && l.mount === dags && l.detached === true);
  const budget = p.intervalS + p.probeTimeoutS + 5;
  const success = job.metrics.get('nfs_health_check_recoveries_total{result="success"}') ?? 0;
  // The idle static fstab mount: taken away by the umount -a, mounted again by the daemon.
  const v = (k: string): string => job.values.get(k) ?? '?';
  const collateral = job.daemon.filter((l) => l.t >= t0 && l.mount === STATIC && l.msg.startsWith('mount taken away by recovery'));
  const remounted = collateral.find(
    (l) =>
      l.msg === 'mount taken away by recovery: mounted again' &&
      (l.level === 'warn' || l.level === 40) &&
      l.outcome === 'remounted' &&
      l.via === 'fstab' &&
      l.fstype === 'nfs4' &&
      l.source === STATIC_SOURCE &&
      String(l.command).endsWith(` ${STATIC}`),
  );
  const notRemounted = collateral.filter((l) => l !== remounted);
  const collateralCount = job.metrics.get(`nfs_health_check_collateral_unmounts_total{mount="${STATIC}",outcome="remounted"}`) ?? 0;
  const staticBack = sec(t0, job.events.get('static_new_server'));
  const samples = sumSeries(job.metrics, 'nfs_recovery_duration_seconds_count') ?? 0;
  // Reported, not judged: whether the kernel's evidence had the path probed before the tick.
  const early = earlyProbe(job, dags, t0, failing?.t ?? Infinity);
  checks.push(
    check('the daemon saw ESTALE on /airflow/dags', failing?.result === 'ESTALE', String(failing?.result ?? 'no "mount failing" line')),
    check(
      'its umount -a -t nfs,nfs4 failed busy (processes hold the mounts)',
      command !== undefined && command.status === 'failed' && /busy/.test(String(command.output)),
      command
        ? `${String(command.status)}, exit ${String(command.exit_code)}: ${String(command.output).split('\n')[0]}`
        : 'no command step',
    ),
    check('its escalation detached /airflow/dags', detach !== undefined, detach ? String(detach.command) : 'no detaching step'),
    recoverySucceeded(finished),
    within(
      `ls /airflow/dags shows the new server's files, nobody acting: interval ${p.intervalS} + timeout ${p.probeTimeoutS} + 5`,
      times.accessible,
      budget,
    ),
    check(
      '/airflow/logs serves the new server too',
      job.events.has('logs_new_server'),
      job.events.has('logs_new_server') ? `after ${fmt(sec(t0, job.events.get('logs_new_server')))}` : 'never',
    ),
    check(
      'new work lands on the new server (a new log file)',
      job.values.get('new_log_written') === '1',
      `new_log_written=${job.values.get('new_log_written') ?? '?'}`,
    ),
    check(
      'the holders were left running',
      job.values.get('holders_alive') === '1',
      `holders_alive=${job.values.get('holders_alive') ?? '?'}`,
    ),
    check('/metrics: nfs_health_check_recoveries_total{result="success"} ≥ 1', success >= 1, String(success)),
    check(
      '/metrics: an nfs_recovery_duration_seconds sample',
      samples >= 1,
      `count ${samples}, sum ${sumSeries(job.metrics, 'nfs_recovery_duration_seconds_sum') ?? '?'} s`,
    ),
    check(
      `${STATIC} (/etc/fstab, nobody on it) mounted by systemd at boot, from the VIP, serving the old server before the failover`,
      v('static_boot_mounted') === '1' && fromVip(v('static_before')) && v('static_old_server') === '1',
      `${describeMount(v('static_before'))}; old server's file ${v('static_old_server') === '1' ? 'read' : 'not read'}${v('static_mounted_by_job') === '1' ? '; gone before the failover: mounted again by the job' : ''}`,
    ),
    check(
      `${STATIC} mounted again after the recovery, serving the new server`,
      staticBack !== null && fromVip(v('static_after')),
      staticBack !== null
        ? `after ${fmt(staticBack)}: ${describeMount(v('static_after'))}`
        : `not served: ${describeMount(v('static_after'))}`,
    ),
    check(
      `the journal names it: "mount taken away by recovery: mounted again", mount ${STATIC}, via fstab, outcome remounted`,
      remounted !== undefined && notRemounted.length === 0,
      collateral
        .map(
          (l) =>
            `${l.msg} (${String(l.level)}): ${String(l.outcome)}, via ${String(l.via)}: ${String(l.command)}, ${String(l.duration_ms)} ms`,
        )
        .join('; ') || 'no line',
    ),
    check(
      `/metrics: nfs_health_check_collateral_unmounts_total{mount="${STATIC}",outcome="remounted"} ≥ 1`,
      collateralCount >= 1,
      String(collateralCount),
    ),
    journalIsJson(job),
    check(
      'the journal names the mount, the result and each step',
      failing !== undefined &&
        steps.length >= 2 &&
        steps.every((l) => typeof l.command === 'string' && typeof l.status === 'string') &&
        finished !== undefined,
      steps.map((l) => `${String(l.command)}: ${String(l.status)}`).join('; ') || 'no steps',
    ),
  );
  return {
    times,
    checks,
    figures: {
      recovery_duration_ms: typeof finished?.duration_ms === 'number' ? finished.duration_ms : null,
      steps: steps.length,
      holder_cwd_readable: job.values.get('holder_cwd_readable') ?? null,
      static_new_server_s: staticBack,
      static_remount_ms: typeof remounted?.duration_ms === 'number' ? remounted.duration_ms : null,
      failover_phase_s: phaseOf(t0, p.intervalS),
      early_probe_s: sec(t0, early?.t),
      early_probe: early ? describeEarlyProbe(early) : null,
    },
  };
}

export interface FailoverReaderParams {
  intervalS: number;
  /** The failover starts this many seconds after a tick. */
  phaseS: number;
  /** The new server's files are served within this many seconds of the failover's start. */
  withinS: number;
}

/**
 * Scenario 1c: a failover just after a tick while a reader reads /airflow/dags every second: the
 * errors the kernel counts on the mount have the daemon probe it early, long before the next tick.
 */
export function analyzeFailoverReader(job: Job, p: FailoverReaderParams): Analysis {
  const t0 = job.events.get('failover_start');
  const checks = [jobCompleted(job)];
  if (t0 === undefined) return { times: { detection: null, firstStep: null, accessible: null }, checks, figures: {} };
  const { dags, failing, finished, times } = afterFailover(job, t0);
  const early = earlyProbe(job, dags, t0, failing?.t ?? Infinity);
  const phase = phaseOf(t0, p.intervalS);
  // The job's own clock reading and its event line come a little after the sleep's end.
  const phaseSlackS = 2;
  checks.push(
    check(
      `the failover started ${p.phaseS} s after a tick (the next one ${p.intervalS - p.phaseS} s away)`,
      phase >= p.phaseS && phase <= p.phaseS + phaseSlackS,
      `${fmt(phase)} after the tick`,
    ),
    within(`ls /airflow/dags shows the new server's files, nobody acting`, times.accessible, p.withinS),
    check(
      `a "${EARLY_PROBE}" line for /airflow/dags between the failover and its "mount failing" line`,
      early !== undefined && failing !== undefined,
      early
        ? `after ${fmt(sec(t0, early.t))}: ${describeEarlyProbe(early)}${failing ? `; failing ${fmt(sec(early.t, failing.t))} later` : '; no "mount failing" line'}`
        : `none${failing ? ` before the "mount failing" line at ${fmt(times.detection)}` : ' (and no "mount failing" line)'}`,
    ),
    check('the daemon saw ESTALE on /airflow/dags', failing?.result === 'ESTALE', String(failing?.result ?? 'no "mount failing" line')),
    recoverySucceeded(finished),
    journalIsJson(job),
  );
  return {
    times,
    checks,
    figures: {
      failover_phase_s: phase,
      early_probe_s: sec(t0, early?.t),
      early_probe_kind: typeof early?.kind === 'string' ? early.kind : null,
      early_probe: early ? describeEarlyProbe(early) : null,
      early_probes: job.daemon.filter((l) => l.t >= t0 && l.msg === EARLY_PROBE).length,
      recovery_duration_ms: typeof finished?.duration_ms === 'number' ? finished.duration_ms : null,
    },
  };
}

export interface SilentParams {
  intervalS: number;
  probeTimeoutS: number;
  cooldownS: number;
  maxBackoffS: number;
  maxStuck: number;
  mounts: number;
  /** recovery.hang_after: how long a probe's call must have been blocked before its timeout recovers. */
  hangAfterS: number;
  /** Accessible again (the daemon's probes) within this many seconds of the server's return. */
  backWithinS: number;
  /** A client reads the new mount within this many seconds of the server's return. */
  servedWithinS: number;
  hard: boolean;
}

/** Scenarios 2 and 3: the server silent, then back. */
export function analyzeSilent(job: Job, p: SilentParams): Analysis {
  const checks = [jobCompleted(job)];
  const tb = job.events.get('block');
  const tu = job.events.get('unblock');
  if (tb === undefined || tu === undefined) return { times: { detection: null, firstStep: null, accessible: null }, checks, figures: {} };
  const dags = '/airflow/dags';
  const failing = first(job, tb, (l) => l.msg === 'mount failing' && l.mount === dags);
  const steps = job.daemon.filter((l) => l.t >= tb && isStep(l));
  const times: Times = {
    detection: sec(tb, failing?.t),
    firstStep: sec(tb, steps[0] ? stepStart(steps[0]) : undefined),
    accessible: sec(tu, job.events.get('daemon_accessible')),
  };
  // The next tick's probe, then its timeout: the daemon's own line, with 1 s for the tick and
  // the worker under TCG; /metrics is polled every second or so by the guest, hence 3 s there.
  const budget = p.probeTimeoutS + p.intervalS;
  const metricsSeen = Math.max(sec(tb, job.events.get('dags_inaccessible')) ?? Infinity, sec(tb, job.events.get('dags_stuck')) ?? Infinity);
  if (p.hard)
    checks.push(
      check('the mounts are hard mounts', job.values.get('mount_hard') === '1', `mount_hard=${job.values.get('mount_hard') ?? '?'}`),
    );
  checks.push(
    check(
      `logged inaccessible and stuck within probe timeout ${p.probeTimeoutS} + interval ${p.intervalS} (+1) s`,
      failing?.result === 'timeout' && failing.stuck === true && times.detection !== null && times.detection <= budget + 1,
      failing ? `${fmt(times.detection)}: ${String(failing.result)}${failing.stuck === true ? ', stuck' : ''}` : 'no "mount failing" line',
    ),
    within(
      `/metrics: nfs_mount_accessible 0 and nfs_mount_probe_stuck 1 (+3)`,
      Number.isFinite(metricsSeen) ? metricsSeen : null,
      budget + 3,
    ),
  );

  // Each recovery that leaves a mount failing makes that mount wait: cooldown, doubling, capped.
  const starts = job.daemon.filter((l) => l.t >= tb && l.t <= tu && l.msg === 'recovery starting');
  const finishes = job.daemon.filter((l) => l.t >= tb && l.msg === 'recovery finished');
  const violations: string[] = [];
  let failedInARow = 0;
  for (let i = 0; i < starts.length; i++) {
    const fin = finishes.find((f) => f.t >= starts[i]!.t);
    const next = starts[i + 1];
    const stillFailing = Array.isArray(fin?.still_failing) ? (fin.still_failing as unknown[]) : [];
    failedInARow = stillFailing.length > 0 ? failedInARow + 1 : 0;
    if (!fin || !next || failedInARow === 0) continue;
    const wait = Math.min(p.cooldownS * 2 ** (failedInARow - 1), p.maxBackoffS);
    const gap = (next.t - fin.t) / 1000;
    if (gap < wait - 0.5) violations.push(`attempt ${i + 2} came ${gap.toFixed(1)} s after attempt ${i + 1}, backoff ${wait} s`);
  }
  const outageS = (tu - tb) / 1000;
  // A timeout becomes a trigger only once the call behind it has been blocked hang_after: the first
  // recovery starts then, not at the probe's timeout. The call started probe_ms before its
  // "mount failing" line. At hang_after the daemon wakes for that path; its re-probe, with the call
  // still stuck on the same mount, returns at once (same_mount), so it decides then: 2 s of slack
  // for the wake-up and the cycle under TCG.
  const hungAt = job.daemon
    .filter((l) => l.t >= tb && l.t <= tu && l.result === 'timeout' && (l.msg === 'mount failing' || l.msg === 'mount fault changed'))
    .map((l) => l.t - (typeof l.probe_ms === 'number' ? l.probe_ms : p.probeTimeoutS * 1000));
  const hungFor = starts[0] && hungAt.length ? round2((starts[0].t - Math.min(...hungAt)) / 1000) : null;
  const hangSlackS = 2;
  checks.push(
    check(
      `the first recovery started once the stuck call was hang_after ${p.hangAfterS} s old (−0.5/+${hangSlackS} s), not at its timeout`,
      hungFor !== null && hungFor >= p.hangAfterS - 0.5 && hungFor <= p.hangAfterS + hangSlackS,
      hungFor === null ? (starts[0] ? 'no timeout line before it' : 'no recovery during the outage') : `the call was ${fmt(hungFor)} old`,
    ),
  );
  checks.push(
    check(
      `recoveries during the ${Math.round(outageS)} s outage respect cooldown ${p.cooldownS} s and its doubling`,
      starts.length >= 1 && violations.length === 0,
      violations[0] ?? `${starts.length} attempts at ${starts.map((l) => `+${((l.t - tb) / 1000).toFixed(0)} s`).join(', ')}`,
    ),
  );
  const before = Number(job.values.get('threads_before'));
  const max = Number(job.values.get('threads_max'));
  const bound = before + p.mounts * p.maxStuck;
  checks.push(
    check(
      `threads bounded: at most ${p.mounts} mounts × max_stuck ${p.maxStuck} over the ${before} before`,
      max > 0 && max <= bound,
      `${before} before, max ${max}, ${job.values.get('threads_after') ?? '?'} after`,
    ),
  );

  if (p.hard) {
    // The probe stuck in the hard mount returns when umount -f aborts its RPCs.
    const forced = steps.find((l) => l.mount === dags && /^umount -f\b/.test(String(l.command)));
    const released = forced ? first(job, stepStart(forced), (l) => l.msg === 'stuck probe returned' && l.mount === dags) : undefined;
    const lag = forced && released ? round2((released.t - forced.t) / 1000) : null;
    checks.push(
      check(
        'the stuck probe is released by the umount -f step',
        released !== undefined && lag !== null && lag <= 2,
        forced
          ? released
            ? `returned ${lag} s after umount -f ended (${String(released.result)}, blocked ${String(released.blocked_ms)} ms)`
            : 'no "stuck probe returned" after umount -f'
          : 'no umount -f step',
      ),
    );
  }
  checks.push(within(`accessible again (daemon) after the server returns`, times.accessible, p.backWithinS));
  const served = sec(tu, job.events.get('client_accessible'));
  checks.push(within(`a client reads the new mount's files after the server returns`, served, p.servedWithinS));

  // What the daemon saw when the server came back: automount_failed means autofs' negative
  // cache held the path, which only a reload clears before negative_timeout.
  const seen = job.daemon.filter((l) => l.t < tu && l.mount === dags && typeof l.result === 'string' && l.msg !== 'stuck probe returned');
  const atReturn = seen.length ? String(seen[seen.length - 1]!.result) : null;
  const answering = first(job, tu, (l) => l.msg === 'server answering again');
  const goneS = answering && typeof answering.gone_ms === 'number' ? round2(answering.gone_ms / 1000) : null;
  // Gone since the daemon's first failed probe: the silence less its detection, give or take the
  // checks' 2 s.
  const goneFrom = outageS - (times.detection ?? 0) - 2;
  checks.push(
    check(
      `logged "server answering again" after the return, gone from its detection to the return (${Math.round(goneFrom)}–${Math.round(outageS + 5)} s)`,
      goneS !== null && goneS >= goneFrom && goneS <= outageS + 5,
      answering ? `${fmt(sec(tu, answering.t))} after the return, gone ${fmt(goneS)}` : 'no such line',
    ),
  );
  const during = Number(job.values.get('reloads_at_unblock'));
  const after = Number(job.values.get('reloads_after')) - during;
  checks.push(
    check(
      `autofs reloads: none while the server was silent, 1 to 3 after it answered (${atReturn === 'automount_failed' ? 'autofs refused the path at the return' : 'at least 0: autofs was not refusing it'})`,
      during === 0 && after >= (atReturn === 'automount_failed' ? 1 : 0) && after <= 3,
      `${during} during, ${after} after`,
    ),
  );
  // The VM's autofs mounts from a network namespace of its own: the server checks must be made from it.
  const ns = job.daemon.find((l) => l.msg === "server checks: autofs' mounts are reached from this network namespace");
  checks.push(
    check(
      "the server checks are made from autofs' network namespace (the VM's is not the daemon's)",
      ns !== undefined && typeof ns.netns === 'string' && ns.netns !== 'own',
      ns ? `${String(ns.netns)}: ${String(ns.why)}` : 'no such line',
    ),
  );
  const reset = first(job, tu, (l) => typeof l.msg === 'string' && l.msg.startsWith('NFS client connection'));
  checks.push(journalIsJson(job));
  return {
    times,
    checks,
    figures: {
      stalled_reset: reset ? `${String(reset.result)}: ${JSON.stringify(reset.connections ?? reset.seen ?? [])}` : null,
      outage_s: round2(outageS),
      recovery_attempts: starts.length,
      threads_before: before,
      threads_max: max,
      threads_after: Number(job.values.get('threads_after')),
      result_at_return: atReturn,
      served_s: served,
      server_gone_s: goneS,
      reloads_during: Number.isFinite(during) ? during : null,
      reloads_after: Number.isFinite(after) ? after : null,
      recovery_at_call_age_s: hungFor,
      nfs_mounts_at_unblock: job.values.get('nfs_mounts_at_unblock') ?? null,
    },
  };
}

/** Scenario 4: the unit under systemd. */
export function analyzeSystemd(job: Job, p: { installBootId: string }): Analysis {
  const v = (k: string): string => job.values.get(k) ?? '?';
  const n = (k: string): number => Number(job.values.get(k));
  const stopS = n('stop_s');
  const journalLines = n('journal_lines');
  const fileLines = n('file_lines') + n('gz_lines');
  const watchdog = sec(job.events.get('sigstop'), job.events.get('watchdog_restarted'));
  const checks = [
    jobCompleted(job),
    check(
      'enabled and running after a reboot (not the install boot)',
      v('is_enabled') === 'enabled' && v('boot_id') !== '?' && v('boot_id') !== p.installBootId,
      `${v('is_enabled')}, boot ${v('boot_id').slice(0, 8)} ≠ install boot ${p.installBootId.slice(0, 8)}`,
    ),
    check(
      "the daemon's mount namespace is PID 1's",
      v('ns_host') !== '?' && v('ns_host') === v('ns_daemon') && v('ns_daemon_after') === v('ns_host'),
      `${v('ns_host')} / ${v('ns_daemon')}`,
    ),
    check(
      'active only after READY=1: activating (after the old process), then active with /metrics already serving',
      /(^| )activating active$/.test(v('ready_states')) && v('metrics_when_active') === '1',
      `${v('ready_states')}; ${v('activating_s')} s activating; status "${v('status_text')}"`,
    ),
    check('logrotate -f with the shipped config rotated the file', n('rotated_files') >= 2, `${v('rotated_files')} rotated files`),
    check(
      'no line lost or doubled across the rotations',
      journalLines > 0 && fileLines === journalLines && n('file_lines_unique') === journalLines,
      `journal ${journalLines}, files ${fileLines} (${v('file_lines_unique')} distinct)`,
    ),
    check(
      'a probe was stuck in the kernel before the stop',
      job.events.has('dags_stuck'),
      fmt(sec(job.events.get('block'), job.events.get('dags_stuck'))),
    ),
    check(
      `systemctl stop returned within TimeoutStopSec (${v('timeout_stop_s')} s)`,
      stopS > 0 && stopS < n('timeout_stop_s'),
      `${stopS.toFixed(2)} s`,
    ),
    check('the stopped unit is inactive, not failed', v('stop_state') === 'inactive/success', v('stop_state')),
    check(
      'a web config: TLS and basic auth in front of /metrics (200 with the password, 401 without, no plain HTTP)',
      v('web_alpha') === '200' && v('web_no_password') === '401' && v('web_plain_http') !== '200',
      `with password ${v('web_alpha')}, without ${v('web_no_password')}, plain HTTP ${v('web_plain_http')}`,
    ),
    check(
      '`status` over TLS with NFS_HEALTH_CHECKD_BASIC_AUTH answers (exit 0 or 1)',
      v('web_status_rc') === '0' || v('web_status_rc') === '1',
      `exit ${v('web_status_rc')}`,
    ),
    check(
      'systemctl reload applies a new web config: the new user in, the old one 401, no restart',
      v('web_beta_after_reload') === '200' && v('web_alpha_after_reload') === '401' && n('web_reloaded_lines') >= 1,
      `new user ${v('web_beta_after_reload')}, old user ${v('web_alpha_after_reload')}, "web config reloaded" ${v('web_reloaded_lines')}×`,
    ),
    check(
      'a bad web config on reload: one error line, the settings in force kept, the same process',
      v('web_beta_after_bad') === '200' && n('web_kept_lines') === 1 && v('web_same_pid') === '1',
      `user ${v('web_beta_after_bad')}, "web config not reloaded" ${v('web_kept_lines')}×, same pid ${v('web_same_pid')}`,
    ),
    check('no password in the journal', v('web_password_lines') === '0', `${v('web_password_lines')} line(s)`),
    check(
      'a SIGSTOPped daemon is restarted by the watchdog',
      watchdog !== null && n('restarts') >= 1 && n('watchdog_log') >= 1,
      `${fmt(watchdog)}, ${v('restarts')} restart(s), "Watchdog timeout" logged ${v('watchdog_log')}×`,
    ),
  ];
  return {
    times: { detection: null, firstStep: null, accessible: null },
    checks,
    figures: { activating_s: n('activating_s'), stop_s: stopS, watchdog_restart_s: watchdog, log_lines: journalLines },
  };
}

/** What autofs' negative cache costs, and what shortens it (no daemon involved). */
export function analyzeNegativeCache(job: Job): Analysis {
  const v = (k: string): string => job.values.get(k) ?? '?';
  const cost = (k: string): number | null => (/^[\d.]+$/.test(v(k)) ? Number(v(k)) : null);
  const firstS = (k: string): number => Number(v(k).split(' ')[0]);
  const [def, reload, short] = [cost('default_cost_s'), cost('reload_cost_s'), cost('short_cost_s')];
  const checks = [
    jobCompleted(job),
    check(
      'a failed automount is cached: right after the server returns, access still fails at once',
      !v('default_first').endsWith(': ok') && firstS('default_first') < 2,
      v('default_first'),
    ),
    check(
      '…until the negative timeout (60 s by default) has passed',
      def !== null && def >= 50,
      `usable ${def ?? 'never'} s after the failed attempt`,
    ),
    check(
      '--negative-timeout=10 on the map shortens it',
      short !== null && def !== null && short < def / 2,
      `usable ${short ?? 'never'} s after the failed attempt`,
    ),
    check(
      'systemctl reload autofs clears it (what the daemon runs once the server answers again)',
      v('reload_after').endsWith(': ok'),
      v('reload_after'),
    ),
  ];
  return {
    times: { detection: null, firstStep: null, accessible: null },
    checks,
    figures: {
      failed_mount_attempt_s: cost('default_fail_s'),
      negative_cache_cost_s: def,
      reload_clears_it: v('reload_after').endsWith(': ok') ? 'yes' : 'no',
      after_reload_cost_s: reload,
      negative_timeout_10_cost_s: short,
    },
  };
}

/** Scenario 5: the old timer script under scenario 1's failover; it must be shown not to recover. */
export function analyzeBaseline(job: Job, p: { waitS: number }): Analysis {
  const t0 = job.events.get('failover_start');
  const detected = sec(t0, job.events.get('first_error'));
  const accessible = sec(t0, job.events.get('dags_new_server'));
  const checks = [
    jobCompleted(job),
    check(
      'starting the old timer stopped nfs-health-checkd (Conflicts=)',
      job.values.get('daemon_after_timer_start') === 'inactive',
      job.values.get('daemon_after_timer_start') ?? '?',
    ),
    check('the old script noticed the failure', detected !== null, fmt(detected)),
    check(
      `…and never recovered while the mount was held (watched ${p.waitS} s)`,
      accessible === null && job.values.get('still_stale') === '1',
      accessible === null ? `still stale; ${job.values.get('error_lines') ?? '?'} ERROR lines` : `recovered after ${fmt(accessible)}`,
    ),
  ];
  return {
    times: { detection: detected, firstStep: detected, accessible },
    checks,
    figures: { error_lines: Number(job.values.get('error_lines')) },
  };
}

export interface HoldersParams {
  /** holders.restart_units ["airflow-*.service"] was set. */
  restart: boolean;
  intervalS: number;
  probeTimeoutS: number;
  /**
   * The daemon itself restarted (systemctl restart), then upgraded (dpkg -i), mid-incident: each
   * new daemon must name the scheduler again and the gauge come back within this many seconds.
   */
  daemonRestartWithinS?: number;
}

const SCHED_UNIT = 'airflow-scheduler.service';
const isHolderLine = (l: DaemonLine): boolean =>
  l.msg === 'holder found on failing mount' || l.msg === 'holder found on detached mount' || l.msg === 'holder left on detached mount';
const holdsOf = (l: DaemonLine): string[] => (Array.isArray(l.holds) ? l.holds.map(String) : []);

/**
 * The holder scenarios: a failover while the stand-in airflow-scheduler.service (user airflow) and
 * an unrelated process (user nobody, in no airflow-* unit) hold the mounts. With restart_units the
 * scheduler alone is restarted once the paths are healthy and writes to the new server again;
 * without, both are only reported.
 */
export function analyzeHolders(job: Job, p: HoldersParams): Analysis {
  const t0 = job.events.get('failover_start');
  const checks = [jobCompleted(job)];
  if (t0 === undefined) return { times: { detection: null, firstStep: null, accessible: null }, checks, figures: {} };
  const v = (k: string): string => job.values.get(k) ?? '?';
  const n = (k: string): number => (/^-?\d+(\.\d+)?$/.test(v(k)) ? Number(v(k)) : NaN);
  const dags = '/airflow/dags';
  const logs = '/airflow/logs';
  const sched = n('sched_pid');
  const other = n('other_pid');
  const after = job.daemon.filter((l) => l.t >= t0);
  const failing = first(job, t0, (l) => l.msg === 'mount failing' && l.mount === dags);
  const steps = after.filter(isStep);
  const times: Times = {
    detection: sec(t0, failing?.t),
    firstStep: sec(t0, steps[0] ? stepStart(steps[0]) : undefined),
    accessible: sec(t0, job.events.get('dags_new_server')),
  };
  const holderLines = after.filter(isHolderLine);
  const of = (pid: number, mount: string, state?: string): DaemonLine[] =>
    holderLines.filter((l) => l.pid === pid && l.mount === mount && (state === undefined || l.state === state));
  const describe = (ls: DaemonLine[]): string =>
    ls[0] ? `${String(ls[0].msg)}: unit ${String(ls[0].unit)}, uid ${String(ls[0].uid)}, ${holdsOf(ls[0]).join('; ')}` : 'not reported';
  const budget = p.intervalS + p.probeTimeoutS + 5;
  const firstReport = holderLines[0];
  const reported = sec(t0, firstReport?.t);

  // The scheduler: by unit, PID and user, on both mounts, failing and then detached.
  const schedBy = (ls: DaemonLine[]): boolean => ls.some((l) => l.unit === SCHED_UNIT && l.uid === n('airflow_uid'));
  const schedDags = of(sched, dags);
  const schedLogs = of(sched, logs);
  const cwdHeld = schedDags.some((l) => holdsOf(l).some((h) => h.startsWith('cwd ')));
  const logHeld = schedLogs.some((l) => holdsOf(l).some((h) => /^fd \d+ → \S*\/scheduler\.log$/.test(h)));
  const schedDetached = of(sched, dags, 'detached').length > 0 && of(sched, logs, 'detached').length > 0;
  const otherLines = of(other, dags);
  const gone = after.filter((l) => l.msg === 'holder gone');
  const restartLines = after.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('unit '));
  const restarted = restartLines.filter((l) => l.msg === 'unit restarted: it held a detached mount');
  const metric = (k: string): number | undefined => job.metrics.get(k);
  const heldLogs = metric(`nfs_mount_detached_holders{mount="${logs}"}`);
  const heldDags = metric(`nfs_mount_detached_holders{mount="${dags}"}`);
  const scansOk = metric('nfs_health_checkd_holder_scans_total{result="ok"}') ?? 0;
  const scansBad =
    (metric('nfs_health_checkd_holder_scans_total{result="timeout"}') ?? 0) +
    (metric('nfs_health_checkd_holder_scans_total{result="unavailable"}') ?? 0);
  const restartSeries = [...job.metrics].filter(([k, val]) => k.startsWith('nfs_health_check_holder_restarts_total{') && val > 0);

  checks.push(
    check(
      'the holders run as other users: the scheduler as airflow in airflow-scheduler.service, the other as nobody outside any airflow-* unit',
      n('sched_uid') === n('airflow_uid') && n('other_uid') === 65534 && v('other_unit') !== '?' && !v('other_unit').startsWith('airflow-'),
      `scheduler ${v('sched_pid')} uid ${v('sched_uid')} (airflow ${v('airflow_uid')}); other ${v('other_pid')} uid ${v('other_uid')}, ${v('other_unit')}`,
    ),
    check(
      'the recovery detached /airflow/dags and /airflow/logs',
      [dags, logs].every((m) => steps.some((l) => l.mount === m && l.detached === true)),
      steps
        .filter((l) => l.detached === true)
        .map((l) => String(l.command))
        .join('; ') || 'no detaching step',
    ),
    within(`holders reported after the failover: interval ${p.intervalS} + timeout ${p.probeTimeoutS} + 5`, reported, budget),
    check(
      'the scheduler reported by PID, unit and user: its cwd on /airflow/dags, its log descriptor on /airflow/logs',
      schedBy(schedDags) && schedBy(schedLogs) && cwdHeld && logHeld,
      `dags: ${describe(schedDags)}; logs: ${describe(schedLogs)}`,
    ),
    check(
      '…and on both mounts once detached',
      schedDetached,
      `dags: ${describe(of(sched, dags, 'detached'))}; logs: ${describe(of(sched, logs, 'detached'))}`,
    ),
    check(
      'the unrelated holder reported by PID and user, in its own unit, on the detached /airflow/dags',
      otherLines.some((l) => l.state === 'detached') &&
        otherLines.every((l) => l.uid === 65534 && l.unit === v('other_unit')) &&
        otherLines.some((l) => holdsOf(l).some((h) => h.startsWith('cwd '))),
      describe(otherLines.filter((l) => l.state === 'detached')),
    ),
    check(
      'the unrelated holder is left running and still reported (no "holder gone"; nfs_mount_detached_holders{mount="/airflow/dags"} counts it)',
      v('other_alive') === '1' && !gone.some((l) => l.pid === other) && heldDags !== undefined && heldDags >= 1,
      `alive=${v('other_alive')}, gone lines ${gone.filter((l) => l.pid === other).length}, dags gauge ${heldDags ?? 'absent'}`,
    ),
    p.daemonRestartWithinS === undefined
      ? check(
          'the daemon kept its PID (no restart of nfs-health-checkd)',
          v('daemon_pid_before') !== '?' &&
            v('daemon_pid_before') === v('daemon_pid_after') &&
            v('daemon_nrestarts_before') === v('daemon_nrestarts_after'),
          `PID ${v('daemon_pid_before')} → ${v('daemon_pid_after')}, NRestarts ${v('daemon_nrestarts_before')} → ${v('daemon_nrestarts_after')}`,
        )
      : check(
          'the daemon was restarted only by the scenario (NRestarts unchanged: no crash, no watchdog)',
          v('daemon_nrestarts_before') !== '?' && v('daemon_nrestarts_before') === v('daemon_nrestarts_after'),
          `NRestarts ${v('daemon_nrestarts_before')} → ${v('daemon_nrestarts_after')}; PID ${v('daemon_pid_before')} → ${v('daemon_pid_after')}`,
        ),
    check(
      '/metrics: holder scans ok, none timed out or unavailable',
      scansOk >= 1 && scansBad === 0,
      `ok ${scansOk}, timeout/unavailable ${scansBad}`,
    ),
    check(
      "the scheduler's writes after the failover reached no server (its descriptor is on the old mount)",
      n('first_pid_lines_new_server') === 0 && n('lines_lost') > 0,
      `${v('first_pid_lines_new_server')} of its lines on the new server; ${v('lines_lost')} lost (lines ${v('lost_seqs')})`,
    ),
    check('no line of the scheduler doubled', n('lines_doubled') === 0, `${v('lines_doubled')} doubled`),
  );

  let restartAt: number | undefined;
  const firstNewLine = /^\d+$/.test(v('new_first_line_us')) ? Number(v('new_first_line_us')) / 1000 : undefined;
  if (p.restart) {
    const r = restarted[0];
    restartAt = r?.t;
    const rStart = r ? stepStart(r) : undefined;
    const recovered = [dags, logs].map((m) => first(job, t0, (l) => l.msg === 'mount recovered' && l.mount === m)?.t);
    const healthyBefore = rStart !== undefined && recovered.every((t) => t !== undefined && t <= rStart);
    checks.push(
      check(
        'the scheduler restarted once: systemctl try-restart -- airflow-scheduler.service, ok, naming its PID',
        restarted.length === 1 &&
          r?.unit === SCHED_UNIT &&
          r.result === 'ok' &&
          r.command === `systemctl try-restart -- ${SCHED_UNIT}` &&
          Array.isArray(r.pids) &&
          r.pids.includes(sched),
        r
          ? `${String(r.command)}: ${String(r.result)} in ${String(r.duration_ms)} ms, pids ${JSON.stringify(r.pids)}, mounts ${JSON.stringify(r.mounts)}; ${restarted.length} restart line(s)`
          : 'no "unit restarted" line',
      ),
      check(
        'no other unit restarted, no restart failed, none needed again',
        restartLines.length === restarted.length && restarted.every((l) => l.unit === SCHED_UNIT),
        restartLines.map((l) => `${String(l.msg)} (${String(l.unit)})`).join('; ') || 'none',
      ),
      check(
        '…only once both paths were healthy again ("mount recovered" first)',
        healthyBefore,
        `restart started ${fmt(sec(t0, rStart))}, recovered ${recovered.map((t) => fmt(sec(t0, t))).join(' / ')}`,
      ),
      check(
        '/metrics: nfs_health_check_holder_restarts_total{unit="airflow-scheduler.service",result="ok"} 1',
        metric(`nfs_health_check_holder_restarts_total{unit="${SCHED_UNIT}",result="ok"}`) === 1 && restartSeries.length === 1,
        restartSeries.map(([k, val]) => `${k} ${val}`).join(', ') || 'none',
      ),
      check(
        'a new scheduler process (not a crash loop) writes to the new server, nothing lost after its first line',
        v('sched_pid_after') !== v('sched_pid') &&
          v('new_pid') === v('sched_pid_after') &&
          n('new_pid_lines_new_server') > 0 &&
          n('lines_lost_after_restart') === 0 &&
          n('sched_nrestarts') === 0,
        `PID ${v('sched_pid')} → ${v('sched_pid_after')}; ${v('new_pid_lines_new_server')} lines of ${v('new_pid')} on the new server from line ${v('new_first_seq')}, ${v('lines_lost_after_restart')} lost after; automatic restarts ${v('sched_nrestarts')}`,
      ),
      // The gauge is set by the scan that logs the scheduler on the detached /airflow/logs; its
      // restart can follow within a second, faster than the guest's 0.5 s sampler may see the 1.
      // So the journal shows the count going up, the sampler (when it saw the rise) the fall.
      check(
        'the old scheduler is gone from the old mounts; nfs_mount_detached_holders{mount="/airflow/logs"} back to 0',
        [dags, logs].every((m) => gone.some((l) => l.pid === sched && l.mount === m)) &&
          of(sched, logs, 'detached').length > 0 &&
          (!job.events.has('logs_detached_held') || job.events.has('logs_detached_none')) &&
          heldLogs === 0,
        `gauge ≥ 1 after ${fmt(sec(t0, job.events.get('logs_detached_held')))}, 0 after ${fmt(sec(t0, job.events.get('logs_detached_none')))}, at the end ${heldLogs ?? 'absent'}`,
      ),
    );
  } else {
    checks.push(
      check(
        'nothing restarted: no restart line, no restart counted, the scheduler keeps its PID',
        restartLines.length === 0 && restartSeries.length === 0 && v('sched_pid_after') === v('sched_pid'),
        `${restartLines.length} restart line(s); PID ${v('sched_pid')} → ${v('sched_pid_after')}`,
      ),
      check(
        'the scheduler still reported on the detached mounts: nfs_mount_detached_holders /airflow/logs 1, /airflow/dags 2',
        !gone.some((l) => l.pid === sched) && heldLogs === 1 && heldDags === 2,
        `logs ${heldLogs ?? 'absent'}, dags ${heldDags ?? 'absent'}; gone lines ${gone.filter((l) => l.pid === sched).length}`,
      ),
      check('none of its lines reach the new server', n('lines_new_server') === 0, `${v('lines_new_server')} lines on the new server`),
    );
  }
  const resumed = p.daemonRestartWithinS === undefined ? undefined : daemonRestarts(job, p.daemonRestartWithinS, sched);
  if (resumed) checks.push(...resumed.checks);
  checks.push(journalIsJson(job));
  return {
    times,
    checks,
    figures: {
      ...resumed?.figures,
      holders_reported_s: reported,
      scheduler_restarted_s: sec(t0, restartAt),
      first_line_new_server_s: sec(t0, firstNewLine),
      lines_attempted: Number.isNaN(n('lines_attempted')) ? null : n('lines_attempted'),
      lines_lost: Number.isNaN(n('lines_lost')) ? null : n('lines_lost'),
      lost_seqs: job.values.get('lost_seqs') ?? null,
      lines_not_logged_by_scheduler: Number.isNaN(n('sched_not_logged')) ? null : n('sched_not_logged'),
      logs_detached_gauge_up_s: sec(t0, job.events.get('logs_detached_held')),
      logs_detached_gauge_zero_s: sec(t0, job.events.get('logs_detached_none')),
      watched_s: sec(t0, job.events.get('sched_stopped')),
    },
  };
}

const STATE_FILE = '/run/nfs-health-checkd/state.json';
/** The `mount` of each entry of a list of objects ("incident state resumed": detached, paths). */
const mountsOf = (v: unknown): string[] =>
  Array.isArray(v) ? v.map((e: unknown) => (typeof e === 'object' && e !== null && 'mount' in e ? String(e.mount) : '?')) : [];
const LOGS_HELD = 'nfs_mount_detached_holders{mount="/airflow/logs"}';

/**
 * The daemon restarted mid-incident (systemctl restart, then dpkg -i of the same .deb): before,
 * the scheduler named on the detached /airflow/logs and the gauge up; after each, a new daemon
 * (another PID, in PID 1's mount namespace) resumed the incident state, named the scheduler again
 * and had the gauge back within `withinS` of the old daemon's stop (its "stopping" line; the
 * command's start without one: dpkg -i restarts the daemon in its postinst, seconds before it
 * returns), and recovered nothing again.
 */
function daemonRestarts(job: Job, withinS: number, sched: number): Pick<Analysis, 'checks' | 'figures'> {
  const v = (k: string): string => job.values.get(k) ?? '?';
  const logs = '/airflow/logs';
  const named = job.events.get('holders_named');
  const checks: Check[] = [
    check(
      `before the restart: the daemon named the scheduler on the detached ${logs}, ${LOGS_HELD} ≥ 1, ${STATE_FILE} written`,
      named !== undefined && Number(v('restart_gauge_before')) >= 1 && v('restart_state_file_before') === 'present',
      `${named === undefined ? 'never named' : 'named'}; gauge ${v('restart_gauge_before')}; state file ${v('restart_state_file_before')}`,
    ),
  ];
  const figures: Analysis['figures'] = {};
  for (const [name, what] of [
    ['restart', 'systemctl restart nfs-health-checkd'],
    ['upgrade', 'dpkg -i of the same .deb'],
  ] as const) {
    const start = job.events.get(`${name}_start`);
    const done = job.events.get(`${name}_done`);
    const oldPid = v(`${name}_daemon_pid_before`);
    const pid = Number(v(`${name}_daemon_pid`));
    const mine = (l: DaemonLine): boolean => l.journal_pid === pid && start !== undefined && done !== undefined && l.t >= start;
    const stopping = job.daemon.find(
      (l) => String(l.journal_pid) === oldPid && start !== undefined && l.t >= start && l.msg === 'stopping',
    );
    const starting = job.daemon.find((l) => mine(l) && l.msg === 'starting');
    const from = stopping?.t ?? start;
    const resumed = job.daemon.find((l) => mine(l) && l.msg === 'incident state resumed');
    const notResumed = job.daemon.find((l) => mine(l) && l.msg.startsWith('incident state not resumed'));
    const holder = job.daemon.find(
      (l) => mine(l) && isHolderLine(l) && l.pid === sched && l.unit === SCHED_UNIT && l.mount === logs && l.state === 'detached',
    );
    const holderS = sec(from, holder?.t);
    const gaugeS = sec(from, job.events.get(`${name}_gauge_back`));
    const since = stopping ? 'the old daemon stopping' : `the start of ${what}`;
    const again = job.daemon.filter((l) => mine(l) && l.msg === 'recovery starting');
    checks.push(
      check(
        `${name}: ${what} succeeded and the daemon came back under a new PID, in PID 1's mount namespace`,
        v(`${name}_rc`) === '0' &&
          Number.isInteger(pid) &&
          pid > 0 &&
          String(pid) !== oldPid &&
          v('ns_host') !== '?' &&
          v(`${name}_ns_daemon`) === v('ns_host'),
        `exit ${v(`${name}_rc`)}; PID ${oldPid} → ${v(`${name}_daemon_pid`)}; mount namespace ${v(`${name}_ns_daemon`)} (PID 1: ${v('ns_host')})`,
      ),
      check(
        `${name}: the new daemon resumed the incident state ("incident state resumed" from ${STATE_FILE}, ${logs} among the detached)`,
        resumed !== undefined && resumed.file === STATE_FILE && mountsOf(resumed.detached).includes(logs) && !notResumed,
        resumed
          ? `detached ${mountsOf(resumed.detached).join(', ') || 'none'}; paths ${mountsOf(resumed.paths).join(', ') || 'none'}; put_back ${JSON.stringify(resumed.put_back)}; dropped ${JSON.stringify(resumed.dropped)}`
          : notResumed
            ? `${notResumed.msg}: ${String(notResumed.reason)}`
            : 'no "incident state resumed" line from the new daemon',
      ),
      check(
        `${name}: the new daemon names the scheduler (its PID, ${SCHED_UNIT}) as a holder of the detached ${logs} within ${withinS} s`,
        holderS !== null && holderS <= withinS,
        holder ? `${fmt(holderS)} after ${since}: ${holder.msg}` : 'no such line from the new daemon',
      ),
      check(
        `${name}: ${LOGS_HELD} back to its value before (${v(`${name}_gauge_before`)}) within ${withinS} s`,
        gaugeS !== null && gaugeS <= withinS && v(`${name}_gauge_before`) === v(`${name}_gauge_after`),
        `${fmt(gaugeS)} after ${since}; ${v(`${name}_gauge_before`)} → ${v(`${name}_gauge_after`)}`,
      ),
      check(
        `${name}: the new daemon recovered nothing again (the paths were healthy)`,
        done !== undefined && again.length === 0,
        `${again.length} "recovery starting" line(s)`,
      ),
      check(`${name}: /run/nfs-health-checkd is there, mode 0700`, v(`${name}_run_dir`) === '700', v(`${name}_run_dir`)),
    );
    Object.assign(figures, {
      [`${name}_daemon_pids`]: `${oldPid} → ${v(`${name}_daemon_pid`)}`,
      [`${name}_gauge_before`]: v(`${name}_gauge_before`),
      [`${name}_gauge_after`]: v(`${name}_gauge_after`),
      // From the old daemon's "stopping" line: to the new one's "starting", its holder line, the gauge back.
      [`${name}_command_s`]: sec(start, done),
      [`${name}_down_s`]: sec(stopping?.t, starting?.t),
      [`${name}_holder_named_s`]: holderS,
      [`${name}_gauge_back_s`]: gaugeS,
      [`${name}_named_after_start_s`]: sec(starting?.t, holder?.t),
    });
  }
  return { checks, figures };
}

/** The .deb's layout: its runtime beside the bundled app. */
const APP_DIR = '/usr/lib/nfs-health-checkd';
const RUNTIME = `${APP_DIR}/node`;
// systemctl is-active states of a unit that is (still, or again) running.
const RUNNING_STATES = new Set(['active', 'activating', 'deactivating', 'reloading', 'refreshing']);

/** What the install boot's job recorded (install.sh), judged: the rest of the run boots its disk. */
export function analyzeInstall(job: Job, p: { version: string }): Analysis {
  const v = (k: string): string => job.values.get(k) ?? '?';
  const checks = [
    jobCompleted(job),
    check(
      "no node on the guest's PATH (the package brings its own runtime)",
      v('guest_node') === 'none',
      `command -v node: ${v('guest_node')}`,
    ),
    check(
      `dpkg -i installed nfs-health-checkd ${p.version}`,
      v('deb_version') === p.version,
      `installed version ${v('deb_version')}, in ${v('install_s')} s`,
    ),
    check(
      'systemctl enable --now nfs-health-checkd: enabled and active',
      v('is_enabled') === 'enabled' && v('is_active') === 'active',
      `${v('is_enabled')}, ${v('is_active')}, in ${v('enable_now_s')} s`,
    ),
    check(`the daemon runs on the packaged runtime ${RUNTIME}`, v('daemon_exe') === RUNTIME, v('daemon_exe')),
    check('both mounts accessible (/metrics)', v('accessible') === '1', `accessible=${v('accessible')}`),
  ];
  const num = (k: string): number | null => (/^\d+(\.\d+)?$/.test(v(k)) ? Number(v(k)) : null);
  return {
    times: { detection: null, firstStep: null, accessible: null },
    checks,
    figures: { install_s: num('install_s'), enable_now_s: num('enable_now_s') },
  };
}

/** The removal boot (remove.sh): dpkg -r keeps the conffiles and takes the rest; dpkg -P takes all. */
export function analyzeRemove(job: Job): Analysis {
  const v = (k: string): string => job.values.get(k) ?? '?';
  const num = (k: string): number | null => (/^\d+(\.\d+)?$/.test(v(k)) ? Number(v(k)) : null);
  const conf = '/etc/nfs-health-checkd/config.yaml';
  const logrotate = '/etc/logrotate.d/nfs-health-checkd';
  const unitFile = '/lib/systemd/system/nfs-health-checkd.service';
  const bin = '/usr/bin/nfs-health-checkd';
  const left = v('procs_left').split(';').filter(Boolean);
  const links = v('unit_links_after_purge').split(/\s+/).filter(Boolean);
  const checks = [
    jobCompleted(job),
    check(
      'the daemon was running before the removal',
      v('active_before') === 'active' && (num('procs_before') ?? 0) >= 1,
      `${v('active_before')}, ${v('procs_before')} process(es) of ${APP_DIR}/`,
    ),
    check(
      '/run/nfs-health-checkd is there (mode 0700) while the daemon runs, and survives systemctl restart with what is in it',
      v('run_dir_running') === '700' && v('run_dir_after_restart') === '700' && v('run_dir_file_after_restart') === 'present',
      `${v('run_dir_running')}; after the restart ${v('run_dir_after_restart')}, the file in it ${v('run_dir_file_after_restart')}`,
    ),
    check(
      'dpkg -r nfs-health-checkd succeeded: state rc (removed, config files kept)',
      v('remove_rc') === '0' && v('dpkg_status_removed') === 'rc',
      `exit ${v('remove_rc')}, state "${v('dpkg_status_removed')}", in ${v('remove_s')} s`,
    ),
    check(
      `dpkg -r kept the conffiles ${conf} and ${logrotate}`,
      v('config_after_remove') === 'present' && v('logrotate_after_remove') === 'present',
      `config.yaml ${v('config_after_remove')}, logrotate ${v('logrotate_after_remove')}`,
    ),
    check(`dpkg -r removed the unit file ${unitFile}`, v('unit_file_after_remove') === 'absent', v('unit_file_after_remove')),
    check(`dpkg -r removed ${bin}`, v('bin_after_remove') === 'absent', v('bin_after_remove')),
    check(
      `dpkg -r stopped the daemon: no process of ${APP_DIR}/ left`,
      v('procs_after_remove') === '0',
      left.length ? `${v('procs_after_remove')} left: ${left.join('; ').slice(0, 200)}` : `${v('procs_after_remove')} left`,
    ),
    check(
      'dpkg -r: systemctl is-active nfs-health-checkd is not active',
      v('is_active_after_remove') !== '?' && !RUNNING_STATES.has(v('is_active_after_remove')),
      v('is_active_after_remove'),
    ),
    check(
      'dpkg -P nfs-health-checkd succeeded and removed /etc/nfs-health-checkd and the logrotate conffile',
      v('purge_rc') === '0' && v('config_dir_after_purge') === 'absent' && v('logrotate_after_purge') === 'absent',
      `exit ${v('purge_rc')}, /etc/nfs-health-checkd ${v('config_dir_after_purge')}, logrotate ${v('logrotate_after_purge')}, in ${v('purge_s')} s`,
    ),
    check(
      'dpkg -r keeps /run/nfs-health-checkd (the incident state), dpkg -P removes it',
      v('run_dir_after_remove') === 'present' && v('run_dir_after_purge') === 'absent',
      `after dpkg -r ${v('run_dir_after_remove')}, after dpkg -P ${v('run_dir_after_purge')}`,
    ),
    check(
      'dpkg -s nfs-health-checkd fails after the purge (dpkg knows it no more)',
      /^\d+$/.test(v('dpkg_s_rc')) && v('dpkg_s_rc') !== '0',
      `exit ${v('dpkg_s_rc')}`,
    ),
    check(
      'dpkg -P left no enablement link or mask in /etc/systemd/system',
      job.values.has('unit_links_after_purge') && links.length === 0,
      links.join(', ') || 'none',
    ),
  ];
  return {
    times: { detection: null, firstStep: null, accessible: null },
    checks,
    figures: { remove_s: num('remove_s'), purge_s: num('purge_s') },
  };
}
