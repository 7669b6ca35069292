// A real browser for the tests of what the daemon serves: Debian's chromium, headless, driven by its
// command line (no DevTools client, no npm dependency). Each run gets a fresh profile, removed after,
// and a deadline; its processes are one group, ended together if it overruns.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executable, type Prerequisite } from './prerequisite.js';
import { findExecutable } from './tools.js';

/** Debian's chromium, which .ci/run installs. */
export function chromium(): Prerequisite {
  return executable('chromium', 'chromium');
}

const FLAGS = [
  '--headless',
  // Its sandbox refuses to run as root, which the FUSE tests are.
  '--no-sandbox',
  '--disable-gpu',
  // No request of its own (updates, sync, QUIC probes): the test machine's network may be closed,
  // and a run must fetch the page and nothing else.
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Straight to the daemon on the loopback, whatever proxy the environment names.
  '--no-proxy-server',
];

export interface BrowserOptions {
  /** Whether the page's scripts may run. */
  javascript: boolean;
  timeoutMs?: number;
}

/**
 * The profile of one run. JavaScript is turned off in the profile's content settings, not with
 * --blink-settings=scriptEnabled=false: that also stops the script --dump-dom reads the DOM with,
 * and it prints nothing. The content setting blocks the page's scripts only.
 */
function profile(javascript: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'nhc-chromium-'));
  if (!javascript) {
    mkdirSync(join(dir, 'Default'));
    writeFileSync(join(dir, 'Default', 'Preferences'), JSON.stringify({ profile: { default_content_setting_values: { javascript: 2 } } }));
  }
  return dir;
}

/** Chromium's stderr without the D-Bus complaints of a machine with no session bus. */
const complaints = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('dbus'))
    .slice(-10)
    .join('\n');

async function run(args: string[], opts: BrowserOptions): Promise<string> {
  const bin = findExecutable('chromium');
  if (bin === undefined) throw new Error('chromium not found (Debian: apt-get install chromium)');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const dir = profile(opts.javascript);
  try {
    const child = spawn(bin, [...FLAGS, `--user-data-dir=${dir}`, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const endGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      endGroup();
    }, timeoutMs);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', () => resolve({ code: null, signal: null }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    clearTimeout(timer);
    // Renderer and helpers are of its group: none outlives the run.
    endGroup();
    if (timedOut) throw new Error(`chromium did not finish within ${timeoutMs} ms: ${complaints(stderr)}`);
    if (exit.code !== 0) throw new Error(`chromium exited ${exit.code ?? exit.signal}: ${complaints(stderr)}`);
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The page's DOM once loaded, as the browser serialises it. */
export function dumpDom(url: string, opts: BrowserOptions): Promise<string> {
  return run(['--dump-dom', url], opts);
}

/** A PNG of the page's first `width` × `height` pixels, written to `file`. */
export async function screenshot(url: string, file: string, size: { width: number; height: number }, opts: BrowserOptions): Promise<void> {
  await run([`--screenshot=${file}`, `--window-size=${size.width},${size.height}`, '--hide-scrollbars', url], opts);
  if (!existsSync(file)) throw new Error(`chromium wrote no screenshot to ${file}`);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG's width and height from its header chunk (IHDR, first after the signature); undefined if it is no PNG. */
export function pngSize(png: Buffer): { width: number; height: number } | undefined {
  if (png.length < 24 || !png.subarray(0, 8).equals(PNG_SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
