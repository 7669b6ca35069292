// What figure 13 of the benchmark measures is what it says: the status documents it renders are a
// real board's, at the board's bounds, and the page shows all of them; its web configs are ones the
// daemon's parser reads as the mode they are named for.
import { describe, expect, it } from 'vitest';
import { boundedBoard, docCounts, FED, healthyBoard, pathOf } from '../../bench/status-doc-bounds.js';
import { turnOrder } from '../../bench/common.js';
import { webConfigText, WEB_MODES, type WebMode } from '../../bench/web.js';
import { MAX_EVENTS } from '../../src/observe/status-board.js';
import { renderStatusPage } from '../../src/observe/status-page.js';
import { parseWebConfig } from '../../src/observe/web-config.js';
import type { Certs } from '../helpers/certs.js';
import { rows, section, textOf } from '../helpers/page-dom.js';

describe('the status documents of figure 13', () => {
  it("the daemon's own: every mount healthy, an event each", () => {
    const doc = healthyBoard(2).board.snapshot();
    expect(doc.mounts.map((m) => [m.mount, m.state])).toEqual([
      [pathOf(0), 'ok'],
      [pathOf(1), 'ok'],
    ]);
    expect(docCounts(doc)).toEqual({
      mounts: 2,
      holders: 0,
      steps: 0,
      targets: 0,
      collateral: 0,
      events: 2,
      putBackWaiting: 0,
      putBackDone: 0,
      longestOutput: 0,
    });
  });

  it('fed past every bound, the board keeps its bounds: what GET / and GET /status can hand out at most', () => {
    const doc = boundedBoard(500).snapshot();
    expect(FED.holders).toBeGreaterThan(500);
    expect(FED.steps).toBeGreaterThan(50);
    expect(FED.putBacksDone).toBeGreaterThan(20);
    expect(docCounts(doc)).toEqual({
      mounts: 500,
      holders: 500,
      steps: 50,
      targets: 500,
      collateral: FED.collateral,
      events: MAX_EVENTS,
      putBackWaiting: FED.collateral,
      putBackDone: 20,
      longestOutput: 501,
    });
    expect(doc.mounts.every((m) => m.state === 'failing')).toBe(true);
    expect(doc.recovery?.result).toBe('failed');
    expect(doc.recovery?.still_failing).toHaveLength(500);
  });

  it('the page of the bounded document shows every mount, holder, step and event', () => {
    const doc = boundedBoard(500).snapshot();
    const page = renderStatusPage(doc, doc.daemon.version);
    expect(rows(section(page, 'mounts'), 'mount')).toHaveLength(500);
    expect(rows(section(page, 'holders'), 'holder')).toHaveLength(500);
    expect(rows(section(page, 'recovery'), 'step')).toHaveLength(50);
    expect(rows(section(page, 'events'), 'event')).toHaveLength(MAX_EVENTS);
    expect(textOf(section(page, 'mounts'))).toContain(pathOf(499));
    // Larger than the JSON of the same document: markup around every value.
    expect(page.length).toBeGreaterThan(JSON.stringify(doc).length);
  });
});

describe('the web configs of figure 13', () => {
  const certs: Certs = {
    dir: '/etc/bench',
    ca: { cert: '/etc/bench/ca.crt', key: '/etc/bench/ca.key' },
    server: { cert: '/etc/bench/server.crt', key: '/etc/bench/server.key' },
    server2: { cert: '/etc/bench/server2.crt', key: '/etc/bench/server2.key' },
    client: { cert: '/etc/bench/client.crt', key: '/etc/bench/client.key' },
    stranger: { cert: '/etc/bench/stranger.crt', key: '/etc/bench/stranger.key' },
  };
  // The shape of a cost-10 hash: the parser checks the form, not the password.
  const hash = `$2b$10$${'a'.repeat(53)}`;
  const users = new Map([
    ['prometheus', hash],
    ['miss-0', hash],
  ]);

  it.each<[WebMode, string | null, string | null, number]>([
    ['plain', null, null, 0],
    ['tls', '/etc/bench/server.crt', 'NoClientCert', 0],
    ['tls-auth', '/etc/bench/server.crt', 'NoClientCert', 2],
    ['mtls-auth', '/etc/bench/server.crt', 'RequireAndVerifyClientCert', 2],
  ])('%s', (mode, cert, clientAuth, userCount) => {
    const text = webConfigText(mode, certs, users);
    if (cert === null) return expect(text).toBeNull();
    const parsed = parseWebConfig(text ?? '', '/etc/bench/web.yml');
    expect(parsed.tls?.cert).toEqual({ key: 'cert_file', file: cert });
    expect(parsed.tls?.clientAuth).toBe(clientAuth);
    expect(parsed.tls?.clientCa).toEqual(mode === 'mtls-auth' ? { key: 'client_ca_file', file: '/etc/bench/ca.crt' } : null);
    expect(parsed.users.size).toBe(userCount);
    if (userCount > 0) expect(parsed.users.get('prometheus')).toBe(hash);
  });

  it('the daemons take turns: each first in turn, every one once a round', () => {
    expect([0, 1, 2, 3, 4].map((r) => turnOrder(WEB_MODES, r))).toEqual([
      ['plain', 'tls', 'tls-auth', 'mtls-auth'],
      ['tls', 'tls-auth', 'mtls-auth', 'plain'],
      ['tls-auth', 'mtls-auth', 'plain', 'tls'],
      ['mtls-auth', 'plain', 'tls', 'tls-auth'],
      ['plain', 'tls', 'tls-auth', 'mtls-auth'],
    ]);
  });
});
