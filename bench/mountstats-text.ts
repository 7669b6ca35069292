// Synthetic /proc/self/mountstats and /proc/self/mountinfo texts of one mount table: N NFS mounts
// (NFSv4.1 and 4.2 over tcp, some NFSv3 over tcp or udp, a few with blanks in their names) under
// autofs maps, among the ordinary mounts of a systemd node (sysfs, proc, cgroup2, tmpfs, fuse…).
// The mountstats text is written with the formats of a 6.1 kernel (fs/proc_namespace.c,
// fs/nfs/super.c, net/sunrpc/stats.c, net/sunrpc/xprtsock.c), so that a parser meets what the
// kernel prints; the counters come from a seeded generator and are the same on every call.

export interface SyntheticNfs {
  /** 3, 4.1 or 4.2. */
  readonly vers: '3' | '4.1' | '4.2';
  readonly proto: 'tcp' | 'udp';
}

export interface SyntheticMount {
  /** Unescaped. */
  readonly device: string;
  /** Unescaped. */
  readonly mountPoint: string;
  readonly fstype: string;
  /** Set on NFS mounts. */
  readonly nfs?: SyntheticNfs;
}

export interface MountstatsTextOptions {
  /** Print the errors field (RPC iostats 1.1, kernels from 5.3); false: 8 numbers an op, iostats 1.0. Default true. */
  readonly errors?: boolean;
}

/** NFSv4 procedures in the order of the kernel's enum (include/linux/nfs4.h, 6.1). */
export const NFS4_OPS: readonly string[] = [
  'NULL',
  'READ',
  'WRITE',
  'COMMIT',
  'OPEN',
  'OPEN_CONFIRM',
  'OPEN_NOATTR',
  'OPEN_DOWNGRADE',
  'CLOSE',
  'SETATTR',
  'FSINFO',
  'RENEW',
  'SETCLIENTID',
  'SETCLIENTID_CONFIRM',
  'LOCK',
  'LOCKT',
  'LOCKU',
  'ACCESS',
  'GETATTR',
  'LOOKUP',
  'LOOKUP_ROOT',
  'REMOVE',
  'RENAME',
  'LINK',
  'SYMLINK',
  'CREATE',
  'PATHCONF',
  'STATFS',
  'READLINK',
  'READDIR',
  'SERVER_CAPS',
  'DELEGRETURN',
  'GETACL',
  'SETACL',
  'FS_LOCATIONS',
  'RELEASE_LOCKOWNER',
  'SECINFO',
  'FSID_PRESENT',
  'EXCHANGE_ID',
  'CREATE_SESSION',
  'DESTROY_SESSION',
  'SEQUENCE',
  'GET_LEASE_TIME',
  'RECLAIM_COMPLETE',
  'LAYOUTGET',
  'GETDEVICEINFO',
  'LAYOUTCOMMIT',
  'LAYOUTRETURN',
  'SECINFO_NO_NAME',
  'TEST_STATEID',
  'FREE_STATEID',
  'GETDEVICELIST',
  'BIND_CONN_TO_SESSION',
  'DESTROY_CLIENTID',
  'SEEK',
  'ALLOCATE',
  'DEALLOCATE',
  'LAYOUTSTATS',
  'CLONE',
  'COPY',
  'OFFLOAD_CANCEL',
  'LOOKUPP',
  'LAYOUTERROR',
  'COPY_NOTIFY',
  'GETXATTR',
  'SETXATTR',
  'LISTXATTRS',
  'REMOVEXATTR',
  'READ_PLUS',
];

/** NFSv3 procedures in the order of the protocol (fs/nfs/nfs3xdr.c). */
export const NFS3_OPS: readonly string[] = [
  'NULL',
  'GETATTR',
  'SETATTR',
  'LOOKUP',
  'ACCESS',
  'READLINK',
  'READ',
  'WRITE',
  'CREATE',
  'MKDIR',
  'SYMLINK',
  'MKNOD',
  'REMOVE',
  'RMDIR',
  'RENAME',
  'LINK',
  'READDIR',
  'READDIRPLUS',
  'FSSTAT',
  'FSINFO',
  'PATHCONF',
  'COMMIT',
];

/** The ops a busy mount uses; the others stay at zero, as on a real client. */
const BUSY = new Set([
  'NULL',
  'READ',
  'WRITE',
  'COMMIT',
  'OPEN',
  'CLOSE',
  'ACCESS',
  'GETATTR',
  'LOOKUP',
  'READDIR',
  'READDIRPLUS',
  'SEQUENCE',
]);

/** How many NFS mounts one autofs map holds. */
const PER_MAP = 25;

/** What a systemd node mounts before any NFS: [device, mount point, fstype]. */
const SYSTEM_MOUNTS: readonly (readonly [string, string, string])[] = [
  ['sysfs', '/sys', 'sysfs'],
  ['proc', '/proc', 'proc'],
  ['udev', '/dev', 'devtmpfs'],
  ['devpts', '/dev/pts', 'devpts'],
  ['tmpfs', '/run', 'tmpfs'],
  ['/dev/vda1', '/', 'ext4'],
  ['securityfs', '/sys/kernel/security', 'securityfs'],
  ['tmpfs', '/dev/shm', 'tmpfs'],
  ['tmpfs', '/run/lock', 'tmpfs'],
  ['cgroup2', '/sys/fs/cgroup', 'cgroup2'],
  ['pstore', '/sys/fs/pstore', 'pstore'],
  ['bpf', '/sys/fs/bpf', 'bpf'],
  ['systemd-1', '/proc/sys/fs/binfmt_misc', 'autofs'],
  ['hugetlbfs', '/dev/hugepages', 'hugetlbfs'],
  ['mqueue', '/dev/mqueue', 'mqueue'],
  ['debugfs', '/sys/kernel/debug', 'debugfs'],
  ['tracefs', '/sys/kernel/tracing', 'tracefs'],
  ['fusectl', '/sys/fs/fuse/connections', 'fusectl'],
  ['configfs', '/sys/kernel/config', 'configfs'],
  ['/dev/vda15', '/boot/efi', 'vfat'],
  ['sunrpc', '/run/rpc_pipefs', 'rpc_pipefs'],
  ['binfmt_misc', '/proc/sys/fs/binfmt_misc', 'binfmt_misc'],
];

/** After the NFS mounts: a user session's. */
const USER_MOUNTS: readonly (readonly [string, string, string])[] = [
  ['tmpfs', '/run/user/1000', 'tmpfs'],
  ['gvfsd-fuse', '/run/user/1000/gvfs', 'fuse.gvfsd-fuse'],
  ['portal', '/run/user/1000/doc', 'fuse.portal'],
];

/** The mount table: the system's mounts, an autofs map per 25 NFS mounts with them under it, a session's. */
export function syntheticMounts(nfsMounts: number): SyntheticMount[] {
  const table: SyntheticMount[] = SYSTEM_MOUNTS.map(([device, mountPoint, fstype]) => ({ device, mountPoint, fstype }));
  for (let i = 0; i < nfsMounts; i++) {
    const map = Math.floor(i / PER_MAP);
    if (i % PER_MAP === 0) table.push({ device: `/etc/auto.data${map}`, mountPoint: `/data${map}`, fstype: 'autofs' });
    const name = i % 10 === 9 ? `team share ${i}` : `proj-${String(i).padStart(3, '0')}`;
    const nfs: SyntheticNfs =
      i % 20 === 13
        ? { vers: '3', proto: 'udp' }
        : i % 5 === 2
          ? { vers: '3', proto: 'tcp' }
          : { vers: i % 3 === 0 ? '4.2' : '4.1', proto: 'tcp' };
    table.push({
      device: `10.0.${i % 4}.10:/export/${name}`,
      mountPoint: `/data${map}/${name}`,
      fstype: nfs.vers === '3' ? 'nfs' : 'nfs4',
      nfs,
    });
  }
  for (const [device, mountPoint, fstype] of USER_MOUNTS) table.push({ device, mountPoint, fstype });
  return table;
}

/** The kernel's mangle(): blank, tab, newline and backslash as 3-digit octal escapes. */
export function escapeMountField(s: string): string {
  return s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/** Mulberry32: small, seeded, the same sequence everywhere. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `\t%12s: ` and the counters of one procedure (net/sunrpc/stats.c _print_rpc_iostats). */
function opLine(name: string, busy: boolean, rnd: () => number, errors: boolean): { line: string; ops: number; trans: number } {
  let f: number[];
  if (!busy) f = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  else {
    const ops = 1 + Math.floor(rnd() * 500_000);
    const retrans = rnd() < 0.2 ? Math.floor(rnd() * 40) : 0;
    const timeouts = Math.floor(retrans / 4);
    const sent = ops * (120 + Math.floor(rnd() * 200));
    const recv = name === 'READ' ? ops * 262_144 : ops * (100 + Math.floor(rnd() * 300));
    const rtt = Math.floor(ops * (0.2 + rnd()));
    const queue = Math.floor(rtt * rnd() * 0.05);
    const execute = rtt + queue + Math.floor(ops * rnd() * 0.05);
    const errs = rnd() < 0.3 ? Math.floor(rnd() * 50) : 0;
    f = [ops, ops + retrans, timeouts, sent, recv, queue, rtt, execute, errs];
  }
  const shown = errors ? f : f.slice(0, 8);
  return { line: `\t${name.padStart(12)}: ${shown.join(' ')}\n`, ops: f[0] ?? 0, trans: f[1] ?? 0 };
}

const V4_OPTS = 'namlen=255,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,hard,proto=tcp,timeo=600,retrans=2,sec=sys';

/** nfs_show_stats() and rpc_clnt_show_stats() of one NFS mount, the blank line after it included. */
function nfsBlock(m: SyntheticMount, nfs: SyntheticNfs, index: number, errors: boolean): string {
  const rnd = random(0x5eed + index);
  const v4 = nfs.vers !== '3';
  const size = nfs.proto === 'udp' ? 32768 : 1048576;
  const opts = v4
    ? `rw,vers=${nfs.vers},rsize=${size},wsize=${size},${V4_OPTS},clientaddr=10.0.9.21,local_lock=none`
    : `rw,vers=3,rsize=${size},wsize=${size},namlen=255,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,hard,proto=${nfs.proto},timeo=${nfs.proto === 'udp' ? 11 : 600},retrans=${nfs.proto === 'udp' ? 3 : 2},sec=sys,mountaddr=10.0.${index % 4}.10,mountvers=3,mountport=20048,mountproto=udp,local_lock=none`;
  const head = [
    `device ${escapeMountField(m.device)} mounted on ${escapeMountField(m.mountPoint)} with fstype ${m.fstype} statvers=1.1\n`,
    `\topts:\t${opts}\n`,
    `\tage:\t${86_400 + Math.floor(rnd() * 1_000_000)}\n`,
    v4 ? "\timpl_id:\tname='',domain='',date='0,0'\n" : '',
    `\tcaps:\tcaps=${v4 ? '0x3ffdf' : '0x3fcf'},wtmult=512,dtsize=${size},bsize=0,namlen=255\n`,
    v4 ? '\tnfsv4:\tbm0=0xfdffbfff,bm1=0x40f9be3e,bm2=0x60800,acl=0x3,sessions,pnfs=not configured,lease_time=90,lease_expired=0\n' : '',
    '\tsec:\tflavor=1,pseudoflavor=1\n',
    `\tevents:\t${Array.from({ length: 27 }, () => `${Math.floor(rnd() * 100_000)} `).join('')}\n`,
    `\tbytes:\t${Array.from({ length: 8 }, () => `${Math.floor(rnd() * 1e10)} `).join('')}\n`,
    `\tRPC iostats version: ${errors ? '1.1' : '1.0'}  p/v: 100003/${v4 ? 4 : 3} (nfs)\n`,
  ];
  let sends = 0;
  let recvs = 0;
  const lines: string[] = [];
  for (const name of v4 ? NFS4_OPS : NFS3_OPS) {
    const op = opLine(name, BUSY.has(name), rnd, errors);
    lines.push(op.line);
    sends += op.trans;
    recvs += op.ops;
  }
  const port = 700 + (index % 300);
  const xprt =
    nfs.proto === 'udp'
      ? `\txprt:\tudp ${port} 1 ${sends} ${recvs} 0 ${sends * 3} 0 16 0 0\n`
      : `\txprt:\ttcp ${port} ${v4 ? 0 : 1} 1 0 ${Math.floor(rnd() * 60)} ${sends} ${recvs} 0 ${sends * 3} 0 ${2 + Math.floor(rnd() * 64)} ${sends * 2} ${Math.floor(rnd() * 100)}\n`;
  return `${head.join('')}${xprt}\tper-op statistics\n${lines.join('')}\n`;
}

/** /proc/self/mountstats of the table of syntheticMounts(nfsMounts), as a 6.1 kernel prints it. */
export function mountstatsText(nfsMounts: number, options: MountstatsTextOptions = {}): string {
  const errors = options.errors ?? true;
  const parts: string[] = [];
  let nfsIndex = 0;
  for (const m of syntheticMounts(nfsMounts)) {
    if (m.nfs) parts.push(nfsBlock(m, m.nfs, nfsIndex++, errors));
    else parts.push(`device ${escapeMountField(m.device)} mounted on ${escapeMountField(m.mountPoint)} with fstype ${m.fstype}\n`);
  }
  return parts.join('');
}

/** /proc/self/mountinfo of the same table (fs/proc_namespace.c show_mountinfo()). */
export function mountinfoText(nfsMounts: number): string {
  const table = syntheticMounts(nfsMounts);
  const ids: { mountPoint: string; id: number }[] = [];
  const lines: string[] = [];
  let nfsIndex = 0;
  table.forEach((m, i) => {
    const id = 22 + i;
    // The parent: the nearest mount above this one's path that came before it.
    let parent = 1;
    let best = -1;
    for (const p of ids) {
      const above = p.mountPoint === '/' || m.mountPoint.startsWith(`${p.mountPoint}/`) || p.mountPoint === m.mountPoint;
      if (above && p.mountPoint.length > best) {
        best = p.mountPoint.length;
        parent = p.id;
      }
    }
    ids.push({ mountPoint: m.mountPoint, id });
    let superOptions = 'rw';
    if (m.nfs) {
      const n = nfsIndex++;
      const v4 = m.nfs.vers !== '3';
      superOptions = v4
        ? `rw,vers=${m.nfs.vers},rsize=1048576,wsize=1048576,${V4_OPTS},clientaddr=10.0.9.21,local_lock=none,addr=10.0.${n % 4}.10`
        : `rw,vers=3,rsize=1048576,wsize=1048576,namlen=255,hard,proto=${m.nfs.proto},timeo=600,retrans=2,sec=sys,mountaddr=10.0.${n % 4}.10,mountvers=3,mountport=20048,mountproto=udp,local_lock=none,addr=10.0.${n % 4}.10`;
    } else if (m.fstype === 'autofs')
      superOptions = `rw,fd=${7 + i},pgrp=812,timeout=300,minproto=5,maxproto=5,indirect,pipe_ino=${20_000 + i}`;
    const dev = m.nfs ? `0:${60 + i}` : m.device.startsWith('/dev/') ? `252:${i}` : `0:${20 + i}`;
    lines.push(
      `${id} ${parent} ${dev} / ${escapeMountField(m.mountPoint)} rw,nosuid,nodev,relatime shared:${i + 1} - ${m.fstype} ${escapeMountField(m.device)} ${superOptions}\n`,
    );
  });
  return lines.join('');
}
