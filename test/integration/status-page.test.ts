// The status page (GET /) in a real browser, JavaScript off: headless Chromium opens the real
// daemon's port while a faultfs mount fails and a process is left on it after the recovery's lazy
// unmount. Its DOM shows the mount's state and since when, the process by PID and unit, the
// recovery's steps; its screenshot is kept (test-artifacts/status-page.png) for people to look at.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/package-info.js';
import { who, type StatusDoc } from '../../src/observe/status-board.js';
import { REFRESH_SECONDS } from '../../src/observe/status-page.js';
import { chromium, dumpDom, pngSize, screenshot } from '../helpers/chromium.js';
import {
  configYaml,
  holding,
  holdMount,
  is,
  setUpTwoMounts,
  startDaemon,
  tearDownTwoMounts,
  type RunningDaemon,
} from '../helpers/daemon.js';
import { fuseAvailable, type FaultMount } from '../helpers/faultfs.js';
import { rows, section, textOf } from '../helpers/page-dom.js';
import { built, prerequisite, requires, skips } from '../helpers/prerequisite.js';

const browser = chromium();
const fuse = prerequisite('FUSE', fuseAvailable(), 'kernel');
if (skips(browser)) console.warn(`[status-page] browser tests skipped: ${browser.reason}`);
else if (skips(fuse)) console.warn(`[status-page] FUSE browser test skipped: ${fuse.reason}`);

const ARTIFACT = join(packageRoot(), 'test-artifacts', 'status-page.png');
const WINDOW = { width: 1280, height: 2000 };

requires(browser).describe('the browser the status page is tested in', () => {
  let server: Server;

  afterEach(() => {
    server.close();
    server.closeAllConnections();
  });

  it('runs no script with JavaScript off, and runs it with JavaScript on: the page test below is one without JavaScript', async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(
        '<!doctype html><html><body><p id="ran">no</p><script>document.getElementById("ran").textContent = "yes";</script></body></html>',
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    expect(await dumpDom(url, { javascript: false })).toContain('<p id="ran">no</p>');
    expect(await dumpDom(url, { javascript: true })).toContain('<p id="ran">yes</p>');
  }, 60_000);
});

requires(browser, fuse, built()).describe('the status page of the real daemon in a browser without JavaScript', () => {
  let dir: string;
  let a: FaultMount;
  let b: FaultMount;
  let daemon: RunningDaemon | undefined;
  let holders: ChildProcess[];

  beforeEach(async () => {
    ({ dir, a, b } = await setUpTwoMounts('nhc-status-page-'));
    daemon = undefined;
    holders = [];
  });

  afterEach(async () => {
    expect(await tearDownTwoMounts({ dir, a, b }, daemon, holders), 'the daemon outlived its mounts').toBe(true);
  });

  it('a failing FUSE mount and a process left on it after the lazy unmount: its state and since, the process by PID and unit, the steps', async () => {
    // A command that unmounts only this mount: `umount -a -t fuse.faultfs` would take other tests' mounts too.
    const recovery = [
      `  command: [umount, ${a.mountpoint}]`,
      '  timeout: 2s',
      '  escalation: [[umount, -f], [umount, -l]]',
      '  cooldown: 1s',
      '  max_backoff: 10s',
    ].join('\n');
    const d = startDaemon(dir, configYaml([a.mountpoint, b.mountpoint], { recovery }));
    daemon = d;
    await d.waitForLine(is('mount healthy', a.mountpoint), 10_000);
    await d.waitForLine(is('mount healthy', b.mountpoint), 10_000);
    writeFileSync(join(a.mountpoint, 'task.log'), 'x');
    const holder = holdMount(a.mountpoint, 'task.log');
    holders.push(holder);
    // Holding once the shell has exec'd sleep, its file open and its cwd on the mount.
    expect(await holding(holder)).toBe(true);
    const from = d.lines.length;
    a.setMode('eio');
    await d.waitForLine(is('mount failing', a.mountpoint, 'EIO'), 10_000, from);
    await d.waitForLine((l) => l.msg === 'recovery finished', 15_000, from);
    await d.waitForLine((l) => l.msg === 'holder left on detached mount' && l.pid === holder.pid, 10_000, from);

    const base = await d.metricsBase();
    const doc = (await (await fetch(`${base}/status`)).json()) as StatusDoc;
    const mount = doc.mounts.find((m) => m.mount === a.mountpoint)!;
    expect(mount).toMatchObject({ state: 'failing', since: expect.any(String) });
    const held = doc.holders.find((h) => h.pid === holder.pid)!;
    expect(held).toMatchObject({ mount: a.mountpoint, state: 'detached', mount_id: a.mountId, comm: 'sleep' });

    const dom = await dumpDom(`${base}/`, { javascript: false });
    expect(dom).toContain(`<meta http-equiv="refresh" content="${REFRESH_SECONDS}">`);
    expect(dom).not.toMatch(/<script/i);

    // The failing mount: its state, its result, since when (the same moment /status gives) and how long.
    const mounts = rows(section(dom, 'mounts'), 'mount');
    const rowA = mounts.find((r) => r.includes(`<code>${a.mountpoint}</code>`))!;
    expect(rowA).toContain('data-state="failing"');
    expect(rowA).toContain(`<time datetime="${mount.since}">`);
    expect(textOf(rowA)).toMatch(new RegExp(`^failing ${a.mountpoint} ${mount.result} \\d{4}-\\d\\d-\\d\\d [\\d:]+Z \\(\\d+ s\\) `));
    expect(textOf(mounts.find((r) => r.includes(`<code>${b.mountpoint}</code>`))!)).toMatch(new RegExp(`^ok ${b.mountpoint} ok `));
    expect(dom).toMatch(/<div class="summary failing" id="summary">1 of 2 mounts failing, 1 process on a detached mount, last recovery /);

    // The process on the detached mount, by PID and unit as the board names it, with what it holds.
    const holderRows = rows(section(dom, 'holders'), 'holder');
    expect(holderRows).toHaveLength(1);
    expect(holderRows[0]).toContain(`data-pid="${holder.pid}"`);
    const holderText = textOf(holderRows[0]!);
    expect(holderText).toContain(`${who(held)} `);
    expect(holderText).toContain(`sleep[${holder.pid}] unit ${held.unit ?? 'none'}`);
    expect(holderText).toContain(`detached on the detached mount ${a.mountId}`);
    expect(holderText).toContain('cwd /');
    expect(holderText).toContain('fd 3 → /task.log');

    // The recovery: its target, the busy umount's exit 32, the lazy unmount that detached it.
    const rec = section(dom, 'recovery');
    expect(rows(rec, 'target').map(textOf)).toEqual([expect.stringMatching(new RegExp(`^${a.mountpoint} EIO (ok|still_failing)$`))]);
    const steps = rows(rec, 'step').map(textOf);
    expect(steps[0]).toMatch(new RegExp(` command umount ${a.mountpoint} failed exit 32 \\d+ ms `));
    expect(steps.at(-1)).toMatch(new RegExp(` escalation umount -l -- ${a.mountpoint} ok \\(detached\\) exit 0 \\d+ ms `));

    // The events, newest first, with their level.
    const events = rows(section(dom, 'events'), 'event');
    const times = events.map((r) => /datetime="([^"]+)"/.exec(r)![1]!);
    expect([...times].sort().reverse()).toEqual(times);
    expect(events.map(textOf)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(` warn mount failing: ${a.mountpoint}: EIO \\(was ok\\)$`)),
        expect.stringMatching(new RegExp(` warn holder left on detached mount ${a.mountpoint}: sleep\\[${holder.pid}\\]`)),
      ]),
    );

    // The screenshot, kept for people to look at: a PNG of the window's size.
    mkdirSync(join(packageRoot(), 'test-artifacts'), { recursive: true });
    rmSync(ARTIFACT, { force: true });
    await screenshot(`${base}/`, ARTIFACT, WINDOW, { javascript: false });
    const png = readFileSync(ARTIFACT);
    expect(pngSize(png)).toEqual(WINDOW);
    // A blank page of that size compresses to about 12 KB; this one has tables of text and colour.
    expect(png.length).toBeGreaterThan(50_000);
    console.log(`[status-page] screenshot: ${ARTIFACT}`);
  }, 60_000);
});

describe('pngSize', () => {
  it('reads the width and height of a PNG header, and nothing of what is no PNG', () => {
    const header = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
      Buffer.from('IHDR', 'latin1'),
      Buffer.from([0, 0, 5, 0, 0, 0, 7, 208]),
    ]);
    expect(pngSize(header)).toEqual({ width: 1280, height: 2000 });
    expect(pngSize(Buffer.from('GIF89a not a png at all, long enough'))).toBeUndefined();
    expect(pngSize(header.subarray(0, 20))).toBeUndefined();
  });
});
