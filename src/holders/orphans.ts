// Holds on mounts that are in no mount table: mounts lazily unmounted (`umount -l`) before the
// daemon knew of them, alive only for the processes still on them. Part of scanHolders' pass over
// /proc (ScanInput.orphans), reading only procfs text and links.
//
// Mount IDs are system-wide, so an fd's mnt_id is judged against the tables of every mount
// namespace: a process in a container, or in a unit with PrivateTmp, sits on mounts of its own
// namespace, and an fd it was handed from another (a unit's stdio opened before systemd unshared,
// a shell nsenter'ed into a container) on a mount of that one. Mapped files are judged by their
// device against the devices of the same tables (maps names a superblock, not a mount: one mounted
// anywhere is no orphan's). cwd and root cannot be tied here: once detached
// the kernel prints them relative to the mount's root, which names no mount.
import { parseMountinfo, type MountEntry } from '../probe/mountinfo.js';
import { mappedFiles, mountinfoDev } from './maps.js';
import type { ProcReader } from './proc.js';
import type { Hold, ProcessIdentity } from './scan.js';

export interface OrphanHolder extends ProcessIdentity {
  /** The fds' mnt_id; null for holds by mapping only. */
  mountId: number | null;
  /** The mapped files' device, "major:minor" in decimal as mountinfo prints it; null for holds by fd only. */
  dev: string | null;
  holds: Hold[];
}

/** One process's holds found in the pass: a mount ID or a device in none of the tables known then. */
export interface OrphanProcess {
  /** An fd whose link text may name a file on some mount: its fdinfo mnt_id is then wanted. */
  wantsFd(text: string): boolean;
  fd(fd: number, text: string, mountId: number): void;
  /** The maps text; `exe` reads the executable's link, once, if a mapping needs it. */
  maps(text: string, exe: () => string | null): void;
}

export interface OrphanScan {
  /** null when the process's mount namespace cannot be read: it is passed over, never guessed at. */
  process(pid: number, root: string | null): OrphanProcess | null;
  /** The holds left once checked against the namespaces' tables; `who` is null for a process gone. */
  finish(who: (pid: number) => ProcessIdentity | null): { orphans: OrphanHolder[]; gone: number[] };
}

export interface OrphanScanOptions {
  /** The scanning process's table and its namespace: the first known mounts, and never unreadable. */
  table: MountEntry[];
  ownNamespace: string | null;
  /** Watched mounts' IDs and devices: their holders are the scan's own. */
  watchedIds: Iterable<number>;
  watchedDevs: Iterable<string>;
  progress?: (pid: number) => void;
}

interface Found {
  pid: number;
  ns: string;
  byMount: Map<number, Hold[]>;
  /** Device → path → hold: a file mapped in several ranges is one hold. */
  byDev: Map<string, Map<string, Hold>>;
}

/** Mount IDs and devices of the tables read so far. */
interface Known {
  ids: Set<number>;
  devs: Set<string>;
}

// memfd, SysV shm, secretmem (`/name (deleted)`) and dma-bufs (`/dmabuf:name`) live on the
// kernel's internal mounts, in no table; pipes, sockets and the like print no path at all.
const INTERNAL = /^\/(memfd|dmabuf):| \(deleted\)$/;

/** Link or maps text that may name a file on a mount of some table. */
export const mayBeOnMount = (text: string): boolean => text.startsWith('/') && !INTERNAL.test(text);

export function startOrphanScan(proc: ProcReader, opts: OrphanScanOptions): OrphanScan {
  const known: Known = { ids: new Set([...opts.watchedIds]), devs: new Set([...opts.watchedDevs]) };
  learn(known, opts.table);
  const found = new Map<number, Found>();
  /** Namespace → the processes in it, to read its table from: those at the system's root first. */
  const members = new Map<string, { atRoot: number[]; elsewhere: number[] }>();

  const enter = (pid: number, root: string | null): OrphanProcess | null => {
    const ns = proc.link(pid, 'ns/mnt');
    if (ns === null) return null;
    const list = members.get(ns) ?? { atRoot: [], elsewhere: [] };
    members.set(ns, list);
    // A chrooted process's mountinfo leaves out the mounts outside its root.
    (root === '/' ? list.atRoot : list.elsewhere).push(pid);
    const holds = (): Found => {
      let f = found.get(pid);
      if (!f) found.set(pid, (f = { pid, ns, byMount: new Map(), byDev: new Map() }));
      return f;
    };
    return {
      wantsFd: mayBeOnMount,
      fd(fd, text, mountId) {
        if (Number.isNaN(mountId) || known.ids.has(mountId)) return;
        push(holds().byMount, mountId, { kind: 'fd', fd, target: text });
      },
      maps(text, exe) {
        for (const { dev: hex, path } of mappedFiles(text)) {
          const dev = mountinfoDev(hex);
          if (dev === '0:0' || known.devs.has(dev) || !mayBeOnMount(path)) continue;
          const { byDev } = holds();
          const byPath = byDev.get(dev) ?? new Map<string, Hold>();
          byDev.set(dev, byPath);
          if (!byPath.has(path)) byPath.set(path, { kind: path === exe() ? 'exe' : 'mmap', target: path });
        }
      },
    };
  };

  /** A namespace's table, read once through the first of its processes that answers; false when none does. */
  const readTable = (ns: string, read: Map<string, boolean>): boolean => {
    let ok = read.get(ns);
    if (ok === undefined) read.set(ns, (ok = readFirst(ns)));
    return ok;
  };
  const readFirst = (ns: string): boolean => {
    const list = members.get(ns);
    for (const pid of [...(list?.atRoot ?? []), ...(list?.elsewhere ?? [])]) {
      opts.progress?.(pid);
      const text = proc.read(pid, 'mountinfo');
      if (text === null) continue;
      learn(known, parseMountinfo(text));
      return true;
    }
    return ns === opts.ownNamespace;
  };

  const finish: OrphanScan['finish'] = (who) => {
    const read = new Map<string, boolean>();
    // Each holder's own namespace first, read now: a mount made since `table` was read is in it.
    for (const f of found.values()) if (!readTable(f.ns, read)) found.delete(f.pid);
    prune(found, known);
    // What is left may be on a mount of another namespace, handed over or inherited.
    if (found.size > 0) for (const ns of members.keys()) readTable(ns, read);
    prune(found, known);
    return collect(found, who);
  };

  return { process: enter, finish };
}

function learn(known: Known, table: MountEntry[]): void {
  for (const e of table) {
    known.ids.add(e.id);
    known.devs.add(e.dev);
  }
}

function push<K>(map: Map<K, Hold[]>, key: K, hold: Hold): void {
  const list = map.get(key);
  if (list) list.push(hold);
  else map.set(key, [hold]);
}

/** Drops the holds on mounts and devices some table now lists, and the processes left with none. */
function prune(found: Map<number, Found>, known: Known): void {
  for (const [pid, f] of found) {
    for (const id of f.byMount.keys()) if (known.ids.has(id)) f.byMount.delete(id);
    for (const dev of f.byDev.keys()) if (known.devs.has(dev)) f.byDev.delete(dev);
    if (f.byMount.size === 0 && f.byDev.size === 0) found.delete(pid);
  }
}

/** An entry per process and mount ID, and per process and device: fdinfo names no device to join them by. */
function collect(found: Map<number, Found>, who: (pid: number) => ProcessIdentity | null): { orphans: OrphanHolder[]; gone: number[] } {
  const orphans: OrphanHolder[] = [];
  const gone: number[] = [];
  for (const f of found.values()) {
    const id = who(f.pid);
    if (!id) {
      gone.push(f.pid);
      continue;
    }
    for (const [mountId, holds] of f.byMount) orphans.push({ ...id, mountId, dev: null, holds });
    for (const [dev, byPath] of f.byDev) orphans.push({ ...id, mountId: null, dev, holds: [...byPath.values()] });
  }
  return { orphans, gone };
}
