// Holders for the daemon's integration tests: a process of another user (nobody) on a faultfs
// mount as Airflow's scheduler is, and the gauge that counts such processes on detached mounts.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mountFaultfs, waitFor, type FaultMount } from './faultfs.js';
import type { LogLine, RunningDaemon } from './daemon.js';

// The system's python3: the holder runs as nobody, who cannot reach a per-user install under /root.
export const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));

export const NOBODY = 65534;

// A long-lived process as Airflow's scheduler is: cwd in a directory of the mount, a log file open
// for append, a file mapped; it says "ready" once it holds all three.
const HOLDER = `
import mmap, os, sys, time
mnt = sys.argv[1]
os.chdir(os.path.join(mnt, 'sub'))
log = open(os.path.join(mnt, 'scheduler.log'), 'a')
with open(os.path.join(mnt, 'example_dag.py'), 'rb') as f:
    mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print('ready', flush=True)
time.sleep(600)
`;

export async function startHolder(mountpoint: string): Promise<ChildProcess> {
  if (python === undefined) throw new Error('no system python3');
  const child = spawn(python, ['-c', HOLDER, mountpoint], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  if (!(await waitFor(() => out.includes('ready'), 10_000))) throw new Error(`holder did not start: ${out}`);
  return child;
}

/** A faultfs mount other users can reach (allow_other, a traversable temp dir) with sub/ and a log. */
export async function sharedMount(): Promise<FaultMount> {
  const m = await mountFaultfs({
    mountOptions: 'allow_other',
    files: { 'example_dag.py': 'from airflow import DAG\n', 'scheduler.log': '' },
  });
  mkdirSync(join(m.backing, 'sub'));
  chmodSync(m.dir, 0o755);
  chmodSync(join(m.backing, 'scheduler.log'), 0o666);
  return m;
}

export async function gauge(d: RunningDaemon, mount: string): Promise<number | undefined> {
  const text = await (await fetch(`${await d.metricsBase()}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`nfs_mount_detached_holders{mount="${mount}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** Polls the scrape until the gauge reads `value`; resolves what it read last. */
export async function gaugeBecomes(d: RunningDaemon, mount: string, value: number, timeoutMs = 5000): Promise<number | undefined> {
  const end = performance.now() + timeoutMs;
  let last = await gauge(d, mount);
  while (last !== value && performance.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    last = await gauge(d, mount);
  }
  return last;
}

/** A holder watch line about this process. */
export const holderLine =
  (msg: string, pid: number | undefined) =>
  (l: LogLine): boolean =>
    l.msg === msg && l.pid === pid;
