// Certificates for the TLS tests, made by the real openssl in a directory of the test's: a CA, two
// server certificates it signs for 127.0.0.1 (subjectAltName IP:127.0.0.1), a client certificate it
// signs, and a self-signed client certificate it does not. EC P-256 keys: fast to make.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { executable, type Prerequisite } from './prerequisite.js';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface Certs {
  dir: string;
  ca: KeyPair;
  server: KeyPair;
  /** Another certificate for the same address, from the same CA. */
  server2: KeyPair;
  client: KeyPair;
  /** Self-signed: not from the CA. */
  stranger: KeyPair;
}

export function opensslPrerequisite(): Prerequisite {
  return executable('openssl', 'openssl');
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function signed(dir: string, name: string, subject: string, ext: string | undefined): KeyPair {
  openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  const extArgs = ext === undefined ? [] : ['-extfile', ext];
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.crt`,
      ...extArgs,
    ],
    dir,
  );
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Makes the set in `dir` (which must exist). */
export function makeCerts(dir: string): Certs {
  openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=nfs-health-checkd test CA'], dir);
  openssl(['req', '-x509', ...EC, '-keyout', 'stranger.key', '-out', 'stranger.crt', '-days', '2', '-subj', '/CN=stranger'], dir);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  return {
    dir,
    ca: { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') },
    server: signed(dir, 'server', '/CN=127.0.0.1', 'san.ext'),
    server2: signed(dir, 'server2', '/CN=127.0.0.1 (second)', 'san.ext'),
    client: signed(dir, 'client', '/CN=prometheus', undefined),
    stranger: { cert: join(dir, 'stranger.crt'), key: join(dir, 'stranger.key') },
  };
}
