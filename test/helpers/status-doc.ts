// Fixed status documents for the tests of what shows them (the status page): an incident with
// every part filled in, and a daemon just started.
import { emptyMount, type StatusDoc } from '../../src/observe/status-board.js';

/** Two minutes into a failover: one mount hung, one stale and detached with a process left on it. */
export function incidentDoc(): StatusDoc {
  return {
    version: 1,
    generated_at: '2026-12-07T12:04:10.120Z',
    daemon: { version: '0.1.0', pid: 812, started_at: '2026-12-01T08:00:02.311Z', schedule: '*/30 * * * * *' },
    mounts: [
      {
        mount: '/airflow/dags',
        state: 'failing',
        result: 'timeout',
        errno: null,
        since: '2026-12-07T12:03:30.005Z',
        last_probed_at: '2026-12-07T12:04:05.010Z',
        probe_ms: 5000.4,
        mount_id: 412,
        mounted: true,
        fstype: 'nfs4',
        blocked_ms: 35010,
      },
      {
        mount: '/airflow/logs',
        state: 'failing',
        result: 'unmounted',
        errno: null,
        since: '2026-12-07T12:02:00.000Z',
        last_probed_at: '2026-12-07T12:04:05.011Z',
        probe_ms: 0.4,
        mount_id: null,
        mounted: false,
        fstype: null,
        blocked_ms: null,
      },
      {
        mount: '/srv/data',
        state: 'ok',
        result: 'ok',
        errno: null,
        since: '2026-12-01T08:00:03.000Z',
        last_probed_at: '2026-12-07T12:04:05.012Z',
        probe_ms: 1.2,
        mount_id: 77,
        mounted: true,
        fstype: 'nfs4',
        blocked_ms: null,
      },
      emptyMount('/srv/new'),
    ],
    recovery: {
      running: false,
      started_at: '2026-12-07T12:02:00.020Z',
      finished_at: '2026-12-07T12:02:01.301Z',
      targets: [
        { mount: '/airflow/logs', result: 'ESTALE', blocked_ms: null, outcome: 'still_failing' },
        { mount: '/airflow/dags', result: 'timeout', blocked_ms: 15012, outcome: 'ok' },
      ],
      steps: [
        {
          at: '2026-12-07T12:02:00.410Z',
          kind: 'command',
          mount: null,
          argv: ['umount', '-a', '-t', 'nfs,nfs4'],
          status: 'failed',
          exit_code: 32,
          signal: null,
          duration_ms: 388,
          output: 'umount: /airflow/logs: target is busy.',
          detached: null,
        },
        {
          at: '2026-12-07T12:02:00.900Z',
          kind: 'escalation',
          mount: '/airflow/logs',
          argv: ['umount', '-f', '--', '/airflow/logs'],
          status: 'timeout',
          exit_code: null,
          signal: 'SIGKILL',
          duration_ms: 10002,
          output: '',
          detached: false,
        },
        {
          at: '2026-12-07T12:02:01.200Z',
          kind: 'escalation',
          mount: '/airflow/logs',
          argv: ['umount', '-l', '--', '/airflow/logs'],
          status: 'ok',
          exit_code: 0,
          signal: null,
          duration_ms: 12,
          output: '',
          detached: true,
        },
      ],
      result: 'failed',
      still_failing: ['/airflow/logs'],
      duration_ms: 1281,
      collateral: [
        {
          mount: '/mnt/backup',
          fstype: 'nfs4',
          source: 'nfs-b:/backup',
          via: 'fstab',
          outcome: 'mount_failed',
          argv: ['mount', '/mnt/backup'],
          exit_code: 32,
          output: 'mount.nfs4: Connection refused',
          duration_ms: 2004,
        },
      ],
      would_run: [],
    },
    put_back: {
      waiting: [
        { mount: '/mnt/backup', server: 'nfs-b:2049', since: '2026-12-07T12:02:01.250Z', outcome: 'not_mounted', tries: 3, at: null },
      ],
      done: [
        {
          mount: '/mnt/archive',
          server: 'nfs-b:2049',
          since: '2026-12-07T11:40:00.000Z',
          outcome: 'remounted',
          tries: 2,
          at: '2026-12-07T11:41:00.000Z',
        },
      ],
    },
    holders: [
      {
        mount: '/airflow/logs',
        state: 'detached',
        mount_id: 413,
        pid: 4711,
        comm: 'python3',
        uid: 50000,
        unit: 'airflow-scheduler.service',
        holds: ['cwd /sub', 'fd 3 → /scheduler.log', 'mmap /example_dag.py'],
        since: '2026-12-07T12:02:01.400Z',
      },
      {
        mount: 'unknown',
        state: 'unknown',
        mount_id: 399,
        pid: 5120,
        comm: 'celery',
        uid: 50000,
        unit: null,
        holds: ['fd 7 → /tasks.db'],
        since: '2026-12-07T12:00:10.000Z',
      },
    ],
    events: [
      { at: '2026-12-07T12:03:30.005Z', level: 'warn', text: 'mount failing: /airflow/dags: timeout (was ok)' },
      {
        at: '2026-12-07T12:02:01.400Z',
        level: 'warn',
        text: 'holder left on detached mount /airflow/logs: python3[4711] unit airflow-scheduler.service',
      },
      {
        at: '2026-12-07T12:02:01.301Z',
        level: 'error',
        text: 'recovery finished: failed in 1281 ms, 3 step(s), still failing: /airflow/logs',
      },
      { at: '2026-12-07T12:02:00.020Z', level: 'warn', text: 'recovery starting: /airflow/logs (ESTALE)' },
      { at: '2026-12-01T08:00:03.000Z', level: 'info', text: 'mount healthy: /srv/data' },
    ],
  };
}

/** A daemon just started: nothing probed, no recovery, no holder, no event. */
export function freshDoc(): StatusDoc {
  return {
    version: 1,
    generated_at: '2026-12-07T12:00:00.500Z',
    daemon: { version: '0.1.0', pid: 9, started_at: '2026-12-07T12:00:00.000Z', schedule: '*/30 * * * * *' },
    mounts: [emptyMount('/airflow/dags')],
    recovery: null,
    put_back: { waiting: [], done: [] },
    holders: [],
    events: [],
  };
}
