// Does an NFS server answer? One bounded TCP connect to its NFS port — never a touch of a mount —
// made from the network namespace the mounts are made in: the automount daemon's, entered through
// nsenter by a long-lived child Node (src/server/netns-checker.ts) when it is not the daemon's own.
import { readlinkSync } from 'node:fs';
import net from 'node:net';
import type { Clock } from '../clock.js';
import type { ServerAddress } from './address.js';
import { NetnsChecker, type ChildAnswer, type NetnsCheckerOptions } from './netns-checker.js';

export type CheckOutcome =
  | { answering: true; ms: number }
  // 'refused' | 'timeout' | 'unreachable' | an errno code | a child's failure
  | { answering: false; ms: number; reason: string };

/** One bounded connect to `server` from network namespace `netns` (a /proc/PID/ns/net path) or, with null, from the daemon's own. Never rejects. */
export type CheckServer = (server: ServerAddress, netns: string | null, timeoutMs: number) => Promise<CheckOutcome>;

/** The clock, and for the namespace children the Node they run and how long they are kept (see NetnsCheckerOptions). */
export type ServerCheckDeps = NetnsCheckerOptions;

/** The reason for a connect's error code: the common ones in words, any other as its code. */
export function reasonOf(code: string): string {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'unreachable';
  return code;
}

/** The checker: the check itself, what it keeps running (a child per namespace) and how to end that. */
export type ServerCheck = CheckServer & {
  /** Ends every namespace's child; a later check through a namespace answers at once that it is closed. */
  close(): void;
  /** The namespace children running now, with their pids. */
  children(): { netns: string; pid: number }[];
};

/** The checker: in-process without a namespace, through that namespace's long-lived child Node with one. */
export function createServerCheck(deps: ServerCheckDeps): ServerCheck {
  const netns = new NetnsChecker(deps);
  const check: CheckServer = (server, path, timeoutMs) =>
    path === null ? connectHere(deps.clock, server, timeoutMs) : connectFrom(netns, path, server, timeoutMs);
  return Object.assign(check, { close: () => netns.close(), children: () => netns.running() });
}

/** The connect in this process: settles once, leaving no socket or timer behind. */
function connectHere(clock: Clock, server: ServerAddress, timeoutMs: number): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const started = clock.now();
    let settled = false;
    let socket: net.Socket | undefined;
    const finish = (reason: string | null): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      socket?.destroy();
      const ms = Math.round(clock.now() - started);
      resolve(reason === null ? { answering: true, ms } : { answering: false, ms, reason });
    };
    const timer = clock.setTimeout(() => finish('timeout'), timeoutMs);
    try {
      socket = net.connect({ host: server.host, port: server.port });
    } catch (err) {
      // An address net refuses outright (a port out of range) is thrown, not emitted.
      finish(reasonOf(errorCode(err)));
      return;
    }
    socket.once('connect', () => finish(null));
    // Kept after settling: an error the destroyed socket still emits must find a listener.
    socket.on('error', (err) => finish(reasonOf(errorCode(err))));
  });
}

/** An error's code, or its message when it has none. */
function errorCode(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}

/** The connect from another network namespace, by its child; the reason named as in-process. */
async function connectFrom(netns: NetnsChecker, path: string, server: ServerAddress, timeoutMs: number): Promise<CheckOutcome> {
  try {
    return outcomeOf(await netns.check(path, server, timeoutMs));
  } catch (err) {
    // The checker never rejects; this one promised so too.
    return { answering: false, ms: 0, reason: `check process: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** A child's answer as an outcome: its connect's result named as in-process, or why it gave none. */
export function outcomeOf(a: ChildAnswer): CheckOutcome {
  if (!a.said) return { answering: false, ms: a.ms, reason: a.reason };
  return a.result === 'connect' ? { answering: true, ms: a.ms } : { answering: false, ms: a.ms, reason: reasonOf(a.result) };
}

/** Where mounts made by a process are reached from, and why (for the log). */
export interface NetnsChoice {
  /** Its /proc/PID/ns/net when that differs from this process's own; null: connect in-process. */
  readonly netns: string | null;
  readonly why: string;
}

/** The network namespace to connect from for mounts made by process `pid`; the daemon's own when either link cannot be read. */
export function netnsOfPid(pid: number, proc = '/proc'): NetnsChoice {
  const path = `${proc}/${pid}/ns/net`;
  let theirs: string;
  let ours: string;
  try {
    theirs = readlinkSync(path);
    ours = readlinkSync(`${proc}/self/ns/net`);
  } catch (err) {
    return { netns: null, why: `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
  return theirs === ours
    ? { netns: null, why: `${path} is the daemon's own (${ours})` }
    : { netns: path, why: `${theirs}, not the daemon's ${ours}` };
}
