// Which NFS servers autofs would mount a path from, read from its master map and the sun-format file
// maps it names: a path never seen mounted (the node booted during the outage) still has a server
// whose return can be waited for.
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { isAtOrBelow, isNfsFstype, readMountTable, type MountEntry } from '../probe/mountinfo.js';
import { optionItems, optionValue, serversOfLocation, type ServerAddress } from './address.js';

export interface MapReader {
  /** A file's text; null when it cannot be read. `executable`: autofs runs it as a program map instead of reading it. */
  file(path: string): { text: string; executable: boolean } | null;
  /** The names in a directory (for +dir:), [] when unreadable. */
  dir(path: string): string[];
}

/** Where autofs looks for a map named without a path (its AUTOFS_MAP_DIR). */
const MAP_DIR = '/etc';

interface MasterLine {
  mountPoint: string;
  map: string;
  /** The line's options, which autofs puts before each entry's own (later ones win). */
  options: string;
}

interface SunEntry {
  key: string;
  /** The entry's '-' options, joined. */
  options: string;
  /** Everything after the options: a location, or a multi-mount's offsets and locations. */
  words: string[];
}

/** One absolute path in one spelling: repeated and trailing slashes dropped. */
function normalizePath(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}

/** Lines with continuations (a trailing backslash) joined; blank lines and '#' comments dropped. */
function logicalLines(text: string, joiner: string): string[] {
  return text
    .replace(/\r\n/g, '\n')
    .replace(/\\\n/g, joiner)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** Words split at blanks, a double-quoted part or a backslash-escaped blank kept inside its word. */
function words(line: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line.charAt(++i);
      inWord = true;
    } else if (/\s/.test(c) && !quoted) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}

/** The master map's entries in order, with +dir: directories read in place; other includes skipped. */
function masterLines(path: string, read: MapReader, visited: Set<string>): MasterLine[] {
  if (visited.has(path)) return [];
  visited.add(path);
  const file = read.file(path);
  if (file === null) return [];
  const out: MasterLine[] = [];
  for (const line of logicalLines(file.text, ' ')) {
    const [first = '', map, ...rest] = words(line);
    if (first.startsWith('+dir:')) {
      const dir = first.slice('+dir:'.length);
      if (!dir.startsWith('/')) continue;
      // As autofs: every non-hidden *.autofs file, in name order.
      const names = read
        .dir(dir)
        .filter((n) => n.endsWith('.autofs') && n.length > '.autofs'.length && !n.startsWith('.'))
        .sort();
      for (const name of names) out.push(...masterLines(posix.join(dir, name), read, visited));
      continue;
    }
    if (!first.startsWith('/') || map === undefined) continue;
    const comment = rest.findIndex((o) => o.startsWith('#'));
    out.push({ mountPoint: normalizePath(first), map, options: (comment < 0 ? rest : rest.slice(0, comment)).join(' ') });
  }
  return out;
}

/** The text of the file map a master line names; null for any other map type or a program map. */
function fileMapText(map: string, read: MapReader): string | null {
  const typed = /^([a-z]+)(?:,([a-z]+))?:(.*)$/.exec(map);
  if (typed) {
    const [, type, format, name = ''] = typed;
    if (type !== 'file' || (format !== undefined && format !== 'sun') || name === '') return null;
    if (!name.startsWith('/') && name.includes('/')) return null;
    // A map typed file: is read as one whatever its mode, as autofs does.
    return read.file(name.startsWith('/') ? name : posix.join(MAP_DIR, name))?.text ?? null;
  }
  // Built-in maps (-hosts, -null, hosts, null) and LDAP's "//server/dn" name no file map.
  if (map.startsWith('-') || map.startsWith('//') || map === 'hosts' || map === 'null') return null;
  if (!map.startsWith('/') && map.includes('/')) return null;
  const file = read.file(map.startsWith('/') ? map : posix.join(MAP_DIR, map));
  return file === null || file.executable ? null : file.text;
}

/** A sun-format map's entries in file order; includes and lines with no location dropped. */
function sunEntries(text: string): SunEntry[] {
  const out: SunEntry[] = [];
  for (const line of logicalLines(text, '')) {
    if (line.startsWith('+')) continue;
    const [key, ...tail] = words(line);
    const start = tail.findIndex((w) => !w.startsWith('-'));
    if (key === undefined || start < 0) continue;
    out.push({ key, options: tail.slice(0, start).join(','), words: tail.slice(start) });
  }
  return out;
}

/** The options and location an entry mounts on its own key; null for a multi-mount with no "/" offset. */
function rootMount(entry: SunEntry): { options: string; location: string } | null {
  const [first = ''] = entry.words;
  if (!first.startsWith('/')) return { options: entry.options, location: entry.words.join(' ') };
  // A multi-mount: "/offset [-options] location..." repeated; only the "/" offset is on the key.
  let current: { offset: string; options: string[]; location: string[] } | null = null;
  for (const w of entry.words) {
    if (w.startsWith('/')) {
      if (current?.offset === '/') break;
      current = { offset: w, options: [entry.options], location: [] };
    } else if (current !== null) {
      if (w.startsWith('-') && current.location.length === 0) current.options.push(w);
      else current.location.push(w);
    }
  }
  return current?.offset === '/' ? { options: current.options.join(','), location: current.location.join(' ') } : null;
}

/** The NFS servers an entry mounts `key` from: none when it is not an NFS mount. */
function entryServers(entry: SunEntry, key: string, masterOptions: string): ServerAddress[] {
  const root = rootMount(entry);
  if (root === null) return [];
  const options = `${masterOptions} ${root.options}`;
  const fstype = optionValue(optionItems(options), 'fstype') ?? 'nfs';
  if (!isNfsFstype(fstype)) return [];
  return serversOfLocation(root.location.replace(/&/g, key), options);
}

/** For each given absolute path, the servers autofs' file maps name for it (paths no file map covers are left out). */
export function autofsMapServers(paths: readonly string[], read: MapReader, master = '/etc/auto.master'): Map<string, ServerAddress[]> {
  const result = new Map<string, ServerAddress[]>();
  const open = new Map<string, string>();
  for (const p of paths) if (p.startsWith('/')) open.set(p, normalizePath(p));
  const maps = new Map<string, SunEntry[]>();
  const indirectSeen = new Set<string>();
  for (const line of masterLines(master, read, new Set())) {
    if (open.size === 0) break;
    const direct = line.mountPoint === '/-';
    // autofs ignores a second line for one indirect mount point; direct maps all add up.
    if (!direct) {
      if (indirectSeen.has(line.mountPoint)) continue;
      indirectSeen.add(line.mountPoint);
    }
    let entries = maps.get(line.map);
    if (entries === undefined) {
      const text = fileMapText(line.map, read);
      entries = text === null ? [] : sunEntries(text);
      maps.set(line.map, entries);
    }
    if (entries.length === 0) continue;
    for (const [given, path] of open) {
      let found: SunEntry | undefined;
      let key: string;
      if (direct) {
        key = path;
        found = entries.find((e) => e.key.startsWith('/') && normalizePath(e.key) === path);
      } else {
        if (posix.dirname(path) !== line.mountPoint || path === line.mountPoint) continue;
        key = posix.basename(path);
        // As autofs: the key's own entry wherever it is, else the first wildcard.
        found = entries.find((e) => e.key === key) ?? entries.find((e) => e.key === '*');
      }
      if (found === undefined) continue;
      result.set(given, entryServers(found, key, line.options));
      open.delete(given);
    }
  }
  return result;
}

/** Filesystems where a look can hang with a server or trigger a mount: never read through. */
const NOT_READ_BELOW = /^(nfs4?|autofs|cifs|smb3|smbfs|ceph|9p|glusterfs|lustre|afs|fuse(\..+)?)$/;
const MAX_LINKS = 40;

/** The mount holding `path`: the longest mount point at or above it (the last one on a tie). */
function holding(table: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of table) if (isAtOrBelow(path, e.mountPoint) && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e;
  return best;
}

/**
 * `path` with its symbolic links followed one name at a time, each name looked at only while what
 * holds it is a local filesystem; null when it leads onto a network or automounted one.
 */
function localPath(path: string, table: readonly MountEntry[]): string | null {
  if (!path.startsWith('/')) return null;
  const points = new Set(table.map((e) => e.mountPoint));
  let done = '/';
  let rest = path.split('/').filter((p) => p !== '' && p !== '.');
  let links = 0;
  for (let name = rest.shift(); name !== undefined; name = rest.shift()) {
    if (name === '..') {
      done = posix.dirname(done);
      continue;
    }
    const next = posix.join(done, name);
    if (NOT_READ_BELOW.test(holding(table, next)?.fstype ?? '')) return null;
    // A mount point is never a link, and an lstat on it could trigger an automount.
    if (points.has(next) || !lstatSync(next).isSymbolicLink()) {
      done = next;
      continue;
    }
    if (++links > MAX_LINKS) return null;
    const target = readlinkSync(next);
    if (target.startsWith('/')) done = '/';
    rest = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...rest];
  }
  return done;
}

/** A reader of files on local filesystems only, as the mount table `table` describes them. */
export function localMapReaderOver(table: () => readonly MountEntry[]): MapReader {
  return {
    file(path) {
      try {
        const local = localPath(path, table());
        if (local === null) return null;
        const st = statSync(local);
        if (!st.isFile()) return null;
        return { text: readFileSync(local, 'utf8'), executable: (st.mode & 0o111) !== 0 };
      } catch {
        return null;
      }
    },
    dir(path) {
      try {
        const local = localPath(path, table());
        return local === null ? [] : readdirSync(local);
      } catch {
        return [];
      }
    },
  };
}

/** The real reader: files read synchronously from the local disk (/etc), never from a mount. */
export const localMapReader: MapReader = localMapReaderOver(readMountTable);
