// Reading the status page back, whether as the daemon rendered it or as a browser serialised its
// DOM: a section by id, its rows by class, and the text a reader sees in them.

/** The `<section id="…">` of the page, up to its end; throws if the page has none. */
export function section(page: string, id: string): string {
  const start = page.indexOf(`<section id="${id}">`);
  if (start < 0) throw new Error(`no section ${id} in the page`);
  const end = page.indexOf('</section>', start);
  return page.slice(start, end < 0 ? undefined : end);
}

/** The table rows `<tr class="cls" …>` in this markup, in their order. */
export function rows(markup: string, cls: string): string[] {
  return [...markup.matchAll(new RegExp(`<tr class="${cls}[^"]*"[^>]*>[\\s\\S]*?</tr>`, 'g'))].map((m) => m[0]);
}

const ENTITIES: Readonly<Record<string, string>> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&nbsp;': ' ' };

/** The text of this markup as read: styles and tags gone (a cell's or a line's end a space), entities decoded, white space collapsed. */
export function textOf(markup: string): string {
  return markup
    .replace(/<style[^>]*>[\s\S]*?<\/style>/g, ' ')
    .replace(/<\/?(?:a|code|span|time)\b[^>]*>/g, '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(?:amp|lt|gt|quot|#39|nbsp);/g, (e) => ENTITIES[e] ?? e)
    .replace(/\s+/g, ' ')
    .trim();
}
