// The server check against real TCP on loopback: a listener, a closed port, a listener that never
// accepts; as root, real network namespaces, entered through nsenter by a real child Node, where the
// same 127.0.0.1:PORT answers in one namespace and is refused in the other. The namespace children's
// own lifecycle is test/server/netns-checker.test.ts'.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { countingClock } from '../helpers/counting-clock.js';
import { createServerCheck, netnsOfPid, outcomeOf, reasonOf } from '../../src/server/check.js';
import { executable, requires, runningAsRoot, skips } from '../helpers/prerequisite.js';
import { DROPPED_HOST, firstLine, testNetns, type TestNetns } from '../helpers/netns.js';

/** A listener on 127.0.0.1, port chosen by the kernel; `peerClosed` resolves once a connection to it has ended. */
async function listener(): Promise<{ server: net.Server; port: number; peerClosed: Promise<void> }> {
  let peerClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (peerClosed = resolve));
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('close', () => peerClosed());
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { server, port: (server.address() as net.AddressInfo).port, peerClosed: closed };
}

const closeServer = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A port nothing listens on: one the kernel just gave a listener, closed again. */
async function closedPort(): Promise<number> {
  const { server, port } = await listener();
  await closeServer(server);
  return port;
}

// Listens on 127.0.0.1 with room for two unaccepted connections, prints its port; stopped with
// SIGSTOP it never accepts, so once two connections wait, the kernel drops further SYNs.
const NEVER_ACCEPTS = `
const s = require('node:net').createServer(() => {});
s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => console.log(s.address().port));
`;

describe('createServerCheck, from this namespace', () => {
  const clock = countingClock();
  const check = createServerCheck({ clock });

  it('a listener answers; the socket is closed at once and no timer is left', async () => {
    const { server, port, peerClosed } = await listener();
    const o = await check({ host: '127.0.0.1', port }, null, 2000);
    expect(o.answering).toBe(true);
    expect(o.ms).toBeGreaterThanOrEqual(0);
    expect(o.ms).toBeLessThan(2000);
    expect(clock.pending()).toBe(0);
    await peerClosed; // the listener saw the check's connection end
    await closeServer(server);
  });

  it('a closed port is refused', async () => {
    const port = await closedPort();
    const o = await check({ host: '127.0.0.1', port }, null, 2000);
    expect(o).toMatchObject({ answering: false, reason: 'refused' });
    expect(clock.pending()).toBe(0);
  });

  describe('a listener that never accepts', () => {
    let child: ChildProcess;
    const fillers: net.Socket[] = [];
    afterEach(() => {
      for (const s of fillers.splice(0)) s.destroy();
      child.kill('SIGKILL');
    });

    it('times out at the bound, within small slack', async () => {
      child = spawn(process.execPath, ['-e', NEVER_ACCEPTS], { stdio: ['ignore', 'pipe', 'inherit'] });
      const port = Number(await firstLine(child));
      child.kill('SIGSTOP');
      // Fill its queue: connect until one is left waiting.
      for (let i = 0; i < 20; i++) {
        const s = net.connect({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        fillers.push(s);
        const connected = await new Promise<boolean>((resolve) => {
          s.once('connect', () => resolve(true));
          setTimeout(() => resolve(false), 300);
        });
        if (!connected) break;
      }
      const started = performance.now();
      const o = await check({ host: '127.0.0.1', port }, null, 300);
      const elapsed = performance.now() - started;
      expect(o).toMatchObject({ answering: false, reason: 'timeout' });
      expect(o.ms).toBeGreaterThanOrEqual(299);
      expect(elapsed).toBeLessThan(300 + 200);
      expect(clock.pending()).toBe(0);
    });
  });

  it('an address net refuses outright is an outcome, not a rejection', async () => {
    const o = await check({ host: '127.0.0.1', port: 70000 }, null, 500);
    expect(o).toMatchObject({ answering: false, reason: 'ERR_SOCKET_BAD_PORT' });
    expect(clock.pending()).toBe(0);
  });
});

describe('reasonOf', () => {
  it('names refusal and unreachability, and passes any other code on', () => {
    expect(reasonOf('ECONNREFUSED')).toBe('refused');
    expect(reasonOf('EHOSTUNREACH')).toBe('unreachable');
    expect(reasonOf('ENETUNREACH')).toBe('unreachable');
    expect(reasonOf('ECONNRESET')).toBe('ECONNRESET');
    expect(reasonOf('timeout')).toBe('timeout');
  });
});

describe("outcomeOf: a namespace child's answer as an outcome", () => {
  it("the child's result named as in-process, with the connect's own duration", () => {
    expect(outcomeOf({ said: true, result: 'connect', ms: 3 })).toEqual({ answering: true, ms: 3 });
    expect(outcomeOf({ said: true, result: 'ECONNREFUSED', ms: 1 })).toEqual({ answering: false, ms: 1, reason: 'refused' });
    expect(outcomeOf({ said: true, result: 'EHOSTUNREACH', ms: 2 })).toEqual({ answering: false, ms: 2, reason: 'unreachable' });
    expect(outcomeOf({ said: true, result: 'timeout', ms: 300 })).toEqual({ answering: false, ms: 300, reason: 'timeout' });
  });

  it("a child's failure: not answering, its reason as it is", () => {
    expect(outcomeOf({ said: false, reason: 'check process failed (signal SIGKILL)', ms: 40 })).toEqual({
      answering: false,
      ms: 40,
      reason: 'check process failed (signal SIGKILL)',
    });
  });
});

describe('netnsOfPid', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nhc-proc-'));
    for (const [pid, ns] of [
      ['self', 'net:[4026531840]'],
      ['10', 'net:[4026531840]'],
      ['20', 'net:[4026532999]'],
    ] as const) {
      mkdirSync(join(dir, pid, 'ns'), { recursive: true });
      symlinkSync(ns, join(dir, pid, 'ns', 'net'));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("this process's own pid: null (connect in-process)", () => {
    expect(netnsOfPid(process.pid).netns).toBeNull();
  });

  it("another namespace's process: its link; the same namespace: null; an unreadable link: null; each saying why", () => {
    expect(netnsOfPid(20, dir)).toEqual({ netns: `${dir}/20/ns/net`, why: "net:[4026532999], not the daemon's net:[4026531840]" });
    expect(netnsOfPid(10, dir)).toEqual({ netns: null, why: `${dir}/10/ns/net is the daemon's own (net:[4026531840])` });
    expect(netnsOfPid(30, dir).netns).toBeNull();
    expect(netnsOfPid(30, dir).why).toMatch(new RegExp(`^cannot read ${dir}/30/ns/net: ENOENT`));
  });
});

const root = runningAsRoot('entering a network namespace (ip netns, nsenter --net) needs root');
const ip = executable('ip', 'iproute2');
const nsenter = executable('nsenter', 'util-linux');
if (skips(root, ip, nsenter))
  console.warn('[server check] network namespace tests skipped: needs root, ip (iproute2) and nsenter (util-linux)');

requires(root, ip, nsenter).describe('createServerCheck, from another network namespace', () => {
  const name = `nhc-srv-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const netnsPath = `/run/netns/${name}`;
  const check = createServerCheck({ clock: systemClock });
  let ns: TestNetns | undefined;
  let inside: ChildProcess;
  let insidePort: number;
  let outside: net.Server | undefined;
  let outsidePort = 0;
  let scripts: string;

  beforeAll(async () => {
    ns = await testNetns(name);
    inside = ns.listener;
    insidePort = ns.port;
    // The kernel chooses both ports; in the unlikely case it chose the same twice, ask again.
    for (;;) {
      const here = await listener();
      if (here.port !== insidePort) {
        outside = here.server;
        outsidePort = here.port;
        break;
      }
      await closeServer(here.server);
    }
    scripts = mkdtempSync(join(tmpdir(), 'nhc-node-'));
  });

  afterAll(async () => {
    check.close();
    ns?.remove();
    if (outside) await closeServer(outside);
    rmSync(scripts, { recursive: true, force: true });
  });

  it("the same 127.0.0.1:PORT answers in the namespace's listener and is refused in this one", async () => {
    await expect(check({ host: '127.0.0.1', port: insidePort }, netnsPath, 2000)).resolves.toMatchObject({ answering: true });
    await expect(check({ host: '127.0.0.1', port: insidePort }, null, 2000)).resolves.toMatchObject({
      answering: false,
      reason: 'refused',
    });
  });

  it('and the reverse: a listener here answers in-process and is refused from the namespace', async () => {
    await expect(check({ host: '127.0.0.1', port: outsidePort }, null, 2000)).resolves.toMatchObject({ answering: true });
    await expect(check({ host: '127.0.0.1', port: outsidePort }, netnsPath, 2000)).resolves.toMatchObject({
      answering: false,
      reason: 'refused',
    });
  });

  it("netnsOfPid of a process in the namespace is its /proc link, the namespace's own; a check through it answers", async () => {
    const pid = inside.pid ?? -1; // ip netns exec execs the command: this is the Node listening
    const path = netnsOfPid(pid).netns;
    expect(path).toBe(`/proc/${pid}/ns/net`);
    expect(readlinkSync(`/proc/${pid}/ns/net`)).toBe(`net:[${statSync(netnsPath).ino}]`);
    await expect(check({ host: '127.0.0.1', port: insidePort }, path, 2000)).resolves.toMatchObject({ answering: true });
  });

  it('an address without a route there is unreachable; one whose packets are dropped times out at the bound', async () => {
    await expect(check({ host: '10.255.255.1', port: 2049 }, netnsPath, 2000)).resolves.toMatchObject({
      answering: false,
      reason: 'unreachable',
    });
    const started = performance.now();
    const o = await check({ host: DROPPED_HOST, port: 2049 }, netnsPath, 300);
    const elapsed = performance.now() - started;
    expect(o).toMatchObject({ answering: false, reason: 'timeout' });
    expect(o.ms).toBeGreaterThanOrEqual(299);
    // The namespace's child is up by now: only the answer's way back comes on top of the bound.
    expect(elapsed).toBeLessThan(300 + 200);
  });

  it('a namespace that cannot be entered, a child printing garbage, a child that hangs: not answering, saying so', async () => {
    const missing = await check({ host: '127.0.0.1', port: insidePort }, '/nonexistent/ns/net', 2000);
    expect(missing).toMatchObject({ answering: false });
    expect(missing.answering === false && missing.reason).toMatch(/^check process failed \(exit \d+\): nsenter: .*\/nonexistent\/ns\/net/);

    const garbage = join(scripts, 'garbage');
    writeFileSync(garbage, '#!/bin/sh\necho hello\nexec sleep 60\n');
    chmodSync(garbage, 0o755);
    const printing = createServerCheck({ clock: systemClock, nodePath: garbage });
    const printed = await printing({ host: '127.0.0.1', port: 1 }, netnsPath, 500);
    expect(printed).toMatchObject({ answering: false, reason: 'check process printed garbage: hello' });
    expect(printing.children()).toEqual([]);

    const hang = join(scripts, 'hang');
    writeFileSync(hang, '#!/bin/sh\necho started >&2\nexec sleep 60\n');
    chmodSync(hang, 0o755);
    const hanging = createServerCheck({ clock: systemClock, nodePath: hang });
    const started = performance.now();
    const hung = await hanging({ host: '127.0.0.1', port: 1 }, netnsPath, 100);
    expect(hung).toMatchObject({ answering: false, reason: 'check process timed out: started' });
    // The bound, the first start's allowance, and slack.
    expect(performance.now() - started).toBeLessThan(100 + 2000 + 1000);
    expect(hanging.children()).toEqual([]);
  });
});
