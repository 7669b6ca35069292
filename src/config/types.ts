// The validated, effective configuration. YAML keys are snake_case; here they are camelCase and
// every duration is in milliseconds.

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface MountConfig {
  /** Absolute, normalised path (no trailing slash), never "/". */
  path: string;
}

export interface ProbeConfig {
  timeoutMs: number;
  /** Most threads left blocked on one path (probes stuck in the kernel) before it is no longer probed. */
  maxStuckPerMount: number;
  workers: ProbeWorkersConfig;
}

/** The probe threads every mount shares. */
export interface ProbeWorkersConfig {
  /** Kept between rounds, even when idle. */
  warm: number;
  /** Most calls at once that are not yet slow (slow and stuck calls do not count). */
  max: number;
  /** An idle thread beyond the warm ones ends after this long. */
  idleMs: number;
}

export interface RecoveryConfig {
  enabled: boolean;
  dryRun: boolean;
  /** Probe results that start a recovery: "timeout" or an errno name such as "ESTALE". */
  triggers: string[];
  /**
   * How long a probe call must have been blocked before its `timeout` starts a recovery: a call
   * that returns sooner, however late, is a slow mount, not a hung one. At least probe.timeout.
   */
  hangAfterMs: number;
  /** argv of the first recovery command; empty: none, straight to the escalation per failing path. */
  command: string[];
  /** Deadline of each command. */
  timeoutMs: number;
  /** argv prefixes run in order per still-failing path, the path appended. */
  escalation: string[][];
  cooldownMs: number;
  maxBackoffMs: number;
  /** argv prefix run with the path appended after an unmount of a path not under autofs; empty = none. */
  remount: string[];
  /**
   * The mount namespace recovery commands run in: null = the daemon's own; else the path of a
   * namespace file to enter with nsenter (`host` in the file = /proc/1/ns/mnt, for containers).
   */
  mountNamespace: string | null;
}

export interface HoldersConfig {
  /** Look for the processes still on failing and detached mounts (log lines, metrics). */
  enabled: boolean;
  /** Deadline of one scan of /proc. */
  scanTimeoutMs: number;
  /** systemd unit globs (*.service) restarted when they hold a detached mount; empty = report only. */
  restartUnits: string[];
  /** Deadline of one `systemctl try-restart`. */
  restartTimeoutMs: number;
}

/** The kernel's own counters, read between probes (src/kernel/watch.ts). */
export interface EvidenceConfig {
  /** Read /proc/self/mountstats between probes and probe a mount early on what it says. */
  enabled: boolean;
  /** How often it is read. */
  intervalMs: number;
  /** Least time between two early probes of one path. */
  earlyProbeGapMs: number;
}

/** What is done when a down mount's NFS server answers again (src/controller/server-return.ts). */
export interface ServersConfig {
  /** Watch the server of each down mount (a TCP connect to its NFS port, never the mount). */
  watch: boolean;
  /** How often a watched server is tried. */
  checkIntervalMs: number;
  /** Once a server answers again, reset the NFS client's connections to it still waiting out a retransmission backoff. */
  resetStalled: boolean;
  /** argv that clears autofs' negative cache (a map re-read); empty: never run. */
  autofsReload: string[];
  /** Least time between two reloads; doubles while the mounts stay down, up to recovery.max_backoff. */
  reloadIntervalMs: number;
}

export interface ListenAddress {
  /** IP address or host name, without brackets. */
  host: string;
  /** 0: any free port (the "starting" log line gives the metrics URL). */
  port: number;
}

export interface MetricsConfig {
  enabled: boolean;
  listen: ListenAddress;
  /**
   * TLS and basic authentication of every endpoint (src/observe/web-config.ts), re-read on SIGHUP;
   * null: plain HTTP, open to anyone who reaches the port.
   */
  webConfigFile: string | null;
}

export interface LogConfig {
  level: LogLevel;
  /** A file the JSON lines also go to (reopened on SIGHUP); null: stdout only. */
  file: string | null;
}

export interface StateConfig {
  /** The incident state's file (src/state/); null: none kept, every start is a fresh one. */
  file: string | null;
}

export interface Config {
  mounts: MountConfig[];
  /** node-cron expression with a seconds field. */
  schedule: string;
  jitterMs: number;
  probe: ProbeConfig;
  recovery: RecoveryConfig;
  holders: HoldersConfig;
  evidence: EvidenceConfig;
  servers: ServersConfig;
  metrics: MetricsConfig;
  log: LogConfig;
  state: StateConfig;
}

/** Where an effective config came from, for messages and `validate`. */
export interface LoadedConfig {
  config: Config;
  /** Files read, defaults first. */
  sources: string[];
}
