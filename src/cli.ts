#!/usr/bin/env -S node --lite-mode --no-node-snapshot
// argv → command, and exit statuses (sysexits): 0 ok, 1 check or status found a failing mount,
// 64 bad usage, 69 status: no daemon answered, 78 bad config or cannot start as configured,
// 70 internal error. Nothing else
// lives here. The shebang gives node the release launcher's flags (packaging/release/
// nfs-health-checkd.sh says why each; bench/README.md, figure 8, measures them).
import { parseArgs } from 'node:util';
import { runCheck } from './check.js';
import { ConfigError, loadConfig, renderConfig } from './config/load.js';
import type { LoadedConfig } from './config/types.js';
import { runDaemon } from './daemon.js';
import { runStatus } from './status.js';
import { packageVersion } from './package-info.js';
import { StartupError } from './startup-error.js';

const EX_USAGE = 64;
const EX_SOFTWARE = 70;
const EX_CONFIG = 78;

const HELP = `Usage:
  nfs-health-checkd [run] [--config FILE]       run the daemon in the foreground
  nfs-health-checkd check [--config FILE] [--json] [--recover]
                                                probe every mount once; exit 0 if all are ok, 1 if not;
                                                --recover runs the recovery for failing mounts
  nfs-health-checkd status [--config FILE] [--json]
                                                what the running daemon knows (GET /status at
                                                metrics.listen): exit 0 if all mounts are ok, 1 if
                                                not, 69 if no daemon answers within 1 s; with a
                                                web config, over TLS, with the credentials of
                                                NFS_HEALTH_CHECKD_BASIC_AUTH=user:password and
                                                the client certificate of
                                                NFS_HEALTH_CHECKD_CLIENT_CERT and _CLIENT_KEY
  nfs-health-checkd validate [--config FILE]    print the effective config, or the error
  nfs-health-checkd --help | --version

Without --config: /etc/nfs-health-checkd/config.yaml if it exists, else the packaged defaults.
A given file overrides the packaged defaults key by key.`;

class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean' },
        recover: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function main(argv: string[]): Promise<number | 'running'> {
  const { values, positionals } = parse(argv);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.version) {
    console.log(packageVersion());
    return 0;
  }
  const command = positionals[0] ?? 'run';
  if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
  if (!['run', 'check', 'status', 'validate'].includes(command)) throw new UsageError(`unknown command: ${command}`);
  if (command !== 'check' && values.recover) throw new UsageError(`--recover goes with the check command`);
  if (command !== 'check' && command !== 'status' && values.json) throw new UsageError(`--json goes with the check and status commands`);

  const loaded: LoadedConfig = loadConfig(values.config !== undefined ? { file: values.config } : {});
  switch (command) {
    case 'validate': {
      // The web config too: what the daemon would refuse to start with, or not reload.
      const webFile = loaded.config.metrics.webConfigFile;
      const web = webFile === null ? undefined : await import('./observe/web-config.js');
      const summary = web && webFile !== null ? web.webSummary(web.readWebConfig(webFile)) : undefined;
      console.log(`# effective config from: ${loaded.sources.join(' + ')}`);
      if (summary) {
        const { web_config: file, ...rest } = summary;
        console.log(
          `# web config from: ${String(file)} (${Object.entries(rest)
            .map(([k, v]) => `${k}: ${String(v)}`)
            .join(', ')})`,
        );
      }
      process.stdout.write(renderConfig(loaded.config));
      return 0;
    }
    case 'check':
      return runCheck(loaded.config, {
        json: values.json ?? false,
        recover: values.recover ?? false,
        out: (line) => console.log(line),
      });
    case 'status':
      return runStatus(loaded.config, {
        env: process.env,
        json: values.json ?? false,
        out: (line) => console.log(line),
        err: (line) => console.error(line),
      });
    default:
      await runDaemon(loaded);
      return 'running';
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    if (status !== 'running') process.exit(status);
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      console.error(`nfs-health-checkd: config error: ${err.message}`);
      process.exit(EX_CONFIG);
    }
    if (err instanceof StartupError) {
      console.error(`nfs-health-checkd: cannot start: ${err.message}`);
      process.exit(EX_CONFIG);
    }
    if (err instanceof UsageError) {
      console.error(`nfs-health-checkd: ${err.message} (see --help)`);
      process.exit(EX_USAGE);
    }
    console.error(`nfs-health-checkd: internal error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(EX_SOFTWARE);
  },
);
