// The README's table of config keys, printed from the key table so that a key's default and
// meaning are edited in one place (`npm run --silent config:readme-table`).

import { KEY_LIST } from './keys.js';

/** The table's header row, by which a test finds the table wherever it sits in the README. */
export const README_TABLE_HEADER = '| key | default | meaning |';

/** The markdown table, one line per key in file order. */
export function readmeKeyTable(): string[] {
  const rows = KEY_LIST.map(({ path, key }) => `| \`${path.join('.')}${key.docSuffix}\` | ${key.shownDefault} | ${key.doc} |`);
  return [README_TABLE_HEADER, '|---|---|---|', ...rows];
}
