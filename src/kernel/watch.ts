// Between probes, reads the kernel's own counters for the configured mounts: /proc/self/mountstats
// and /proc/self/mountinfo on a timer (neither can be polled from Node; both are formatted from
// memory, so reading them never waits on a server). Each sample goes through the pure rule
// (src/kernel/evidence.ts); what it finds is handed to the controller, which may probe early.
// Scrapes read the last sample, never /proc.
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../observe/log.js';
import { parseMountinfo, type MountEntry } from '../probe/mountinfo.js';
import { judgeSamples, type Evidence, type EvidenceMemory } from './evidence.js';
import { hasErrorCounts, parseMountstats, type NfsMountStats } from './mountstats.js';
import { nfsHolders, pathSamples } from './samples.js';

export interface KernelWatchDeps {
  clock: Clock;
  /** Every configured path, in order. */
  paths: readonly string[];
  intervalMs: number;
  /** /proc/self/mountstats' and /proc/self/mountinfo's texts; each throws when it cannot be read. */
  mountstats: () => string;
  mountinfo: () => string;
  onEvidence: (e: Evidence) => void;
  log: Logger;
}

/** The holders found in one mount table's text. */
interface Holders {
  readonly table: string;
  readonly holders: ReadonlyMap<string, MountEntry>;
  /** Their mount points: the mountstats entries read. */
  readonly holding: ReadonlySet<string>;
}

export class KernelWatch {
  private memory: EvidenceMemory = new Map();
  private latest: ReadonlyMap<string, NfsMountStats> = new Map();
  private timer: TimerHandle | undefined;
  private stopped = false;
  private unreadable = false;
  private toldNoErrors = false;
  private holders: Holders | undefined;

  constructor(private readonly deps: KernelWatchDeps) {}

  /** Takes the baseline now, then a sample every interval. */
  start(): void {
    this.sample();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Per configured path, its NFS mount's counters as of the last sample (absent: none). */
  last(): ReadonlyMap<string, NfsMountStats> {
    return this.latest;
  }

  /** One sample: read, judge, hand any evidence on. */
  sample(): void {
    const { deps } = this;
    let stats: string;
    let table: string;
    try {
      stats = deps.mountstats();
      table = deps.mountinfo();
    } catch (err) {
      // Said once per spell, not every second; the probes go on regardless.
      if (!this.unreadable)
        deps.log.warn({ err }, 'kernel evidence: /proc/self/mountstats or mountinfo unreadable; probing on the schedule only');
      this.unreadable = true;
      return;
    }
    if (this.unreadable) deps.log.info('kernel evidence: /proc/self/mountstats readable again');
    this.unreadable = false;
    const { holders, holding } = this.holdersOf(table);
    const read = parseMountstats(stats, (mountPoint) => holding.has(mountPoint));
    const samples = pathSamples(deps.paths, holders, read);
    this.latest = new Map(samples.flatMap((s) => (s.stats ? [[s.path, s.stats] as const] : [])));
    this.tellIfNoErrorCounts(read);
    const judged = judgeSamples(this.memory, samples, deps.clock.now());
    this.memory = judged.memory;
    for (const e of judged.evidence) deps.onEvidence(e);
  }

  /**
   * The NFS mounts holding the configured paths, found again only when the mount table's text
   * changed: parsing it and matching every path against every mount each second made garbage
   * enough for a collection a second at a hundred mounts (bench/README.md, figure 10).
   */
  private holdersOf(table: string): Holders {
    if (this.holders?.table !== table) {
      const holders = nfsHolders(this.deps.paths, parseMountinfo(table));
      this.holders = { table, holders, holding: new Set([...holders.values()].map((e) => e.mountPoint)) };
    }
    return this.holders;
  }

  /** Kernels before 5.3 count no errors per operation: said once, at the first NFS mount seen. */
  private tellIfNoErrorCounts(stats: readonly NfsMountStats[]): void {
    if (this.toldNoErrors || stats.length === 0) return;
    this.toldNoErrors = true;
    const without = stats.filter((s) => !hasErrorCounts(s));
    if (without.length === 0) return;
    this.deps.log.warn(
      { mounts: without.map((s) => s.mountPoint), statvers: without[0]?.statvers },
      'kernel evidence: this kernel counts no errors per NFS operation (before 5.3): watching timeouts and the mount table only',
    );
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.sample();
      this.schedule();
    }, this.deps.intervalMs);
    // The schedule keeps the process alive; this watch alone must not.
    this.timer.unref?.();
  }
}
