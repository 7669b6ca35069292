// The NFS client's own TCP connections to a server that was silent: the kernel keeps them open and
// retransmits on a doubling timer, so one that lost its packets during a silence of a minute waits
// tens of seconds more before it tries again — and every new mount of that server (autofs', once
// its cache is cleared) queues behind it. Read from `ss -tnoi` (the kernel's socket table: no
// packet sent, no mount touched); reset with `ss -K`, after which the client reconnects at once.
import { serverKey, type ServerAddress } from './address.js';

export interface ClientSocket {
  readonly state: string;
  readonly local: string;
  readonly peer: string;
  /** The timer running and when it fires: `on` is the retransmission timer. */
  readonly timer: { readonly name: string; readonly inMs: number; readonly retransmits: number } | null;
  /** Exponential backoff steps in effect (the `backoff:` of `ss -i`); 0 when none. */
  readonly backoff: number;
}

/** Parses `ss -tnoi` (with its header line or without); lines it cannot read are skipped. */
export function parseSs(text: string): ClientSocket[] {
  const out: ClientSocket[] = [];
  let last: { state: string; local: string; peer: string; timer: ClientSocket['timer']; backoff: number } | null = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('State')) continue;
    if (/^\s/.test(line)) {
      // The -i line of the socket above it.
      const b = /\bbackoff:(\d+)/.exec(line);
      if (last && b) last.backoff = Number(b[1]);
      continue;
    }
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    if (last) out.push(last);
    last = { state: fields[0]!, local: fields[3]!, peer: fields[4]!, timer: parseTimer(line), backoff: 0 };
  }
  if (last) out.push(last);
  return out;
}

/** `timer:(on,19sec,8)` → name, milliseconds until it fires, retransmissions so far. */
function parseTimer(line: string): ClientSocket['timer'] {
  const m = /timer:\(([a-z_]+),([^,]+),(\d+)\)/.exec(line);
  if (!m) return null;
  const inMs = parseSsDuration(m[2]!);
  return inMs === null ? null : { name: m[1]!, inMs, retransmits: Number(m[3]) };
}

/**
 * ss's own duration format (iproute2 `print_ms_timer`): `1min`, `1min5sec`, `19sec`, `772ms`, and
 * seconds with milliseconds as `9.772ms` (9 s 772 ms). Null when it is none of those.
 */
export function parseSsDuration(text: string): number | null {
  const m = /^(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)\.)?(?:(\d+)ms)?$/.exec(text);
  if (!m || text === '') return null;
  const [, min, sec, secWithMs, ms] = m;
  return Number(min ?? 0) * 60_000 + Number(sec ?? secWithMs ?? 0) * 1000 + Number(ms ?? 0);
}

/** The peer of a socket as `host:port` (ss brackets IPv6: `[fd00::1]:2049`), as serverKey writes it. */
function peerKey(peer: string): string {
  const v4mapped = /^\[::ffff:([\d.]+)\]:(\d+)$/.exec(peer);
  return v4mapped ? `${v4mapped[1]}:${v4mapped[2]}` : peer;
}

// An open connection whose data waits for its retransmission, and a connection attempt whose SYN
// does: both hold the client's calls back until their timer fires.
const WAITING_STATES: ReadonlySet<string> = new Set(['ESTAB', 'SYN-SENT']);

/**
 * The connections to `server` that wait out a retransmission backoff longer than `minWaitMs`: those
 * a client would otherwise sit on though the server answers a new connection now. `ss -tno` gives
 * the retransmissions in its timer; `-i` adds the backoff.
 */
export function stalledTo(sockets: readonly ClientSocket[], server: ServerAddress, minWaitMs: number): ClientSocket[] {
  const key = serverKey(server);
  return sockets.filter(
    (s) =>
      WAITING_STATES.has(s.state) &&
      peerKey(s.peer) === key &&
      s.timer?.name === 'on' &&
      (s.timer.retransmits > 0 || s.backoff > 0) &&
      s.timer.inMs > minWaitMs,
  );
}
