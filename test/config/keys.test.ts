// The key table (src/config/keys.ts) against what is still written by hand beside it: the values
// in config/default.yaml and the README's key table.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_KEYS, KEY_LIST, setValueAt, type KeyTable } from '../../src/config/keys.js';
import { packagedDefaultsPath } from '../../src/config/load.js';
import { README_TABLE_HEADER, readmeKeyTable } from '../../src/config/readme-table.js';
import { validateConfig } from '../../src/config/schema.js';
import type { Config } from '../../src/config/types.js';
import { packageRoot } from '../../src/package-info.js';
import { defaultConfig } from '../helpers/config.js';

// The table is a KeyTable<Config>: tsc rejects a Config field without a key or a key of another type.
// @ts-expect-error a duration field cannot take a boolean key
const _wrongKind: KeyTable<Pick<Config, 'jitterMs'>> = { jitterMs: CONFIG_KEYS.recovery.enabled };
// @ts-expect-error every field needs a key
const _missing: KeyTable<Pick<Config, 'schedule' | 'jitterMs'>> = { schedule: CONFIG_KEYS.schedule };

/** The table's defaults as a YAML tree. */
function tableDefaults(): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  for (const { path, key } of KEY_LIST) setValueAt(tree, path, key.defaultValue);
  return tree;
}

/** The README's key table, found by its header row wherever it sits, up to its last row. */
function readmeTable(): string[] {
  const lines = readFileSync(join(packageRoot(), 'README.md'), 'utf8').split('\n');
  const start = lines.indexOf(README_TABLE_HEADER);
  expect(start, `README.md has no line "${README_TABLE_HEADER}"`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
  return lines.slice(start, end === -1 ? lines.length : end);
}

describe('the key table', () => {
  it('is what config/default.yaml sets, key for key', () => {
    expect(parse(readFileSync(packagedDefaultsPath(), 'utf8'))).toStrictEqual(tableDefaults());
  });

  it('has defaults that read as the documented config', () => {
    expect(validateConfig(tableDefaults(), 'keys.ts')).toEqual(defaultConfig);
  });

  it("states what hang_after's default comes to with the default probe timeout", () => {
    expect(CONFIG_KEYS.recovery.hangAfterMs.shownDefault).toBe(`\`3x\` (${defaultConfig.recovery.hangAfterMs / 1000} s)`);
  });

  it("is the README's key table: every key, its default and meaning (npm run --silent config:readme-table prints it)", () => {
    expect(readmeTable()).toEqual(readmeKeyTable());
  });
});
