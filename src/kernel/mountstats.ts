// Parses /proc/self/mountstats: the NFS client's per-mount counters, formatted by the kernel from
// memory (reading it sends no RPC and never waits on a server). Only NFS mounts carry counters;
// every other mount is one "device … mounted on … with fstype …" line and is skipped.
//
// The format, from the kernel's own code: fs/proc_namespace.c show_vfsstat() prints the header
// line, device and mount point escaped (" \t\n\\" as \040 \011 \012 \134); fs/nfs/super.c
// nfs_show_stats() appends " statvers=1.1" and the tab-indented opts/age/caps/…/bytes lines;
// net/sunrpc/stats.c rpc_clnt_show_stats() adds "RPC iostats version", one xprt line per transport
// (net/sunrpc/xprtsock.c, xprtrdma) and, after "per-op statistics", one "\t%12s: " line per
// procedure (8 numbers up to iostats 1.0, 9 with the errors count from 1.1, kernel 5.3); a blank
// line ends the block. Only the lines that say whether the server answers are read; malformed
// ones are skipped.
//
// The daemon parses the whole file every second, hundreds of KiB with many mounts: the text is
// walked line by line in place (no array of lines, no strings per field), and the only
// allocations are the results themselves and, the first time each is met, an op's name.
import { unescapeMountField } from '../probe/mountinfo.js';

/** One operation's line: `OP: ops trans timeouts bytes_sent bytes_recv queue rtt execute [errors]`. */
export interface OpStats {
  /** Requests completed. */
  readonly ops: number;
  /** Transmissions: ops plus retransmissions. */
  readonly trans: number;
  /** Major timeouts. */
  readonly timeouts: number;
  readonly bytesSent: number;
  readonly bytesRecv: number;
  /** Cumulative milliseconds queued before transmission. */
  readonly queueMs: number;
  /** Cumulative milliseconds from transmission to reply (round trip). */
  readonly rttMs: number;
  /** Cumulative milliseconds from the request's start to its end. */
  readonly executeMs: number;
  /** Ops that ended with a negative status (statvers 1.1, kernels from 5.3); null where the kernel lacks the field. */
  readonly errors: number | null;
}

/** The `xprt:` line's counters that tell whether the server answers at all (tcp, udp and rdma). */
export interface XprtStats {
  /** The transport's name as the kernel prints it: tcp, udp or rdma. */
  readonly protocol: string;
  /** RPC requests sent on the transport. */
  readonly sends: number;
  /** RPC replies received on it. */
  readonly recvs: number;
}

export interface NfsMountStats {
  /** The mount's source, e.g. `10.0.0.10:/export/dags`. */
  readonly device: string;
  /** Unescaped (\040 → space). */
  readonly mountPoint: string;
  /** nfs or nfs4. */
  readonly fstype: string;
  /** The `statvers=` value, e.g. "1.1"; "" when absent. */
  readonly statvers: string;
  /** Seconds since the mount was made (the `age:` line); null when absent. */
  readonly ageS: number | null;
  /** Per operation name (GETATTR, READDIR, …), in the kernel's order. */
  readonly ops: ReadonlyMap<string, OpStats>;
  /** The first transport's counters (nconnect prints one line per transport); null when absent or of a transport not read. */
  readonly xprt: XprtStats | null;
}

const MOUNTED_ON = ' mounted on ';
const WITH_FSTYPE = ' with fstype ';
const STATVERS = ' statvers=';
const TAB = 9;
const SPACE = 32;
const NEWLINE = 10;

/** The result's own object while its lines are read. */
interface MountBeingRead {
  device: string;
  mountPoint: string;
  fstype: string;
  statvers: string;
  ageS: number | null;
  ops: Map<string, OpStats>;
  xprt: XprtStats | null;
}

/** One line's numbers, reused from line to line. */
const counters = new Float64Array(9);

/**
 * Where sends and recvs sit among the numbers after the transport's name: tcp (xs_tcp_print_stats)
 * and rdma (xprt_rdma_print_stats) print port, bind count, connect count, connect time and idle
 * time first, udp (xs_udp_print_stats) port and bind count only.
 */
const TRANSPORTS: readonly (readonly [protocol: string, slots: readonly [sends: number, recvs: number]])[] = [
  ['tcp', [5, 6]],
  ['rdma', [5, 6]],
  ['udp', [2, 3]],
];

/**
 * Parses the text of /proc/self/mountstats (or /proc/PID/mountstats) into the NFS mounts' (nfs,
 * nfs4) counters, in the kernel's order. Never throws: lines it cannot read are skipped, and a
 * mount without an age, an xprt or op lines has them null or empty. Counters past 2^53 lose
 * their low digits (they are read as numbers). `wanted`, when given, names the mount points whose
 * counters are read: the others' lines are skipped unparsed (a node may have hundreds of NFS mounts
 * the daemon does not watch).
 */
export function parseMountstats(text: string, wanted?: (mountPoint: string) => boolean): NfsMountStats[] {
  const mounts: NfsMountStats[] = [];
  let mount: MountBeingRead | null = null;
  let inOps = false;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const first = text.charCodeAt(start);
    if (first === TAB || first === SPACE) {
      // A statistics line: it belongs to the NFS mount above, if any.
      if (mount !== null) inOps = readStatLine(mount, text, start, end, inOps);
    } else {
      inOps = false;
      mount = first === NEWLINE ? null : readDeviceLine(text, start, end);
      if (mount !== null && wanted && !wanted(mount.mountPoint)) mount = null;
      if (mount !== null) mounts.push(mount);
    }
    start = end + 1;
  }
  return mounts;
}

/** The mount's op lines carry the errors field (RPC iostats 1.1, kernels from 5.3). */
export function hasErrorCounts(stats: NfsMountStats): boolean {
  for (const op of stats.ops.values()) if (op.errors !== null) return true;
  return false;
}

/** A header line of an nfs or nfs4 mount, else null (other filesystems cost no allocation). */
function readDeviceLine(text: string, start: number, end: number): MountBeingRead | null {
  let devStart: number;
  if (text.startsWith('device ', start)) devStart = start + 7;
  else if (text.startsWith('no device ', start)) devStart = -1;
  else return null;
  const onAt = text.indexOf(MOUNTED_ON, devStart < 0 ? start + 9 : devStart - 1);
  if (onAt < 0 || onAt >= end) return null;
  const typeAt = text.indexOf(WITH_FSTYPE, onAt + MOUNTED_ON.length);
  if (typeAt < 0 || typeAt >= end) return null;
  const typeStart = typeAt + WITH_FSTYPE.length;
  const typeEnd = wordEnd(text, typeStart, end);
  const typeLength = typeEnd - typeStart;
  const nfs = text.startsWith('nfs', typeStart) && (typeLength === 3 || (typeLength === 4 && text.charCodeAt(typeStart + 3) === 52));
  if (!nfs) return null;
  let statvers = '';
  if (text.startsWith(STATVERS, typeEnd) && typeEnd + STATVERS.length <= end) {
    const from = typeEnd + STATVERS.length;
    statvers = text.slice(from, wordEnd(text, from, end));
  }
  return {
    device: devStart < 0 ? '' : unescape(text.slice(devStart, onAt)),
    mountPoint: unescape(text.slice(onAt + MOUNTED_ON.length, typeAt)),
    fstype: typeLength === 3 ? 'nfs' : 'nfs4',
    statvers,
    ageS: null,
    ops: new Map(),
    xprt: null,
  };
}

/** Reads one indented line of an NFS mount's block; says whether the op lines have begun. */
function readStatLine(mount: MountBeingRead, text: string, start: number, end: number, inOps: boolean): boolean {
  const k = skipBlanks(text, start, end);
  if (inOps) {
    readOpLine(mount, text, k, end);
    return true;
  }
  if (text.startsWith('age:', k)) {
    if (readCounters(text, k + 4, end, false) === 1) mount.ageS = counters[0] ?? null;
  } else if (text.startsWith('xprt:', k)) {
    mount.xprt ??= readXprt(text, k + 5, end);
  } else if (text.startsWith('per-op statistics', k)) {
    return true;
  }
  return false;
}

/** An op never called (most of a mount's lines): one shared, frozen object per shape. */
const UNUSED_LINE = ' 0 0 0 0 0 0 0 0 0';
const UNUSED_LINE_NO_ERRORS = ' 0 0 0 0 0 0 0 0';
const UNUSED_OP: OpStats = Object.freeze({
  ops: 0,
  trans: 0,
  timeouts: 0,
  bytesSent: 0,
  bytesRecv: 0,
  queueMs: 0,
  rttMs: 0,
  executeMs: 0,
  errors: 0,
});
const UNUSED_OP_NO_ERRORS: OpStats = Object.freeze({ ...UNUSED_OP, errors: null });

/** `NAME: ops trans timeouts bytes_sent bytes_recv queue rtt execute [errors]`. */
function readOpLine(mount: MountBeingRead, text: string, k: number, end: number): void {
  const colon = text.indexOf(':', k);
  if (colon <= k || colon >= end) return;
  const name = opName(text, k, colon, mount.ops.size);
  // Most lines are of ops never called: compared whole, not read number by number.
  if (end - colon === UNUSED_LINE.length + 1 && text.startsWith(UNUSED_LINE, colon + 1)) {
    mount.ops.set(name, UNUSED_OP);
    return;
  }
  if (end - colon === UNUSED_LINE_NO_ERRORS.length + 1 && text.startsWith(UNUSED_LINE_NO_ERRORS, colon + 1)) {
    mount.ops.set(name, UNUSED_OP_NO_ERRORS);
    return;
  }
  const n = readCounters(text, colon + 1, end, false);
  if (n < 8) return;
  mount.ops.set(name, {
    ops: counters[0] ?? 0,
    trans: counters[1] ?? 0,
    timeouts: counters[2] ?? 0,
    bytesSent: counters[3] ?? 0,
    bytesRecv: counters[4] ?? 0,
    queueMs: counters[5] ?? 0,
    rttMs: counters[6] ?? 0,
    executeMs: counters[7] ?? 0,
    errors: n >= 9 ? (counters[8] ?? null) : null,
  });
}

/**
 * The op's name, as a string already made when it was met before: every mount of a version lists
 * the same names in the same order, so the previous mount's name at this place is tried first,
 * then the names met anywhere, by a hash of their characters.
 */
const namesInOrder: string[] = [];
const namesByHash = new Map<number, string>();
const NAMES_MAX = 512;

function opName(text: string, start: number, end: number, place: number): string {
  const length = end - start;
  const previous = namesInOrder[place];
  if (previous !== undefined && previous.length === length && text.startsWith(previous, start)) return previous;
  let h = length;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  let name = namesByHash.get(h);
  if (name === undefined || name.length !== length || !text.startsWith(name, start)) {
    name = text.slice(start, end);
    // Bounded whatever the text holds; a collision only costs the slice.
    if (namesByHash.size < NAMES_MAX) namesByHash.set(h, name);
  }
  if (place < NAMES_MAX) namesInOrder[place] = name;
  return name;
}

/** `xprt:\tPROTO n n …`: the transports whose field order is known; null for any other. */
function readXprt(text: string, from: number, end: number): XprtStats | null {
  const start = skipBlanks(text, from, end);
  const wordAt = wordEnd(text, start, end);
  for (const [protocol, [sends, recvs]] of TRANSPORTS) {
    if (wordAt - start !== protocol.length || !text.startsWith(protocol, start)) continue;
    // The idle time is printed signed (%ld).
    if (readCounters(text, wordAt, end, true) <= recvs) return null;
    return { protocol, sends: counters[sends] ?? 0, recvs: counters[recvs] ?? 0 };
  }
  return null;
}

function skipBlanks(text: string, i: number, end: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB) break;
    i++;
  }
  return i;
}

/** Where the word at `i` ends: the next blank, or the end of the line. */
function wordEnd(text: string, i: number, end: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB) break;
    i++;
  }
  return i;
}

/**
 * Reads the blank-separated decimal numbers from `from` to `end` into `counters` (those past its
 * length are counted, not kept). Returns how many, or -1 when anything else is there, so that a
 * damaged line is skipped whole rather than read in part.
 */
function readCounters(text: string, from: number, end: number, signed: boolean): number {
  let n = 0;
  let i = from;
  for (;;) {
    i = skipBlanks(text, i, end);
    if (i >= end) return n;
    let c = text.charCodeAt(i);
    const negative = signed && c === 45;
    if (negative) {
      if (++i >= end) return -1;
      c = text.charCodeAt(i);
    }
    if (c < 48 || c > 57) return -1;
    let v = 0;
    while (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      if (++i >= end) break;
      c = text.charCodeAt(i);
    }
    if (i < end && c !== SPACE && c !== TAB) return -1;
    if (n < counters.length) counters[n] = negative ? -v : v;
    n++;
  }
}

/** Mount fields are escaped only where they hold a blank or a backslash: skip the regex otherwise. */
function unescape(field: string): string {
  return field.indexOf('\\') < 0 ? field : unescapeMountField(field);
}
