// Type=notify for systemd: READY=1 when the daemon is serving, WATCHDOG=1 at half the watchdog
// interval while the probe loop is alive (a wedged loop stops the pings, and systemd restarts the
// service), STOPPING=1 on the way out. Node cannot send unix datagrams, so each message goes
// through systemd-notify (the unit sets NotifyAccess=all), which by default waits until systemd has
// processed it. Without NOTIFY_SOCKET (not under systemd) nothing is ever sent.
import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from './observe/log.js';
import type { RunCommand } from './exec/runner.js';

export interface Notifier {
  ready(status: string): void;
  /**
   * Pings the watchdog every WATCHDOG_USEC/2 while `alive()` says the loop is alive; a status line
   * goes with each ping. Does nothing when systemd set no watchdog for this process.
   */
  startWatchdog(alive: () => { ok: boolean; status: string }): void;
  /** Resolves once systemd-notify has finished (or at once without systemd). */
  stopping(): Promise<void>;
}

export interface NotifierDeps {
  env: NodeJS.ProcessEnv;
  pid: number;
  run: RunCommand;
  clock: Clock;
  log: Logger;
}

const SEND_DEADLINE_MS = 5000;

/** The watchdog interval systemd asked this process for, in ms, or null. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  // WATCHDOG_PID, when set, names the process the watchdog is for.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return usec / 1000;
}

export function createNotifier(deps: NotifierDeps): Notifier {
  const { env, pid, run, clock, log } = deps;
  const enabled = Boolean(env.NOTIFY_SOCKET);
  let failedOnce = false;
  let timer: TimerHandle | undefined;
  let stopped = false;

  const send = (...fields: string[]): Promise<void> => {
    if (!enabled) return Promise.resolve();
    return run(['systemd-notify', `--pid=${pid}`, ...fields], SEND_DEADLINE_MS).then((o) => {
      if (o.status === 'ok' || failedOnce) return;
      failedOnce = true; // said once: a missing systemd-notify would otherwise fill the log
      log.error({ command: o.argv.join(' '), status: o.status, exit_code: o.exitCode, output: o.output }, 'systemd-notify failed');
    });
  };

  return {
    ready(status) {
      void send('READY=1', `STATUS=${status}`);
    },
    startWatchdog(alive) {
      const interval = enabled ? watchdogIntervalMs(env, pid) : null;
      if (interval === null) return;
      let stalled = false;
      const ping = (): void => {
        if (stopped) return;
        const state = alive();
        if (state.ok) {
          void send('WATCHDOG=1', `STATUS=${state.status}`);
          if (stalled) log.info('probe loop alive again: watchdog pings resumed');
          stalled = false;
        } else if (!stalled) {
          stalled = true;
          log.error({ reason: state.status }, 'probe loop stalled: watchdog not pinged, systemd will restart the service');
        }
        timer = clock.setTimeout(ping, interval / 2);
      };
      log.info({ watchdog_ms: interval }, 'systemd watchdog on');
      ping();
    },
    stopping() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      return send('STOPPING=1');
    },
  };
}
