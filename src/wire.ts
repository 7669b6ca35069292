// Builds the parts `run` and `check` share from the config and the effects: the prober, the holder
// watch, the recovery's seams and the controller over them. What only the daemon has (metrics, log
// sinks, systemd notifier, schedule) src/daemon.ts adds. Effects (clock, mount table, probe workers, holder scans,
// command runners, fstab) come in as one value, so a test wires the same parts on a hand-moved
// clock and scripted workers; src/cli.ts passes the real ones.
import { readFileSync } from 'node:fs';
import type { Clock } from './clock.js';
import type { Config } from './config/types.js';
import { createRunner, type RunCommand, type RunnerOptions } from './exec/runner.js';
import { readOwnMountNamespace, realProc } from './holders/proc.js';
import { unitOf } from './holders/scan.js';
import { createProcessScanner, createThreadScanner, type ScanHolders } from './holders/scanner.js';
import { HolderWatch } from './holders/watch.js';
import { Controller } from './controller/controller.js';
import { fanOutHolders, type HolderSink, type ControllerSink } from './observe/sink.js';
import { automountRunning, liveAutomountGroup } from './probe/autofs-status.js';
import { autofsMapServers, localMapReader } from './server/autofs-map.js';
import type { ServerAddress } from './server/address.js';
import { createServerCheck, netnsOfPid, type CheckServer, type NetnsChoice } from './server/check.js';
import type { WatchedServer } from './server/watch.js';
import type { ResetStalled } from './server/reset-stalled.js';
import { readMountinfo, readMountTable, type MountTable } from './probe/mountinfo.js';
import { resolveMountPaths } from './probe/mount-paths.js';
import { createProbeMounts } from './probe/probe-mounts.js';
import { poolOptions } from './probe/pool.js';
import { Prober, type ReleasedCall } from './probe/prober.js';
import type { ResolvedMounts } from './probe/resolve-links.js';
import { spawnProcessWorker, spawnThreadWorker, type SpawnWorker } from './probe/worker.js';
import { fstabReader } from './recovery/fstab.js';
import { stateFile, type StateFile } from './state/state-file.js';

/** A holder scanner and what it leaves behind. */
export interface HolderScanner {
  scan: ScanHolders;
  /** Starts what a scan runs on ahead of it, where that takes time (a thread). */
  warm?(): void;
  /** Scans left blocked in the kernel now. */
  stuck(): number;
  close(): void;
}

export interface Effects {
  clock: Clock;
  table: MountTable;
  /** /proc/self/mountstats' text (the kernel's NFS counters); throws when it cannot be read. */
  mountstats: () => string;
  /** /proc/self/mountinfo's text, as `table` parses it. */
  mountinfo: () => string;
  /** The configured paths with symbolic links resolved to the mount points they name. */
  resolveMounts: (config: Config) => Promise<ResolvedMounts>;
  /** Where a probe's blocking call runs: a thread in the daemon, a child process in `check`. */
  spawnProbe: SpawnWorker;
  /** The holder scan, likewise on a thread or in a child process. */
  holderScanner: (timeoutMs: number) => HolderScanner;
  /** A command runner: in the given mount namespace, or launched by Node's own spawn. */
  runner: (opts?: RunnerOptions) => RunCommand;
  /** /etc/fstab as commands in that mount namespace see it. */
  fstab: (mountNamespace: string | null) => () => string | null;
  /** Whether the automounter serving these paths runs. */
  autofsRunning: (paths: readonly string[]) => boolean;
  /** One bounded connect to a server's NFS port (src/server/check.ts); `close` ends what it keeps running (a child per namespace). */
  checkServer: CheckServer & { close?(): void };
  /** The network namespace the automounter of these paths mounts from (null: the daemon's own), and why. */
  autofsNetns: (paths: readonly string[]) => NetnsChoice;
  /** The servers autofs' file maps name for these paths. */
  mapServers: (paths: readonly string[]) => ReadonlyMap<string, readonly ServerAddress[]>;
  selfPid: number;
  /** The systemd unit this process runs in, null outside one: never restarted as a holder. */
  ownUnit: () => string | null;
  /** The mount namespace this process reads its mount table in (/proc/self/ns/mnt); null when unreadable. */
  mountNamespace: () => string | null;
  /** This boot's ID: a state file of another boot names mounts and processes that no longer exist. */
  bootId: () => string;
  /** The incident state's file (src/state/state-file.ts). */
  stateFile: (path: string) => StateFile;
}

/**
 * The machine's effects. `daemon`: probes and scans on worker threads, kept warm. `check`: in child
 * processes, because a thread blocked in the kernel would stop a command from exiting.
 */
export function realEffects(role: 'daemon' | 'check', clock: Clock): Effects {
  return {
    clock,
    table: readMountTable,
    mountstats: () => readFileSync('/proc/self/mountstats', 'utf8'),
    mountinfo: readMountinfo,
    resolveMounts: (config) => resolveMountPaths(config, clock),
    spawnProbe: role === 'daemon' ? spawnThreadWorker : spawnProcessWorker,
    holderScanner:
      role === 'daemon'
        ? (timeoutMs) => createThreadScanner({ timeoutMs, clock })
        : (timeoutMs) => ({ scan: createProcessScanner({ timeoutMs, clock }), stuck: () => 0, close: () => undefined }),
    runner: (opts) => createRunner(clock, opts),
    fstab: fstabReader,
    autofsRunning: (paths) => automountRunning(readMountTable(), paths),
    checkServer: createServerCheck({ clock }),
    autofsNetns: (paths) => {
      const pgrp = liveAutomountGroup(readMountTable(), paths);
      return pgrp === undefined ? { netns: null, why: 'no automount daemon running' } : netnsOfPid(pgrp);
    },
    mapServers: (paths) => autofsMapServers(paths, localMapReader),
    selfPid: process.pid,
    ownUnit: () => (role === 'daemon' ? unitOf(realProc().read(process.pid, 'cgroup')) : null),
    mountNamespace: readOwnMountNamespace,
    bootId: () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    stateFile,
  };
}

export interface WireOptions {
  role: 'daemon' | 'check';
  /** Where the holder watch reports; `check` reports holders once, at the end, so none. */
  holderSink?: HolderSink;
  /** Told when a call given up as timed out returns (the controller's, in the daemon). */
  onReleased?: (call: ReleasedCall) => void;
  /** Told when what the controller or the holder watch knows of an incident has changed. */
  onIncidentChange?: () => void;
}

/** What the daemon's controller has of the server watch: where to say what to watch, and the maps' servers. */
export interface ServerWatching {
  watch(servers: readonly WatchedServer[]): void;
  mapServers: ReadonlyMap<string, readonly ServerAddress[]>;
  resetStalled: ResetStalled;
}

export interface Wired {
  prober: Prober;
  /** Absent when holders.enabled is off. */
  holders: HolderWatch | undefined;
  /** The controller over these parts, reporting to `sink`; `once` for `check`. */
  controller(sink: ControllerSink, once?: boolean, servers?: ServerWatching): Controller;
  /** Calls and scans still blocked: while any, the process cannot exit normally. */
  blocked(): number;
  /** Ends idle workers and the scanner. */
  close(): void;
}

export function wire(config: Config, effects: Effects, opts: WireOptions): Wired {
  const { clock } = effects;
  const paths = config.mounts.map((m) => m.path);
  const check = opts.role === 'check';
  const prober = new Prober({
    timeoutMs: config.probe.timeoutMs,
    maxStuck: config.probe.maxStuckPerMount,
    // check: a child process per probe, all at once; nothing stays warm in a command that exits.
    pool: check
      ? { ...poolOptions(config.probe), warm: Math.max(1, paths.length), max: Math.max(1, paths.length) }
      : poolOptions(config.probe),
    spawn: effects.spawnProbe,
    clock,
    ...(opts.onReleased ? { onReleased: opts.onReleased } : {}),
  });
  const probe = createProbeMounts(prober, effects.table, clock);
  const scanner = config.holders.enabled ? effects.holderScanner(config.holders.scanTimeoutMs) : undefined;
  const holders = scanner
    ? new HolderWatch({
        // check only says who holds a mount; it never restarts anything.
        config: check ? { ...config.holders, restartUnits: [] } : config.holders,
        dryRun: check || config.recovery.dryRun,
        paths,
        scan: scanner.scan,
        table: effects.table,
        run: effects.runner(),
        clock,
        sink: opts.holderSink ?? fanOutHolders([]),
        selfPid: effects.selfPid,
        ownUnit: effects.ownUnit(),
        ownMountNamespace: effects.mountNamespace(),
        ...(opts.onIncidentChange ? { onChange: opts.onIncidentChange } : {}),
      })
    : undefined;
  // The recovery's commands, and the fstab they read, in the configured mount namespace.
  const ns = config.recovery.mountNamespace;
  const run = effects.runner({ mountNamespace: ns });
  const fstab = effects.fstab(ns);
  return {
    prober,
    holders,
    controller: (sink, once = false, servers) =>
      new Controller({
        ...(servers ? { servers, mapServers: servers.mapServers, resetStalled: servers.resetStalled } : {}),
        config,
        clock,
        probe,
        run,
        table: effects.table,
        fstab,
        sink,
        autofsRunning: () => effects.autofsRunning(paths),
        once,
        ...(holders ? { holders } : {}),
        ...(opts.onIncidentChange ? { onIncidentChange: opts.onIncidentChange } : {}),
        // What a recovery's first moments wait for, loaded when the kernel says one may follow.
        prepare: () => {
          run.prepare?.();
          scanner?.warm?.();
        },
      }),
    blocked: () => prober.busyTotal() + (scanner?.stuck() ?? 0),
    close: () => {
      prober.close();
      scanner?.close();
    },
  };
}
