// The NFS client's stalled connections, read from ss's own text: a real recording from the e2e VM
// and ss's duration format, as iproute2 prints it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSs, parseSsDuration, stalledTo } from '../../src/server/stalled.js';

const FIXTURE = readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'ss', 'vm-6.1-stalled.txt'), 'utf8');
const SERVER = { host: '10.99.0.1', port: 2049 };

describe('parseSs', () => {
  it('reads each socket of the recording: state, ends, timer, backoff', () => {
    expect(parseSs(FIXTURE)).toEqual([
      { state: 'ESTAB', local: '10.99.0.2:1016', peer: '10.99.0.1:2049', timer: { name: 'on', inMs: 19_000, retransmits: 8 }, backoff: 8 },
      {
        state: 'ESTAB',
        local: '10.99.0.2:898',
        peer: '10.99.0.1:2049',
        timer: { name: 'keepalive', inMs: 29_000, retransmits: 0 },
        backoff: 0,
      },
    ]);
  });

  it('skips what it cannot read, never throws', () => {
    expect(parseSs('')).toEqual([]);
    expect(parseSs('garbage\n\t backoff:3\nESTAB 0\n')).toEqual([]);
    expect(parseSs('ESTAB 0 0 10.0.0.2:700 10.0.0.1:2049\n')).toEqual([
      { state: 'ESTAB', local: '10.0.0.2:700', peer: '10.0.0.1:2049', timer: null, backoff: 0 },
    ]);
  });
});

describe('parseSsDuration (iproute2 print_ms_timer)', () => {
  it.each([
    ['19sec', 19_000],
    ['1min', 60_000],
    ['1min5sec', 65_000],
    ['772ms', 772],
    ['9.772ms', 9_772],
    ['1min2.005ms', 62_005],
  ])('%s is %i ms', (text, ms) => expect(parseSsDuration(text)).toBe(ms));

  it('is null for anything else', () => {
    for (const t of ['', 'sec', '5s', '1.5', 'abc']) expect(parseSsDuration(t)).toBeNull();
  });
});

describe('stalledTo', () => {
  it('is the connection waiting out its backoff to that server, not the one that reconnected', () => {
    expect(stalledTo(parseSs(FIXTURE), SERVER, 1000).map((s) => s.local)).toEqual(['10.99.0.2:1016']);
  });

  it('is a connection attempt whose SYN waits too, not one closing', () => {
    const sockets = parseSs(
      [
        'SYN-SENT 0 1 10.99.0.2:700 10.99.0.1:2049 timer:(on,15sec,4)',
        'FIN-WAIT-1 0 1 10.99.0.2:701 10.99.0.1:2049 timer:(on,15sec,4)',
      ].join('\n'),
    );
    expect(stalledTo(sockets, SERVER, 1000).map((s) => s.local)).toEqual(['10.99.0.2:700']);
  });

  it('leaves a retransmission due within the wait, another server, another port, and IPv6 is matched as serverKey writes it', () => {
    const sockets = parseSs(
      [
        'ESTAB 0 100 10.99.0.2:1 10.99.0.1:2049 timer:(on,500ms,2)',
        '\t backoff:2',
        'ESTAB 0 100 10.99.0.2:2 10.99.0.9:2049 timer:(on,20sec,5)',
        '\t backoff:5',
        'ESTAB 0 100 10.99.0.2:3 10.99.0.1:111 timer:(on,20sec,5)',
        '\t backoff:5',
        'ESTAB 0 100 [fd00::2]:4 [fd00::1]:2049 timer:(on,20sec,5)',
        '\t backoff:5',
      ].join('\n'),
    );
    expect(stalledTo(sockets, SERVER, 1000)).toEqual([]);
    expect(stalledTo(sockets, { host: 'fd00::1', port: 2049 }, 1000).map((s) => s.local)).toEqual(['[fd00::2]:4']);
  });
});
