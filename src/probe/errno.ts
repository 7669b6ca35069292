// Errno names, from two tables, neither complete: the OS's (has ESTALE, which libuv leaves
// unnamed) and libuv's (has EHOSTDOWN, which Node's os.constants lacks). Built once, for the probe
// (naming a failed call) and the config (checking recovery.triggers).
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

const ERRNO_PATTERN = /^E[A-Z0-9]+$/;

/** errno number → its conventional name. */
const byNumber = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  // Aliases (EWOULDBLOCK = EAGAIN, EDEADLOCK = EDEADLK): keep the first, the conventional name.
  if (!byNumber.has(value)) byNumber.set(value, name);
}
for (const [negative, [name]] of getSystemErrorMap()) {
  if (!byNumber.has(-negative) && ERRNO_PATTERN.test(name)) byNumber.set(-negative, name);
}

/** Every errno name either table knows, aliases included: what a trigger may name. */
export const ERRNO_NAMES: ReadonlySet<string> = new Set([
  ...Object.keys(constants.errno),
  ...[...getSystemErrorMap().values()].map(([name]) => name).filter((name) => ERRNO_PATTERN.test(name)),
]);

/** A failed call's name: its errno name, `errno_<n>` for a number no table names, or `error`. */
export type ErrnoResult = `E${string}` | `errno_${number}` | 'error';

/**
 * The errno name of a failed fs call. Node leaves some unnamed — ESTALE arrives as
 * code "Unknown system error -116" — so the number decides, the code is the fallback.
 */
export function errnoName(errno: number | undefined, code: string | undefined): ErrnoResult {
  if (errno !== undefined) {
    const name = byNumber.get(Math.abs(errno));
    if (name) return name as ErrnoResult; // every name in the table matches ERRNO_PATTERN
  }
  if (code && ERRNO_PATTERN.test(code)) return code as ErrnoResult;
  return errno !== undefined ? `errno_${Math.abs(errno)}` : 'error';
}
