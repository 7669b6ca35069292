// A recorded /proc tree for the holder scan's logic tests: processes as text and links, the way
// the kernel formats them, behind the same ProcReader seam the real scan reads through.
import type { ProcReader } from '../../src/holders/proc.js';

export interface RecordedProcess {
  pid: number;
  comm?: string;
  ppid?: number;
  /** stat field 22. */
  start?: string;
  uid?: number;
  /** /proc/PID/cgroup text; default: a v2 line in system.slice/<comm>.service. */
  cgroup?: string;
  cwd?: string;
  root?: string;
  exe?: string;
  fds?: Record<number, { target: string; mntId: number }>;
  /** maps lines. */
  maps?: string[];
  /** The ns/mnt link; default HOST_MNT_NS, null: unreadable. */
  mountNamespace?: string | null;
  /** /proc/PID/mountinfo text (mountinfoLine); default: none (unreadable). */
  mountinfo?: string;
  /** Listed in /proc, gone by the time it is read (exited mid-scan). */
  vanished?: boolean;
  /** Refuses its fd directory (EACCES: another user's, without ptrace read access). */
  refusesFds?: boolean;
}

/** A maps line for a file mapping: `dev` as maps prints it (hex "00:28"). */
export function mapsLine(dev: string, inode: number, path: string): string {
  return `7f0000000000-7f0000001000 r--p 00000000 ${dev} ${inode}                    ${path}`;
}

/** The mount namespace recorded processes are in unless they say. */
export const HOST_MNT_NS = 'mnt:[4026531841]';

/** A mountinfo line, as the kernel writes it. */
export function mountinfoLine(e: {
  id: number;
  parentId: number;
  dev: string;
  mountPoint: string;
  fstype: string;
  source: string;
}): string {
  return `${e.id} ${e.parentId} ${e.dev} / ${e.mountPoint} rw,relatime shared:1 - ${e.fstype} ${e.source} rw`;
}

export function recordedProc(processes: readonly RecordedProcess[]): ProcReader & { reads: string[] } {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const reads: string[] = [];
  const live = (pid: number): RecordedProcess | undefined => {
    const p = byPid.get(pid);
    return p && !p.vanished ? p : undefined;
  };
  return {
    reads,
    pids: () => processes.map((p) => p.pid),
    read(pid, name) {
      reads.push(`${pid}/${name}`);
      const p = live(pid);
      if (!p) return null;
      const comm = p.comm ?? `proc${pid}`;
      if (name === 'stat') {
        // Fields 3..22: state, ppid, then 17 fields, then starttime.
        const middle = Array.from({ length: 17 }, () => '0').join(' ');
        return `${pid} (${comm}) S ${p.ppid ?? 1} ${middle} ${p.start ?? String(1000 + pid)} 0 0\n`;
      }
      if (name === 'status') return `Name:\t${comm}\nUid:\t${p.uid ?? 0}\t${p.uid ?? 0}\t${p.uid ?? 0}\t${p.uid ?? 0}\n`;
      if (name === 'cgroup') return p.cgroup ?? `0::/system.slice/${comm}.service\n`;
      if (name === 'maps') return (p.maps ?? []).join('\n') + '\n';
      if (name === 'mountinfo') return p.mountinfo ?? null;
      const fd = /^fdinfo\/(\d+)$/.exec(name);
      if (fd) {
        const entry = p.fds?.[Number(fd[1])];
        return entry ? `pos:\t0\nflags:\t02\nmnt_id:\t${entry.mntId}\nino:\t12\n` : null;
      }
      return null;
    },
    link(pid, name) {
      const p = live(pid);
      if (!p) return null;
      if (name === 'cwd') return p.cwd ?? '/';
      if (name === 'root') return p.root ?? '/';
      if (name === 'exe') return p.exe ?? null;
      if (name === 'ns/mnt') return p.mountNamespace === undefined ? HOST_MNT_NS : p.mountNamespace;
      const fd = /^fd\/(\d+)$/.exec(name);
      if (fd && !p.refusesFds) return p.fds?.[Number(fd[1])]?.target ?? null;
      return null;
    },
    list(pid, name) {
      const p = live(pid);
      if (!p || name !== 'fd' || p.refusesFds) return null;
      return Object.keys(p.fds ?? {});
    },
  };
}
