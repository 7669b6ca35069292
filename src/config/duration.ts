// Durations in the config file are strings with a unit ("500ms", "5s", "1.5s", "2m"): a bare
// number is ambiguous (seconds? milliseconds?), so only 0 may go without one.

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;

const SHAPE = /^(\d+)(?:\.(\d+))?(ms|s|m|h)$/;
const EXPECTED = 'a duration such as 500ms, 5s, 1.5s, 2m or 1h (units: ms, s, m, h)';

/** A duration that does not parse; `expected` says what would have. */
export class DurationError extends Error {
  constructor(
    readonly text: string,
    readonly expected: string,
  ) {
    super(`expected ${expected}, got ${JSON.stringify(text)}`);
    this.name = 'DurationError';
  }
}

/** Milliseconds in `text`, e.g. "1.5s" → 1500. Throws DurationError. */
export function parseDuration(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) {
    if (Number(text) === 0) return 0;
    throw new DurationError(text, `${EXPECTED}; a bare number is ambiguous`);
  }
  const match = SHAPE.exec(text);
  if (!match) throw new DurationError(text, EXPECTED);
  const [, whole = '', fraction = '', unit = 's'] = match;
  // Exact decimal arithmetic: 1.1s must be 1100 ms, not 1100.0000000000002.
  const scaled = Number(whole + fraction) * UNIT_MS[unit as Unit];
  const ms = scaled / 10 ** fraction.length;
  if (!Number.isSafeInteger(scaled)) throw new DurationError(text, `${EXPECTED}, not this large`);
  if (!Number.isInteger(ms)) throw new DurationError(text, `${EXPECTED} in whole milliseconds`);
  return ms;
}

/** The shortest exact text for `ms`: the largest unit that divides it (300000 → "5m", 1500 → "1500ms"). */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new Error(`expected a whole, non-negative number of milliseconds, got ${ms}`);
  }
  if (ms === 0) return '0s';
  for (const unit of ['h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
