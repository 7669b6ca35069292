// How a config problem is reported: one line naming the file and the key path of the bad value,
// and the value itself cut to a short line.

/** Where a value sits in the YAML tree: mapping keys and list indices. */
export type KeyPath = readonly (string | number)[];

/** The file a value at a key path came from (for merged configs, the last file that set it). */
export type SourceOf = (keyPath: KeyPath) => string;

/** A config problem, reported as one line: `<file>[:line:col]: [<key path>: ]<detail>`. */
export class ConfigError extends Error {
  readonly file: string;
  readonly keyPath: string | undefined;

  constructor(opts: { file: string; detail: string; keyPath?: string; line?: number; col?: number }) {
    const where = opts.line === undefined ? opts.file : `${opts.file}:${opts.line}:${opts.col ?? 1}`;
    const key = opts.keyPath ? `${opts.keyPath}: ` : '';
    super(`${where}: ${key}${opts.detail}`);
    this.name = 'ConfigError';
    this.file = opts.file;
    this.keyPath = opts.keyPath || undefined;
  }
}

const MAX_VALUE_TEXT = 60;

/** `recovery.escalation[1]`; keys that are not identifiers are bracketed and quoted. */
export function formatKeyPath(path: KeyPath): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) text += text ? `.${part}` : part;
    else text += `[${JSON.stringify(part)}]`;
  }
  return text;
}

/** A value as it would read in JSON (≈ flow YAML), cut to one short line. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing (the key is missing)';
  let text: string;
  if (typeof value === 'number')
    text = String(value); // Infinity and NaN, which JSON hides
  else if (value instanceof Uint8Array) text = `binary data (${value.length} bytes)`;
  else {
    text =
      JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'number' && !Number.isFinite(inner) ? String(inner) : inner)) ??
      String(value);
  }
  return text.length > MAX_VALUE_TEXT ? `${text.slice(0, MAX_VALUE_TEXT - 1)}…` : text;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
