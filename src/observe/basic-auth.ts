// HTTP Basic authentication against the web config's basic_auth_users (user → bcrypt hash), as
// exporter-toolkit does it: the user name compared in constant time, and a bcrypt comparison for
// every request that brings credentials — against a stand-in hash when the user is unknown, so an
// unknown name costs what a known one does and timing tells no names. Nothing here logs, and no
// result carries the password or the header.
//
// Loaded only when users are configured (node:crypto and the bcrypt thread stay out of an open
// daemon). bcrypt itself runs on a thread of its own (src/observe/bcrypt-thread.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { createThreadCompare, type ThreadCompare } from './bcrypt-thread.js';
import { bcryptCost } from './web-config.js';

/** Verified credentials kept: Prometheus's scrapes then cost a hash each, not a bcrypt. */
const CACHE_SIZE = 100;
/** Comparisons that may wait their turn; past that a request is refused without one. */
export const MAX_WAITING = 8;

/** Whether a request may join a queue that `waiting` comparisons already wait in. */
export function admits(waiting: number, limit = MAX_WAITING): boolean {
  return waiting < limit;
}

export interface BasicAuth {
  /**
   * Whether an Authorization header's credentials are a configured user's. `gone`: whether the
   * client has gone meanwhile: its turn in the queue is then skipped, not spent on a bcrypt.
   */
  check(authorization: string | undefined, gone?: () => boolean): Promise<boolean>;
}

export interface BasicAuthOptions {
  /** The comparison; bcryptjs's on a worker thread unless a test counts the calls. */
  compare?: (password: string, hash: string) => Promise<boolean>;
  /** How many comparisons may wait their turn (MAX_WAITING). */
  maxWaiting?: number;
}

const digest = (...parts: string[]): Buffer => {
  const h = createHash('sha256');
  for (const part of parts) h.update(part).update('\0');
  return h.digest();
};

/** "Basic base64(user:password)" → its two parts; null for any other header. */
export function parseBasic(authorization: string | undefined): { user: string; password: string } | null {
  const m = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization ?? '');
  if (!m?.[1]) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The daemon's one bcrypt thread, shared by the web configs a reload replaces. */
let thread: ThreadCompare | undefined;

export function createBasicAuth(users: ReadonlyMap<string, string>, opts: BasicAuthOptions = {}): BasicAuth {
  const compare = opts.compare ?? (thread ??= createThreadCompare()).compare;
  const maxWaiting = opts.maxWaiting ?? MAX_WAITING;
  const entries = [...users].map(([user, hash]) => ({ digest: digest(user), hash }));
  // The stand-in for an unknown user: a configured hash of the highest cost, so the comparison costs
  // what a known user's would; its outcome is never used.
  const cost = (hash: string): number => bcryptCost(hash) ?? 0;
  const standIn = [...users.values()].sort((a, b) => cost(b) - cost(a))[0] ?? '';
  // Keyed by a digest of user, hash and password (the plaintext is not kept); successes only, so
  // failed attempts cannot push a good entry out.
  const verified = new Set<string>();
  // One bcrypt at a time, as exporter-toolkit's mutex: a burst of bad requests queues instead of
  // all running at once; bounded, so a flood of wrong passwords cannot build a backlog.
  let queue: Promise<unknown> = Promise.resolve();
  let waiting = 0;

  return {
    async check(authorization, gone = () => false) {
      const creds = parseBasic(authorization);
      if (creds === null || entries.length === 0) return false;
      const given = digest(creds.user);
      let hash: string | undefined;
      // Every entry is compared, the match or not: the time does not depend on which one matches.
      for (const e of entries) if (timingSafeEqual(e.digest, given) && hash === undefined) hash = e.hash;
      const key = digest(creds.user, hash ?? standIn, creds.password).toString('hex');
      if (hash !== undefined && verified.has(key)) return true;
      if (!admits(waiting, maxWaiting)) return false;
      waiting++;
      // A client that gave up (a scraper's timeout) must not leave bcrypts queued before the next one.
      const turn = queue.then(() => {
        waiting--;
        return gone() ? false : compare(creds.password, hash ?? standIn);
      });
      queue = turn.catch(() => undefined);
      const ok = (await turn.catch(() => false)) && hash !== undefined;
      if (ok) {
        if (verified.size >= CACHE_SIZE) verified.delete(verified.values().next().value as string);
        verified.add(key);
      }
      return ok;
    },
  };
}
