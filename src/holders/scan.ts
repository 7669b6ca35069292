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
import { isAtOrBelow, pathMountState, type MountEntry } from '../probe/mountinfo.js';
import type { ProcReader } from './proc.js';

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

export interface Holder {
  pid: number;
  /** Start time in clock ticks after boot (stat field 22): with the pid, names one process. */
  start: string;
  ppid: number;
  comm: string;
  uid: number | null;
  /** The systemd unit from /proc/PID/cgroup; null outside any service or scope. */
  unit: string | null;
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
}

export interface ScanOutput {
  holders: Holder[];
  memory: DirMemory[];
  /** Processes looked at. */
  scanned: number;
  /** Processes that exited or refused (EACCES) mid-scan, and were skipped. */
  unreadable: number;
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

/** "0:40" (mountinfo, decimal) as maps prints it: "00:28" (hex, at least two digits each). */
export function mapsDev(dev: string): string {
  const [major, minor] = dev.split(':').map(Number);
  const hex = (n: number | undefined): string => (n ?? 0).toString(16).padStart(2, '0');
  return `${hex(major)}:${hex(minor)}`;
}

const MAPS_LINE = /^\S+ \S+ \S+ (\S+) (\d+) +(.*)$/;

interface DirText {
  pid: number;
  kind: 'cwd' | 'root';
  text: string;
}

export function scanHolders(proc: ProcReader, input: ScanInput, progress?: (pid: number) => void): ScanOutput {
  const watchedById = new Map(input.watched.map((w) => [w.mountId, w]));
  const failing = input.watched.filter((w) => w.state === 'failing');
  const anyDetached = input.watched.some((w) => w.state === 'detached');
  // A detached mount's device still mounted elsewhere (a shared superblock) names no one mount.
  const tableDevs = new Set(input.table.map((e) => e.dev));
  const mountByMapsDev = new Map<string, number>();
  for (const w of input.watched) {
    if (w.state === 'detached' && tableDevs.has(w.dev)) continue;
    mountByMapsDev.set(mapsDev(w.dev), w.mountId);
  }
  const mapsDevFields = [...mountByMapsDev.keys()].map((dev) => ` ${dev} `);
  const memory = new Map<number, DirMemory[]>();
  for (const m of input.memory) {
    const list = memory.get(m.pid);
    if (list) list.push(m);
    else memory.set(m.pid, [m]);
  }
  const skip = new Set(input.skipPids);

  const stats = new Map<number, Stat | null>();
  const statOf = (pid: number): Stat | null => {
    if (!stats.has(pid)) {
      const text = proc.read(pid, 'stat');
      stats.set(pid, text === null ? null : parseStat(text));
    }
    return stats.get(pid) ?? null;
  };

  const holds = new Map<number, Map<number, Hold[]>>();
  const add = (pid: number, mountId: number, hold: Hold): void => {
    let byMount = holds.get(pid);
    if (!byMount) holds.set(pid, (byMount = new Map<number, Hold[]>()));
    const list = byMount.get(mountId);
    if (list) list.push(hold);
    else byMount.set(mountId, [hold]);
  };
  const dirMemory: DirMemory[] = [];
  /** Text of a cwd/root tied to a detached mount, for children forked since: pid → kind:text → mount. */
  const detachedDirs = new Map<number, Map<string, number>>();
  const unresolved: DirText[] = [];
  const keepDir = (pid: number, kind: 'cwd' | 'root', mountId: number, rel: string, text: string): void => {
    const start = statOf(pid)?.start;
    if (start !== undefined) dirMemory.push({ pid, start, kind, mountId, rel });
    if (watchedById.get(mountId)?.state !== 'detached') return;
    const dirs = detachedDirs.get(pid) ?? new Map<string, number>();
    dirs.set(`${kind}:${text}`, mountId);
    detachedDirs.set(pid, dirs);
  };

  const tieDir = (pid: number, kind: 'cwd' | 'root', text: string): void => {
    for (const w of failing) {
      if (!isAtOrBelow(text, w.path)) continue;
      if (pathMountState(input.table, text).containingMountId !== w.mountId) continue;
      add(pid, w.mountId, { kind, target: text });
      keepDir(pid, kind, w.mountId, text.slice(w.path.length) || '/', text);
      return;
    }
    for (const m of memory.get(pid) ?? []) {
      // Whatever the watch last called the mount: it may have been detached since (the table
      // read for this scan is newer), and while attached its text is never the relative one.
      if (m.kind !== kind || m.rel !== text || !watchedById.has(m.mountId)) continue;
      if (statOf(pid)?.start !== m.start) continue;
      add(pid, m.mountId, { kind, target: text });
      keepDir(pid, kind, m.mountId, m.rel, text);
      return;
    }
    if (anyDetached) unresolved.push({ pid, kind, text });
  };

  let scanned = 0;
  let unreadable = 0;
  for (const pid of proc.pids()) {
    if (skip.has(pid)) continue;
    progress?.(pid);
    scanned += 1;
    for (const kind of ['cwd', 'root'] as const) {
      const text = proc.link(pid, kind);
      if (text !== null) tieDir(pid, kind, text);
    }

    const fds = proc.list(pid, 'fd');
    if (fds === null) {
      unreadable += 1;
      continue;
    }
    for (const fd of fds) {
      const text = proc.link(pid, `fd/${fd}`);
      // Sockets, pipes and anon inodes print no path. With only attached mounts watched, a path
      // outside every watched mount point is on none of them.
      if (text === null || !text.startsWith('/')) continue;
      if (!anyDetached && !failing.some((w) => isAtOrBelow(text, w.path))) continue;
      const info = proc.read(pid, `fdinfo/${fd}`);
      const mnt = info === null ? null : /^mnt_id:\s*(\d+)/m.exec(info);
      const mountId = mnt ? Number(mnt[1]) : NaN;
      if (watchedById.has(mountId)) add(pid, mountId, { kind: 'fd', fd: Number(fd), target: text });
    }

    if (mountByMapsDev.size === 0) continue;
    const maps = proc.read(pid, 'maps');
    if (maps === null || !mapsDevFields.some((field) => maps.includes(field))) continue;
    const mapped = new Map<string, number>();
    for (const line of maps.split('\n')) {
      const m = MAPS_LINE.exec(line);
      const mountId = m ? mountByMapsDev.get(m[1] ?? '') : undefined;
      if (m && mountId !== undefined && m[2] !== '0') mapped.set(m[3] ?? '', mountId);
    }
    const exe = mapped.size > 0 ? proc.link(pid, 'exe') : null;
    for (const [target, mountId] of mapped) add(pid, mountId, { kind: target === exe ? 'exe' : 'mmap', target });
  }

  // Children forked after the detach, with their parent's cwd/root: as many rounds as there are
  // generations to follow. Only texts some holder has are candidates (no stat read for the rest).
  const heldTexts = new Set([...detachedDirs.values()].flatMap((dirs) => [...dirs.keys()]));
  const candidates = unresolved.filter((u) => heldTexts.has(`${u.kind}:${u.text}`));
  for (let changed = true; changed && candidates.length > 0;) {
    changed = false;
    for (let i = candidates.length - 1; i >= 0; i -= 1) {
      const u = candidates[i]!;
      const ppid = statOf(u.pid)?.ppid;
      const mountId = ppid === undefined ? undefined : detachedDirs.get(ppid)?.get(`${u.kind}:${u.text}`);
      if (mountId === undefined) continue;
      candidates.splice(i, 1);
      add(u.pid, mountId, { kind: u.kind, target: u.text, inherited: true });
      keepDir(u.pid, u.kind, mountId, u.text, u.text);
      changed = true;
    }
  }

  const holders: Holder[] = [];
  for (const [pid, byMount] of holds) {
    const stat = statOf(pid);
    if (!stat) {
      unreadable += 1; // exited mid-scan
      continue;
    }
    const uid = parseUid(proc.read(pid, 'status'));
    const unit = unitOf(proc.read(pid, 'cgroup'));
    for (const [mountId, list] of byMount) {
      holders.push({ pid, start: stat.start, ppid: stat.ppid, comm: stat.comm, uid, unit, mountId, holds: list });
    }
  }
  return { holders, memory: dirMemory, scanned, unreadable };
}
