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
}

export interface RecoveryConfig {
  enabled: boolean;
  dryRun: boolean;
  /** Probe results that start a recovery: "timeout" or an errno name such as "ESTALE". */
  triggers: string[];
  /** argv of the first recovery command. */
  command: string[];
  /** Deadline of each command. */
  timeoutMs: number;
  /** argv prefixes run in order per still-failing path, the path appended. */
  escalation: string[][];
  cooldownMs: number;
  maxBackoffMs: number;
  /** argv prefix run with the path appended after an unmount of a path not under autofs; empty = none. */
  remount: string[];
}

export interface Config {
  mounts: MountConfig[];
  /** node-cron expression with a seconds field. */
  schedule: string;
  jitterMs: number;
  probe: ProbeConfig;
  recovery: RecoveryConfig;
  log: { level: LogLevel };
}

/** Where an effective config came from, for messages and `validate`. */
export interface LoadedConfig {
  config: Config;
  /** Files read, defaults first. */
  sources: string[];
}
