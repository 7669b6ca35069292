import { describe, expect, it } from 'vitest';
import { DurationError, formatDuration, parseDuration } from '../../src/config/duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['1.1s', 1_100], // exact, not 1100.0000000000002
    ['0.5m', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.25h', 4_500_000],
    ['0', 0],
    ['0s', 0],
    ['0.0ms', 0],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 's', '5', '1.5', '5 s', ' 5s', '-1s', '+1s', '5S', '5sec', '1e3ms', '.5s', '5.s', '1s2ms', '1d'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
  });

  it('says what was expected', () => {
    expect(() => parseDuration('5sec')).toThrow('expected a duration such as 500ms, 5s, 1.5s, 2m or 1h (units: ms, s, m, h), got "5sec"');
  });

  it('calls a bare number ambiguous', () => {
    expect(() => parseDuration('30')).toThrow(
      'expected a duration such as 500ms, 5s, 1.5s, 2m or 1h (units: ms, s, m, h); a bare number is ambiguous, got "30"',
    );
  });

  it('rejects sub-millisecond precision', () => {
    expect(() => parseDuration('1.5ms')).toThrow(/in whole milliseconds, got "1.5ms"$/);
    expect(() => parseDuration('0.0001s')).toThrow(/in whole milliseconds/);
  });

  it('rejects values beyond exact integer range', () => {
    expect(() => parseDuration('99999999999999999h')).toThrow(/not this large/);
  });
});

describe('formatDuration', () => {
  it.each([
    [300_000, '5m'],
    [1_500, '1500ms'],
    [5_000, '5s'],
    [0, '0s'],
    [1, '1ms'],
    [90_000, '90s'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [86_400_000, '24h'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects %d', (ms) => {
    expect(() => formatDuration(ms)).toThrow(/expected a whole, non-negative number of milliseconds/);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [0, 1, 999, 1_000, 1_001, 59_999, 60_000, 61_000, 3_599_999, 3_600_000, 7_200_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
