// The /proc seam of the holder scan. Only procfs text and links are read: never a path on a
// watched mount, and never through a magic link (open or stat of /proc/PID/cwd follows it to the
// mount, and a hung NFS server blocks the caller for good; readlink only formats the path).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface ProcReader {
  /** PIDs listed in /proc now. */
  pids(): number[];
  /** /proc/PID/NAME as text; null when the process is gone or refuses (ENOENT, ESRCH, EACCES, EPERM). */
  read(pid: number, name: string): string | null;
  /** readlink of /proc/PID/NAME (cwd, root, exe, fd/N); null likewise. */
  link(pid: number, name: string): string | null;
  /** Entries of the directory /proc/PID/NAME (fd); null likewise. */
  list(pid: number, name: string): string[] | null;
}

/** Any failure means "not readable now": a process may exit between two reads, or refuse. */
function orNull<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/** The real /proc (a root other than /proc is for tests on a recorded tree). */
export function realProc(root = '/proc'): ProcReader {
  return {
    pids: () => (orNull(() => readdirSync(root)) ?? []).filter((n) => /^[0-9]+$/.test(n)).map(Number),
    read: (pid, name) => orNull(() => readFileSync(`${root}/${pid}/${name}`, 'utf8')),
    link: (pid, name) => orNull(() => readlinkSync(`${root}/${pid}/${name}`)),
    list: (pid, name) => orNull(() => readdirSync(`${root}/${pid}/${name}`)),
  };
}

/** This process's mount namespace as /proc/PID/ns/mnt reads (`mnt:[4026531841]`): ScanInput.ownMountNamespace. */
export function readOwnMountNamespace(): string | null {
  return orNull(() => readlinkSync('/proc/self/ns/mnt'));
}
