// Boots the e2e VM once: qemu under TCG, no NIC, the job and its helpers shared in over virtio-9p;
// the guest's e2e-runner runs the job as root, writes its files back to the share and powers off.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Image {
  dir: string;
}

export interface BootOptions {
  image: Image;
  /** The root disk: a qcow2 overlay of the image's root.img. */
  disk: string;
  /** false for the install boot, whose writes to the disk are kept. */
  snapshot: boolean;
  /** A directory the guest may only read, shared as tag "src" (the .deb, for install.sh). */
  src?: string;
  /** Files for the share: job.sh (run by the guest) and what it sources. */
  files: Record<string, string>;
  /** The job's own time limit inside the guest. */
  limitS: number;
  /** Where the share and the console log go. */
  runDir: string;
}

export interface BootResult {
  /** The job's exit status, or null when the guest never wrote one (no boot, killed, ...). */
  rc: number | null;
  wallS: number;
  share: string;
  console: string;
  /** What qemu itself printed (an error that kept it from booting, say). */
  qemuStderr: string;
  /** Whether a kernel got as far as printing its banner on the serial console. */
  kernelStarted(): boolean;
  /** A file the guest wrote to the share, or "" when it did not. */
  read(name: string): string;
}

// Booting and shutting down take ~30 s under TCG; a guest that is not done by then is hung.
const BOOT_ALLOWANCE_S = 240;

function qemuArgs(o: BootOptions, share: string, consoleLog: string): string[] {
  const img = (f: string): string => path.join(o.image.dir, f);
  const args = [
    '-name',
    'nhc-e2e',
    '-machine',
    'q35,accel=tcg',
    '-cpu',
    'max',
    '-smp',
    '2',
    '-m',
    '2048',
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    img('vmlinuz'),
    '-initrd',
    img('initrd.img'),
    '-append',
    'root=LABEL=nhce2eroot rw console=ttyS0 net.ifnames=0 systemd.show_status=1',
    '-drive',
    `file=${o.disk},format=qcow2,if=virtio${o.snapshot ? ',snapshot=on' : ''}`,
    // The servers' two filesystems always start pristine.
    '-drive',
    `file=${img('fsA.img')},format=raw,if=virtio,snapshot=on`,
    '-drive',
    `file=${img('fsB.img')},format=raw,if=virtio,snapshot=on`,
    '-virtfs',
    `local,path=${share},mount_tag=host,security_model=none,id=host`,
    '-nic',
    'none',
    '-serial',
    `file:${consoleLog}`,
  ];
  if (o.src) args.push('-virtfs', `local,path=${o.src},mount_tag=src,security_model=none,id=src,readonly=on`);
  return args;
}

export async function boot(o: BootOptions): Promise<BootResult> {
  const share = path.join(o.runDir, 'share');
  fs.mkdirSync(share, { recursive: true });
  for (const [name, text] of Object.entries(o.files)) fs.writeFileSync(path.join(share, name), text);
  fs.writeFileSync(path.join(share, 'timeout'), `${o.limitS}\n`);
  const consoleLog = path.join(o.runDir, 'console.log');

  const started = Date.now();
  const qemu = spawn('qemu-system-x86_64', qemuArgs(o, share, consoleLog), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => qemu.kill('SIGKILL'), (o.limitS + BOOT_ALLOWANCE_S) * 1000);
  const exit = await new Promise<number | null>((resolve) => {
    qemu.on('error', () => resolve(null));
    qemu.on('exit', (code) => resolve(code));
  });
  clearTimeout(killer);
  if (stderr.trim()) fs.writeFileSync(path.join(o.runDir, 'qemu.stderr'), stderr);

  const read = (name: string): string => {
    try {
      return fs.readFileSync(path.join(share, name), 'utf8');
    } catch {
      return '';
    }
  };
  const rcText = read('rc').trim();
  return {
    rc: rcText === '' || exit === null ? null : Number(rcText),
    wallS: (Date.now() - started) / 1000,
    share,
    console: consoleLog,
    qemuStderr: stderr.trim(),
    kernelStarted: () => fs.existsSync(consoleLog) && fs.readFileSync(consoleLog, 'utf8').includes('Linux version'),
    read,
  };
}

/** A copy-on-write root disk over the image's root.img (the image itself is never written). */
export async function overlay(image: Image, file: string): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', path.join(image.dir, 'root.img'), file]);
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; echo?: boolean } = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (d: Buffer): void => {
      out += d.toString();
      if (opts.echo) process.stderr.write(d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => resolve({ code: null, out: String(e) }));
    child.on('exit', (code) => resolve({ code, out }));
  });
}
