// The next time a node-cron expression matches, in local time, from node-cron's own parse of it.
// node-cron's scheduler reads local time through Intl.DateTimeFormat at every step, and ICU's
// date formatting keeps ~13 MB resident for the life of the process; Date's local getters give
// the same fields for nothing. Instants are walked forward and read as local time, so a time that
// a DST change skips never matches and one it repeats matches at each of its instants: a 30 s
// schedule ticks every 30 s across both changes.
import { parse } from 'node-cron';

/** Allowed values of each field: second 0–59, minute, hour, day of month 1–31, month 1–12, weekday 0–6. */
export interface CronFields {
  second: readonly number[];
  minute: readonly number[];
  hour: readonly number[];
  dayOfMonth: readonly number[];
  month: readonly number[];
  dayOfWeek: readonly number[];
}

/**
 * The fields of a 6-field expression node-cron accepts, or a reason it cannot be scheduled here:
 * node-cron's L, W and # day tokens are not supported.
 */
export function cronFields(expression: string): CronFields | { error: string } {
  const parsed = parse(expression);
  const numbers = (values: readonly (number | string)[]): number[] | undefined => {
    const out = values.filter((v): v is number => typeof v === 'number');
    return out.length === values.length ? out : undefined;
  };
  const dayOfMonth = numbers(parsed.dayOfMonth);
  const dayOfWeek = numbers(parsed.dayOfWeek);
  if (!dayOfMonth || !dayOfWeek) return { error: 'the L, W and # day tokens are not supported' };
  return { second: parsed.second, minute: parsed.minute, hour: parsed.hour, dayOfMonth, month: parsed.month, dayOfWeek };
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Far enough for any expression that matches at all (Feb 29 on a given weekday recurs within 28 years). */
const HORIZON_MS = 30 * 366 * 24 * HOUR;

/** The first whole second after `afterMs` (epoch ms) that the fields match, or null within 30 years. */
export function nextMatch(fields: CronFields, afterMs: number): number | null {
  const sets = {
    second: [...fields.second].sort((a, b) => a - b),
    minute: new Set(fields.minute),
    hour: new Set(fields.hour),
    dayOfMonth: new Set(fields.dayOfMonth),
    month: new Set(fields.month),
    dayOfWeek: new Set(fields.dayOfWeek),
  };
  let t = Math.floor(afterMs / SECOND) * SECOND + SECOND;
  const end = afterMs + HORIZON_MS;
  while (t <= end) {
    const d = new Date(t);
    if (!sets.month.has(d.getMonth() + 1) || !sets.dayOfMonth.has(d.getDate()) || !sets.dayOfWeek.has(d.getDay())) {
      // The next local midnight (the first instant of the next day, if a DST change skips midnight).
      t = Math.max(t + SECOND, new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime());
      continue;
    }
    const intoMinute = d.getSeconds() * SECOND + d.getMilliseconds();
    if (!sets.hour.has(d.getHours())) {
      t += HOUR - d.getMinutes() * MINUTE - intoMinute;
      continue;
    }
    if (!sets.minute.has(d.getMinutes())) {
      t += MINUTE - intoMinute;
      continue;
    }
    const second = sets.second.find((s) => s >= d.getSeconds());
    if (second !== undefined) return t - intoMinute + second * SECOND;
    t += MINUTE - intoMinute;
  }
  return null;
}
