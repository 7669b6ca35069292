// The real-Prometheus harness (test/helpers/prometheus.ts) works: a server scrapes a tiny exporter
// on the loopback, reports the target up and answers queries with what it scraped; a dead target
// is reported down with its error; stop() leaves no process and no temp dir behind.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, expect, it } from 'vitest';
import { prerequisite, requires, skips } from '../helpers/prerequisite.js';
import { prometheusAvailable, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';

const available = prerequisite('prometheus', prometheusAvailable(), 'install');
if (skips(available)) console.warn(`prometheus harness tests skipped: ${available.reason}`);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** An exporter on 127.0.0.1 serving `body` at /metrics. */
async function startExporter(body: () => string): Promise<{ target: string; scrapes: () => number; close: () => Promise<void> }> {
  let scrapes = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    scrapes++;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    target: `127.0.0.1:${port}`,
    scrapes: () => scrapes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

requires(available).describe('real Prometheus harness', () => {
  const servers: RunningPrometheus[] = [];
  const closers: Array<() => Promise<void>> = [];

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  it('scrapes a loopback exporter, reports it up and answers a query with the scraped value', async () => {
    const exporter = await startExporter(() => '# HELP nfs_demo A demo gauge.\n# TYPE nfs_demo gauge\nnfs_demo 1\n');
    closers.push(exporter.close);

    const t0 = performance.now();
    const prom = await startPrometheus([exporter.target], { scrapeIntervalMs: 1_000 });
    servers.push(prom);
    const readyMs = performance.now() - t0;
    expect(prom.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    await prom.waitForTargetUp(20_000);
    const upMs = performance.now() - t0;
    console.log(`prometheus: ready ${Math.round(readyMs)} ms after spawn, target up after ${Math.round(upMs)} ms`);

    const [target, ...others] = await prom.targets();
    expect(others).toEqual([]);
    expect(target).toMatchObject({
      health: 'up',
      scrapeUrl: `http://${exporter.target}/metrics`,
      lastError: '',
      labels: { job: 'nfs-health-checkd', instance: exporter.target },
    });
    expect(exporter.scrapes()).toBeGreaterThan(0);

    const samples = await prom.query('nfs_demo');
    expect(samples).toHaveLength(1);
    expect(samples[0]?.metric).toEqual({ __name__: 'nfs_demo', job: 'nfs-health-checkd', instance: exporter.target });
    expect(samples[0]?.value[1]).toBe('1');
    expect(Math.abs((samples[0]?.value[0] ?? 0) - Date.now() / 1000)).toBeLessThan(60);

    // Scalars come back as one unlabelled sample; bad PromQL is an error naming the problem.
    expect(await prom.query('1 + 1')).toEqual([{ metric: {}, value: [expect.any(Number), '2'] }]);
    await expect(prom.query('sum by (mount (nfs_demo)')).rejects.toThrow(/bad_data/);

    const { pid, dir } = prom;
    await prom.stop();
    expect(isAlive(pid)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    await prom.stop(); // idempotent
  });

  it('reports a target nobody listens on as down, and waitForTargetUp gives up in time saying why', async () => {
    // A port that was just free: nothing listens on it.
    const exporter = await startExporter(() => '');
    const target = exporter.target;
    await exporter.close();

    const prom = await startPrometheus([target], { scrapeIntervalMs: 500, job: 'other-job' });
    servers.push(prom);
    const t0 = performance.now();
    await expect(prom.waitForTargetUp(8_000)).rejects.toThrow(/targets not up after 8000 ms: .*(down|unknown|none discovered)/);
    expect(performance.now() - t0).toBeLessThan(12_000);
    const [state] = await prom.targets();
    expect(state).toMatchObject({ health: 'down', labels: { job: 'other-job', instance: target } });
    expect(state?.lastError).toMatch(/connection refused/);
    expect((await prom.query('up'))[0]?.value[1]).toBe('0');
  });

  it('refuses targets that are not on the loopback', async () => {
    await expect(startPrometheus(['10.0.0.1:12049'])).rejects.toThrow(/not a loopback/);
  });
});

afterAll(() => {
  // Nothing of ours may outlive the file.
  const left = fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return cmd.includes('nfs-hc-prometheus-');
      } catch {
        return false;
      }
    });
  expect(left).toEqual([]);
});
