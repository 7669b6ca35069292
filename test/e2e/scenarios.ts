// The e2e scenarios: which guest script each runs (test/e2e/scenarios/*.sh), with what
// parameters and time limit, and how its results are judged (analyze.ts); and the removal boot
// that follows them.
import {
  analyzeBaseline,
  analyzeFailover,
  analyzeFailoverReader,
  analyzeHolders,
  analyzeNegativeCache,
  analyzeRemove,
  analyzeSilent,
  analyzeSystemd,
  withNeedless,
  type Analysis,
  type Job,
} from './analyze.js';

/** The packaged defaults the daemon runs with (config/default.yaml) that the checks depend on. */
export const DEFAULTS = {
  intervalS: 30,
  probeTimeoutS: 5,
  hangAfterS: 15,
  recoveryTimeoutS: 10,
  cooldownS: 30,
  maxBackoffS: 300,
  maxStuck: 3,
  mounts: 2,
};

/** `from` of a scenario that measures no detection / recovery times. */
export const UNTIMED = '—';

export interface Scenario {
  name: string;
  title: string;
  /** What its times are measured from. */
  from: string;
  script: string;
  params: Record<string, string>;
  /** The job's time limit inside the guest. */
  limitS: number;
  /** The event of its fault (null: none); a recovery before it is needless. */
  fault: string | null;
  /** It installs the .deb again: shared read-only as tag "src", its file name in DEB (as the install boot's). */
  deb?: boolean;
  analyze(job: Job, ctx: { installBootId: string }): Analysis;
}

/** A scenario's own checks, and that no recovery came before its fault. */
export function judge(s: Scenario, job: Job, ctx: { installBootId: string }): Analysis {
  return withNeedless(s.analyze(job, ctx), job, s.fault);
}

// At the default schedule nothing touches the mounts after the failover (QUIET): the kernel's
// evidence cannot come from a reader, and the next tick must still find the failure.
const failover = (intervalS: number): Scenario => ({
  name: `failover-${intervalS}s`,
  title:
    intervalS === DEFAULTS.intervalS
      ? `1. failover, idle holders, ${intervalS} s schedule`
      : `1. failover, holders, ${intervalS} s schedule`,
  from: 'failover start',
  script: 'failover.sh',
  params: {
    ...(intervalS === DEFAULTS.intervalS ? { QUIET: '1' } : { SCHEDULE: `*/${intervalS} * * * * *` }),
    // Watched for twice the budget, so a miss is measured rather than cut off.
    WAIT_S: String(2 * (intervalS + DEFAULTS.probeTimeoutS + 5)),
  },
  limitS: 400,
  fault: 'failover_start',
  analyze: (job) => analyzeFailover(job, { intervalS, probeTimeoutS: DEFAULTS.probeTimeoutS }),
});

// A failover 2 s after a tick of the default schedule, the next tick a whole interval away, while
// an Airflow-like reader reads /airflow/dags every second: the errors the kernel counts on the
// mount's operations have the daemon probe it at once. Its budget: the failover itself, a read and
// a sample of the counters, the probe, and the recovery that lets autofs mount the new server.
const failoverReader: Scenario = {
  name: 'failover-30s-reader',
  title: '1c. failover at the default 30 s schedule, an Airflow-like reader, kernel evidence',
  from: 'failover start',
  script: 'failover.sh',
  params: {
    READER: '1',
    PHASE: 'tick+2',
    // As failover-30s: a miss is measured up to the tick's budget twice over.
    WAIT_S: String(2 * (DEFAULTS.intervalS + DEFAULTS.probeTimeoutS + 5)),
  },
  limitS: 400,
  fault: 'failover_start',
  analyze: (job) => analyzeFailoverReader(job, { intervalS: DEFAULTS.intervalS, phaseS: 2, withinS: 8 }),
};

// A silence of a minute or more, an Airflow-like reader throughout: once the server answers again
// the daemon reloads autofs, whose negative cache would otherwise refuse the path for up to a
// minute more, and a client reads the new mount within 10 s of the return. WAIT_S: a miss is
// measured up to negative_timeout and more rather than cut off.
const silent = (hard: boolean, outageS: number, intervalS: number = DEFAULTS.intervalS): Scenario => ({
  name: `silent-${hard ? 'hard' : 'soft'}${intervalS === DEFAULTS.intervalS ? '' : `-${intervalS}s`}`,
  title: `${hard ? '3' : '2'}${intervalS === DEFAULTS.intervalS ? '' : 'c'}. silent server ${outageS} s${hard ? ', hard mounts' : ''}${intervalS === DEFAULTS.intervalS ? '' : `, ${intervalS} s schedule`}`,
  from: 'silence (accessible: from its end)',
  script: 'silent.sh',
  params: {
    OUTAGE_S: String(outageS),
    WAIT_S: '90',
    MOUNT_OPTION: hard ? 'hard' : 'soft',
    ...(intervalS === DEFAULTS.intervalS ? {} : { SCHEDULE: `*/${intervalS} * * * * *` }),
  },
  limitS: outageS + 400,
  fault: 'block',
  analyze: (job) => analyzeSilent(job, { ...DEFAULTS, intervalS, backWithinS: 15, servedWithinS: 10, hard }),
});

// A failover while the stand-in airflow-scheduler.service and an unrelated process of another
// user hold the mounts, 5 s schedule. With restart_units the scenario ends once the scheduler is
// restarted, writes to the new server and nobody is left on the old /airflow/logs (about 20 s);
// without, it watches 40 s: twice what the restart took.
const holders = (restart: boolean): Scenario => ({
  name: restart ? 'holders-restart' : 'holders-report',
  title: restart ? '6. holders: scheduler restarted (restart_units), 5 s schedule' : '6b. holders: reported only, 5 s schedule',
  from: 'failover start',
  script: 'holders.sh',
  params: { RESTART: restart ? '1' : '0', WATCH_S: restart ? '90' : '40' },
  limitS: 300,
  fault: 'failover_start',
  analyze: (job) => analyzeHolders(job, { restart, intervalS: 5, probeTimeoutS: DEFAULTS.probeTimeoutS }),
});

// The holders' failover, report only; once the daemon has named the scheduler on the detached
// /airflow/logs, the daemon is restarted, then upgraded (dpkg -i of the same .deb): each new daemon
// must resume the incident from its state file, name the scheduler again and bring the gauge back
// within 30 s. Each is watched twice that, so a miss is measured rather than cut off.
const holdersDaemonRestart: Scenario = {
  name: 'holders-daemon-restart',
  title: '6c. holders: the daemon restarted, then upgraded, mid-incident; 5 s schedule',
  from: 'failover start',
  script: 'holders.sh',
  params: { RESTART: '0', DAEMON_RESTART: '1', WATCH_S: '40', DAEMON_WAIT_S: '60' },
  deb: true,
  limitS: 450,
  fault: 'failover_start',
  analyze: (job) => analyzeHolders(job, { restart: false, intervalS: 5, probeTimeoutS: DEFAULTS.probeTimeoutS, daemonRestartWithinS: 30 }),
};

export const SCENARIOS: readonly Scenario[] = [
  failover(30),
  failover(5),
  failoverReader,
  silent(false, 120),
  // The issue's silent server, hard-mounted, silent long enough for the stuck probe (up to an
  // interval after the silence starts), hang_after until its recovery, the deadline-killed
  // umount -a and the umount -f that releases it, with 15 s to spare (70 s).
  silent(true, DEFAULTS.intervalS + DEFAULTS.hangAfterS + DEFAULTS.recoveryTimeoutS + 15),
  // At a 5 s schedule, silent 70 s: the recovery comes sooner, and autofs has refused the path for
  // a while when the server answers again.
  silent(false, 70, 5),
  silent(true, 70, 5),
  {
    name: 'negative-cache',
    title: "2b. autofs' negative cache after a failed mount",
    from: UNTIMED,
    script: 'negative-cache.sh',
    params: {},
    limitS: 700,
    // Its faults are its own accesses, with the daemon stopped.
    fault: null,
    analyze: (job) => analyzeNegativeCache(job),
  },
  {
    name: 'systemd',
    title: '4. systemd: READY, stop, watchdog, namespace, logrotate, reload of the web config, reboot',
    from: UNTIMED,
    script: 'systemd.sh',
    params: {},
    limitS: 600,
    fault: 'block',
    analyze: (job, ctx) => analyzeSystemd(job, ctx),
  },
  {
    name: 'baseline',
    title: '5. the old timer script, scenario 1 at 30 s',
    from: 'failover start',
    script: 'baseline.sh',
    params: { WAIT_S: '80' },
    limitS: 400,
    fault: 'failover_start',
    analyze: (job) => analyzeBaseline(job, { waitS: 80 }),
  },
  holders(true),
  holders(false),
  holdersDaemonRestart,
];

/**
 * The removal boot: after the scenarios (all, or those of --only), on the installed disk (a
 * snapshot, as a scenario), dpkg -r and then dpkg -P. Not in SCENARIOS: it always runs last.
 */
export const REMOVAL: Scenario = {
  name: 'remove',
  title: '7. removal: dpkg -r, then dpkg -P',
  from: UNTIMED,
  script: 'remove.sh',
  params: {},
  // Up to 90 s for the daemon to be active, then two dpkg runs of seconds each.
  limitS: 300,
  // No fault: a recovery before the removal is needless, as in the install boot.
  fault: null,
  analyze: (job) => analyzeRemove(job),
};
