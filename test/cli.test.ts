import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, runCli } from './helpers/cli.js';

let dir: string;
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  if (!cliBuilt()) throw new Error('dist/src/cli.js is missing: run `npm run build` (npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'nhc-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nfs-health-checkd CLI', () => {
  it('--version prints the package version', () => {
    const r = runCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('--help shows the three commands', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    for (const cmd of ['check', 'validate', '--config']) expect(r.stdout).toContain(cmd);
  });

  it('validate prints the effective config: the defaults overridden key by key', () => {
    const r = runCli(['validate', '--config', file('t.yaml', 'probe:\n  timeout: 1500ms\n')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('timeout: 1500ms');
    expect(r.stdout).toContain('- path: /airflow/dags');
    expect(r.stdout).toMatch(/effective config from: .*default\.yaml \+ .*t\.yaml/);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown key', 'recovery:\n  comand: [umount]\n', /t-unknown key\.yaml: recovery\.comand: unknown key/],
    ['relative path', 'mounts:\n  - path: airflow/dags\n', /mounts\[0\]\.path: expected an absolute path, got "airflow\/dags"/],
    ['bad duration', 'probe:\n  timeout: soon\n', /probe\.timeout: expected .*duration.*got "soon"/],
    ['YAML syntax', 'mounts: [\n', /:\d+:\d+: invalid YAML/],
    ['five-field cron', 'schedule: "*/5 * * * *"\n', /schedule: .*seconds/],
  ];
  for (const [name, text, message] of bad) {
    it(`a bad config (${name}) exits 78 with one line naming the file and key, before anything starts`, () => {
      const path = file(`t-${name}.yaml`, text);
      for (const args of [
        ['--config', path],
        ['check', '--config', path],
        ['validate', '--config', path],
      ]) {
        const r = runCli(args);
        expect(r.status).toBe(78);
        expect(r.stdout).toBe('');
        const lines = r.stderr.trimEnd().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(message);
        expect(lines[0]).not.toMatch(/\bat .*\.js:\d+/);
      }
    });
  }

  it('a missing config file exits 78 naming it', () => {
    const r = runCli(['--config', join(dir, 'nope.yaml')]);
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/nope\.yaml: cannot read/);
  });

  it('a metrics port in use stops the start: exit 78, one line naming metrics.listen', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = runCli(['--config', file('port.yaml', `metrics:\n  listen: "127.0.0.1:${port}"\nlog:\n  file: ""\n`)]);
      expect(r.status).toBe(78);
      expect(r.stderr.trimEnd()).toBe(`nfs-health-checkd: cannot start: metrics.listen: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    } finally {
      taken.close();
    }
  });

  it('a log file that cannot be opened stops the start: exit 78, one line naming log.file', () => {
    const r = runCli(['--config', file('lf.yaml', `log:\n  file: ${dir}/no/such/dir/d.log\n`)]);
    expect(r.status).toBe(78);
    expect(r.stderr.trimEnd()).toBe(`nfs-health-checkd: cannot start: log.file: cannot open ${dir}/no/such/dir/d.log: ENOENT`);
  });

  it('bad usage exits 64', () => {
    expect(runCli(['frobnicate']).status).toBe(64);
    expect(runCli(['--bogus']).status).toBe(64);
    expect(runCli(['validate', '--recover']).status).toBe(64);
  });

  it('check exits 1 and prints a line per mount when a mount is not there', () => {
    const r = runCli(['check', '--config', file('c.yaml', `mounts:\n  - path: ${dir}/missing\n  - path: ${dir}\n`)]);
    expect(r.status).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^unmounted\s+.*\/missing/);
    expect(lines[1]).toMatch(/^unmounted\s+/);
  });

  it('check --json prints one JSON document with a result per mount', () => {
    const r = runCli(['check', '--json', '--config', file('j.yaml', `mounts:\n  - path: /proc\n`)]);
    const doc = JSON.parse(r.stdout) as { results: Array<{ mount: string; result: string; fstype: string }> };
    expect(doc.results).toEqual([expect.objectContaining({ mount: '/proc', result: 'ok', fstype: 'proc' })]);
    expect(r.status).toBe(0);
  });
});
