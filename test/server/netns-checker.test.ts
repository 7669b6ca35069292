// The namespace children of the server check, for real: the child's program run as it is (answers by
// id, ends with its stdin or its parent), then, as root, one child per namespace entered through
// nsenter, counted in /proc — started once for many checks, killed from outside, idle, evicted,
// closed — and fake Nodes (scripts) that print garbage, hang, or go quiet after their first answer.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { countingClock } from '../helpers/counting-clock.js';
import { CHILD_NODE_FLAGS, CHILD_SOURCE, NetnsChecker, parseAnswer } from '../../src/server/netns-checker.js';
import { executable, requires, runningAsRoot, skips } from '../helpers/prerequisite.js';
import { DROPPED_HOST, testNetns, type TestNetns } from '../helpers/netns.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A process's parent and state from /proc/PID/stat; undefined once it is gone. */
function stat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(ppid), state: state ?? '' };
  } catch {
    return undefined;
  }
}

/** Whether `pid` still runs: neither gone nor a zombie waiting to be reaped. */
const alive = (pid: number): boolean => {
  const s = stat(pid);
  return s !== undefined && s.state !== 'Z';
};

/** Waits up to `ms` for `cond`; answers whether it came. */
async function eventually(cond: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** The pids of this process's live children in network namespace `link` (net:[ino]), but `except`. */
function childrenIn(link: string, except: readonly number[] = []): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || except.includes(pid)) continue;
    const s = stat(pid);
    if (s === undefined || s.ppid !== process.pid || s.state === 'Z') continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) === link) pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The lines a child writes on stdout, as they come. */
function lines(child: ChildProcess): { next: () => Promise<string> } {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let text = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    text += chunk;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n')) {
      const line = text.slice(0, at);
      text = text.slice(at + 1);
      const w = waiting.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  return { next: () => new Promise((resolve) => (queue.length ? resolve(queue.shift() ?? '') : waiting.push(resolve))) };
}

/** A listener on 127.0.0.1 (port by the kernel) and a port nothing listens on. */
async function ports(): Promise<{ server: net.Server; open: number; closed: number }> {
  const listen = async () => {
    const s = net.createServer((c) => c.on('error', () => undefined));
    await new Promise<void>((resolve) => s.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return s;
  };
  const gone = await listen();
  const closed = (gone.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  const server = await listen();
  return { server, open: (server.address() as net.AddressInfo).port, closed };
}

describe('parseAnswer', () => {
  it('an answer line: id, result, ms', () => {
    expect(parseAnswer('{"id":3,"result":"connect","ms":1}')).toEqual({ id: 3, result: 'connect', ms: 1 });
    expect(parseAnswer('{"id":4,"result":"ECONNREFUSED","ms":0}')).toEqual({ id: 4, result: 'ECONNREFUSED', ms: 0 });
  });

  it('anything else: undefined', () => {
    for (const line of [
      '',
      'hello',
      '[1,2]',
      'null',
      '{"result":"connect","ms":1}',
      '{"id":1.5,"result":"connect","ms":1}',
      '{"id":"1","result":"connect","ms":1}',
      '{"id":1,"result":"","ms":1}',
      '{"id":1,"result":"connect"}',
      '{"id":1,"result":"connect","ms":-1}',
      '{"id":1,"result":7,"ms":1}',
    ])
      expect(parseAnswer(line)).toBeUndefined();
  });
});

describe("the child's program, run as it is in this namespace", () => {
  /** The child as the checker starts it, without nsenter, its stdin a pipe unless given. */
  const startChild = (pollMs: number, stdin: 'pipe' | number = 'pipe') =>
    spawn(process.execPath, [...CHILD_NODE_FLAGS, '-e', CHILD_SOURCE, '--', String(pollMs)], { stdio: [stdin, 'pipe', 'inherit'] });

  it('answers each request by its id, each with its own connect, and ends when its stdin closes', async () => {
    const { server, open, closed } = await ports();
    const child = startChild(60_000);
    const out = lines(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin?.write(`${JSON.stringify({ id: 41, host: '127.0.0.1', port: closed, timeoutMs: 2000 })}\n`);
    // Two in one write, and one split across two: lines, not writes, are requests.
    child.stdin?.write(`not json\n${JSON.stringify({ id: 42, host: '127.0.0.1', port: open, timeoutMs: 2000 })}\n{"id":43,"ho`);
    child.stdin?.write(`st":"127.0.0.1","port":70000,"timeoutMs":2000}\n`);
    const answers = new Map<number, string>();
    for (let i = 0; i < 3; i++) {
      const a = parseAnswer(await out.next());
      expect(a).toBeDefined();
      if (a) answers.set(a.id, a.result);
    }
    expect(Object.fromEntries(answers)).toEqual({ 41: 'ECONNREFUSED', 42: 'connect', 43: 'ERR_SOCKET_BAD_PORT' });
    child.stdin?.end();
    expect(await exited).toBe(0);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('its parent killed: the pipe closes with it, and the child ends', async () => {
    // A parent Node of its own, which starts the child as the checker does and prints its pid.
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('node:child_process').spawn(process.execPath, [...JSON.parse(process.env.FLAGS), '-e', process.env.SRC, '--', '60000'], { stdio: ['pipe', 'ignore', 'inherit'] });
         console.log(c.pid); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SRC: CHILD_SOURCE, FLAGS: JSON.stringify(CHILD_NODE_FLAGS) } },
    );
    const pid = Number(await lines(parent).next());
    expect(await eventually(() => alive(pid))).toBe(true);
    parent.kill('SIGKILL');
    expect(await eventually(() => !alive(pid))).toBe(true);
  });

  it('its parent gone while someone else holds its stdin open: it finds it has another parent, and ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nhc-fifo-'));
    const fifo = join(dir, 'stdin');
    execFileSync('mkfifo', [fifo]);
    // This test holds a writer: the child's stdin never ends.
    const writer = openSync(fifo, 'r+');
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const fd = require('node:fs').openSync(process.env.FIFO, 'r');
         const c = require('node:child_process').spawn(process.execPath, [...JSON.parse(process.env.FLAGS), '-e', process.env.SRC, '--', '100'], { stdio: [fd, 'ignore', 'inherit'] });
         console.log(c.pid); setInterval(() => {}, 1000);`,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, SRC: CHILD_SOURCE, FLAGS: JSON.stringify(CHILD_NODE_FLAGS), FIFO: fifo },
      },
    );
    try {
      const pid = Number(await lines(parent).next());
      expect(await eventually(() => alive(pid))).toBe(true);
      await sleep(300);
      expect(alive(pid)).toBe(true); // its parent there, its stdin open: it stays
      parent.kill('SIGKILL');
      expect(await eventually(() => !alive(pid))).toBe(true);
    } finally {
      parent.kill('SIGKILL');
      closeSync(writer);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const root = runningAsRoot('entering a network namespace (ip netns, nsenter --net) needs root');
const ip = executable('ip', 'iproute2');
const nsenter = executable('nsenter', 'util-linux');
if (skips(root, ip, nsenter))
  console.warn('[netns checker] network namespace tests skipped: needs root, ip (iproute2) and nsenter (util-linux)');

requires(root, ip, nsenter).describe('NetnsChecker, through a real network namespace', () => {
  const name = `nhc-nsc-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const netnsPath = `/run/netns/${name}`;
  let link: string;
  let ns: TestNetns | undefined;
  let inside: ChildProcess;
  let insidePort: number;
  let scripts: string;
  const checkers: NetnsChecker[] = [];
  /** A checker on the real clock, closed after the tests in any case. */
  const checker = (opts: Partial<ConstructorParameters<typeof NetnsChecker>[0]> = {}) => {
    const c = new NetnsChecker({ clock: systemClock, ...opts });
    checkers.push(c);
    return c;
  };
  /** This process's children in the namespace, the listener there aside. */
  const ours = () => childrenIn(link, [inside.pid ?? -1]);
  const answering = { host: '127.0.0.1', port: 0 };
  const dropped = { host: DROPPED_HOST, port: 2049 };

  beforeAll(async () => {
    ns = await testNetns(name);
    // The namespace file is the namespace itself, bound there: its inode is what /proc's links name.
    link = `net:[${statSync(netnsPath).ino}]`;
    inside = ns.listener;
    insidePort = ns.port;
    answering.port = insidePort;
    scripts = mkdtempSync(join(tmpdir(), 'nhc-node-'));
  });

  // Each test counts its own children: those of the one before are gone first.
  afterEach(async () => {
    for (const c of checkers.splice(0)) c.close();
    expect(await eventually(() => ours().length === 0)).toBe(true);
  });

  afterAll(() => {
    ns?.remove();
    if (scripts) rmSync(scripts, { recursive: true, force: true });
  });

  it('many checks through one namespace start one child, which stays', async () => {
    const c = checker();
    expect(ours()).toEqual([]);
    const pids = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const a = await c.check(netnsPath, answering, 1000);
      expect(a).toMatchObject({ said: true, result: 'connect' });
      for (const r of c.running()) pids.add(r.pid);
      expect(ours()).toHaveLength(1);
    }
    const refused = await c.check(netnsPath, { host: '127.0.0.1', port: insidePort === 2049 ? 2050 : 2049 }, 1000);
    expect(refused).toMatchObject({ said: true, result: 'ECONNREFUSED' });
    expect([...pids]).toHaveLength(1);
    expect(ours()).toEqual([...pids]);
    expect(c.running()).toEqual([{ netns: netnsPath, pid: [...pids][0] }]);
  });

  it('concurrent checks are answered by id, each as soon as its own connect ends', async () => {
    const c = checker();
    await c.check(netnsPath, answering, 1000); // the child up
    const started = performance.now();
    const at = (p: Promise<unknown>) => p.then((v) => ({ v, ms: performance.now() - started }));
    const [slow, fast, refused] = await Promise.all([
      at(c.check(netnsPath, dropped, 600)),
      at(c.check(netnsPath, answering, 600)),
      at(c.check(netnsPath, { host: '127.0.0.1', port: insidePort === 2049 ? 2050 : 2049 }, 600)),
    ]);
    expect(slow.v).toMatchObject({ said: true, result: 'timeout' });
    expect(fast.v).toMatchObject({ said: true, result: 'connect' });
    expect(refused.v).toMatchObject({ said: true, result: 'ECONNREFUSED' });
    expect(slow.ms).toBeGreaterThanOrEqual(599);
    expect(fast.ms).toBeLessThan(300);
    expect(refused.ms).toBeLessThan(300);
    expect(ours()).toHaveLength(1);
  });

  it('a child killed from outside: the check in flight ends saying so, and the next check starts a new child', async () => {
    const c = checker();
    await c.check(netnsPath, answering, 1000);
    const [first] = c.running();
    expect(first).toBeDefined();
    const pid = first?.pid ?? -1;
    const inFlight = c.check(netnsPath, dropped, 5000);
    await sleep(100);
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const o = await inFlight;
    expect(o).toMatchObject({ said: false, reason: 'check process failed (signal SIGKILL)' });
    expect(performance.now() - killedAt).toBeLessThan(1000);
    expect(await c.check(netnsPath, answering, 1000)).toMatchObject({ said: true, result: 'connect' });
    const [second] = c.running();
    expect(second?.pid).toBeDefined();
    expect(second?.pid).not.toBe(pid);
    expect(ours()).toEqual([second?.pid]);
  });

  it('an idle child is ended', async () => {
    const c = checker({ idleMs: 300 });
    expect(await c.check(netnsPath, answering, 1000)).toMatchObject({ said: true });
    const pid = c.running()[0]?.pid ?? -1;
    expect(alive(pid)).toBe(true);
    expect(await eventually(() => !alive(pid), 3000)).toBe(true);
    expect(c.running()).toEqual([]);
    expect(ours()).toEqual([]);
    // And the next check starts another.
    expect(await c.check(netnsPath, answering, 1000)).toMatchObject({ said: true, result: 'connect' });
    expect(ours()).toHaveLength(1);
  });

  it('one child per namespace path; past the most kept, the least recently used is ended', async () => {
    const c = checker({ maxChildren: 1 });
    // The listener's own link names the same namespace by another path: a child of its own.
    const other = `/proc/${inside.pid ?? -1}/ns/net`;
    await c.check(netnsPath, answering, 1000);
    const firstPid = c.running()[0]?.pid ?? -1;
    expect(await c.check(other, answering, 1000)).toMatchObject({ said: true, result: 'connect' });
    expect(c.running().map((r) => r.netns)).toEqual([other]);
    expect(await eventually(() => !alive(firstPid))).toBe(true);
    expect(ours()).toHaveLength(1);

    const two = checker({ maxChildren: 2 });
    await two.check(netnsPath, answering, 1000);
    await two.check(other, answering, 1000);
    expect(
      two
        .running()
        .map((r) => r.netns)
        .sort(),
    ).toEqual([netnsPath, other].sort());
  });

  it('close() ends every child, answers what is in flight, and leaves no process or timer', async () => {
    const clock = countingClock();
    const c = checker({ clock });
    await c.check(netnsPath, answering, 1000);
    await c.check(`/proc/${inside.pid ?? -1}/ns/net`, answering, 1000);
    const pids = c.running().map((r) => r.pid);
    expect(pids).toHaveLength(2);
    const inFlight = c.check(netnsPath, dropped, 5000);
    c.close();
    expect(await inFlight).toMatchObject({ said: false, reason: 'check process closed' });
    expect(c.running()).toEqual([]);
    expect(clock.pending()).toBe(0);
    expect(await eventually(() => pids.every((p) => !alive(p)))).toBe(true);
    expect(ours()).toEqual([]);
    // Closed for good: no child is started again.
    expect(await c.check(netnsPath, answering, 1000)).toEqual({ said: false, reason: 'check process closed', ms: 0 });
    expect(ours()).toEqual([]);
  });

  it('a child writing garbage, or answering an id never asked: ended, its checks failing, the next one starting afresh', async () => {
    const garbage = join(scripts, 'garbage');
    writeFileSync(garbage, '#!/bin/sh\necho hello\nexec sleep 60\n');
    chmodSync(garbage, 0o755);
    const c = checker({ nodePath: garbage });
    expect(await c.check(netnsPath, answering, 500)).toMatchObject({ said: false, reason: 'check process printed garbage: hello' });
    expect(c.running()).toEqual([]);
    expect(await eventually(() => ours().length === 0)).toBe(true);

    const stranger = join(scripts, 'stranger');
    writeFileSync(stranger, '#!/bin/sh\necho \'{"id":999999,"result":"connect","ms":1}\'\nexec sleep 60\n');
    chmodSync(stranger, 0o755);
    const s = checker({ nodePath: stranger });
    const o = await s.check(netnsPath, answering, 500);
    expect(o).toMatchObject({ said: false });
    expect(!o.said && o.reason).toMatch(/^check process printed garbage: \{"id":999999/);
    expect(await eventually(() => ours().length === 0)).toBe(true);
  });

  it('a child that hangs: its first check waits out the start allowance; once it has answered, only a small one', async () => {
    const hang = join(scripts, 'hang');
    writeFileSync(hang, '#!/bin/sh\necho started >&2\nexec sleep 60\n');
    chmodSync(hang, 0o755);
    const c = checker({ nodePath: hang, startAllowanceMs: 700, answerAllowanceMs: 150 });
    let started = performance.now();
    const hung = await c.check(netnsPath, answering, 100);
    let elapsed = performance.now() - started;
    expect(hung).toMatchObject({ said: false, reason: 'check process timed out: started' });
    expect(elapsed).toBeGreaterThanOrEqual(100 + 700 - 5);
    expect(elapsed).toBeLessThan(100 + 700 + 500);
    expect(await eventually(() => ours().length === 0)).toBe(true);

    // A Node of its own that answers its first request, then goes quiet.
    const quiet = join(scripts, 'quiet');
    writeFileSync(
      quiet,
      `#!${process.execPath}
let answered = false;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  for (const line of chunk.split('\\n').filter(Boolean)) {
    if (answered) continue;
    answered = true;
    process.stdout.write(JSON.stringify({ id: JSON.parse(line).id, result: 'connect', ms: 0 }) + '\\n');
  }
});
`,
    );
    chmodSync(quiet, 0o755);
    const q = checker({ nodePath: quiet, startAllowanceMs: 2000, answerAllowanceMs: 150 });
    expect(await q.check(netnsPath, answering, 100)).toMatchObject({ said: true, result: 'connect' });
    started = performance.now();
    const o = await q.check(netnsPath, answering, 100);
    elapsed = performance.now() - started;
    expect(o).toMatchObject({ said: false, reason: 'check process timed out' });
    expect(elapsed).toBeGreaterThanOrEqual(100 + 150 - 5);
    expect(elapsed).toBeLessThan(100 + 150 + 400);
    expect(await eventually(() => ours().length === 0)).toBe(true);
  });
});
