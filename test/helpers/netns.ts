// A network namespace of a test's own (root): loopback up, a route over loopback to addresses
// nothing there owns (their SYNs are dropped, so a connect there waits out its bound), and a
// listener on 127.0.0.1 inside it, on a port the kernel chose.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/** An address whose connects are dropped inside the namespace. */
export const DROPPED_HOST = '10.254.0.2';

const LISTENER =
  "const s = require('node:net').createServer((c) => c.on('error', () => {})); s.listen({ host: '127.0.0.1', port: 0 }, () => console.log(s.address().port));";

export interface TestNetns {
  readonly name: string;
  /** The namespace file, as nsenter --net takes it. */
  readonly path: string;
  /** The listener's process (ip netns exec's child). */
  readonly listener: ChildProcess;
  readonly port: number;
  /** Ends the listener and deletes the namespace. */
  remove(): void;
}

/** A line the child prints on stdout. */
export const firstLine = (child: ChildProcess): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(text.split('\n')[0] ?? '');
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing: ${text}`)));
  });

export async function testNetns(name: string): Promise<TestNetns> {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['-n', name, 'route', 'add', '10.254.0.0/24', 'dev', 'lo']);
  const listener = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await firstLine(listener));
  return {
    name,
    path: `/run/netns/${name}`,
    listener,
    port,
    remove() {
      listener.kill('SIGKILL');
      execFileSync('ip', ['netns', 'delete', name]);
    },
  };
}
