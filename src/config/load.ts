// Loads the effective config: the packaged config/default.yaml, overridden key by key by the
// user's file, validated as a whole. Synchronous on purpose: it runs once, before anything else.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Document, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import { packageRoot } from '../package-info.js';
import { ConfigError, isMapping, showValue, type KeyPath } from './config-error.js';
import { KEY_LIST, setValueAt, valueAt } from './keys.js';
import { validateConfig } from './schema.js';
import type { Config, LoadedConfig } from './types.js';

export { ConfigError } from './config-error.js';

export const DEFAULT_ETC_FILE = '/etc/nfs-health-checkd/config.yaml';

export interface LoadOptions {
  /** A file given on the command line: must exist. */
  file?: string;
  /** Read when `file` is not given, if it exists. */
  etcFile?: string;
  /** Base layer; the packaged config/default.yaml unless given (tests). */
  defaultsFile?: string;
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const defaults = resolve(opts.defaultsFile ?? packagedDefaultsPath());
  const etcFile = opts.etcFile ?? DEFAULT_ETC_FILE;
  let user: string | undefined;
  if (opts.file !== undefined) user = resolve(opts.file);
  else if (existsSync(etcFile)) user = resolve(etcFile);
  const sources = user === undefined ? [defaults] : [defaults, user];

  let merged: unknown = undefined;
  const origins = new Map<string, string>();
  for (const file of sources) merged = mergeInto(merged, readYamlFile(file), file, [], origins);
  const config = validateConfig(merged, (path) => originOf(path, origins, defaults));
  return { config, sources };
}

/** config/default.yaml of this package, found from here both in src/config/ and dist/src/config/. */
export function packagedDefaultsPath(): string {
  return join(packageRoot(), 'config', 'default.yaml');
}

/** The top-level mapping of one YAML file, or a one-line ConfigError. */
export function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError({ file, detail: `cannot read: ${describeFsError(err)}` });
  }
  const { value, empty } = parseYaml(text, file);
  if (!isMapping(value)) {
    const got = empty ? 'an empty file' : showValue(value);
    throw new ConfigError({ file, detail: `expected a mapping of settings at the top level, got ${got}` });
  }
  return value;
}

/** YAML text as plain values (`empty`: no document at all), or a one-line ConfigError at the line of the fault. */
export function parseYaml(text: string, file: string): { value: unknown; empty: boolean } {
  const lineCounter = new LineCounter();
  // logLevel 'error': the yaml package would otherwise print its own warnings to stderr.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: 'error' });
  const syntax = doc.errors[0];
  if (syntax) throw yamlError(file, lineCounter, syntax.pos[0], syntax.message);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 }); // bounds "billion laughs" alias expansion
  } catch (err) {
    // Unresolved or runaway aliases surface only here; point at the first alias.
    let offset: number | undefined;
    visit(doc, {
      Alias(_key, node) {
        offset = node.range?.[0];
        return visit.BREAK;
      },
    });
    throw yamlError(file, lineCounter, offset, err instanceof Error ? err.message : String(err));
  }
  return { value, empty: doc.contents === null };
}

function yamlError(file: string, lines: LineCounter, offset: number | undefined, message: string) {
  const pos = offset === undefined ? undefined : lines.linePos(offset);
  const firstLine = message.split('\n', 1)[0] ?? message;
  return new ConfigError({ file, line: pos?.line, col: pos?.col, detail: `invalid YAML: ${firstLine}` });
}

/** An fs error as a reader wants it: "no such file or directory (ENOENT)". */
export function describeFsError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // "ENOENT: no such file or directory, open '/x'" → "no such file or directory (ENOENT)"
  const { code, syscall } = err as NodeJS.ErrnoException;
  if (!code || !err.message.startsWith(`${code}: `)) return err.message;
  let reason = err.message.slice(code.length + 2);
  const tail = syscall ? reason.lastIndexOf(`, ${syscall}`) : -1;
  if (tail > 0) reason = reason.slice(0, tail);
  return `${reason} (${code})`;
}

/**
 * Deep-merges `over` onto `base`: mappings merge key by key, anything else (lists included)
 * replaces. Records in `origins` every key path `file` set, so errors can name that file.
 */
function mergeInto(base: unknown, over: unknown, file: string, path: KeyPath, origins: Map<string, string>): unknown {
  if (isMapping(base) && isMapping(over)) {
    // Object.fromEntries defines own properties, so a "__proto__" key stays a (rejected) key.
    const keys = new Set([...Object.keys(base), ...Object.keys(over)]);
    return Object.fromEntries(
      [...keys].map((key) => [
        key,
        Object.hasOwn(over, key) ? mergeInto(own(base, key), over[key], file, [...path, key], origins) : base[key],
      ]),
    );
  }
  origins.set(JSON.stringify(path), file);
  return over;
}

/** Never an inherited property: base["__proto__"] would otherwise be Object.prototype. */
function own(mapping: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(mapping, key) ? mapping[key] : undefined;
}

/** The file that set `path` or the nearest enclosing value; the defaults when no layer did. */
function originOf(path: KeyPath, origins: Map<string, string>, defaults: string): string {
  for (let n = path.length; n >= 0; n--) {
    const file = origins.get(JSON.stringify(path.slice(0, n)));
    if (file !== undefined) return file;
  }
  return defaults;
}

/** The effective config as YAML in the file's own form: snake_case keys, durations with units. */
export function renderConfig(config: Config): string {
  const tree: Record<string, unknown> = {};
  for (const { path, field, key } of KEY_LIST) setValueAt(tree, path, key.render(valueAt(config, field)));
  const doc = new Document(tree, { aliasDuplicateObjects: false }); // a shared array must print twice, not as &anchor/*alias
  // Command lines and trigger lists read best on one line each, as in config/default.yaml.
  for (const { path, key } of KEY_LIST) {
    const node = doc.getIn(path, true);
    if (!isSeq(node)) continue;
    if (key.flow === 'list') node.flow = true;
    if (key.flow === 'items') for (const item of node.items) if (isSeq(item)) item.flow = true;
  }
  return doc.toString({ flowCollectionPadding: false });
}
