// The state file on a real filesystem, and the keeper's one line per problem: a file it cannot
// read back is a warning and a fresh start; one it cannot write is a warning once, and a line
// when writing works again.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observe/log.js';
import { decodeIncident, encodeIncident, type IncidentState } from '../../src/state/incident.js';
import { IncidentKeeper } from '../../src/state/keeper.js';
import { stateFile } from '../../src/state/state-file.js';

const BOOT = 'boot-1';
const state = (recoveries: number): IncidentState => ({ bootId: BOOT, recoveries, paths: [], detached: [], putBack: [] });

let dir: string;
let lines: { level: string; msg: string; reason?: string }[];
const log = () => createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nhc-state-'));
  lines = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('stateFile', () => {
  it('makes its directory (private) and writes by rename: no temporary file is left', () => {
    const path = join(dir, 'run', 'state.json');
    stateFile(path).write('{"a":1}\n');
    expect(readFileSync(path, 'utf8')).toBe('{"a":1}\n');
    expect(readdirSync(join(dir, 'run'))).toEqual(['state.json']);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('reads none when there is no file, the text when there is, and the reason when it cannot', () => {
    const path = join(dir, 'state.json');
    expect(stateFile(path).read()).toEqual({ kind: 'none' });
    writeFileSync(path, 'x');
    expect(stateFile(path).read()).toEqual({ kind: 'text', text: 'x' });
    rmSync(path);
    mkdirSync(path); // a directory where the file should be
    expect(stateFile(path).read()).toMatchObject({ kind: 'unreadable', reason: expect.stringContaining('EISDIR') });
  });
});

describe('IncidentKeeper', () => {
  it('round trip through the file; a state unchanged is not written again', () => {
    const path = join(dir, 'state.json');
    const keeper = new IncidentKeeper(stateFile(path), BOOT, log());
    expect(keeper.load()).toEqual({ kind: 'none' });
    keeper.save(state(1));
    expect(new IncidentKeeper(stateFile(path), BOOT, log()).load()).toEqual({ kind: 'ok', state: state(1) });
    writeFileSync(path, 'not written again');
    keeper.save(state(1));
    expect(readFileSync(path, 'utf8')).toBe('not written again');
    expect(lines).toEqual([]);
  });

  it('a corrupt file: one warning naming the file and the reason, and a fresh start that writes it anew', () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, '{"version":1,"bootId":"boot-1","recov');
    const keeper = new IncidentKeeper(stateFile(path), BOOT, log());
    expect(keeper.load()).toEqual({ kind: 'invalid', reason: 'not JSON (cut short or corrupt)' });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'incident state not resumed: starting afresh',
        file: path,
        reason: 'not JSON (cut short or corrupt)',
      }),
    ]);
    keeper.save(state(0));
    expect(decodeIncident(readFileSync(path, 'utf8'), BOOT)).toEqual({ kind: 'ok', state: state(0) });
  });

  it("a file of another version or boot: one warning, never read as this one's", () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, encodeIncident({ ...state(3), bootId: 'boot-0' }));
    expect(new IncidentKeeper(stateFile(path), BOOT, log()).load()).toEqual({ kind: 'invalid', reason: 'written in another boot' });
    expect(lines.map((l) => l.reason)).toEqual(['written in another boot']);
  });

  it('a file it cannot read: one warning and a fresh start', () => {
    const path = join(dir, 'state.json');
    mkdirSync(path);
    expect(new IncidentKeeper(stateFile(path), BOOT, log()).load()).toMatchObject({ kind: 'invalid' });
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'incident state not resumed: starting afresh', reason: expect.stringContaining('EISDIR') }),
    ]);
  });

  it('a directory it cannot write: one warning for any number of tries, one line once it writes again; never a throw', () => {
    const sub = join(dir, 'run');
    mkdirSync(sub);
    const keeper = new IncidentKeeper(stateFile(join(sub, 'state.json')), BOOT, log());
    // Root writes anywhere: a file in the way of the temporary file is what fails for it too.
    mkdirSync(join(sub, 'state.json.tmp'));
    chmodSync(sub, 0o500);
    for (let i = 1; i <= 3; i++) keeper.save(state(i));
    expect(lines.map((l) => l.msg)).toEqual(['incident state not written: a restart would not resume it']);
    rmSync(join(sub, 'state.json.tmp'), { recursive: true });
    chmodSync(sub, 0o700);
    keeper.save(state(4));
    expect(lines.map((l) => l.msg)).toEqual(['incident state not written: a restart would not resume it', 'incident state written again']);
    expect(existsSync(join(sub, 'state.json'))).toBe(true);
  });
});
