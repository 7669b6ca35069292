// Ends a run with the plain line CI systems read: "tests: N passed, N failed, N skipped", and
// when something was skipped, what and why, so a green run says what it did not cover:
//   tests: 510 passed, 0 failed, 9 skipped (autofs (kernel): 9 — the kernel has no autofs filesystem …)
// The reason is the prerequisite a skipped test lacked (its meta, set by requires() in
// test/helpers/prerequisite.ts, in the worker that collected it), else the note of ctx.skip(note).
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import type { SkipRecord } from './prerequisite.js';

/** Why a skipped test was skipped, as the summary line says it. */
export function skipReason(test: Pick<TestCase, 'meta' | 'result'>): string {
  const p: SkipRecord | undefined = test.meta().prerequisite;
  if (p !== undefined) return `${p.name} (${p.kind}) — ${p.reason}`;
  const result = test.result();
  const note = result.state === 'skipped' ? result.note : undefined;
  return note ?? 'no reason given';
}

/** The closing line for these counts and skip reasons (one entry per skipped test). */
export function summaryLine(count: { passed: number; failed: number; skipped: number }, reasons: readonly string[]): string {
  const line = `tests: ${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped`;
  if (reasons.length === 0) return line;
  const byReason = new Map<string, number>();
  for (const r of reasons) byReason.set(r, (byReason.get(r) ?? 0) + 1);
  // "autofs (kernel) — why" becomes "autofs (kernel): 9 — why"; most skipped first.
  const parts = [...byReason]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, n]) => {
      const i = reason.indexOf(' — ');
      return i < 0 ? `${reason}: ${n}` : `${reason.slice(0, i)}: ${n}${reason.slice(i)}`;
    });
  return `${line} (${parts.join('; ')})`;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const count = { passed: 0, failed: 0, skipped: 0 };
    const reasons: string[] = [];
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') count.passed++;
        else if (state === 'failed') count.failed++;
        else {
          count.skipped++;
          reasons.push(skipReason(t));
        }
      }
    }
    console.log(summaryLine(count, reasons));
  }
}
