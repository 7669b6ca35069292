// The status page on GET /: the status document (GET /status) as HTML for someone who opens the
// node's port in a browser mid-incident. Pure: the document in, the page out. No script at all (it
// reads the same with JavaScript off), no external asset, and every string from the document goes
// through escapeHtml: mount paths, commands, their output and process names come from the system.
import { who, type HolderStatus, type MountStatus, type RecoveryStatus, type StatusDoc, type StepStatus } from './status-board.js';
import { age, collateralWhat, holderWhere, lastRecoveryOf, mountWhat, recoveryHow, seconds } from './status-words.js';

// Every 5 s: a probe round's results and a recovery's steps show within seconds of the daemon
// knowing them, while each refresh costs the daemon one snapshot of its memory.
export const REFRESH_SECONDS = 5;

/** The page allows no script, no asset, no form: only its own inline style. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML, in element content and in a quoted attribute alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** Markup already escaped: what `html` makes, and the only thing it inserts as is. */
class Html {
  constructor(readonly text: string) {}
}

type Part = Html | readonly Html[] | string | number | null | undefined;

/** A template whose every inserted value is escaped, unless it is markup `html` made. */
function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0] ?? '';
  parts.forEach((p, i) => {
    out += partText(p) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function partText(p: Part): string {
  if (p === null || p === undefined) return '';
  if (typeof p === 'string' || typeof p === 'number') return escapeHtml(String(p));
  if (p instanceof Html) return p.text;
  return p.map((h) => h.text).join('');
}

const STYLE = new Html(`
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:8px 16px}
main,footer{padding:0 16px}
footer{border-top:1px solid #d0d7de;margin-top:16px;padding-top:8px;padding-bottom:16px}
h1{font-size:18px;margin:2px 0}
h2{font-size:16px;margin:20px 0 6px}
h3{font-size:14px;margin:12px 0 4px}
p{margin:4px 0}
.summary{font-size:17px;font-weight:600;padding:8px 12px;border-radius:4px;margin:12px 0 4px;color:#fff}
table{border-collapse:collapse;margin:4px 0 8px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
.n{white-space:nowrap}
th{background:#f6f8fa;font-weight:600}
code,pre{font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;min-width:30ch;max-width:70ch}
ul{margin:2px 0;padding-left:18px}
.badge{display:inline-block;padding:0 7px;border-radius:3px;color:#fff;font-weight:600;white-space:nowrap}
.ok{background:#1a7f37}.failing{background:#cf222e}.hung{background:#8250df}.unknown{background:#6e7781}
.detached{background:#bc4c00}.running{background:#9a6700}
.muted{color:#59636e}
tr.lv-warn{background:#fff8c5}tr.lv-error{background:#ffebe9}
.lv-info .level{color:#59636e}.lv-warn .level{color:#9a6700;font-weight:600}.lv-error .level{color:#cf222e;font-weight:700}
`);

/** The daemon's other routes; /status only where there is a status board. */
function links(status: boolean): Html {
  const routes = [
    ...(status ? [html`<a href="status">/status</a> (this page as JSON)`] : []),
    html`<a href="metrics">/metrics</a> (Prometheus)`,
    html`<a href="healthz">/healthz</a> (is the probe loop alive)`,
  ];
  return html`<nav>${routes.map((r, i) => (i === 0 ? r : html` · ${r}`))}</nav>`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : word.endsWith('s') ? 'es' : 's'}`;

/** An ISO time as read at a glance, to the second; the exact time is in its datetime attribute. */
function when(iso: string): Html {
  const shown = iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return html`<time datetime="${iso}">${shown}</time>`;
}

/** A hang is a failure of its own kind: its colour says so before its result is read. */
function stateClass(m: MountStatus): string {
  if (m.state !== 'failing') return m.state;
  return m.result === 'timeout' || m.result === 'automount_timeout' ? 'hung' : 'failing';
}

const badge = (cls: string, text: string): Html => html`<span class="badge ${cls}">${text}</span>`;

function summary(doc: StatusDoc, now: string): { text: string; cls: string } {
  const n = doc.mounts.length;
  const failing = doc.mounts.filter((m) => m.state === 'failing');
  const unknown = doc.mounts.filter((m) => m.state === 'unknown').length;
  const parts = [
    failing.length > 0
      ? `${failing.length} of ${plural(n, 'mount')} failing`
      : unknown > 0
        ? `${unknown} of ${plural(n, 'mount')} not probed yet`
        : `all ${plural(n, 'mount')} ok`,
  ];
  const detached = doc.holders.filter((h) => h.state !== 'failing').length;
  if (detached > 0) parts.push(`${plural(detached, 'process')} on ${detached === 1 ? 'a detached mount' : 'detached mounts'}`);
  const r = doc.recovery;
  if (r?.running) parts.push('recovery running');
  else if (r?.finished_at) parts.push(`last recovery ${r.result ?? '?'} ${age(r.finished_at, now)} ago`);
  if (doc.put_back.waiting.length > 0) parts.push(`${plural(doc.put_back.waiting.length, 'static mount')} waiting to be put back`);
  const cls = failing.some((m) => stateClass(m) === 'failing') ? 'failing' : failing.length > 0 ? 'hung' : unknown > 0 ? 'unknown' : 'ok';
  return { text: parts.join(', '), cls };
}

function mountRow(m: MountStatus, doc: StatusDoc, now: string): Html {
  const cls = stateClass(m);
  const errno = m.errno !== null && m.errno !== m.result ? ` (${m.errno})` : '';
  const blocked = m.blocked_ms === null ? null : html`<br /><span class="muted">blocked ${seconds(m.blocked_ms)}</span>`;
  const since = m.since === null ? html`<span class="muted">—</span>` : html`${when(m.since)} (${age(m.since, now)})`;
  const probed =
    m.last_probed_at === null
      ? html`<span class="muted">—</span>`
      : html`${age(m.last_probed_at, now)} ago${m.probe_ms === null ? '' : `, took ${m.probe_ms} ms`}`;
  const on = m.mounted === null ? '—' : m.mounted ? `${m.fstype ?? '?'}, mount ${m.mount_id ?? '?'}` : 'nothing mounted on the path';
  return html`<tr class="mount" data-state="${cls}">
    <td>${badge(cls, m.state)}</td>
    <td><code>${m.mount}</code></td>
    <td>${mountWhat(m)}${errno}${blocked}</td>
    <td class="n">${since}</td>
    <td class="n">${probed}</td>
    <td>${on}</td>
    <td>${lastRecoveryOf(doc, m.mount) ?? '—'}</td>
  </tr>`;
}

function mountsSection(doc: StatusDoc, now: string): Html {
  const rows = doc.mounts.map((m) => mountRow(m, doc, now));
  return html`<section id="mounts">
    <h2>Mounts</h2>
    <table>
      <tr>
        <th>state</th>
        <th>mount</th>
        <th>result</th>
        <th>since</th>
        <th>probed</th>
        <th>on the path</th>
        <th>last recovery</th>
      </tr>
      ${rows}
    </table>
  </section>`;
}

function holderRow(h: HolderStatus, now: string): Html {
  const cls = h.state === 'failing' ? 'failing' : h.state === 'detached' ? 'detached' : 'unknown';
  const holds = h.holds.map((x) => html`<li><code>${x}</code></li>`);
  return html`<tr class="holder" data-pid="${h.pid}">
    <td class="n"><code>${who(h)}</code></td>
    <td class="n">${h.uid ?? '?'}</td>
    <td><code>${h.mount}</code></td>
    <td>${badge(cls, h.state)} ${holderWhere(h)}</td>
    <td>
      <ul>
        ${holds}
      </ul>
    </td>
    <td class="n">${when(h.since)} (${age(h.since, now)})</td>
  </tr>`;
}

function holdersSection(doc: StatusDoc, now: string): Html {
  const body =
    doc.holders.length === 0
      ? html`<p class="muted">No process on a failing or detached mount.</p>`
      : html`<table>
          <tr>
            <th>process</th>
            <th>uid</th>
            <th>mount</th>
            <th>which mount</th>
            <th>holds</th>
            <th>seen since</th>
          </tr>
          ${doc.holders.map((h) => holderRow(h, now))}
        </table>`;
  return html`<section id="holders">
    <h2>Processes on failing or detached mounts</h2>
    ${body}
  </section>`;
}

const statusClass = (status: string): string => (status === 'ok' ? 'ok' : 'failing');

function exitText(s: { exit_code: number | null; signal?: string | null }): string {
  if (s.exit_code !== null) return `exit ${s.exit_code}`;
  return s.signal ? `signal ${s.signal}` : '—';
}

const output = (text: string): Html => (text === '' ? html`<span class="muted">—</span>` : html`<pre>${text}</pre>`);

function stepRow(s: StepStatus): Html {
  const detached = s.detached ? html` <span class="muted">(detached)</span>` : '';
  return html`<tr class="step">
    <td class="n">${when(s.at)}</td>
    <td>${s.kind}</td>
    <td class="n"><code>${s.argv.join(' ')}</code></td>
    <td class="n">${badge(statusClass(s.status), s.status)}${detached}</td>
    <td class="n">${exitText(s)}</td>
    <td class="n">${s.duration_ms} ms</td>
    <td>${output(s.output)}</td>
  </tr>`;
}

function outcomeBadge(outcome: string | null): Html {
  if (outcome === null) return badge('running', 'running');
  return badge(outcome === 'ok' ? 'ok' : outcome === 'dry_run' ? 'unknown' : 'failing', outcome);
}

function recoverySection(r: RecoveryStatus | null, now: string): Html {
  if (r === null)
    return html`<section id="recovery">
      <h2>Last recovery</h2>
      <p class="muted">No recovery since the daemon started.</p>
    </section>`;
  const finished = r.finished_at === null ? '' : html`, finished ${when(r.finished_at)}`;
  const failing = r.still_failing.length > 0 ? html`<p>Still failing: ${r.still_failing.map((m) => html`<code>${m}</code> `)}</p>` : '';
  const targets = r.targets.map(
    (t) =>
      html`<tr class="target">
        <td><code>${t.mount}</code></td>
        <td>${t.result}${t.blocked_ms === null ? '' : `, blocked ${seconds(t.blocked_ms)}`}</td>
        <td>${outcomeBadge(t.outcome)}</td>
      </tr>`,
  );
  const steps =
    r.steps.length === 0
      ? html`<p class="muted">No step finished yet.</p>`
      : html`<table>
          <tr>
            <th>at</th>
            <th>kind</th>
            <th>command</th>
            <th>status</th>
            <th>exit</th>
            <th>took</th>
            <th>output</th>
          </tr>
          ${r.steps.map(stepRow)}
        </table>`;
  const wouldRun =
    r.would_run.length === 0
      ? ''
      : html`<h3>Would run (dry run: nothing ran)</h3>
          <ul>
            ${r.would_run.map((argv) => html`<li><code>${argv.join(' ')}</code></li>`)}
          </ul>`;
  const collateral =
    r.collateral.length === 0
      ? ''
      : html`<h3>Static mounts taken away</h3>
          <table>
            <tr>
              <th>mount</th>
              <th>source</th>
              <th>outcome</th>
              <th>command</th>
              <th>exit</th>
              <th>took</th>
              <th>output</th>
            </tr>
            ${r.collateral.map(
              (c) =>
                html`<tr class="collateral">
                  <td><code>${c.mount}</code></td>
                  <td><code>${c.source}</code> (${c.fstype}, ${c.via})</td>
                  <td>${badge(c.outcome === 'remounted' ? 'ok' : 'failing', collateralWhat(c))}</td>
                  <td><code>${c.argv.join(' ')}</code></td>
                  <td class="n">${exitText(c)}</td>
                  <td class="n">${c.duration_ms} ms</td>
                  <td>${output(c.output)}</td>
                </tr>`,
            )}
          </table>`;
  return html`<section id="recovery">
    <h2>Last recovery: ${recoveryHow(r)}</h2>
    <p>Started ${when(r.started_at)} (${age(r.started_at, now)} ago)${finished}.</p>
    ${failing}
    <table>
      <tr>
        <th>mount</th>
        <th>triggered by</th>
        <th>outcome</th>
      </tr>
      ${targets}
    </table>
    <h3>Steps</h3>
    ${steps}${wouldRun}${collateral}
  </section>`;
}

function putBackSection(doc: StatusDoc, now: string): Html {
  const { waiting, done } = doc.put_back;
  if (waiting.length === 0 && done.length === 0) {
    return html`<section id="put-back">
      <h2>Static mounts put back</h2>
      <p class="muted">None taken away.</p>
    </section>`;
  }
  const waitingRows = waiting.map(
    (p) =>
      html`<tr class="put-back">
        <td><code>${p.mount}</code></td>
        <td>${badge('failing', 'waiting')}</td>
        <td>${p.server ?? '?'}</td>
        <td class="n">${when(p.since)} (${age(p.since, now)} ago)</td>
        <td>last try ${p.outcome} (${p.tries})</td>
      </tr>`,
  );
  const doneRows = done.map(
    (p) =>
      html`<tr class="put-back">
        <td><code>${p.mount}</code></td>
        <td>${badge('ok', 'put back')}</td>
        <td>${p.server ?? '?'}</td>
        <td>${when(p.since)}</td>
        <td>${p.outcome}${p.at === null ? '' : html` at ${when(p.at)}`}</td>
      </tr>`,
  );
  return html`<section id="put-back">
    <h2>Static mounts put back</h2>
    <table>
      <tr>
        <th>mount</th>
        <th>state</th>
        <th>server</th>
        <th>taken away</th>
        <th>outcome</th>
      </tr>
      ${waitingRows}${doneRows}
    </table>
  </section>`;
}

function eventsSection(doc: StatusDoc, now: string): Html {
  if (doc.events.length === 0)
    return html`<section id="events">
      <h2>Events</h2>
      <p class="muted">None yet.</p>
    </section>`;
  const rows = doc.events.map(
    (e) =>
      html`<tr class="event lv-${e.level}">
        <td class="n">${when(e.at)}</td>
        <td class="n muted">${age(e.at, now)} ago</td>
        <td class="level">${e.level}</td>
        <td>${e.text}</td>
      </tr>`,
  );
  return html`<section id="events">
    <h2>Events (newest first)</h2>
    <table>
      <tr>
        <th>at</th>
        <th>ago</th>
        <th>level</th>
        <th>what</th>
      </tr>
      ${rows}
    </table>
  </section>`;
}

/** The status page: the document as HTML; ages are counted to `now`, the document's own time by default. */
export function renderStatusPage(doc: StatusDoc, version: string, now: Date = new Date(doc.generated_at)): string {
  const to = now.toISOString();
  const d = doc.daemon;
  const s = summary(doc, to);
  return `<!doctype html>
${
  html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta http-equiv="refresh" content="${REFRESH_SECONDS}" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>${s.text} — nfs-health-checkd</title>
      <style>
        ${STYLE}
      </style>
    </head>
    <body>
      <header>
        <h1>nfs-health-checkd ${version}</h1>
        <p>
          pid ${d.pid}, up since ${when(d.started_at)} (${age(d.started_at, to)}), schedule <code>${d.schedule}</code>. As the daemon knew
          it at ${when(doc.generated_at)}; this page reloads every ${REFRESH_SECONDS} s.
        </p>
        ${links(true)}
      </header>
      <main>
        <div class="summary ${s.cls}" id="summary">${s.text}</div>
        ${mountsSection(doc, to)} ${holdersSection(doc, to)} ${recoverySection(doc.recovery, to)} ${putBackSection(doc, to)}
        ${eventsSection(doc, to)}
      </main>
      <footer>
        ${links(true)}
        <p class="muted">Served from the daemon's memory: making this page touches no mount and waits on no probe.</p>
      </footer>
    </body>
  </html>`.text
}
`;
}

/** The page of a daemon with no status board: what it is and its links. */
export function linksPage(version: string): string {
  return `<!doctype html>
${
  html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <title>nfs-health-checkd</title>
    </head>
    <body>
      <h1>nfs-health-checkd ${version}</h1>
      <p>Probes NFS mounts and recovers them from stale handles and hangs.</p>
      ${links(false)}
    </body>
  </html>`.text
}
`;
}
