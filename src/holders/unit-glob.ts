// systemd unit-name globs for holders.restart_units, matched as systemctl matches its patterns
// (fnmatch without FNM_PATHNAME: `*` and `?` match any character, `[...]` a class, `[!...]` its
// complement).

/** A unit name's characters (systemd's unit_name_is_valid) and the glob characters. */
const GLOB_CHARS = /^[A-Za-z0-9:_.\\@*?[\]!-]+$/;

/** Why `pattern` is no restartable-unit glob, or null when it is one. */
export function unitGlobProblem(pattern: string): string | null {
  if (!GLOB_CHARS.test(pattern)) return 'only letters, digits, ":_.\\@-" and the glob characters * ? [ ]';
  if (!pattern.endsWith('.service')) return 'a glob ending in .service (only services can be restarted)';
  if (pattern.startsWith('-')) return 'a unit name, which never starts with "-"';
  let open = false;
  for (const c of pattern) {
    if (c === '[') {
      if (open) return 'no "[" inside a [...] class';
      open = true;
    } else if (c === ']') {
      if (!open) return 'a "]" only to close a [...] class';
      open = false;
    }
  }
  return open ? 'every "[" closed by a "]"' : null;
}

export function unitGlobRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else source += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** One matcher for a list of globs; an empty list matches nothing. */
export function unitMatcher(patterns: readonly string[]): (unit: string) => boolean {
  const res = patterns.map(unitGlobRegExp);
  return (unit) => res.some((re) => re.test(unit));
}
