// Figure 13's in-process rows, run in a node of their own so that they can run with the daemon's
// flags (--lite-mode: no optimising compiler) as well as with Node's defaults: renderStatusPage
// against JSON.stringify of the same board snapshot, and bcryptjs's compare at the users' cost.
//
//   node [FLAGS] dist/bench/web-render.js quick|full   → one JSON line: RenderChild
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import type { StatusDoc } from '../src/observe/status-board.js';
import { renderStatusPage } from '../src/observe/status-page.js';
import { quantile, turnOrder } from './common.js';
import { boundedBoard, docCounts, healthyBoard } from './status-doc-bounds.js';

export const BCRYPT_COST = 10;
/** The bounded document's configured paths. */
export const BOUNDED_MOUNTS = 500;
/** The daemon's own document: its bench mounts. */
export const HEALTHY_MOUNTS = 2;

/** µs, over the measured iterations. */
export interface UsTiming {
  n: number;
  medianUs: number | null;
  p99Us: number | null;
}

export interface RenderRow {
  doc: 'healthy' | 'bounded';
  counts: ReturnType<typeof docCounts>;
  warmup: number;
  iterations: number;
  html: UsTiming;
  json: UsTiming;
  /** board.snapshot(), a deep copy, which both routes take first. */
  snapshot: UsTiming;
  htmlBytes: number;
  jsonBytes: number;
}

export interface RenderChild {
  /** The node flags it ran with (none: Node's defaults). */
  flags: string[];
  rows: RenderRow[];
  /** bcryptjs.compare of the right password at BCRYPT_COST, ms, one after the other (as the daemon's queue). */
  bcryptMs: number[];
}

function usTiming(ms: readonly number[]): UsTiming {
  const us = ms.map((v) => v * 1000);
  return { n: us.length, medianUs: quantile(us, 0.5), p99Us: quantile(us, 0.99) };
}

/** renderStatusPage against JSON.stringify of the same document, alternating, after a warm-up. */
export function renderRow(kind: RenderRow['doc'], snapshot: () => StatusDoc, warmup: number, iterations: number): RenderRow {
  const doc = snapshot();
  const html = (): string => renderStatusPage(doc, doc.daemon.version);
  // As GET /status sends it.
  const json = (): string => `${JSON.stringify(doc)}\n`;
  const htmlMs: number[] = [];
  const jsonMs: number[] = [];
  const snapMs: number[] = [];
  let kept = 0;
  for (let i = 0; i < warmup + iterations; i++) {
    const measured = i >= warmup;
    const pair: [() => string, number[]][] = [
      [html, htmlMs],
      [json, jsonMs],
    ];
    for (const [fn, into] of turnOrder(pair, i)) {
      const t = performance.now();
      kept += fn().length;
      const ms = performance.now() - t;
      if (measured) into.push(ms);
    }
    const t = performance.now();
    kept += snapshot().mounts.length;
    if (measured) snapMs.push(performance.now() - t);
  }
  // Used, so that no render is optimised away.
  if (kept === 0) throw new Error('nothing rendered');
  return {
    doc: kind,
    counts: docCounts(doc),
    warmup,
    iterations,
    html: usTiming(htmlMs),
    json: usTiming(jsonMs),
    snapshot: usTiming(snapMs),
    htmlBytes: Buffer.byteLength(html()),
    jsonBytes: Buffer.byteLength(json()),
  };
}

export async function renderChild(quick: boolean): Promise<RenderChild> {
  const healthy = healthyBoard(HEALTHY_MOUNTS).board;
  const bounded = boundedBoard(BOUNDED_MOUNTS);
  const rows = [
    renderRow('healthy', () => healthy.snapshot(), quick ? 200 : 1_000, quick ? 1_000 : 5_000),
    renderRow('bounded', () => bounded.snapshot(), quick ? 20 : 100, quick ? 100 : 500),
  ];
  const hash = bcrypt.hashSync('bench-password', BCRYPT_COST);
  const bcryptMs: number[] = [];
  for (let i = 0; i < (quick ? 2 : 5); i++) {
    const t = performance.now();
    if (!(await bcrypt.compare('bench-password', hash))) throw new Error('bcrypt: the right password did not match');
    bcryptMs.push(performance.now() - t);
  }
  return { flags: process.execArgv, rows, bcryptMs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  renderChild(process.argv[2] === 'quick').then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
