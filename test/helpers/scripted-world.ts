// A scripted stand-in for the kernel, for logic tests: a mount table, commands that change it as
// umount would, and probes that answer from it. Integration tests use the real kernel instead.
import type { MountEntry } from '../../src/probe/mountinfo.js';
import type { ProbeClass } from '../../src/probe/classify.js';
import type { ProbeResult } from '../../src/probe/probe-mounts.js';
import type { CommandOutcome, CommandStatus } from '../../src/exec/runner.js';
import type { FakeClock } from './fake-clock.js';
import type { StateFile } from '../../src/state/state-file.js';

export interface ScriptedMount {
  path: string;
  id: number;
  /** What a probe of the mounted filesystem answers. */
  fault: ProbeClass;
  /** A process holds it: plain umount fails busy. */
  busy?: boolean;
  /** Calls hang: plain umount hangs, -f and -l work. */
  hung?: boolean;
  /** A static mount (fstab), not under the autofs mount: nothing mounts it again by itself. */
  static?: boolean;
  /** When probes of it began to block (set by the first probe that finds the fault `timeout`). */
  blockedSince?: number;
  /** The kernel's counts of its failed and timed-out GETATTR calls (/proc/self/mountstats). */
  errors?: number;
  timeouts?: number;
}

export class ScriptedWorld {
  mounts: ScriptedMount[] = [];
  commands: string[][] = [];
  private nextId = 100;
  /** What autofs mounts when a probe touches an unmounted path: its fault. */
  remountFault: ProbeClass = 'ok';
  /** Hosts whose NFS port does not answer a connect (src/server/check.ts). */
  silentHosts = new Set<string>();
  /**
   * autofs' negative cache: an unmounted path is refused (automount_failed) instead of mounted,
   * until `systemctl reload autofs` clears it — which a mount attempt re-arms while the server is silent.
   */
  autofsRefuses = false;
  /** `mount` never returns: the process running it is killed before it does. */
  mountHangs = false;

  /** Files the daemon keeps (its incident state), by path: kept across daemons made on this world, as /run is across restarts. */
  files = new Map<string, string>();

  stateFile = (path: string): StateFile => ({
    path,
    read: () => {
      const text = this.files.get(path);
      return text === undefined ? { kind: 'none' } : { kind: 'text', text };
    },
    write: (text) => void this.files.set(path, text),
  });

  /** Whether a connect to `server` would be answered. */
  answering = (server: { host: string }): boolean => !this.silentHosts.has(server.host);

  constructor(private readonly clock: FakeClock) {}

  mount(path: string, fault: ProbeClass, extra: Partial<ScriptedMount> = {}): ScriptedMount {
    const m = { path, id: this.nextId++, fault, ...extra };
    this.mounts.push(m);
    return m;
  }

  table = (): MountEntry[] => [
    {
      id: 1,
      parentId: 0,
      dev: '0:1',
      mountPoint: '/',
      mountOptions: 'rw,relatime',
      fstype: 'ext4',
      source: '/dev/vda',
      superOptions: 'rw',
    },
    {
      id: 2,
      parentId: 1,
      dev: '0:2',
      mountPoint: '/airflow',
      mountOptions: 'rw,relatime',
      fstype: 'autofs',
      source: 'auto.airflow',
      superOptions: 'rw,fd=6,pgrp=1,timeout=30,indirect',
    },
    ...this.mounts.map((m) => ({
      id: m.id,
      parentId: m.static ? 1 : 2,
      dev: `0:${m.id}`,
      mountPoint: m.path,
      mountOptions: 'rw,relatime',
      fstype: 'nfs4',
      source: `srv:${m.path}`,
      superOptions: 'rw,vers=4.1,soft',
    })),
  ];

  /** /proc/self/mountinfo as the kernel writes it for this table. */
  mountinfo = (): string =>
    this.table()
      .map((e) => `${e.id} ${e.parentId} ${e.dev} / ${e.mountPoint} ${e.mountOptions} - ${e.fstype} ${e.source} ${e.superOptions}\n`)
      .join('');

  /** /proc/self/mountstats as the kernel writes it for these mounts (GETATTR's line only). */
  mountstats = (): string =>
    [
      'device /dev/vda mounted on / with fstype ext4',
      'device auto.airflow mounted on /airflow with fstype autofs',
      ...this.mounts.flatMap((m) => [
        `device srv:${m.path} mounted on ${m.path} with fstype nfs4 statvers=1.1`,
        '\tage:\t600',
        '\tRPC iostats version: 1.1  p/v: 100003/4 (nfs)',
        '\tper-op statistics',
        `\t     GETATTR: 120 120 ${m.timeouts ?? 0} 20000 30000 5 60 70 ${m.errors ?? 0}`,
        '',
      ]),
    ].join('\n');

  probe = async (paths: readonly string[]): Promise<ProbeResult[]> =>
    paths.map((path): ProbeResult => {
      let m = this.mounts.find((x) => x.path === path);
      if (!m && this.autofsRefuses) {
        return {
          path,
          result: 'automount_failed',
          errno: 'ENOENT',
          ms: 1,
          mounted: false,
          fstype: null,
          mountId: null,
          underAutofs: true,
          stuck: false,
          skipped: null,
          blockedMs: null,
          server: null,
        };
      }
      if (!m) m = this.mount(path, this.remountFault); // the access makes autofs mount afresh
      if (m.fault === 'timeout') m.blockedSince ??= this.clock.now();
      return {
        path,
        result: m.fault,
        ...(m.fault === 'ok' || m.fault === 'timeout' ? {} : { errno: m.fault }),
        ms: 1,
        mounted: true,
        fstype: 'nfs4',
        mountId: m.id,
        underAutofs: true,
        stuck: m.fault === 'timeout',
        skipped: null,
        blockedMs: m.fault === 'timeout' ? this.clock.now() - m.blockedSince! : null,
        server: { host: 'srv', port: 2049 },
      };
    });

  /** Behaves like umount: -a unmounts idle, healthy-enough mounts; -f/-l on a path as on NFS. */
  run = async (argv: readonly string[], deadlineMs: number): Promise<CommandOutcome> => {
    this.commands.push([...argv]);
    const done = (status: CommandStatus, exitCode: number | null, output = ''): CommandOutcome => ({
      argv: [...argv],
      status,
      exitCode,
      signal: null,
      output,
      durationMs: status === 'timeout' ? deadlineMs : 5,
    });
    const path = argv[argv.length - 1]!;
    if (argv[0] === 'ss') return done('ok', 0, ''); // no connection of the client's to reset
    if (argv.join(' ') === 'systemctl reload autofs') {
      this.autofsRefuses = this.silentHosts.has('srv');
      return done('ok', 0);
    }
    if (argv[0] === 'mount') {
      if (this.mountHangs) return new Promise<CommandOutcome>(() => undefined);
      if (this.mounts.some((m) => m.path === path)) return done('failed', 32, `mount: ${path}: already mounted.`);
      this.mount(path, 'ok', { static: true });
      return done('ok', 0);
    }
    if (argv.includes('-a')) {
      if (this.mounts.some((m) => m.hung)) {
        this.clock.advance(deadlineMs);
        return done('timeout', null);
      }
      const busy = this.mounts.filter((m) => m.busy);
      this.mounts = busy;
      return busy.length ? done('failed', 16, 'umount.nfs4: /airflow/dags: device is busy') : done('ok', 0);
    }
    const m = this.mounts.find((x) => x.path === path);
    if (!m) return done('failed', 32, `umount: ${path}: not mounted.`);
    if (argv.includes('-l')) {
      this.mounts = this.mounts.filter((x) => x !== m);
      return done('ok', 0);
    }
    if (argv.includes('-f')) {
      // -f aborts calls in flight; a busy mount stays.
      m.hung = false;
      if (m.busy) return done('failed', 16, `umount.nfs4: ${path}: device is busy`);
      this.mounts = this.mounts.filter((x) => x !== m);
      return done('ok', 0);
    }
    return done('failed', 1, 'unknown command');
  };
}
