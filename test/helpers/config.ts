// The values documented in config/default.yaml, as a Config: what loading the packaged defaults
// must give (test/config), and a whole config for logic tests.
import type { Config } from '../../src/config/types.js';

export const defaultConfig: Config = {
  mounts: [{ path: '/airflow/dags' }, { path: '/airflow/logs' }],
  schedule: '*/30 * * * * *',
  jitterMs: 0,
  probe: { timeoutMs: 5000, maxStuckPerMount: 3, workers: { warm: 1, max: 8, idleMs: 60_000 } },
  recovery: {
    enabled: true,
    dryRun: false,
    triggers: ['timeout', 'ESTALE', 'EIO', 'ENOTCONN', 'ETIMEDOUT', 'EHOSTDOWN', 'ENODEV'],
    hangAfterMs: 15_000,
    command: ['umount', '-a', '-t', 'nfs,nfs4'],
    timeoutMs: 10_000,
    escalation: [
      ['umount', '-f'],
      ['umount', '-l'],
    ],
    cooldownMs: 30_000,
    maxBackoffMs: 300_000,
    remount: [],
    mountNamespace: null,
  },
  holders: { enabled: true, scanTimeoutMs: 5000, restartUnits: [], restartTimeoutMs: 120_000 },
  evidence: { enabled: true, intervalMs: 1000, earlyProbeGapMs: 5000 },
  servers: {
    watch: true,
    checkIntervalMs: 2000,
    resetStalled: true,
    autofsReload: ['systemctl', 'reload', 'autofs'],
    reloadIntervalMs: 10_000,
  },
  metrics: { enabled: true, listen: { host: '0.0.0.0', port: 12049 }, webConfigFile: null },
  log: { level: 'info', file: '/var/log/nfs-health-check.log' },
  state: { file: '/run/nfs-health-checkd/state.json' },
};
