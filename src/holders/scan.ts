// Who holds a watched mount: one pass over /proc, pure over the ProcReader seam, so the matching
// is tested on recorded trees and runs for real in a worker thread of its own.
//
// How each kind of hold is tied to a mount without touching it:
// - open fds: fdinfo's `mnt_id`, exact whether the mount is attached or detached;
// - mapped files (and so the executable): the device numbers in maps, against the mount's st_dev;
// - cwd and root: only readlink text. While the mount is attached the text lies under its mount
//   point; once it is detached the kernel prints the path relative to the mount's own root
//   (`/airflow/dags/sub` becomes `/sub`), which alone names no mount. So each scan remembers the
//   relative path of every cwd/root it tied to a watched mount, and a later scan that reads exactly
//   that text for the same process (pid and start time) ties it to the same mount. A child forked
//   after the detach (Airflow forks its task runners) has never been seen: its cwd is tied to the
//   mount when its parent's is, with the same text.
//
// With `orphans`, the same pass also finds holds on mounts in no mount table (orphans.ts).
import { isAtOrBelow, pathMountState, type MountEntry } from '../probe/mountinfo.js';
import { isDev, mappedFiles, mapsDev } from './maps.js';
import { startOrphanScan, type OrphanHolder, type OrphanProcess, type OrphanScan } from './orphans.js';
import type { ProcReader } from './proc.js';

export { mapsDev };
export type { OrphanHolder };

export type MountState = 'failing' | 'detached';

export interface WatchedMount {
  /** The configured path the mount is (or was) on. */
  path: string;
  mountId: number;
  /** st_dev as "major:minor" in decimal, as mountinfo prints it. */
  dev: string;
  state: MountState;
}

export type HoldKind = 'cwd' | 'root' | 'exe' | 'fd' | 'mmap';

export interface Hold {
  kind: HoldKind;
  /** The descriptor, for kind fd. */
  fd?: number;
  /** The path as the kernel prints it: under the mount point while attached, relative to the mount's root once detached. */
  target: string;
  /** A cwd/root first seen after the detach, tied to the mount through the parent's. */
  inherited?: boolean;
}

/** Who a process is. */
export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks after boot (stat field 22): with the pid, names one process. */
  start: string;
  ppid: number;
  comm: string;
  uid: number | null;
  /** The systemd unit from /proc/PID/cgroup; null outside any service or scope. */
  unit: string | null;
}

export interface Holder extends ProcessIdentity {
  mountId: number;
  holds: Hold[];
}

/** A cwd/root tied to a watched mount, as the kernel will print it once the mount is detached. */
export interface DirMemory {
  pid: number;
  start: string;
  kind: 'cwd' | 'root';
  mountId: number;
  /** Path relative to the mount's root ("/" for the root itself). */
  rel: string;
}

export interface ScanInput {
  watched: WatchedMount[];
  /** The mount table as the scan starts: ties cwd/root text to attached mounts. */
  table: MountEntry[];
  /** Never read: the daemon itself, and processes an earlier scan got stuck on. */
  skipPids: number[];
  /** What the previous scan tied by text (see above). */
  memory: DirMemory[];
  /** Also find the holders of mounts in no mount table (orphans.ts), into ScanOutput.orphans. */
  orphans?: boolean;
  /**
   * The mount namespace `table` was read in, as /proc/self/ns/mnt reads (`mnt:[4026531841]`,
   * readOwnMountNamespace()): with `orphans`, `table` stands for its table should none of its
   * processes answer. Without it, that namespace is read from its processes like any other.
   */
  ownMountNamespace?: string;
}

export interface ScanOutput {
  holders: Holder[];
  memory: DirMemory[];
  /** Processes looked at. */
  scanned: number;
  /** Processes that exited or refused (EACCES) mid-scan, and were skipped. */
  unreadable: number;
  /** With ScanInput.orphans: one entry per process and mount ID (fds), and per process and device (mappings). */
  orphans?: OrphanHolder[];
}

interface Stat {
  comm: string;
  ppid: number;
  start: string;
}

/** comm may hold spaces and parentheses: it ends at the last ')'. */
export function parseStat(text: string): Stat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, starttime field 22.
  const ppid = Number(rest[1]);
  const start = rest[19];
  if (!Number.isInteger(ppid) || start === undefined) return null;
  return { comm: text.slice(open + 1, close), ppid, start };
}

/** The real uid from /proc/PID/status. */
export function parseUid(status: string | null): number | null {
  const m = status === null ? null : /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : null;
}

/**
 * The system unit a process runs in: the first service or scope on its cgroup path (cgroup v2's
 * `0::` line, else v1's name=systemd hierarchy). A user's own units sit inside `user@UID.service`,
 * which is what this returns for them: the system unit that holds them.
 */
export function unitOf(cgroup: string | null): string | null {
  if (cgroup === null) return null;
  const lines = cgroup.split('\n');
  const line = lines.find((l) => l.startsWith('0::')) ?? lines.find((l) => l.includes(':name=systemd:'));
  if (!line) return null;
  const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  return path.split('/').find((part) => /\.(service|scope)$/.test(part)) ?? null;
}

const DIR_KINDS = ['cwd', 'root'] as const;
type DirKind = (typeof DIR_KINDS)[number];

/** A cwd/root hold: its target is the link text exactly as read. */
type DirHold = Hold & { kind: DirKind };

interface DirText {
  pid: number;
  kind: DirKind;
  text: string;
}

/** The watched mounts, indexed the ways a scan looks them up. */
interface WatchIndex {
  byId: Map<number, WatchedMount>;
  failing: WatchedMount[];
  anyDetached: boolean;
  /** Device as maps prints it → mount ID, for the mounts a mapping can be tied to. */
  byMapsDev: Map<string, number>;
  /** Those devices as they stand in a maps line: a maps text holding none is passed over whole. */
  mapsDevFields: string[];
}

/** The cwd/root texts: the previous scan's memory in, this scan's out. */
interface DirTies {
  /** What the previous scan tied by text, by pid. */
  remembered: Map<number, DirMemory[]>;
  /** What this scan tied, for the next one. */
  kept: DirMemory[];
  /** Text of a cwd/root tied to a detached mount, for children forked since: pid → kind:text → mount. */
  detached: Map<number, Map<string, number>>;
  /** Texts tied to no mount: a child's that may be its parent's. */
  unresolved: DirText[];
}

/** One scan's state, handed to each step. */
interface Scan {
  proc: ProcReader;
  watch: WatchIndex;
  table: MountEntry[];
  /** A process's stat, read once, and only when a tie or a holder needs it. */
  stat: (pid: number) => Stat | null;
  /** pid → mount ID → holds, in the order found. */
  holds: Map<number, Map<number, Hold[]>>;
  dirs: DirTies;
  /** With ScanInput.orphans. */
  orphans: OrphanScan | null;
}

/** Who holds the watched mounts now, and the cwd/root texts the next scan will need. */
export function scanHolders(proc: ProcReader, input: ScanInput, progress?: (pid: number) => void): ScanOutput {
  const scan = startScan(proc, input, progress);
  const skip = new Set(input.skipPids);
  let scanned = 0;
  let unreadable = 0;
  for (const pid of proc.pids()) {
    if (skip.has(pid)) continue;
    progress?.(pid);
    scanned += 1;
    if (!scanProcess(scan, pid)) unreadable += 1;
  }
  tieForkedChildren(scan);
  const who = identityCache(scan);
  const { holders, exited } = collectHolders(scan, who);
  const output: ScanOutput = { holders, memory: scan.dirs.kept, scanned, unreadable };
  if (scan.orphans) {
    const { orphans, gone } = scan.orphans.finish(who);
    output.orphans = orphans;
    for (const pid of gone) exited.add(pid);
  }
  output.unreadable += exited.size;
  return output;
}

function startScan(proc: ProcReader, input: ScanInput, progress?: (pid: number) => void): Scan {
  const watch = indexWatched(input.watched, input.table);
  const orphans = input.orphans
    ? startOrphanScan(proc, {
        table: input.table,
        ownNamespace: input.ownMountNamespace ?? null,
        watchedIds: watch.byId.keys(),
        watchedDevs: input.watched.map((w) => w.dev).filter(isDev),
        progress,
      })
    : null;
  return {
    proc,
    watch,
    table: input.table,
    stat: statCache(proc),
    holds: new Map(),
    dirs: { remembered: byPid(input.memory), kept: [], detached: new Map(), unresolved: [] },
    orphans,
  };
}

function indexWatched(watched: WatchedMount[], table: MountEntry[]): WatchIndex {
  const byMapsDev = mappableDevs(watched, table);
  return {
    byId: new Map(watched.map((w) => [w.mountId, w])),
    failing: watched.filter((w) => w.state === 'failing'),
    anyDetached: watched.some((w) => w.state === 'detached'),
    byMapsDev,
    mapsDevFields: [...byMapsDev.keys()].map((dev) => ` ${dev} `),
  };
}

/**
 * Maps device → mount ID. A detached mount's device still mounted elsewhere (a shared superblock)
 * names no one mount; a mount known only by its ID has none (mapsDev('') is anonymous memory's 00:00).
 */
function mappableDevs(watched: WatchedMount[], table: MountEntry[]): Map<string, number> {
  const tableDevs = new Set(table.map((e) => e.dev));
  const byMapsDev = new Map<string, number>();
  for (const w of watched) {
    if (!isDev(w.dev) || (w.state === 'detached' && tableDevs.has(w.dev))) continue;
    byMapsDev.set(mapsDev(w.dev), w.mountId);
  }
  return byMapsDev;
}

function byPid(memory: DirMemory[]): Map<number, DirMemory[]> {
  const grouped = new Map<number, DirMemory[]>();
  for (const m of memory) {
    const list = grouped.get(m.pid);
    if (list) list.push(m);
    else grouped.set(m.pid, [m]);
  }
  return grouped;
}

function statCache(proc: ProcReader): (pid: number) => Stat | null {
  const stats = new Map<number, Stat | null>();
  return (pid) => {
    if (!stats.has(pid)) {
      const text = proc.read(pid, 'stat');
      stats.set(pid, text === null ? null : parseStat(text));
    }
    return stats.get(pid) ?? null;
  };
}

function addHold(scan: Scan, pid: number, mountId: number, hold: Hold): void {
  let byMount = scan.holds.get(pid);
  if (!byMount) scan.holds.set(pid, (byMount = new Map<number, Hold[]>()));
  const list = byMount.get(mountId);
  if (list) list.push(hold);
  else byMount.set(mountId, [hold]);
}

/** One process's cwd and root, fds and mappings; false when its fds cannot be read (gone, or refused). */
function scanProcess(scan: Scan, pid: number): boolean {
  let root: string | null = null;
  for (const kind of DIR_KINDS) {
    const text = scan.proc.link(pid, kind);
    if (kind === 'root') root = text;
    if (text !== null) tieDir(scan, pid, kind, text);
  }
  const fds = scan.proc.list(pid, 'fd');
  if (fds === null) return false;
  // The cwd and root of one on a mount in no table cannot be tied (see the top): only fds and maps.
  const orphans = scan.orphans?.process(pid, root) ?? null;
  for (const fd of fds) tieFd(scan, pid, fd, orphans);
  tieMappings(scan, pid, orphans);
  return true;
}

/**
 * A cwd/root under a failing mount's point, else one the previous scan tied with this very text;
 * else, with a detached mount watched, left for its parent's (tieForkedChildren).
 */
function tieDir(scan: Scan, pid: number, kind: DirKind, text: string): void {
  const hold: DirHold = { kind, target: text };
  const failing = failingMountAt(scan, text);
  if (failing) {
    tieDirHold(scan, pid, failing.mountId, text.slice(failing.path.length) || '/', hold);
    return;
  }
  const remembered = rememberedDir(scan, pid, kind, text);
  if (remembered) tieDirHold(scan, pid, remembered.mountId, remembered.rel, hold);
  else if (scan.watch.anyDetached) scan.dirs.unresolved.push({ pid, kind, text });
}

/** The failing mount a path lies on: under its point, and on it rather than on a mount below. */
function failingMountAt(scan: Scan, text: string): WatchedMount | undefined {
  return scan.watch.failing.find((w) => isAtOrBelow(text, w.path) && pathMountState(scan.table, text).containingMountId === w.mountId);
}

/** The previous scan's tie of this very text for this process (same pid and start time). */
function rememberedDir(scan: Scan, pid: number, kind: DirKind, text: string): DirMemory | undefined {
  // Whatever the watch last called the mount: it may have been detached since (the table read for
  // this scan is newer), and while attached its text is never the relative one.
  return scan.dirs.remembered
    .get(pid)
    ?.find((m) => m.kind === kind && m.rel === text && scan.watch.byId.has(m.mountId) && scan.stat(pid)?.start === m.start);
}

function tieDirHold(scan: Scan, pid: number, mountId: number, rel: string, hold: DirHold): void {
  addHold(scan, pid, mountId, hold);
  rememberDir(scan, pid, hold.kind, mountId, rel, hold.target);
}

/** Into this scan's memory; and, on a detached mount, as the text a child forked since would read. */
function rememberDir(scan: Scan, pid: number, kind: DirKind, mountId: number, rel: string, text: string): void {
  const start = scan.stat(pid)?.start;
  if (start !== undefined) scan.dirs.kept.push({ pid, start, kind, mountId, rel });
  if (scan.watch.byId.get(mountId)?.state !== 'detached') return;
  const dirs = scan.dirs.detached.get(pid) ?? new Map<string, number>();
  dirs.set(`${kind}:${text}`, mountId);
  scan.dirs.detached.set(pid, dirs);
}

/**
 * Children forked after the detach, with their parent's cwd/root: as many rounds as there are
 * generations to follow. Only texts some holder has are candidates (no stat read for the rest).
 */
function tieForkedChildren(scan: Scan): void {
  const { detached, unresolved } = scan.dirs;
  const heldTexts = new Set([...detached.values()].flatMap((dirs) => [...dirs.keys()]));
  const candidates = unresolved.filter((u) => heldTexts.has(`${u.kind}:${u.text}`));
  for (let changed = true; changed && candidates.length > 0;) {
    changed = false;
    for (let i = candidates.length - 1; i >= 0; i -= 1) {
      const u = candidates[i]!;
      const ppid = scan.stat(u.pid)?.ppid;
      const mountId = ppid === undefined ? undefined : detached.get(ppid)?.get(`${u.kind}:${u.text}`);
      if (mountId === undefined) continue;
      candidates.splice(i, 1);
      tieDirHold(scan, u.pid, mountId, u.text, { kind: u.kind, target: u.text, inherited: true });
      changed = true;
    }
  }
}

/** An fd by the mnt_id of its fdinfo, read only for a path that may lie on a watched mount, or on one in no table. */
function tieFd(scan: Scan, pid: number, fd: string, orphans: OrphanProcess | null): void {
  const text = scan.proc.link(pid, `fd/${fd}`);
  if (text === null) return;
  const orphan = orphans?.wantsFd(text) === true;
  if (!orphan && !mayBeWatched(scan.watch, text)) return;
  const mountId = fdMountId(scan.proc.read(pid, `fdinfo/${fd}`));
  if (scan.watch.byId.has(mountId)) addHold(scan, pid, mountId, { kind: 'fd', fd: Number(fd), target: text });
  else if (orphan) orphans?.fd(Number(fd), text, mountId);
}

/**
 * Sockets, pipes and anon inodes print no path. With only attached mounts watched, a path outside
 * every watched mount point is on none of them.
 */
function mayBeWatched(watch: WatchIndex, text: string): boolean {
  if (!text.startsWith('/')) return false;
  return watch.anyDetached || watch.failing.some((w) => isAtOrBelow(text, w.path));
}

/** The `mnt_id:` of an fdinfo text; NaN when there is none. */
function fdMountId(info: string | null): number {
  const mnt = info === null ? null : /^mnt_id:\s*(\d+)/m.exec(info);
  return mnt ? Number(mnt[1]) : NaN;
}

/** Mapped files by device, the executable named among them. */
function tieMappings(scan: Scan, pid: number, orphans: OrphanProcess | null): void {
  const { byMapsDev, mapsDevFields } = scan.watch;
  if (byMapsDev.size === 0 && !orphans) return;
  const maps = scan.proc.read(pid, 'maps');
  if (maps === null) return;
  let exe: string | null | undefined;
  const exeLink = (): string | null => (exe === undefined ? (exe = scan.proc.link(pid, 'exe')) : exe);
  orphans?.maps(maps, exeLink);
  if (!mapsDevFields.some((field) => maps.includes(field))) return;
  for (const [target, mountId] of watchedFiles(maps, byMapsDev)) {
    addHold(scan, pid, mountId, { kind: target === exeLink() ? 'exe' : 'mmap', target });
  }
}

/** The files of a maps text on the given devices: path → mount ID. */
function watchedFiles(maps: string, byMapsDev: Map<string, number>): Map<string, number> {
  const mapped = new Map<string, number>();
  for (const file of mappedFiles(maps)) {
    const mountId = byMapsDev.get(file.dev);
    if (mountId !== undefined) mapped.set(file.path, mountId);
  }
  return mapped;
}

/** Who each process is, read once: null for one gone mid-scan. */
function identityCache(scan: Scan): (pid: number) => ProcessIdentity | null {
  const known = new Map<number, ProcessIdentity | null>();
  return (pid) => {
    if (!known.has(pid)) {
      const stat = scan.stat(pid);
      const uid = stat ? parseUid(scan.proc.read(pid, 'status')) : null;
      const unit = stat ? unitOf(scan.proc.read(pid, 'cgroup')) : null;
      known.set(pid, stat ? { pid, start: stat.start, ppid: stat.ppid, comm: stat.comm, uid, unit } : null);
    }
    return known.get(pid) ?? null;
  };
}

/** A holder per process and mount, with who the process is; `exited` names those gone mid-scan. */
function collectHolders(scan: Scan, who: (pid: number) => ProcessIdentity | null): { holders: Holder[]; exited: Set<number> } {
  const holders: Holder[] = [];
  const exited = new Set<number>();
  for (const [pid, byMount] of scan.holds) {
    const id = who(pid);
    if (!id) exited.add(pid);
    else for (const [mountId, holds] of byMount) holders.push({ ...id, mountId, holds });
  }
  return { holders, exited };
}
