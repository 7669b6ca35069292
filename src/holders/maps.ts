// /proc/PID/maps text: the files a process has mapped, and the device each lies on as maps prints
// it (hex) against mountinfo's (decimal).

/** A file mapping: anonymous memory (inode 0) is none. */
export interface MappedFile {
  /** As maps prints it: "00:28". */
  dev: string;
  /** The path as the kernel prints it: `[heap]`-like names and ` (deleted)` included. */
  path: string;
}

/** A device as mountinfo prints it ("0:40"); a mount known only by its ID has none (""). */
export const isDev = (dev: string): boolean => /^\d+:\d+$/.test(dev);

/** "0:40" (mountinfo, decimal) as maps prints it: "00:28" (hex, at least two digits each). */
export function mapsDev(dev: string): string {
  const [major, minor] = dev.split(':').map(Number);
  const hex = (n: number | undefined): string => (n ?? 0).toString(16).padStart(2, '0');
  return `${hex(major)}:${hex(minor)}`;
}

/** "00:28" (maps, hex) as mountinfo prints it: "0:40". */
export function mountinfoDev(dev: string): string {
  const [major, minor] = dev.split(':').map((n) => parseInt(n, 16));
  return `${major ?? 0}:${minor ?? 0}`;
}

const MAPS_LINE = /^\S+ \S+ \S+ (\S+) (\d+) +(.*)$/;

/** The file mappings of a maps text, one per line (a file mapped in several ranges comes several times). */
export function mappedFiles(maps: string): MappedFile[] {
  const files: MappedFile[] = [];
  for (const line of maps.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (m && m[2] !== '0') files.push({ dev: m[1] ?? '', path: m[3] ?? '' });
  }
  return files;
}
