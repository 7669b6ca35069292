import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../src/probe/mountinfo.js';
import { serverKey, type ServerAddress } from '../../src/server/address.js';
import { autofsMapServers, localMapReader, localMapReaderOver, type MapReader } from '../../src/server/autofs-map.js';

/** Recorded map texts as a reader: a file is executable when its name is listed in `programs`. */
function memoryReader(files: Record<string, string>, programs: readonly string[] = []): MapReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    file(path) {
      reads.push(path);
      const text = files[path];
      return text === undefined ? null : { text, executable: programs.includes(path) };
    },
    dir(path) {
      const prefix = path.endsWith('/') ? path : path + '/';
      return Object.keys(files)
        .filter((f) => f.startsWith(prefix) && !f.slice(prefix.length).includes('/'))
        .map((f) => f.slice(prefix.length));
    },
  };
}

/** The result as plain keys, for readable assertions. */
function keys(result: Map<string, ServerAddress[]>): Record<string, string[]> {
  return Object.fromEntries([...result].map(([path, servers]) => [path, servers.map(serverKey)]));
}

// Recorded from the test VM.
const REAL_MASTER = '/airflow  /etc/auto.airflow  --timeout=30 --ghost\n';
const REAL_AIRFLOW =
  'dags  -fstype=nfs4,rw,soft,timeo=10,retrans=2,_netdev,rsize=8192,wsize=8192,nfsvers=4.1,noac,lookupcache=none,actimeo=0  10.99.0.1:/srv/a/airflow/dags\n';

describe('autofsMapServers', () => {
  it('reads the real master map and indirect map of the test VM', () => {
    const read = memoryReader({ '/etc/auto.master': REAL_MASTER, '/etc/auto.airflow': REAL_AIRFLOW });
    expect(keys(autofsMapServers(['/airflow/dags'], read))).toEqual({ '/airflow/dags': ['10.99.0.1:2049'] });
  });

  it('leaves out paths no file map covers, and relative paths', () => {
    const read = memoryReader({ '/etc/auto.master': REAL_MASTER, '/etc/auto.airflow': REAL_AIRFLOW });
    const result = autofsMapServers(
      ['/airflow/logs', '/airflow', '/airflow/dags/sub', '/other/dags', 'airflow/dags', '/airflow/dags'],
      read,
    );
    expect(keys(result)).toEqual({ '/airflow/dags': ['10.99.0.1:2049'] });
  });

  it('keys the result by the path as given, matching it with extra slashes dropped', () => {
    const read = memoryReader({ '/etc/auto.master': REAL_MASTER, '/etc/auto.airflow': REAL_AIRFLOW });
    expect(keys(autofsMapServers(['/airflow//dags/'], read))).toEqual({ '/airflow//dags/': ['10.99.0.1:2049'] });
  });

  it('uses the master path given, and finds nothing when it cannot be read', () => {
    const read = memoryReader({ '/srv/master': REAL_MASTER, '/etc/auto.airflow': REAL_AIRFLOW });
    expect(keys(autofsMapServers(['/airflow/dags'], read, '/srv/master'))).toEqual({ '/airflow/dags': ['10.99.0.1:2049'] });
    expect(autofsMapServers(['/airflow/dags'], read).size).toBe(0);
  });

  it('reads direct maps: absolute keys, every /- line adding up', () => {
    const read = memoryReader({
      '/etc/auto.master': '/- /etc/auto.direct\n/- file:/etc/auto.direct2 -ro\n',
      '/etc/auto.direct': '/data/a  -rw  nfs-a:/export/a\n/data/b/deep  nfs-b:/b\n',
      '/etc/auto.direct2': '/data/c  -fstype=nfs4,port=20049  [fd00::3]:/c\n/data/a  other:/a\n',
    });
    expect(keys(autofsMapServers(['/data/a', '/data/b/deep', '/data/c', '/data/d'], read))).toEqual({
      '/data/a': ['nfs-a:2049'],
      '/data/b/deep': ['nfs-b:2049'],
      '/data/c': ['[fd00::3]:20049'],
    });
  });

  it('uses the first line of a mount point listed twice, as autofs does', () => {
    const read = memoryReader({
      '/etc/auto.master': '/mnt /etc/auto.one\n/mnt /etc/auto.two\n',
      '/etc/auto.one': 'a  one:/a\n',
      '/etc/auto.two': 'a  two:/a\nb  two:/b\n',
    });
    expect(keys(autofsMapServers(['/mnt/a', '/mnt/b'], read))).toEqual({ '/mnt/a': ['one:2049'] });
  });

  it('matches a key before any wildcard, and puts the key in for &', () => {
    const read = memoryReader({
      '/etc/auto.master': '/home /etc/auto.home\n',
      '/etc/auto.home': '*  -rw  home-&.example.com:/export/home/&\nalice  special:/alice\n*  never:/x\n',
    });
    expect(keys(autofsMapServers(['/home/alice', '/home/bob'], read))).toEqual({
      '/home/alice': ['special:2049'],
      '/home/bob': ['home-bob.example.com:2049'],
    });
  });

  it('reads +dir: includes in name order and skips NIS-style includes', () => {
    const read = memoryReader({
      '/etc/auto.master': '+auto.master\n+dir:/etc/auto.master.d\n/late /etc/auto.late\n',
      '/etc/auto.master.d/b.autofs': '/proj /etc/auto.proj-b\n',
      '/etc/auto.master.d/a.autofs': '/proj /etc/auto.proj-a\n/- /etc/auto.d-direct\n',
      '/etc/auto.master.d/.hidden.autofs': '/late /etc/auto.never\n',
      '/etc/auto.master.d/README': '/late /etc/auto.never\n',
      '/etc/auto.master.d/c.autofs.rpmsave': '/late /etc/auto.never\n',
      '/etc/auto.proj-a': 'x  a-server:/x\n',
      '/etc/auto.proj-b': 'x  b-server:/x\n',
      '/etc/auto.d-direct': '/opt/tools  tools:/tools\n',
      '/etc/auto.late': 'y  late:/y\n',
      '/etc/auto.never': 'y  never:/y\n',
    });
    expect(keys(autofsMapServers(['/proj/x', '/opt/tools', '/late/y'], read))).toEqual({
      '/proj/x': ['a-server:2049'],
      '/opt/tools': ['tools:2049'],
      '/late/y': ['late:2049'],
    });
    expect(read.reads).not.toContain('/etc/auto.never');
  });

  it('survives a +dir: that includes itself', () => {
    const read = memoryReader({
      '/etc/auto.master': '+dir:/etc/m.d\n',
      '/etc/m.d/self.autofs': '+dir:/etc/m.d\n/s /etc/auto.s\n',
      '/etc/auto.s': 'k  s:/k\n',
    });
    expect(keys(autofsMapServers(['/s/k'], read))).toEqual({ '/s/k': ['s:2049'] });
  });

  it('skips program maps, other map types and built-in maps', () => {
    const read = memoryReader(
      {
        '/etc/auto.master': [
          '/prog /etc/auto.prog',
          '/prog2 auto.prog',
          '/prog3 program:/etc/auto.prog',
          '/nis yp:auto.nis',
          '/ldap ldap:ou=auto.x,dc=example,dc=com',
          '/ldap2 //ldap.example.com/ou=auto.x',
          '/sss sss:auto.sss',
          '/net -hosts',
          '/net2 hosts',
          '/null -null',
          '/amd file,amd:/etc/auto.plain',
          '/hes hesiod:auto.hes',
          '',
        ].join('\n'),
        '/etc/auto.prog': 'k  prog:/k\n',
        '/etc/auto.plain': 'k  plain:/k\n',
        '/etc/hosts': '127.0.0.1 localhost\nk h:/k\n',
      },
      ['/etc/auto.prog'],
    );
    const paths = ['/prog', '/prog2', '/prog3', '/nis', '/ldap', '/ldap2', '/sss', '/net', '/net2', '/null', '/amd', '/hes'].map(
      (p) => p + '/k',
    );
    expect(autofsMapServers(paths, read).size).toBe(0);
    expect(read.reads).not.toContain('/etc/hosts');
  });

  it('reads file maps by every spelling: absolute, file:, file,sun:, and a bare name found in /etc', () => {
    const read = memoryReader({
      '/etc/auto.master': [
        '/a /etc/auto.x',
        '/b file:/etc/auto.x',
        '/c file,sun:/etc/auto.x',
        '/d auto.x',
        '/e file:auto.x',
        '/f auto.missing',
        '/g file:sub/auto.x',
        '',
      ].join('\n'),
      '/etc/auto.x': 'k  x:/k\n',
    });
    const paths = ['/a/k', '/b/k', '/c/k', '/d/k', '/e/k', '/f/k', '/g/k'];
    expect(keys(autofsMapServers(paths, read))).toEqual({
      '/a/k': ['x:2049'],
      '/b/k': ['x:2049'],
      '/c/k': ['x:2049'],
      '/d/k': ['x:2049'],
      '/e/k': ['x:2049'],
    });
    expect(read.reads).toContain('/etc/auto.missing');
  });

  it('reads an executable map typed file: as a file, as autofs does', () => {
    const read = memoryReader({ '/etc/auto.master': '/t file:/etc/auto.t\n/u /etc/auto.t\n', '/etc/auto.t': 'k  t:/k\n' }, ['/etc/auto.t']);
    expect(keys(autofsMapServers(['/t/k', '/u/k'], read))).toEqual({ '/t/k': ['t:2049'] });
  });

  it('joins continuation lines in the master map and in maps, and ignores comments', () => {
    const read = memoryReader({
      '/etc/auto.master': '# the master map\n\n   # indented comment\n/cont \\\n   /etc/auto.cont \\\n   --timeout=60  # trailing\n',
      '/etc/auto.cont': '# comment\nk  -fstype=nfs4,rw,\\\nport=3049  \\\n    srv1:/k \\\n    srv2:/k\r\n#k  wrong:/k\n',
    });
    expect(keys(autofsMapServers(['/cont/k'], read))).toEqual({ '/cont/k': ['srv1:3049', 'srv2:3049'] });
  });

  it('reads IPv6 and replicated servers, weights dropped, duplicates removed', () => {
    const read = memoryReader({
      '/etc/auto.master': '/r /etc/auto.r\n',
      '/etc/auto.r': ['v6  -fstype=nfs4  [fd00::1]:/v6', 'rep  -ro  h1(5),h2(10),[fd00::2](1):/rep  h3:/rep  h1:/again', ''].join('\n'),
    });
    expect(keys(autofsMapServers(['/r/v6', '/r/rep'], read))).toEqual({
      '/r/v6': ['[fd00::1]:2049'],
      '/r/rep': ['h1:2049', 'h2:2049', '[fd00::2]:2049', 'h3:2049'],
    });
  });

  it('gives no servers for entries autofs mounts with another filesystem or from a local path', () => {
    const read = memoryReader({
      '/etc/auto.master': '/m /etc/auto.m\n',
      '/etc/auto.m': [
        'win  -fstype=cifs,rw  ://winsrv/share',
        'bind  -fstype=bind  :/local/dir',
        'local  :/local/dir',
        'sub  -fstype=autofs  file:/etc/auto.sub',
        'override  -fstype=cifs -fstype=nfs  back:/x',
        'nfs3  -fstype=nfs,vers=3  v3:/x',
        '',
      ].join('\n'),
    });
    expect(keys(autofsMapServers(['/m/win', '/m/bind', '/m/local', '/m/sub', '/m/override', '/m/nfs3'], read))).toEqual({
      '/m/win': [],
      '/m/bind': [],
      '/m/local': [],
      '/m/sub': [],
      '/m/override': ['back:2049'],
      '/m/nfs3': ['v3:2049'],
    });
  });

  it("puts the master line's fstype= and port= before each entry's own", () => {
    const read = memoryReader({
      '/etc/auto.master': '/p /etc/auto.p -fstype=nfs4,port=20049 --timeout=30\n/q /etc/auto.q -fstype=cifs\n',
      '/etc/auto.p': 'inherit  srv:/a\nown  -port=3049  srv:/b\nzero  -port=0  srv:/c\n',
      '/etc/auto.q': 'cifs  ://w/s\nnfs  -fstype=nfs4  srv:/d\n',
    });
    expect(keys(autofsMapServers(['/p/inherit', '/p/own', '/p/zero', '/q/cifs', '/q/nfs'], read))).toEqual({
      '/p/inherit': ['srv:20049'],
      '/p/own': ['srv:3049'],
      '/p/zero': ['srv:2049'],
      '/q/cifs': [],
      '/q/nfs': ['srv:2049'],
    });
  });

  it('takes the "/" offset of a multi-mount entry, and no servers when it has none', () => {
    const read = memoryReader({
      '/etc/auto.master': '/mm /etc/auto.mm\n/- /etc/auto.mmd\n',
      '/etc/auto.mm': [
        'both  -rw  /  root:/r  /sub  -ro  sub:/s',
        'later  /sub  sub:/s  /  -port=3049  root2:/r  root3:/r',
        'quoted  "/"  q:/r',
        'none  /sub  sub:/s  /other  other:/o',
        'v6  -fstype=nfs4  /  [fd00::9]:/r',
        '',
      ].join('\n'),
      '/etc/auto.mmd': '/data/mm  /  d:/r  /x  x:/x\n',
    });
    expect(keys(autofsMapServers(['/mm/both', '/mm/later', '/mm/quoted', '/mm/none', '/mm/v6', '/data/mm'], read))).toEqual({
      '/mm/both': ['root:2049'],
      '/mm/later': ['root2:3049', 'root3:3049'],
      '/mm/quoted': ['q:2049'],
      '/mm/none': [],
      '/mm/v6': ['[fd00::9]:2049'],
      '/data/mm': ['d:2049'],
    });
  });

  it('ignores malformed lines and includes in maps, never throwing', () => {
    const read = memoryReader({
      '/etc/auto.master': [
        'garbage',
        'relative/mount /etc/auto.g',
        '/nomap',
        '+dir:relative.d',
        '+dir:',
        '/g /etc/auto.g',
        '"/unterminated /etc/auto.g',
        '/trail \\',
      ].join('\n'),
      '/etc/auto.g': [
        '+auto.g',
        '+/etc/auto.other',
        'keyonly',
        'optsonly  -rw,soft',
        '\\',
        '"',
        'bad  $HOST:/x',
        'good  srv:/good',
        '   ',
        '\u0000\uffff  x:/y',
        '',
      ].join('\n'),
      '/etc/auto.other': 'keyonly  never:/k\n',
    });
    const paths = ['/g/keyonly', '/g/optsonly', '/g/bad', '/g/good', '/g/+auto.g', '/nomap/x', '/unterminated/x'];
    expect(keys(autofsMapServers(paths, read))).toEqual({ '/g/bad': [], '/g/good': ['srv:2049'] });
    expect(read.reads).not.toContain('/etc/auto.other');
  });

  it('survives a reader that finds nothing, and binary text', () => {
    expect(autofsMapServers(['/a/b'], { file: () => null, dir: () => [] }).size).toBe(0);
    const noise = Array.from({ length: 2000 }, (_, i) => String.fromCharCode((i * 7919) % 256)).join('');
    const read = memoryReader({ '/etc/auto.master': noise + '\n/n /etc/auto.n\n', '/etc/auto.n': noise + '\nk n:/k\n' });
    expect(keys(autofsMapServers(['/n/k'], read))).toEqual({ '/n/k': ['n:2049'] });
  });

  it('reads nothing once every path is found', () => {
    const read = memoryReader({
      '/etc/auto.master': '/a /etc/auto.a\n/b /etc/auto.b\n',
      '/etc/auto.a': 'k  a:/k\n',
      '/etc/auto.b': 'k  b:/k\n',
    });
    expect(keys(autofsMapServers(['/a/k'], read))).toEqual({ '/a/k': ['a:2049'] });
    expect(read.reads).toEqual(['/etc/auto.master', '/etc/auto.a']);
  });
});

describe('localMapReader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nfshc-automap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads real map files from disk, telling a program map by its mode', () => {
    mkdirSync(join(dir, 'master.d'));
    writeFileSync(
      join(dir, 'auto.master'),
      `/airflow  ${dir}/auto.airflow  --timeout=30 --ghost\n+dir:${dir}/master.d\n/prog ${dir}/auto.prog\n`,
    );
    writeFileSync(join(dir, 'auto.airflow'), REAL_AIRFLOW);
    writeFileSync(join(dir, 'master.d', 'direct.autofs'), `/- ${dir}/auto.direct\n`);
    writeFileSync(join(dir, 'auto.direct'), '/data/x  -fstype=nfs4,port=20049  [fd00::1]:/x\n');
    writeFileSync(join(dir, 'auto.prog'), '#!/bin/sh\necho "k  prog:/k"\n');
    chmodSync(join(dir, 'auto.prog'), 0o755);

    const result = autofsMapServers(['/data/x', '/prog/k', '/airflow/dags'], localMapReader, join(dir, 'auto.master'));
    expect(keys(result)).toEqual({ '/data/x': ['[fd00::1]:20049'], '/airflow/dags': ['10.99.0.1:2049'] });

    expect(localMapReader.file(join(dir, 'auto.prog'))).toEqual({ text: '#!/bin/sh\necho "k  prog:/k"\n', executable: true });
    expect(localMapReader.file(join(dir, 'auto.direct'))?.executable).toBe(false);
    expect(localMapReader.dir(join(dir, 'master.d'))).toEqual(['direct.autofs']);
  });

  it('follows symbolic links, and reads nothing that is missing or not a file', () => {
    symlinkSync(join(dir, 'auto.direct'), join(dir, 'link.direct'));
    symlinkSync('master.d', join(dir, 'link.d'));
    expect(localMapReader.file(join(dir, 'link.direct'))?.text).toContain('[fd00::1]:/x');
    expect(localMapReader.dir(join(dir, 'link.d'))).toEqual(['direct.autofs']);
    expect(localMapReader.file(join(dir, 'missing'))).toBeNull();
    expect(localMapReader.file(join(dir, 'master.d'))).toBeNull();
    expect(localMapReader.file('relative/path')).toBeNull();
    expect(localMapReader.dir(join(dir, 'missing'))).toEqual([]);
    expect(localMapReader.dir(join(dir, 'auto.direct'))).toEqual([]);
  });

  it('reads nothing through a network or automounted filesystem, even by a link', () => {
    mkdirSync(join(dir, 'net'));
    writeFileSync(join(dir, 'net', 'auto.n'), 'k  n:/k\n');
    symlinkSync(join(dir, 'net', 'auto.n'), join(dir, 'to-net'));
    // The same files, as seen from a table where `dir/net` is an NFS mount and /auto is autofs.
    const table = parseMountinfo(
      [
        '22 1 252:0 / / rw,relatime - ext4 /dev/vda rw',
        `61 22 0:52 / ${dir}/net rw,relatime - nfs4 10.99.0.1:/srv rw,addr=10.99.0.1`,
        '70 22 0:60 / /auto rw,relatime - autofs /etc/auto.x rw,fd=6,indirect',
      ].join('\n'),
    );
    const guarded = localMapReaderOver(() => table);
    expect(guarded.file(join(dir, 'net', 'auto.n'))).toBeNull();
    expect(guarded.file(join(dir, 'to-net'))).toBeNull();
    expect(guarded.dir(join(dir, 'net'))).toEqual([]);
    expect(guarded.dir('/auto')).toEqual([]);
    expect(guarded.file('/auto/k/map')).toBeNull();
    // What is not below them is read as usual.
    expect(guarded.file(join(dir, 'auto.direct'))?.text).toContain('[fd00::1]:/x');
  });
});
