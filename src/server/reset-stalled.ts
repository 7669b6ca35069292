// Resets the NFS client's connections to a server that answers again but that the client still
// waits to retransmit to (src/server/stalled.ts says which): `ss -K`, in the network namespace the
// mounts were made from. The kernel then reconnects at once; the calls queued on the old
// connection are sent on the new one, as after any reset by the server.
import type { RunCommand } from '../exec/runner.js';
import type { ServerAddress } from './address.js';
import { parseSs, stalledTo } from './stalled.js';
import type { WatchedServer } from './watch.js';

/** A retransmission due sooner than this is left to come: resetting it would gain nothing. */
export const STALLED_MIN_WAIT_MS = 1_000;
/** Deadline of each `ss`: it reads the kernel's socket table, never the network. */
const SS_DEADLINE_MS = 2_000;

export interface StalledConnection {
  /** The client's end, `address:port`. */
  readonly local: string;
  /** How long it still had to wait to retransmit. */
  readonly waitMs: number;
  readonly retransmits: number;
}

export interface StalledReport {
  readonly server: ServerAddress;
  readonly from: WatchedServer['from'];
  /** Every connection of the client's to the server, as ss listed it: `local state timer`. */
  readonly seen: readonly string[];
  readonly stalled: readonly StalledConnection[];
  /** ok: each one reset; none: none stalled; failed: an `ss` failed (`error`); dry_run: found, not reset. */
  readonly result: 'ok' | 'none' | 'failed' | 'dry_run';
  readonly error: string | null;
}

export type ResetStalled = (server: WatchedServer, dryRun: boolean) => Promise<StalledReport>;

/** `run` starts `ss` (and nsenter); `netns` names the namespace to act in for `from`, null: the daemon's own. */
export function createStalledReset(deps: { run: RunCommand; netns: (from: WatchedServer['from']) => string | null }): ResetStalled {
  return async (w, dryRun) => {
    const ns = deps.netns(w.from);
    const prefix = ns ? ['nsenter', `--net=${ns}`, '--'] : [];
    const { host, port } = w.address;
    const target = ['dst', host.includes(':') ? `[${host}]` : host, 'dport', '=', `:${port}`];
    const listed = await deps.run([...prefix, 'ss', '-tno', ...target], SS_DEADLINE_MS);
    const all = parseSs(listed.output);
    // What ss listed, for the log: a reset not made is explained by it.
    const seen = all.map((x) => `${x.local} ${x.state}${x.timer ? ` ${x.timer.name} ${x.timer.inMs}ms x${x.timer.retransmits}` : ''}`);
    const base = { server: w.address, from: w.from, seen };
    if (listed.status !== 'ok')
      return { ...base, stalled: [], result: 'failed', error: failure(listed.argv, listed.status, listed.output) };
    const sockets = stalledTo(all, w.address, STALLED_MIN_WAIT_MS);
    const stalled = sockets.map((s) => ({ local: s.local, waitMs: s.timer?.inMs ?? 0, retransmits: s.timer?.retransmits ?? 0 }));
    if (stalled.length === 0) return { ...base, stalled, result: 'none', error: null };
    if (dryRun) return { ...base, stalled, result: 'dry_run', error: null };
    // ss -K says why it could not (no CAP_NET_ADMIN, a kernel without CONFIG_INET_DIAG_DESTROY) and
    // exits 0 all the same: what it printed other than its header is kept, and the table looked at again.
    const said: string[] = [];
    for (const s of stalled) {
      const at = s.local.lastIndexOf(':');
      const source = ['src', s.local.slice(0, at), 'sport', '=', `:${s.local.slice(at + 1)}`];
      const killed = await deps.run([...prefix, 'ss', '-K', ...target, ...source], SS_DEADLINE_MS);
      if (killed.status !== 'ok') return { ...base, stalled, result: 'failed', error: failure(killed.argv, killed.status, killed.output) };
      said.push(...killed.output.split('\n').filter((l) => /answers:|denied|not permitted|not supported/i.test(l)));
    }
    // The client reconnects from the same source port: a socket there that no longer waits is the new one.
    const after = await deps.run([...prefix, 'ss', '-tno', ...target], SS_DEADLINE_MS);
    const left = after.status === 'ok' ? stalledTo(parseSs(after.output), w.address, STALLED_MIN_WAIT_MS) : [];
    const still = left.filter((x) => stalled.some((s) => s.local === x.local));
    if (still.length > 0) {
      const why = said.length > 0 ? said[0]!.trim() : 'ss -K printed no reason';
      return { ...base, stalled, result: 'failed', error: `still waiting after ss -K (${why}): ${still.map((x) => x.local).join(', ')}` };
    }
    return { ...base, stalled, result: 'ok', error: null };
  };
}

function failure(argv: readonly string[], status: string, output: string): string {
  return `${argv.join(' ')}: ${status}${output ? `: ${output.split('\n')[0]}` : ''}`;
}
