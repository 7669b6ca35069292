// The README and the docs the packages ship beside it: every relative link finds its file and,
// for a Markdown file, its heading (as GitHub names the anchor); every alert of the shipped rules
// is in the README's alert table, linked to its entry in the runbook.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const ROOT = path.join(import.meta.dirname, '..', '..');
const DOCS = [
  'README.md',
  'CHANGELOG.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'bench/README.md',
  'test/e2e/README.md',
];

/** The lines outside fenced code blocks (a `#` there is a shell comment, not a heading). */
function prose(file: string): string[] {
  let fenced = false;
  return fs
    .readFileSync(path.join(ROOT, file), 'utf8')
    .split('\n')
    .filter((l) => {
      if (/^\s*```/.test(l)) {
        fenced = !fenced;
        return false;
      }
      return !fenced;
    });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const l of prose(file)) {
    const m = /^#{1,6}\s+(.*)$/.exec(l);
    if (!m) continue;
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every relative link target in the file's prose, inline code left out. */
function links(file: string): string[] {
  return prose(file)
    .map((l) => l.replace(/`[^`]*`/g, 'code'))
    .flatMap((l) => [...l.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!))
    .filter((t) => !/^[a-z]+:/.test(t));
}

describe('documentation links', () => {
  it.each(DOCS)('%s: every relative link finds its file and heading', (file) => {
    const broken: string[] = [];
    for (const target of links(file)) {
      const [rel, anchor] = target.split('#', 2) as [string, string | undefined];
      const to = rel === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), rel));
      if (!fs.existsSync(path.join(ROOT, to))) broken.push(`${target}: no ${to}`);
      else if (anchor !== undefined && to.endsWith('.md') && !anchors(to).has(anchor))
        broken.push(`${target}: no heading #${anchor} in ${to}`);
    }
    expect(broken).toEqual([]);
  });

  it("the README's alert table links each shipped alert to its runbook entry", () => {
    const rules = YAML.parse(fs.readFileSync(path.join(ROOT, 'packaging/prometheus/nfs-health-checkd.rules.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert?: string }> }>;
    };
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    const rows = prose('README.md').flatMap((l) => {
      const m = /^\| \[`(\w+)`\]\(docs\/runbook\.md#([\w-]+)\) \|/.exec(l);
      return m ? [[m[1]!, m[2]!] as const] : [];
    });
    expect(rows.map(([name]) => name)).toEqual(alerts);
    const entries = anchors('docs/runbook.md');
    for (const [name, anchor] of rows) {
      expect(anchor).toBe(name.toLowerCase());
      expect(entries.has(anchor), `docs/runbook.md has no heading ${name}`).toBe(true);
    }
  });
});
