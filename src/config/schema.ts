// Validation of the merged YAML tree into a Config, key by key as the table in keys.ts lists them.
// Strict on purpose: an unknown key is most likely a typo that would silently leave a default in
// force, so it is an error, as is any value of the wrong type. The first problem found is thrown as
// a one-line ConfigError naming the file the bad value came from.

import { ConfigError, formatKeyPath, showValue, type KeyPath, type SourceOf } from './config-error.js';
import { formatDuration } from './duration.js';
import { CONFIG_KEYS, KEY_LIST, KEY_MAPPINGS, setValueAt, valueAt, type ConfigKey } from './keys.js';
import { mapping, type ParseContext } from './kinds.js';
import type { Config } from './types.js';

export { ConfigError, type KeyPath, type SourceOf } from './config-error.js';
export { HOST_MOUNT_NAMESPACE } from './kinds.js';

/** Validates a whole YAML tree (defaults already merged in). `source` is a file name or a SourceOf. */
export function validateConfig(tree: unknown, source: string | SourceOf): Config {
  const reader = new Reader(typeof source === 'string' ? () => source : source);
  // Unknown keys anywhere are reported before any value is checked.
  for (const { path, keys } of KEY_MAPPINGS) mapping(reader, path, valueAt(tree, path), keys);
  const config: Record<string, unknown> = {};
  for (const { path, field, key } of KEY_LIST) {
    const dotted = path.join('.');
    const raw = valueAt(tree, path);
    const value = key.parse(raw, path, reader);
    reader.read(dotted, value, raw);
    setValueAt(config, field, value);
    CROSS_KEY_RULES.get(dotted)?.(reader);
  }
  // KeyTable<Config> gives every field of Config a key, so every field is set.
  return config as unknown as Config;
}

/**
 * Rules between keys. Each runs as soon as the later of its keys is read, so the first error
 * reported is still the first in the file.
 */
const CROSS_KEY_RULES = new Map<string, (r: Reader) => void>([
  [
    'probe.workers.max',
    (r) => {
      const warm = r.number('probe.workers.warm');
      if (r.number('probe.workers.max') >= warm) return;
      const most = upperBound(CONFIG_KEYS.probe.workers.max);
      r.expected(['probe', 'workers', 'max'], `a whole number at least warm (${warm}) and at most ${most}`, r.raw('probe.workers.max'));
    },
  ],
  [
    'recovery.max_backoff',
    (r) => {
      const cooldownMs = r.number('recovery.cooldown');
      const maxBackoffMs = r.number('recovery.max_backoff');
      if (maxBackoffMs >= cooldownMs) return;
      const cooldownPath = ['recovery', 'cooldown'];
      const backoffPath = ['recovery', 'max_backoff'];
      // Blame whichever of the two a user file set: the root's source is the base (defaults) layer,
      // and "max_backoff is too low" in default.yaml would send the reader to the wrong file.
      const backoffFile = r.sourceOf(backoffPath);
      if (r.sourceOf(cooldownPath) !== backoffFile && backoffFile === r.sourceOf([])) {
        const bound = `${formatDuration(maxBackoffMs)}, from ${backoffFile}`;
        r.expected(cooldownPath, `a duration at most max_backoff (${bound})`, r.raw('recovery.cooldown'));
      }
      const bound = `at least cooldown (${formatDuration(cooldownMs)}) and at most ${formatDuration(upperBound(CONFIG_KEYS.recovery.maxBackoffMs))}`;
      r.expected(backoffPath, `a duration ${bound}`, r.raw('recovery.max_backoff'));
    },
  ],
]);

// A rule keyed by a name the table no longer has would silently never run: fail at load instead.
for (const dotted of CROSS_KEY_RULES.keys()) {
  if (!KEY_LIST.some((k) => k.path.join('.') === dotted)) throw new Error(`cross-key rule for unknown key ${dotted}`);
}

/** The largest value a numeric key takes, for a rule's message to quote it from the table. */
function upperBound(key: ConfigKey<number>): number {
  if (key.bounds === undefined) throw new Error(`${key.name} has no bounds`);
  return key.bounds.max;
}

/** The keys read so far (file order), and the errors, each naming the file a value came from. */
class Reader implements ParseContext {
  private readonly values = new Map<string, { value: unknown; raw: unknown }>();

  constructor(readonly sourceOf: SourceOf) {}

  fail(at: KeyPath, detail: string): never {
    throw new ConfigError({ file: this.sourceOf(at), keyPath: formatKeyPath(at), detail });
  }

  expected(at: KeyPath, what: string, value: unknown): never {
    this.fail(at, `expected ${what}, got ${showValue(value)}`);
  }

  read(path: string, value: unknown, raw: unknown): void {
    this.values.set(path, { value, raw });
  }

  earlier(path: string): unknown {
    const read = this.values.get(path);
    // A key listed after the one that needs it: a mistake in the table, not in the config.
    if (read === undefined) throw new Error(`${path} is needed before it is read`);
    return read.value;
  }

  number(path: string): number {
    const value = this.earlier(path);
    if (typeof value !== 'number') throw new Error(`${path} is not a number`);
    return value;
  }

  raw(path: string): unknown {
    return this.values.get(path)?.raw;
  }
}
