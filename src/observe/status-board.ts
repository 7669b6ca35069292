// What the running daemon knows now, kept in memory from the same reports the log and the metrics
// get: each mount's state and since when, the last recovery, static mounts put back, processes left
// on detached mounts, the last events. `snapshot()` is what GET /status and `status` show; it reads
// only this memory, so it answers while every probe is blocked.
import type { Clock } from '../clock.js';
import type { HealthEvent } from '../controller/policy.js';
import type { PutBack, PutBackReport } from '../controller/server-return.js';
import { describeHolds, holderKey, type HolderReport } from '../holders/tracker.js';
import type { OrphanHolder } from '../holders/orphans.js';
import type { ProbeResult } from '../probe/probe-mounts.js';
import type { CollateralReport } from '../recovery/collateral.js';
import type { DryRunReport } from '../recovery/plan.js';
import type { RecoveryReport, RecoveryTarget, StepReport } from '../recovery/procedure.js';
import { serverKey } from '../server/address.js';
import type { ControllerSink, HolderSink } from './sink.js';
import { HoldNews } from './hold-news.js';
import { seconds } from './status-words.js';

/** Raised when the document's shape changes in a way a reader must know of. */
export const STATUS_VERSION = 1;
export const MAX_EVENTS = 50;
const MAX_STEPS = 50;
const MAX_PUT_BACK = 20;
const MAX_HOLDERS = 500;
const MAX_OUTPUT = 500;

export type EventLevel = 'info' | 'warn' | 'error';

export interface StatusEvent {
  at: string;
  level: EventLevel;
  text: string;
}

export interface MountStatus {
  mount: string;
  /** unknown: not probed yet. */
  state: 'ok' | 'failing' | 'unknown';
  result: string | null;
  errno: string | null;
  /** Since when the mount has been ok, or failing (whatever the fault, which may change meanwhile). */
  since: string | null;
  last_probed_at: string | null;
  probe_ms: number | null;
  mount_id: number | null;
  mounted: boolean | null;
  fstype: string | null;
  /** For a timeout: how long the call blocking the path had been blocked. */
  blocked_ms: number | null;
}

export interface RecoveryTargetStatus {
  mount: string;
  result: string;
  blocked_ms: number | null;
  /** null while the recovery runs. */
  outcome: 'ok' | 'still_failing' | 'dry_run' | null;
}

export interface StepStatus {
  at: string;
  kind: StepReport['kind'];
  mount: string | null;
  argv: string[];
  status: string;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
  output: string;
  detached: boolean | null;
}

export interface CollateralStatus {
  mount: string;
  fstype: string;
  source: string;
  via: string;
  outcome: string;
  argv: string[];
  exit_code: number | null;
  output: string;
  duration_ms: number;
}

export interface RecoveryStatus {
  running: boolean;
  started_at: string;
  finished_at: string | null;
  targets: RecoveryTargetStatus[];
  steps: StepStatus[];
  /** null while it runs. */
  result: string | null;
  still_failing: string[];
  duration_ms: number | null;
  collateral: CollateralStatus[];
  /** A dry run's commands, which did not run. */
  would_run: string[][];
}

export interface PutBackStatus {
  mount: string;
  server: string | null;
  /** When the recovery took it away. */
  since: string;
  /** The last try's outcome. */
  outcome: string;
  tries: number;
  /** When it was put back; null while it waits. */
  at: string | null;
}

export interface HolderStatus {
  /** The configured path; "unknown" for a process on a mount detached before this start. */
  mount: string;
  state: 'failing' | 'detached' | 'unknown';
  mount_id: number | null;
  pid: number;
  comm: string;
  uid: number | null;
  unit: string | null;
  holds: string[];
  since: string;
}

export interface StatusDoc {
  version: number;
  generated_at: string;
  daemon: { version: string; pid: number; started_at: string; schedule: string };
  mounts: MountStatus[];
  /** The recovery running now, else the last one; null before the first. */
  recovery: RecoveryStatus | null;
  put_back: { waiting: PutBackStatus[]; done: PutBackStatus[] };
  holders: HolderStatus[];
  /** Newest first. */
  events: StatusEvent[];
}

export interface StatusBoardOptions {
  clock: Clock;
  paths: readonly string[];
  daemon: { version: string; pid: number; schedule: string };
}

export interface StatusBoard {
  readonly sink: ControllerSink;
  readonly holderSink: HolderSink;
  /**
   * An incident resumed from the state file at start: the static mounts still to be put back (the
   * processes on detached mounts are reported again by the holder watch's next scan), and since when
   * each path was failing (the clock's own times), which the first probe's since keeps if it still fails.
   */
  resumed(file: string, putBack: readonly PutBack[], failingSince: ReadonlyMap<string, number>): void;
  snapshot(): StatusDoc;
}

/** A configured mount before its first probe. */
export function emptyMount(path: string): MountStatus {
  return {
    mount: path,
    state: 'unknown',
    result: null,
    errno: null,
    since: null,
    last_probed_at: null,
    probe_ms: null,
    mount_id: null,
    mounted: null,
    fstype: null,
    blocked_ms: null,
  };
}

function trimOutput(output: string): string {
  return output.length > MAX_OUTPUT ? `${output.slice(0, MAX_OUTPUT)}…` : output;
}

function collateralStatus(c: CollateralReport): CollateralStatus {
  return {
    mount: c.mountPoint,
    fstype: c.fstype,
    source: c.source,
    via: c.via,
    outcome: c.outcome,
    argv: c.command.argv,
    exit_code: c.command.exitCode,
    output: trimOutput(c.command.output),
    duration_ms: c.command.durationMs,
  };
}

function holderStatus(h: HolderReport, since: string): HolderStatus {
  return {
    mount: h.path,
    state: h.state,
    mount_id: h.mountId,
    pid: h.pid,
    comm: h.comm,
    uid: h.uid,
    unit: h.unit,
    holds: describeHolds(h),
    since,
  };
}

function orphanStatus(o: OrphanHolder, since: string): HolderStatus {
  return {
    mount: 'unknown',
    state: 'unknown',
    mount_id: o.mountId,
    pid: o.pid,
    comm: o.comm,
    uid: o.uid,
    unit: o.unit,
    holds: describeHolds(o),
    since,
  };
}

/** A process as the board's events and `status` name it: "python3[4711] unit airflow-scheduler.service". */
export const who = (h: { comm: string; pid: number; unit: string | null }): string => `${h.comm}[${h.pid}] unit ${h.unit ?? 'none'}`;

function healthText(e: HealthEvent, r: ProbeResult | undefined): { level: EventLevel; text: string } {
  const fault = (result: string): string => (r?.errno !== undefined && r.errno !== result ? `${result} (${r.errno})` : result);
  switch (e.kind) {
    case 'initial':
      return e.result === 'ok'
        ? { level: 'info', text: `mount healthy: ${e.path}` }
        : { level: 'warn', text: `mount failing: ${e.path}: ${fault(e.result)}` };
    case 'failing':
      return { level: 'warn', text: `mount failing: ${e.path}: ${fault(e.result)} (was ${e.previous})` };
    case 'changed':
      return { level: 'warn', text: `mount fault changed: ${e.path}: ${fault(e.result)} (was ${e.previous})` };
    case 'recovered':
      return { level: 'info', text: `mount recovered: ${e.path} after ${seconds(e.downMs)} down (was ${e.previous})` };
  }
}

export function createStatusBoard(opts: StatusBoardOptions): StatusBoard {
  const { clock } = opts;
  const wall = (): string => new Date(clock.wallNow()).toISOString();
  const startedAt = wall();
  const mounts = new Map(opts.paths.map((p) => [p, emptyMount(p)]));
  let recovery: RecoveryStatus | null = null;
  let recoveryStartedAt = 0;
  const waiting = new Map<string, PutBackStatus>();
  const done: PutBackStatus[] = [];
  const holders = new Map<string, HolderStatus>();
  const events: StatusEvent[] = [];
  const holds = new HoldNews();
  let autofsWas: boolean | null = null;
  // A resumed path's since, until its first probe: a restart does not make a failure new.
  const resumedSince = new Map<string, string>();
  const wallOf = (t: number): string => new Date(clock.wallNow() - (clock.now() - t)).toISOString();

  const event = (level: EventLevel, text: string): void => {
    events.unshift({ at: wall(), level, text });
    if (events.length > MAX_EVENTS) events.length = MAX_EVENTS;
  };

  /** A probe's result: the state's since moves only between ok and failing. */
  const record = (r: ProbeResult): void => {
    const m = mounts.get(r.path);
    if (!m) return;
    const now = wall();
    const state = r.result === 'ok' ? 'ok' : 'failing';
    const resumed = resumedSince.get(r.path);
    resumedSince.delete(r.path);
    if (m.state !== state) m.since = state === 'failing' && resumed !== undefined ? resumed : now;
    m.state = state;
    m.result = r.result;
    m.errno = r.errno ?? null;
    m.last_probed_at = now;
    m.probe_ms = Math.round(r.ms * 10) / 10;
    m.mount_id = r.mountId;
    m.mounted = r.mounted;
    m.fstype = r.fstype;
    m.blocked_ms = r.blockedMs === null ? null : Math.round(r.blockedMs);
  };

  const putBackEntry = (mount: string, server: string | null, since: string, outcome: string, tries: number): PutBackStatus => ({
    mount,
    server,
    since,
    outcome,
    tries,
    at: null,
  });

  const finishPutBack = (entry: PutBackStatus): void => {
    waiting.delete(entry.mount);
    done.unshift({ ...entry, at: wall() });
    if (done.length > MAX_PUT_BACK) done.length = MAX_PUT_BACK;
  };

  const addHolder = (key: string, h: HolderStatus): void => {
    if (!holders.has(key) && holders.size >= MAX_HOLDERS) return;
    holders.set(key, h);
  };

  const sink: ControllerSink = {
    probed: (results) => results.forEach(record),
    health(e, r) {
      if (r) record(r);
      if (e.kind === 'recovered') holds.forget();
      const { level, text } = healthText(e, r);
      event(level, text);
    },
    held(hold) {
      if (!holds.isNew(hold)) return;
      event('info', `recovery held (${hold.reason}): ${hold.targets.join(', ')}`);
    },
    recoveryStarted(targets: readonly RecoveryTarget[]) {
      holds.forget();
      recoveryStartedAt = clock.now();
      recovery = {
        running: true,
        started_at: wall(),
        finished_at: null,
        targets: targets.map((t) => ({
          mount: t.path,
          result: t.result,
          blocked_ms: t.blockedMs === null ? null : Math.round(t.blockedMs),
          outcome: null,
        })),
        steps: [],
        result: null,
        still_failing: [],
        duration_ms: null,
        collateral: [],
        would_run: [],
      };
      event('warn', `recovery starting: ${targets.map((t) => `${t.path} (${t.result})`).join(', ')}`);
    },
    step(s) {
      if (!recovery || recovery.steps.length >= MAX_STEPS) return;
      const o = s.outcome;
      recovery.steps.push({
        at: wall(),
        kind: s.kind,
        mount: s.path ?? null,
        argv: o.argv,
        status: o.status,
        exit_code: o.exitCode,
        signal: o.signal,
        duration_ms: o.durationMs,
        output: trimOutput(o.output),
        detached: s.detached ?? null,
      });
    },
    recoveryFinished(report: RecoveryReport | DryRunReport, targets) {
      if (!recovery) return;
      recovery.running = false;
      recovery.finished_at = wall();
      recovery.result = report.result;
      if (report.result === 'dry_run') {
        recovery.would_run = report.wouldRun;
        recovery.duration_ms = Math.round(clock.now() - recoveryStartedAt);
        for (const t of recovery.targets) t.outcome = 'dry_run';
        event('warn', `recovery finished (dry run: nothing ran): ${targets.map((t) => t.path).join(', ')}`);
        return;
      }
      recovery.still_failing = report.stillFailing;
      recovery.duration_ms = report.durationMs;
      for (const t of recovery.targets) t.outcome = report.stillFailing.includes(t.mount) ? 'still_failing' : 'ok';
      const failing = report.stillFailing.length > 0 ? `, still failing: ${report.stillFailing.join(', ')}` : '';
      event(
        report.stillFailing.length === 0 ? 'info' : 'error',
        `recovery finished: ${report.result} in ${report.durationMs} ms, ${report.steps.length} step(s)${failing}`,
      );
    },
    collateral(c) {
      recovery?.collateral.push(collateralStatus(c));
      const since = wall();
      if (c.outcome === 'remounted') {
        finishPutBack(putBackEntry(c.mountPoint, c.server && serverKey(c.server), since, c.outcome, 1));
        event('warn', `mount taken away by recovery: ${c.mountPoint}: mounted again`);
      } else {
        waiting.set(c.mountPoint, putBackEntry(c.mountPoint, c.server && serverKey(c.server), since, c.outcome, 1));
        event('error', `mount taken away by recovery: ${c.mountPoint}: not mounted again (${c.outcome})`);
      }
    },
    released(call, hung) {
      const blocked = seconds(call.blockedMs);
      if (hung) event('info', `stuck probe returned: ${call.path} after ${blocked}`);
      else event('warn', `slow probe returned: ${call.path} after ${blocked}: not hung`);
    },
    overlapped: () => event('warn', 'tick skipped: the previous cycle is still running'),
    cycleFinished({ autofsRunning }) {
      if (autofsRunning === null || autofsRunning === autofsWas) return;
      // The first check says so only when autofs is not running: that it runs is no news.
      if (autofsRunning && autofsWas !== null) event('info', 'autofs running');
      if (!autofsRunning) event('warn', 'autofs not running: unmounted paths will not be mounted again');
      autofsWas = autofsRunning;
    },
    waitingForHangs: () => undefined,
    earlyProbe: (e) => event('info', `kernel evidence: probing ${e.path} early (${e.kind})`),
    earlyProbed(e, r) {
      record(r);
      if (r.result !== 'ok') event('warn', `kernel evidence: early probe found ${e.path} failing: ${r.result}`);
    },
    server(r, paths, goneMs) {
      const key = serverKey(r.address);
      const of = paths.length > 0 ? ` (${paths.join(', ')})` : '';
      if (r.answering) event('info', `server answering again: ${key}${goneMs === null ? '' : ` after ${seconds(goneMs)}`}${of}`);
      else event('warn', `server not answering: ${key}${r.reason === null ? '' : ` (${r.reason})`}${of}`);
    },
    autofsReload: (paths, _servers, dryRun) =>
      event(dryRun ? 'warn' : 'info', `autofs reload${dryRun ? ' (dry run: nothing ran)' : ''}: ${paths.join(', ')}`),
    autofsReloaded(_paths, o) {
      if (o === null) return;
      if (o.status === 'ok') event('info', 'autofs reloaded');
      else event('warn', `autofs reload failed: ${o.status}${o.exitCode === null ? '' : ` exit ${o.exitCode}`}`);
    },
    putBack(r: PutBackReport) {
      const server = serverKey(r.server);
      const known = waiting.get(r.mountPoint);
      const since = known?.since ?? new Date(clock.wallNow() - r.downMs).toISOString();
      const entry = putBackEntry(r.mountPoint, server, since, r.outcome, r.tries);
      if (r.outcome === 'remounted' || r.outcome === 'already_mounted') {
        finishPutBack(entry);
        event('warn', `static mount put back: ${r.mountPoint} (${r.outcome}, server ${server} answers again)`);
      } else {
        waiting.set(r.mountPoint, entry);
        event('error', `static mount still not mounted: ${r.mountPoint} (${r.outcome}, try ${r.tries})`);
      }
    },
    stalledReset(r) {
      if (r.result === 'none') return;
      const n = r.stalled.length;
      if (r.result === 'ok') event('info', `NFS client connection(s) reset: ${n} to ${serverKey(r.server)}`);
      else event('warn', `NFS client connection(s) to ${serverKey(r.server)} not reset (${r.result})`);
    },
  };

  const holderSink: HolderSink = {
    holderSeen(h) {
      addHolder(holderKey(h), holderStatus(h, wall()));
      event('warn', `holder found on ${h.state} mount ${h.path}: ${who(h)}`);
    },
    holderDetached(h) {
      const key = holderKey(h);
      addHolder(key, holderStatus(h, holders.get(key)?.since ?? wall()));
      event('warn', `holder left on detached mount ${h.path}: ${who(h)}`);
    },
    holderGone(h) {
      holders.delete(holderKey(h));
      event('info', `holder gone from ${h.path}: ${who(h)}`);
    },
    holdersCounted: () => undefined,
    scanned: () => undefined,
    restart(r) {
      if (r.result === 'ok') event('info', `unit restarted: ${r.unit} (it held a detached mount)`);
      else if (r.result === 'dry_run') event('warn', `unit restart (dry run: nothing ran): ${r.unit}`);
      else event('warn', `unit restart failed: ${r.unit} (${r.result})`);
    },
    restartDidNotHelp: (unit) => event('error', `unit still holds a detached mount after its restart: ${unit}`),
    orphanByDevice(o) {
      addHolder(`orphan:${o.pid}:${o.start}`, orphanStatus(o, wall()));
      event('warn', `holder found on a mount in no mount table: ${who(o)}`);
    },
  };

  return {
    sink,
    holderSink,
    resumed(file, putBack, failingSince) {
      for (const p of putBack)
        waiting.set(p.mountPoint, putBackEntry(p.mountPoint, serverKey(p.server), wallOf(p.since), 'not_mounted', p.tries));
      for (const [path, t] of failingSince) if (mounts.has(path)) resumedSince.set(path, wallOf(t));
      event('info', `incident state resumed from ${file}`);
    },
    snapshot(): StatusDoc {
      // A deep copy: the document handed out must not change under its reader.
      return structuredClone({
        version: STATUS_VERSION,
        generated_at: wall(),
        daemon: { ...opts.daemon, started_at: startedAt },
        mounts: [...mounts.values()],
        recovery,
        put_back: { waiting: [...waiting.values()], done },
        holders: [...holders.values()],
        events,
      });
    },
  };
}
