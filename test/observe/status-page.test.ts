// The status page rendered from fixed documents: what it says of each part of an incident, what it
// says when there is nothing to say, and that no string from the document can add markup to it.
import { describe, expect, it } from 'vitest';
import type { StatusDoc } from '../../src/observe/status-board.js';
import { escapeHtml, linksPage, REFRESH_SECONDS, renderStatusPage } from '../../src/observe/status-page.js';
import { formatStatus } from '../../src/status.js';
import { rows, section, textOf } from '../helpers/page-dom.js';
import { freshDoc, incidentDoc } from '../helpers/status-doc.js';

describe('escapeHtml', () => {
  it.each([
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['"><img src=x onerror=alert(1)>', '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'],
    ["' onmouseover='alert(1)", '&#39; onmouseover=&#39;alert(1)'],
    ['&lt;already escaped&gt;', '&amp;lt;already escaped&amp;gt;'],
    ['</pre></td></tr></table><!--', '&lt;/pre&gt;&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;!--'],
    ['/mnt/ünïcødé → fd 3\nline 2\t', '/mnt/ünïcødé → fd 3\nline 2\t'],
    ['', ''],
  ])('%j', (hostile, escaped) => {
    expect(escapeHtml(hostile)).toBe(escaped);
    expect(escapeHtml(hostile)).not.toMatch(/[<>"']/);
  });
});

describe('the status page of an incident', () => {
  const page = renderStatusPage(incidentDoc(), '0.1.0');

  it('is a page without script that reloads itself, and says the overall state first, in its title too', () => {
    expect(page.startsWith('<!doctype html>\n<html lang="en">')).toBe(true);
    expect(page).not.toMatch(/<script/i);
    expect(page).toContain(`<meta http-equiv="refresh" content="${REFRESH_SECONDS}" />`);
    const overall =
      '2 of 4 mounts failing, 2 processes on detached mounts, last recovery failed 2 min 9 s ago, 1 static mount waiting to be put back';
    expect(page).toContain(`<title>${overall} — nfs-health-checkd</title>`);
    expect(page).toContain(`<div class="summary failing" id="summary">${overall}</div>`);
    expect(textOf(page)).toContain('nfs-health-checkd 0.1.0 pid 812, up since 2026-12-01 08:00:02Z (6 d 4 h), schedule */30 * * * * *.');
  });

  it('links /status, /metrics and /healthz at the top and at the bottom', () => {
    for (const route of ['status', 'metrics', 'healthz']) expect(page.split(`<a href="${route}">/${route}</a>`)).toHaveLength(3);
    expect(page.indexOf('href="metrics"')).toBeLessThan(page.indexOf('<section'));
    expect(page.lastIndexOf('href="metrics"')).toBeGreaterThan(page.lastIndexOf('</section>'));
  });

  it('a row per mount: its state (a hang in a colour of its own), result, since when with its age, the last probe, the last recovery', () => {
    const mounts = rows(section(page, 'mounts'), 'mount');
    expect(mounts.map((r) => /data-state="(\w+)"/.exec(r)?.[1])).toEqual(['hung', 'failing', 'ok', 'unknown']);
    expect(mounts.map(textOf)).toEqual([
      'failing /airflow/dags timeout blocked 35.0 s 2026-12-07 12:03:30Z (40 s) 5 s ago, took 5000.4 ms nfs4, mount 412 ok',
      'failing /airflow/logs unmounted 2026-12-07 12:02:00Z (2 min 10 s) 5 s ago, took 0.4 ms nothing mounted on the path still_failing',
      'ok /srv/data ok 2026-12-01 08:00:03Z (6 d 4 h) 5 s ago, took 1.2 ms nfs4, mount 77 —',
      'unknown /srv/new not probed yet — — — —',
    ]);
    expect(mounts[0]).toContain('<span class="badge hung">failing</span>');
    expect(mounts[0]).toContain('<time datetime="2026-12-07T12:03:30.005Z">2026-12-07 12:03:30Z</time>');
  });

  it('the processes left on detached mounts by unit and PID, as the board names them, with what they hold and since when', () => {
    const holders = rows(section(page, 'holders'), 'holder');
    expect(holders.map(textOf)).toEqual([
      'python3[4711] unit airflow-scheduler.service 50000 /airflow/logs detached on the detached mount 413 cwd /sub fd 3 → /scheduler.log mmap /example_dag.py 2026-12-07 12:02:01Z (2 min 9 s)',
      'celery[5120] unit none 50000 unknown unknown on a mount detached before this start fd 7 → /tasks.db 2026-12-07 12:00:10Z (4 min 0 s)',
    ]);
    expect(holders[0]).toContain('data-pid="4711"');
    expect(holders[0]).toContain('<span class="badge detached">detached</span>');
  });

  it('the last recovery: its result, each target with its outcome, each step with its command, status, exit, duration and output', () => {
    const recovery = section(page, 'recovery');
    expect(textOf(recovery)).toContain(
      'Last recovery: failed in 1281 ms Started 2026-12-07 12:02:00Z (2 min 10 s ago), finished 2026-12-07 12:02:01Z. Still failing: /airflow/logs',
    );
    expect(rows(recovery, 'target').map(textOf)).toEqual([
      '/airflow/logs ESTALE still_failing',
      '/airflow/dags timeout, blocked 15.0 s ok',
    ]);
    expect(rows(recovery, 'step').map(textOf)).toEqual([
      '2026-12-07 12:02:00Z command umount -a -t nfs,nfs4 failed exit 32 388 ms umount: /airflow/logs: target is busy.',
      '2026-12-07 12:02:00Z escalation umount -f -- /airflow/logs timeout signal SIGKILL 10002 ms —',
      '2026-12-07 12:02:01Z escalation umount -l -- /airflow/logs ok (detached) exit 0 12 ms —',
    ]);
    expect(rows(recovery, 'step')[0]).toContain('<pre>umount: /airflow/logs: target is busy.</pre>');
    expect(rows(recovery, 'collateral').map(textOf)).toEqual([
      '/mnt/backup nfs-b:/backup (nfs4, fstab) NOT mounted again (mount_failed) mount /mnt/backup exit 32 2004 ms mount.nfs4: Connection refused',
    ]);
  });

  it('the static mounts waiting to be put back and those put back', () => {
    expect(rows(section(page, 'put-back'), 'put-back').map(textOf)).toEqual([
      '/mnt/backup waiting nfs-b:2049 2026-12-07 12:02:01Z (2 min 9 s ago) last try not_mounted (3)',
      '/mnt/archive put back nfs-b:2049 2026-12-07 11:40:00Z remounted at 2026-12-07 11:41:00Z',
    ]);
  });

  it('the events newest first, each with its level as a word and a colour', () => {
    const events = rows(section(page, 'events'), 'event');
    expect(events.map((r) => /class="event lv-(\w+)"/.exec(r)?.[1])).toEqual(['warn', 'warn', 'error', 'warn', 'info']);
    expect(events.map(textOf)[0]).toBe('2026-12-07 12:03:30Z 40 s ago warn mount failing: /airflow/dags: timeout (was ok)');
    expect(events.map(textOf)[2]).toBe(
      '2026-12-07 12:02:01Z 2 min 9 s ago error recovery finished: failed in 1281 ms, 3 step(s), still failing: /airflow/logs',
    );
  });

  it('says what `status` says, in the same words', () => {
    const text = formatStatus(incidentDoc()).join('\n');
    const shown = textOf(page);
    for (const words of [
      'on the detached mount 413',
      'on a mount detached before this start',
      'NOT mounted again (mount_failed)',
      'failed in 1281 ms',
    ]) {
      expect(text).toContain(words);
      expect(shown).toContain(words);
    }
  });

  it('is the same page for the same document; ages count to `now` when given', () => {
    expect(renderStatusPage(incidentDoc(), '0.1.0')).toBe(page);
    const later = renderStatusPage(incidentDoc(), '0.1.0', new Date('2026-12-07T13:03:30.005Z'));
    expect(textOf(rows(section(later, 'mounts'), 'mount')[0]!)).toContain('2026-12-07 12:03:30Z (1 h 0 min)');
  });
});

describe('the status page of a daemon just started', () => {
  const page = renderStatusPage(freshDoc(), '0.1.0');

  it('says so in each part rather than leaving it empty', () => {
    expect(textOf(page)).toContain('1 of 1 mount not probed yet');
    expect(page).toContain('<div class="summary unknown" id="summary">');
    expect(rows(section(page, 'mounts'), 'mount').map(textOf)).toEqual(['unknown /airflow/dags not probed yet — — — —']);
    expect(textOf(section(page, 'holders'))).toContain('No process on a failing or detached mount.');
    expect(textOf(section(page, 'recovery'))).toContain('No recovery since the daemon started.');
    expect(textOf(section(page, 'put-back'))).toContain('None taken away.');
    expect(textOf(section(page, 'events'))).toContain('None yet.');
  });

  it('all ok: says so, in green', () => {
    const doc = freshDoc();
    doc.mounts[0] = { ...doc.mounts[0]!, state: 'ok', result: 'ok', since: doc.generated_at, last_probed_at: doc.generated_at };
    const ok = renderStatusPage(doc, '0.1.0');
    expect(ok).toContain('<div class="summary ok" id="summary">all 1 mount ok</div>');
  });
});

// What the system may put in the document (mount paths, argv, command output, comm, unit names),
// at its worst: each string of the incident with markup appended.
const HOSTILE = `<script>alert(1)</script>"'&<img src=x onerror=alert(2)></td></tr></table><a href="//evil">`;

function hostile<T>(value: T): T {
  if (typeof value === 'string') return (/^\d{4}-\d\d-\d\dT/.test(value) ? value : value + HOSTILE) as T;
  if (Array.isArray(value)) return value.map(hostile) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hostile(v)])) as T;
  return value;
}

const TAGS = new Set(
  'html head meta title style body header h1 h2 h3 p nav a main div section table tr th td code span br ul li time pre footer'.split(' '),
);
const ATTRIBUTES = new Set([
  'lang',
  'charset',
  'http-equiv',
  'content',
  'name',
  'href',
  'class',
  'id',
  'datetime',
  'data-state',
  'data-pid',
]);

/** Every tag of the page: its name and attribute names, or a failure naming the markup that is none. */
function tagsOf(page: string): { tag: string; attributes: string[] }[] {
  const body = page.replace(/^<!doctype html>\n/, '');
  const tags: { tag: string; attributes: string[] }[] = [];
  for (let at = body.indexOf('<'); at >= 0; at = body.indexOf('<', at + 1)) {
    const m = /^<\/?([a-z][a-z0-9]*)((?:\s+[a-z-]+="[^"<>]*")*)\s*\/?>/.exec(body.slice(at));
    if (!m) throw new Error(`markup that is no tag of the page at ${at}: ${body.slice(at, at + 60)}`);
    tags.push({ tag: m[1]!, attributes: [...m[2]!.matchAll(/([a-z-]+)="/g)].map((a) => a[1]!) });
  }
  return tags;
}

describe('the status page of a document full of markup', () => {
  const doc: StatusDoc = hostile(incidentDoc());
  const page = renderStatusPage(doc, `0.1.0${HOSTILE}`);

  it('has only its own tags and attributes: every string from the document is text', () => {
    const tags = tagsOf(page);
    expect(tags.length).toBeGreaterThan(200);
    expect(tags.filter((t) => !TAGS.has(t.tag))).toEqual([]);
    expect(tags.flatMap((t) => t.attributes).filter((a) => !ATTRIBUTES.has(a))).toEqual([]);
    expect([...page.matchAll(/href="([^"]*)"/g)].map((m) => m[1])).toEqual([
      'status',
      'metrics',
      'healthz',
      'status',
      'metrics',
      'healthz',
    ]);
  });

  it('shows each of those strings as it is', () => {
    const shown = textOf(page);
    for (const text of [
      `/airflow/logs${HOSTILE}`,
      `umount${HOSTILE} -l${HOSTILE} --${HOSTILE} /airflow/logs${HOSTILE}`,
      `umount: /airflow/logs: target is busy.${HOSTILE}`,
      `python3${HOSTILE}[4711] unit airflow-scheduler.service${HOSTILE}`,
      `fd 3 → /scheduler.log${HOSTILE}`,
      `mount failing: /airflow/dags: timeout (was ok)${HOSTILE}`,
    ]) {
      expect(shown).toContain(text);
    }
  });
});

describe('the page of a daemon with no status board', () => {
  const page = linksPage('9.9.9');

  it('names the daemon and links /metrics and /healthz, without /status or a reload', () => {
    expect(textOf(page)).toBe(
      'nfs-health-checkd nfs-health-checkd 9.9.9 Probes NFS mounts and recovers them from stale handles and hangs. /metrics (Prometheus) · /healthz (is the probe loop alive)',
    );
    expect([...page.matchAll(/href="([^"]*)"/g)].map((m) => m[1])).toEqual(['metrics', 'healthz']);
    expect(page).not.toContain('refresh');
    expect(page).not.toMatch(/<script/i);
  });
});
