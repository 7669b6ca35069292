// Which NFS server (host and port) a mount comes from, read from the text the kernel and autofs
// keep of it, so that a server's return can be checked on its own port without touching the mount.
import { isIPv6 } from 'node:net';
import { isNfsFstype, type MountEntry } from '../probe/mountinfo.js';

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** The NFS service's port when neither mount options nor the map name one. */
export const NFS_PORT = 2049;

const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$/;

/**
 * The host in one spelling per server (lower case, IPv6 compressed as the kernel prints it, no
 * brackets, no trailing dot), so a map's name and the kernel's addr= give one key; null when it is
 * not a host name or address.
 */
export function normalizeHost(raw: string): string | null {
  const host = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIPv6(host)) {
    // The URL parser compresses an address; one with a zone or a dotted IPv4 tail is left as
    // written, as the kernel prints those in the same form.
    if (host.includes('%') || host.includes('.')) return host.toLowerCase();
    try {
      return new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      return host.toLowerCase();
    }
  }
  if (!HOSTNAME.test(host)) return null;
  return host.toLowerCase().replace(/\.$/, '');
}

/** "10.99.0.1:2049", "[fd00::1]:2049", "nfs.example.com:2049": one key per server. */
export function serverKey(a: ServerAddress): string {
  const host = normalizeHost(a.host) ?? a.host;
  return host.includes(':') ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}

/** Mount options as single items: commas and blanks separate them, leading '-' dropped. */
export function optionItems(options: string): string[] {
  return options
    .split(/[\s,]+/)
    .map((o) => o.replace(/^-+/, ''))
    .filter((o) => o !== '');
}

/** The value of the last `name=` item (a later option overrides an earlier one, as for mount). */
export function optionValue(items: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (const item of items) if (item.startsWith(name + '=')) value = item.slice(name.length + 1);
  return value;
}

/** The port the options name, NFS_PORT when none or 0 (the kernel's "default"). */
function portOf(items: readonly string[]): number {
  const raw = optionValue(items, 'port');
  if (raw === undefined || !/^\d+$/.test(raw)) return NFS_PORT;
  const port = Number(raw);
  return port > 0 && port <= 65535 ? port : NFS_PORT;
}

/** Splits at `sep` outside brackets (an IPv6 address) and parentheses (a replica's weight). */
function splitTopLevel(text: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[' || c === '(') depth++;
    else if ((c === ']' || c === ')') && depth > 0) depth--;
    else if (c === sep && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** The hosts one "hosts:/path" word names, in order; none for a local path or anything unreadable. */
function hostsOfWord(word: string): string[] {
  const unquoted = word.replace(/"/g, '');
  const [hostList, ...rest] = splitTopLevel(unquoted, ':');
  if (hostList === undefined || hostList === '' || rest.length === 0 || rest.join(':') === '') return [];
  const hosts: string[] = [];
  for (const replica of splitTopLevel(hostList, ',')) {
    const host = normalizeHost(replica.replace(/\([^()]*\)$/, ''));
    if (host !== null) hosts.push(host);
  }
  return hosts;
}

/** The hosts of every word of a location (autofs writes replicas as space-separated words too). */
function hostsOfLocation(location: string): string[] {
  return location
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '' && !w.startsWith('-'))
    .flatMap(hostsOfWord);
}

/** The server an NFS mount-table entry came from: its superblock options' addr= (and port= when non-zero), else the host part of its source; null for a non-NFS fstype (only nfs, nfs4) or a source with no host. */
export function serverOfMount(entry: Pick<MountEntry, 'fstype' | 'source' | 'superOptions'>): ServerAddress | null {
  if (!isNfsFstype(entry.fstype)) return null;
  const items = optionItems(entry.superOptions);
  const port = portOf(items);
  // addr= is the address the kernel connected to: the source may name the server by a host name
  // that resolves elsewhere now.
  const addr = optionValue(items, 'addr');
  const fromAddr = addr === undefined ? null : normalizeHost(addr);
  if (fromAddr !== null) return { host: fromAddr, port };
  const host = hostsOfLocation(entry.source)[0];
  return host === undefined ? null : { host, port };
}

/** The servers an NFS location names, as autofs maps and fstab write it: "host:/path", "[fd00::1]:/path", "h1,h2:/path", "h1(5),h2(10):/path" (weights dropped), "h1:/p1 h2:/p2" (autofs' space-separated replicated form); port from a port=N in `options` (comma-separated mount options, a leading '-' and an fstype=... allowed) when N > 0. Empty when none can be read. Duplicates removed, order kept. */
export function serversOfLocation(location: string, options = ''): ServerAddress[] {
  const port = portOf(optionItems(options));
  const seen = new Set<string>();
  const servers: ServerAddress[] = [];
  for (const host of hostsOfLocation(location)) {
    const server = { host, port };
    const key = serverKey(server);
    if (seen.has(key)) continue;
    seen.add(key);
    servers.push(server);
  }
  return servers;
}
