import { describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../src/probe/mountinfo.js';
import { NFS_PORT, normalizeHost, serverKey, serverOfMount, serversOfLocation } from '../../src/server/address.js';

// Recorded from a Linux 6.1 VM: an NFSv4.1 mount made by autofs from /etc/auto.airflow.
const REAL_V4_OPTIONS =
  'rw,sync,vers=4.1,rsize=8192,wsize=8192,namlen=255,acregmin=0,acregmax=0,acdirmin=0,acdirmax=0,hard,noac,proto=tcp,timeo=10,retrans=2,sec=sys,clientaddr=10.99.0.2,lookupcache=none,local_lock=none,addr=10.99.0.1';

describe('serverKey', () => {
  it('writes host:port, with brackets around an IPv6 address', () => {
    expect(serverKey({ host: '10.99.0.1', port: 2049 })).toBe('10.99.0.1:2049');
    expect(serverKey({ host: 'fd00::1', port: 2049 })).toBe('[fd00::1]:2049');
    expect(serverKey({ host: 'nfs.example.com', port: 20049 })).toBe('nfs.example.com:20049');
  });

  it('gives one key for one server however its host is spelled', () => {
    expect(serverKey({ host: 'NFS.Example.COM.', port: 2049 })).toBe('nfs.example.com:2049');
    expect(serverKey({ host: 'FD00:0:0::1', port: 2049 })).toBe('[fd00::1]:2049');
    expect(serverKey({ host: '[fd00::1]', port: 2049 })).toBe('[fd00::1]:2049');
  });
});

describe('normalizeHost', () => {
  it('keeps names and addresses, compresses IPv6 as the kernel prints it', () => {
    expect(normalizeHost('10.99.0.1')).toBe('10.99.0.1');
    expect(normalizeHost('nfs-a_1.example.com')).toBe('nfs-a_1.example.com');
    expect(normalizeHost('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalizeHost('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(normalizeHost('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1');
  });

  it('refuses what is no host', () => {
    for (const bad of ['', '-hosts', '$SERVER', 'a b', 'host/x', '[', '[]', 'x:y', '.host']) expect(normalizeHost(bad)).toBeNull();
  });
});

describe('serverOfMount', () => {
  it('reads addr= of the real NFSv4.1 mount, on the NFS port', () => {
    expect(serverOfMount({ fstype: 'nfs4', source: '10.99.0.1:/srv/a/airflow/dags', superOptions: REAL_V4_OPTIONS })).toEqual({
      host: '10.99.0.1',
      port: NFS_PORT,
    });
  });

  it('prefers addr= (the address connected to) over a host name in the source', () => {
    const entry = { fstype: 'nfs4', source: 'nfs.example.com:/export', superOptions: 'rw,vers=4.2,clientaddr=10.0.0.2,addr=10.0.0.7' };
    expect(serverOfMount(entry)).toEqual({ host: '10.0.0.7', port: 2049 });
  });

  it('takes a non-zero port= and treats port=0 as the default', () => {
    const v3 = 'rw,vers=3,proto=tcp,port=20049,mountaddr=10.0.0.9,mountport=635,addr=10.0.0.1';
    expect(serverOfMount({ fstype: 'nfs', source: 'srv:/x', superOptions: v3 })).toEqual({ host: '10.0.0.1', port: 20049 });
    const zero = 'rw,vers=3,port=0,mountport=635,mountaddr=10.0.0.9,addr=10.0.0.1';
    expect(serverOfMount({ fstype: 'nfs', source: 'srv:/x', superOptions: zero })).toEqual({ host: '10.0.0.1', port: 2049 });
    const explicit = 'rw,vers=3,port=2049,addr=10.0.0.1';
    expect(serverOfMount({ fstype: 'nfs', source: 'srv:/x', superOptions: explicit })).toEqual({ host: '10.0.0.1', port: 2049 });
  });

  it('is not misled by mountaddr=, clientaddr= or mountport=', () => {
    const entry = { fstype: 'nfs', source: 'srv:/x', superOptions: 'rw,mountaddr=10.0.0.9,mountport=635,clientaddr=10.0.0.2' };
    expect(serverOfMount(entry)).toEqual({ host: 'srv', port: 2049 });
  });

  it('reads IPv6 from addr= and from a bracketed source', () => {
    expect(serverOfMount({ fstype: 'nfs4', source: '[fd00::1]:/export', superOptions: 'rw,vers=4.2,addr=fd00::1' })).toEqual({
      host: 'fd00::1',
      port: 2049,
    });
    expect(serverOfMount({ fstype: 'nfs4', source: '[fd00:0::2]:/export', superOptions: 'rw,vers=4.2' })).toEqual({
      host: 'fd00::2',
      port: 2049,
    });
  });

  it('falls back to the source when addr= is absent or unreadable', () => {
    expect(serverOfMount({ fstype: 'nfs4', source: 'nfs.example.com:/export', superOptions: 'rw,addr=' })).toEqual({
      host: 'nfs.example.com',
      port: 2049,
    });
  });

  it('is null for other filesystems and for a source with no host', () => {
    expect(serverOfMount({ fstype: 'cifs', source: '//srv/share', superOptions: 'rw,addr=10.0.0.1' })).toBeNull();
    expect(serverOfMount({ fstype: 'autofs', source: '/etc/auto.airflow', superOptions: 'rw,fd=6' })).toBeNull();
    expect(serverOfMount({ fstype: 'nfs4', source: 'none', superOptions: 'rw' })).toBeNull();
    expect(serverOfMount({ fstype: 'nfs', source: ':/local', superOptions: 'rw' })).toBeNull();
    expect(serverOfMount({ fstype: 'nfs', source: '', superOptions: '' })).toBeNull();
  });

  it('works on entries parsed from a mountinfo text', () => {
    const table = parseMountinfo(
      [
        '22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
        '40 22 0:40 / /airflow rw,relatime shared:20 - autofs /etc/auto.airflow rw,fd=6,pgrp=1,timeout=30,indirect',
        `61 40 0:52 / /airflow/dags rw,relatime shared:30 - nfs4 10.99.0.1:/srv/a/airflow/dags ${REAL_V4_OPTIONS}`,
        '62 40 0:53 / /data/my\\040share rw,relatime - nfs [fd00::1]:/ex\\040port rw,vers=3,port=0,addr=fd00::1',
      ].join('\n'),
    );
    expect(table.map(serverOfMount)).toEqual([null, null, { host: '10.99.0.1', port: 2049 }, { host: 'fd00::1', port: 2049 }]);
  });
});

describe('serversOfLocation', () => {
  it('reads one host, named or addressed', () => {
    expect(serversOfLocation('10.99.0.1:/srv/a/airflow/dags')).toEqual([{ host: '10.99.0.1', port: 2049 }]);
    expect(serversOfLocation('nfs.example.com:/export/home')).toEqual([{ host: 'nfs.example.com', port: 2049 }]);
    expect(serversOfLocation('[fd00::1]:/export')).toEqual([{ host: 'fd00::1', port: 2049 }]);
  });

  it('reads replicated servers in every form autofs writes, weights dropped', () => {
    expect(serversOfLocation('h1,h2:/path')).toEqual([
      { host: 'h1', port: 2049 },
      { host: 'h2', port: 2049 },
    ]);
    expect(serversOfLocation('h1(5),h2(10):/path').map(serverKey)).toEqual(['h1:2049', 'h2:2049']);
    expect(serversOfLocation('h1:/p1 h2:/p2').map(serverKey)).toEqual(['h1:2049', 'h2:2049']);
    expect(serversOfLocation('h1,[fd00::1](3):/p1   h3:/p2').map(serverKey)).toEqual(['h1:2049', '[fd00::1]:2049', 'h3:2049']);
  });

  it('removes duplicates and keeps the order', () => {
    expect(serversOfLocation('b:/1 a:/2 B:/3 [fd00:0::1]:/4 [fd00::1]:/5 a,b:/6').map(serverKey)).toEqual([
      'b:2049',
      'a:2049',
      '[fd00::1]:2049',
    ]);
  });

  it('takes the port from port=N when N > 0, in any option spelling autofs and fstab use', () => {
    expect(serversOfLocation('h:/p', '-fstype=nfs4,rw,port=20049')).toEqual([{ host: 'h', port: 20049 }]);
    expect(serversOfLocation('h:/p', 'rw,port=0')).toEqual([{ host: 'h', port: 2049 }]);
    expect(serversOfLocation('h:/p', 'rw,mountport=635')).toEqual([{ host: 'h', port: 2049 }]);
    expect(serversOfLocation('h:/p', 'port=1111,port=2222')).toEqual([{ host: 'h', port: 2222 }]);
    expect(serversOfLocation('h:/p', 'port=99999')).toEqual([{ host: 'h', port: 2049 }]);
    expect(serversOfLocation('h:/p', 'port=abc')).toEqual([{ host: 'h', port: 2049 }]);
    expect(serversOfLocation('h1,h2:/p', '-rw -port=3049').map(serverKey)).toEqual(['h1:3049', 'h2:3049']);
  });

  it('is empty for local paths and anything unreadable, never throwing', () => {
    for (const bad of [
      '',
      '   ',
      ':/local/path',
      '/local/path',
      'host:',
      'host',
      '$SERVER:/x',
      'a b c',
      '[fd00::1',
      '"',
      '((:/x',
      ',,:/x',
    ]) {
      expect(serversOfLocation(bad, 'port=,,,-')).toEqual([]);
    }
  });

  it('reads a quoted location and skips the bad replicas of a list', () => {
    expect(serversOfLocation('"srv:/path with space"').map(serverKey)).toEqual(['srv:2049']);
    expect(serversOfLocation('good,$BAD,[nope:/x').map(serverKey)).toEqual([]);
    expect(serversOfLocation('good,$BAD:/x').map(serverKey)).toEqual(['good:2049']);
  });
});
