// A configured path that is a symbolic link (an old runbook's /mnt/airflow-dags → /airflow/dags)
// never appears in the mount table, so it would read `unmounted` forever. It is resolved once, at
// start, to the mount point it names, which is then probed and reported instead.
//
// Without touching a mount: a mount point is never a link (mount(2) resolves them), so it is not
// looked at, and nothing below a network or automounted filesystem is — an lstat there can hang
// with the server, or trigger a mount. What is left is the local parents, each looked at once in a
// child process with a deadline (a blocked child is left behind, never a thread of ours).
import { spawn } from 'node:child_process';
import { posix } from 'node:path';
import type { Clock } from '../clock.js';
import { isAtOrBelow, type MountEntry } from './mountinfo.js';

export type LinkLook =
  { kind: 'link'; target: string } | { kind: 'other' } | { kind: 'missing' } | { kind: 'timeout' } | { kind: 'error'; code: string };

/** lstat (and readlink) of one path. */
export type LookLink = (path: string) => Promise<LinkLook>;

export type Resolution = { kind: 'resolved'; path: string; links: string[] } | { kind: 'failed'; why: string };

const MAX_LINKS = 40; // the kernel's own limit on links followed in one lookup
const NOT_LOOKED_BELOW = /^(nfs4?|autofs|cifs|smb3|ceph|9p|glusterfs|lustre|fuse(\..+)?)$/;

function parts(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

/** The mount holding `dir`: the longest mount point at or above it (the last one on a tie). */
function holding(table: readonly MountEntry[], dir: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of table) {
    if (isAtOrBelow(dir, e.mountPoint) && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/** The path with every symbolic link in it followed, looking only where it is safe to (see top). */
export async function resolveLinks(path: string, table: readonly MountEntry[], look: LookLink): Promise<Resolution> {
  const points = new Set(table.map((e) => e.mountPoint));
  let done = '/';
  let rest = parts(path);
  const links: string[] = [];
  while (rest.length > 0) {
    const name = rest.shift()!;
    if (name === '..') {
      done = posix.dirname(done);
      continue;
    }
    const next = posix.join(done, name);
    const fstype = holding(table, done)?.fstype ?? '';
    if (NOT_LOOKED_BELOW.test(fstype)) return { kind: 'resolved', path: posix.join(next, ...rest), links };
    if (points.has(next)) {
      done = next;
      continue;
    }
    const seen = await look(next);
    if (seen.kind === 'other') {
      done = next;
      continue;
    }
    if (seen.kind === 'missing') return { kind: 'resolved', path: posix.join(next, ...rest), links };
    if (seen.kind === 'timeout') return { kind: 'failed', why: `looking at ${next} took too long` };
    if (seen.kind === 'error') return { kind: 'failed', why: `cannot look at ${next} (${seen.code})` };
    links.push(`${next} -> ${seen.target}`);
    if (links.length > MAX_LINKS) return { kind: 'failed', why: 'too many levels of symbolic links' };
    if (seen.target.startsWith('/')) done = '/';
    rest = [...parts(seen.target), ...rest];
  }
  return { kind: 'resolved', path: done, links };
}

const LOOK_SOURCE = `
const fs = require('node:fs');
const path = process.argv[1];
let out;
try {
  out = fs.lstatSync(path).isSymbolicLink() ? { kind: 'link', target: fs.readlinkSync(path) } : { kind: 'other' };
} catch (err) {
  out = err.code === 'ENOENT' || err.code === 'ENOTDIR' ? { kind: 'missing' } : { kind: 'error', code: String(err.code) };
}
process.stdout.write(JSON.stringify(out));
`;

function isLook(value: unknown): value is LinkLook {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

/** The real look: a child process per path, given up (and left behind) at the deadline. */
export function childLook(clock: Clock, deadlineMs: number): LookLink {
  return (path) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['-e', LOOK_SOURCE, path], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      let settled = false;
      const finish = (look: LinkLook): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        resolve(look);
      };
      const timer = clock.setTimeout(() => {
        child.kill('SIGKILL');
        child.unref();
        child.stdout?.destroy();
        finish({ kind: 'timeout' });
      }, deadlineMs);
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'error', code: err.code ?? 'spawn' }));
      child.on('close', () => {
        try {
          const parsed: unknown = JSON.parse(out);
          finish(isLook(parsed) ? parsed : { kind: 'error', code: 'EBADMSG' });
        } catch {
          finish({ kind: 'error', code: 'EBADMSG' });
        }
      });
    });
}

export interface ResolvedMounts {
  /** The paths to probe, in configured order. */
  paths: string[];
  /** Configured paths that were links, and the mount point each names. */
  resolved: { configured: string; path: string; links: string[] }[];
  /** Configured paths that could not be looked at in time: probed as configured. */
  unresolved: { configured: string; why: string }[];
}

/** Thrown for a configured path that resolves to nothing usable: one line naming it and its target. */
export class MountPathError extends Error {}

/** Resolves every configured path (in parallel: one hung parent must not hold up the others). */
export async function resolveConfiguredMounts(
  configured: readonly string[],
  table: readonly MountEntry[],
  look: LookLink,
): Promise<ResolvedMounts> {
  // Each directory is looked at once however many paths pass through it: mounts side by side
  // share their parents, and a child process per parent per path made a large config slow to start.
  const looks = new Map<string, Promise<LinkLook>>();
  const lookOnce: LookLink = (path) => {
    let seen = looks.get(path);
    if (!seen) looks.set(path, (seen = look(path)));
    return seen;
  };
  const outcomes = await Promise.all(configured.map((p) => resolveLinks(p, table, lookOnce)));
  const out: ResolvedMounts = { paths: [], resolved: [], unresolved: [] };
  const first = new Map<string, number>();
  outcomes.forEach((r, i) => {
    const key = `mounts[${i}].path`;
    const given = configured[i]!;
    let path = given;
    if (r.kind === 'failed') {
      if (r.why.startsWith('too many')) throw new MountPathError(`${key}: ${given}: ${r.why}`);
      out.unresolved.push({ configured: given, why: r.why });
    } else if (r.path !== given) {
      if (r.path === '/') throw new MountPathError(`${key}: ${given} is a symbolic link to /, which cannot be a mount to recover`);
      path = r.path;
      out.resolved.push({ configured: given, path, links: r.links });
    }
    const earlier = first.get(path);
    if (earlier !== undefined) {
      throw new MountPathError(`${key}: ${given} names ${path}, as mounts[${earlier}].path (${configured[earlier]}) does: list it once`);
    }
    first.set(path, i);
    out.paths.push(path);
  });
  return out;
}
