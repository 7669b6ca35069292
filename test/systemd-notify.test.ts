// Type=notify and the watchdog against the real systemd-notify, with a unix datagram socket
// standing in for systemd's (test/fixtures/notify-listener.py): READY=1 once serving, WATCHDOG=1
// while the loop lives, none while the process is stopped (SIGSTOP), STOPPING=1 on the way out —
// and nothing at all without NOTIFY_SOCKET.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { watchdogIntervalMs } from '../src/systemd-notify.js';
import { built, prerequisite, requires, runs, skips } from './helpers/prerequisite.js';
import { startDaemon, type RunningDaemon } from './helpers/daemon.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const notifyBin = existsSync('/usr/bin/systemd-notify');
const haveNotify = prerequisite('systemd-notify', notifyBin, 'install', 'no /usr/bin/systemd-notify (Debian: apt-get install systemd)');
const havePython = runs('python3', ['-c', 'import socket'], 'python3');
if (skips(haveNotify)) console.warn('[notify] systemd-notify tests skipped: no /usr/bin/systemd-notify (Debian package systemd)');
if (skips(havePython)) console.warn('[notify] systemd-notify tests skipped: python3 is needed for the stand-in notify socket');

describe('watchdogIntervalMs', () => {
  it('reads WATCHDOG_USEC, for this process only', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000' }, 42)).toBe(60_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }, 42)).toBe(60_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '41' }, 42)).toBeNull();
    expect(watchdogIntervalMs({}, 42)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeNull();
  });
});

const CONFIG = [
  'mounts:',
  '  - path: /proc',
  'schedule: "* * * * * *"',
  'metrics:',
  '  listen: "127.0.0.1:0"',
  'log:',
  '  file: ""',
  '',
].join('\n');

interface Message {
  fields: string[];
  at: number;
}

requires(haveNotify, havePython, built()).describe('systemd notify protocol, for real', () => {
  let dir: string;
  let listener: ChildProcess;
  let messages: Message[];
  let daemon: RunningDaemon | undefined;
  let record: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-notify-'));
    messages = [];
    daemon = undefined;
    const socket = join(dir, 'notify.sock');
    listener = spawn('python3', [join(FIXTURES, 'notify-listener.py'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => {
      listener.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n').filter(Boolean)) {
          if (line === 'listening') resolve();
          else messages.push({ fields: line.split('|'), at: performance.now() });
        }
      });
    });
    // systemd-notify, recorded, first on PATH.
    const bin = join(dir, 'bin');
    spawnSync('mkdir', [bin]);
    copyFileSync(join(FIXTURES, 'systemd-notify-recorder'), join(bin, 'systemd-notify'));
    spawnSync('chmod', ['+x', join(bin, 'systemd-notify')]);
    record = join(dir, 'calls');
    env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      NOTIFY_RECORD: record,
      NOTIFY_SOCKET: socket,
      WATCHDOG_USEC: '2000000',
    };
  });

  afterEach(async () => {
    if (daemon) {
      try {
        process.kill(daemon.pid, 'SIGCONT'); // a stopped process cannot die
      } catch {
        // already gone
      }
      daemon.kill();
      await daemon.exited;
    }
    listener.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const has = (m: Message, field: string) => m.fields.includes(field);
  const waitForMessage = async (field: string, timeoutMs: number): Promise<Message> => {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const m = messages.find((x) => has(x, field));
      if (m) return m;
      if (performance.now() > end) throw new Error(`no ${field} within ${timeoutMs} ms; got ${JSON.stringify(messages)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('READY=1 once serving, WATCHDOG=1 while alive, none while stopped, STOPPING=1 at the end', async () => {
    const d = startDaemon(dir, CONFIG, env);
    daemon = d;
    const ready = await waitForMessage('READY=1', 10_000);
    expect(ready.fields).toContain(`MAINPID=${d.pid}`);
    expect(ready.fields.some((f) => f.startsWith('STATUS=probing 1 mount'))).toBe(true);
    // By READY the metrics port was bound and the daemon had said it was starting.
    const starting = await d.waitForLine((l) => l.msg === 'starting', 1000);
    expect(starting.at).toBeLessThanOrEqual(ready.at);
    expect((await fetch(`${await d.metricsBase()}/healthz`)).status).toBe(200);

    // WATCHDOG_USEC = 2 s: a ping every second, with the mounts' state as status.
    await new Promise((r) => setTimeout(r, 3500));
    const pings = messages.filter((m) => has(m, 'WATCHDOG=1'));
    expect(pings.length).toBeGreaterThanOrEqual(3);
    expect(pings.at(-1)!.fields).toContain('STATUS=1 mount(s) ok');

    // A wedged process (stopped): no pings, so systemd would restart it. Resumed: pings again.
    process.kill(d.pid, 'SIGSTOP');
    const stoppedAt = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    expect(messages.filter((m) => has(m, 'WATCHDOG=1') && m.at > stoppedAt + 200)).toEqual([]);
    process.kill(d.pid, 'SIGCONT');
    const resumedAt = performance.now();
    await new Promise((r) => setTimeout(r, 2500));
    expect(messages.filter((m) => has(m, 'WATCHDOG=1') && m.at > resumedAt).length).toBeGreaterThanOrEqual(1);

    const exit = await d.stop('SIGTERM', 5000);
    expect(exit).toMatchObject({ code: 0 });
    await waitForMessage('STOPPING=1', 2000);
  });

  it('without NOTIFY_SOCKET systemd-notify is never run', async () => {
    const { NOTIFY_SOCKET: _unused, ...rest } = env;
    const d = startDaemon(dir, CONFIG, { ...rest, WATCHDOG_USEC: '2000000' });
    daemon = d;
    await d.waitForLine((l) => l.msg === 'probe round' || l.msg === 'mount healthy', 10_000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(existsSync(record)).toBe(false);
    expect(messages).toEqual([]);
  });

  it('with NOTIFY_SOCKET it is run, through the PATH the daemon was given', async () => {
    const d = startDaemon(dir, CONFIG, env);
    daemon = d;
    await waitForMessage('READY=1', 10_000);
    expect(readFileSync(record, 'utf8')).toMatch(new RegExp(`^--pid=${d.pid} READY=1 STATUS=`, 'm'));
  });
});
