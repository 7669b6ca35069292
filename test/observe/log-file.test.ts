// The log file on real files: appends, reopen after a rename (logrotate), and a really full disk
// (a 64 KiB tmpfs filled up): writing fails without throwing, is told once, and resumes by itself.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogging } from '../../src/observe/log.js';
import { LogFile } from '../../src/observe/log-file.js';
import { StartupError } from '../../src/startup-error.js';
import { requires, runningAsRoot, skips } from '../helpers/prerequisite.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nhc-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Collects what would go to stdout. */
function stdoutSink() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, stream: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } };
}

const readLines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg: string });

describe('createLogging', () => {
  it('writes every line to stdout and to the file', () => {
    const out = stdoutSink();
    const file = join(dir, 'd.log');
    const { log } = createLogging({ level: 'info', file }, out.stream);
    log.info({ mount: '/a', result: 'ok' }, 'one');
    log.warn('two');
    log.debug('below the level');
    expect(out.lines.map((l) => l.msg)).toEqual(['one', 'two']);
    expect(readLines(file).map((l) => l.msg)).toEqual(['one', 'two']);
    expect(readLines(file)[0]).toMatchObject({ level: 'info', mount: '/a', result: 'ok' });
  });

  it('reopen after a rename: old lines stay in the renamed file, new ones go to a new file', () => {
    const out = stdoutSink();
    const file = join(dir, 'd.log');
    const logging = createLogging({ level: 'info', file }, out.stream);
    logging.log.info('before');
    renameSync(file, `${file}.1`);
    logging.log.info('after rename, before reopen');
    logging.reopen();
    logging.log.info('after reopen');
    expect(readLines(`${file}.1`).map((l) => l.msg)).toEqual(['before', 'after rename, before reopen']);
    expect(readLines(file).map((l) => l.msg)).toEqual(['log file reopened', 'after reopen']);
  });

  it('a file that cannot be opened is a start-up error naming log.file', () => {
    expect(() => createLogging({ level: 'info', file: join(dir, 'missing-dir', 'd.log') }, stdoutSink().stream)).toThrow(StartupError);
    expect(() => createLogging({ level: 'info', file: join(dir, 'missing-dir', 'd.log') }, stdoutSink().stream)).toThrow(
      `log.file: cannot open ${join(dir, 'missing-dir', 'd.log')}: ENOENT`,
    );
  });

  it('without a file, SIGHUP says there is nothing to reopen', () => {
    const out = stdoutSink();
    createLogging({ level: 'info', file: null }, out.stream).reopen();
    expect(out.lines[0]).toMatchObject({ msg: 'no log file to reopen' });
  });
});

const root = runningAsRoot('mounting a tmpfs needs root');
if (skips(root)) console.warn('[log-file] disk-full test skipped: mounting a tmpfs needs root');

requires(root).describe('LogFile on a full disk', () => {
  let mnt: string;
  beforeEach(() => {
    mnt = join(dir, 'small');
    execFileSync('mkdir', ['-p', mnt]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
  });
  afterEach(() => {
    execFileSync('umount', ['-l', mnt]);
  });

  it('fails without throwing, says so once on stdout, and resumes when space comes back', () => {
    const out = stdoutSink();
    const file = join(mnt, 'd.log');
    const { log } = createLogging({ level: 'info', file }, out.stream);
    log.info('first');
    // Fill the disk.
    try {
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(1024 * 1024));
    } catch {
      // ENOSPC: as intended, the filler took what was left
    }
    for (let i = 0; i < 50; i++) log.info({ i }, 'while full');
    const failures = out.lines.filter((l) => l.msg === 'log file write failed; logging to stdout only until it works again');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'ENOSPC' });
    // stdout got every line meanwhile.
    expect(out.lines.filter((l) => l.msg === 'while full')).toHaveLength(50);

    unlinkSync(join(mnt, 'filler'));
    log.info('after');
    const resumed = out.lines.find((l) => l.msg === 'log file writable again');
    expect(resumed).toBeDefined();
    expect(Number(resumed!.lost_lines)).toBeGreaterThan(0);
    // At most one line is a fragment cut off by the full disk; every other line is whole JSON.
    const raw = readFileSync(file, 'utf8').trim().split('\n');
    const whole = raw.flatMap((l) => {
      try {
        return [(JSON.parse(l) as { msg: string }).msg];
      } catch {
        return [];
      }
    });
    expect(raw.length - whole.length).toBeLessThanOrEqual(1);
    expect(whole[0]).toBe('first');
    expect(whole.at(-1)).toBe('after');
  });

  it('LogFile.write never throws, even on /dev/full', () => {
    const failed: string[] = [];
    const f = new LogFile('/dev/full', { failed: (e) => failed.push(String(e.code)), resumed: () => undefined });
    for (let i = 0; i < 3; i++) expect(f.write('x\n')).toBe(true);
    expect(failed).toEqual(['ENOSPC']);
    f.close();
  });
});
