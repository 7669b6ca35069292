// When a down mount's server answers again: what the controller watches, when it reloads autofs,
// how often, and when it puts a static mount back — event by event, each at a moment set by hand.
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/types.js';
import type { CommandOutcome } from '../../src/exec/runner.js';
import type { ProbeResult } from '../../src/probe/probe-mounts.js';
import type { CollateralReport } from '../../src/recovery/collateral.js';
import type { ServerReport } from '../../src/server/watch.js';
import {
  controllerConfig,
  initialState,
  type ControllerAction,
  type ControllerConfig,
  type ControllerEvent,
  type ControllerState,
} from '../../src/controller/state.js';
import { transition } from '../../src/controller/transition.js';
import { RELOAD_RETRY_MS } from '../../src/controller/server-return.js';
import { AUTOMOUNT_RETRY_MS } from '../../src/controller/wake-plan.js';
import { defaultConfig } from '../helpers/config.js';
import { probeResult } from '../helpers/probe-result.js';

const DAGS = '/airflow/dags';
const LOGS = '/airflow/logs';
const SERVER = { host: '10.99.0.1', port: 2049 };
const KEY = 'autofs 10.99.0.1:2049';
const SELF_KEY = 'self 10.99.0.1:2049';

function configWith(over: { servers?: Partial<Config['servers']>; recovery?: Partial<Config['recovery']> } = {}, once = false) {
  return controllerConfig(
    {
      ...defaultConfig,
      servers: { ...defaultConfig.servers, ...over.servers },
      recovery: { ...defaultConfig.recovery, ...over.recovery },
    },
    once,
  );
}
// reload_interval 10 s, max_backoff 300 s.
const cfg = configWith();

const ok = (path: string): ProbeResult => probeResult(path, { underAutofs: true, server: SERVER });
/** autofs refuses the path: ENOENT under autofs, nothing mounted (no server in the table). */
const refused = (path: string): ProbeResult => ({
  ...probeResult(path, { underAutofs: true }),
  result: 'automount_failed',
  errno: 'ENOENT',
  mounted: false,
  fstype: null,
  mountId: null,
  server: null,
});
const probed = (results: readonly ProbeResult[]): ControllerEvent => ({ kind: 'probed', results, cycleMs: 5, autofsRunning: true });
const server = (answering: boolean, at: number, downSince: number | null = null, key = KEY): ControllerEvent => ({
  kind: 'server',
  report: {
    key,
    address: SERVER,
    answering,
    at,
    downSince,
    unanswered: answering ? 0 : 1,
    reason: answering ? null : 'timeout',
  } satisfies ServerReport,
});
const reloadedOk: ControllerEvent = {
  kind: 'reloaded',
  outcome: { argv: ['systemctl', 'reload', 'autofs'], status: 'ok', exitCode: 0, signal: null, output: '', durationMs: 20 },
};

function run(steps: readonly (readonly [ControllerEvent, number])[], c: ControllerConfig = cfg, from = initialState()) {
  let state: ControllerState = from;
  const actions: ControllerAction[][] = [];
  for (const [event, now] of steps) {
    const t = transition(state, event, now, c);
    state = t.state;
    actions.push(t.actions);
  }
  return { state, actions, last: actions[actions.length - 1] ?? [] };
}
const kinds = (actions: readonly ControllerAction[]): string[] =>
  actions.map((a) => (a.kind === 'report' ? `report:${a.report.kind}` : a.kind));
const reloads = (all: readonly ControllerAction[][]): number => all.flat().filter((a) => a.kind === 'reload-autofs').length;

/** Both paths mounted from SERVER at the first round (0–40), then refused by autofs at 60 s (the outage). */
const outage: (readonly [ControllerEvent, number])[] = [
  [{ kind: 'start' }, 0],
  [probed([ok(DAGS), ok(LOGS)]), 40],
  [{ kind: 'tick' }, 60_000],
  [probed([refused(DAGS), refused(LOGS)]), 60_040],
];

describe('which servers are watched', () => {
  it('watches the server a down path was mounted from, from autofs’ namespace, and stops once it is back', () => {
    const down = run(outage);
    expect(down.last).toContainEqual({ kind: 'watch-servers', servers: [{ key: KEY, address: SERVER, from: 'autofs' }] });
    expect(down.state.serversOf.get(DAGS)).toEqual([SERVER]);

    const back = run(
      [
        [{ kind: 'tick' }, 90_000],
        [probed([ok(DAGS), ok(LOGS)]), 90_040],
      ],
      cfg,
      down.state,
    );
    expect(back.last).toContainEqual({ kind: 'watch-servers', servers: [] });
    expect(back.state.watching).toEqual([]);
  });

  it('knows a path never seen mounted by the server autofs’ map names for it', () => {
    const c = controllerConfig(defaultConfig, false, new Map([[DAGS, [SERVER]]]));
    const { last } = run(
      [
        [{ kind: 'start' }, 0],
        [probed([refused(DAGS), { ...ok(LOGS) }]), 40],
      ],
      c,
    );
    expect(last).toContainEqual({ kind: 'watch-servers', servers: [{ key: KEY, address: SERVER, from: 'autofs' }] });
  });

  it('watches nothing with servers.watch off, and nothing in `check`', () => {
    for (const c of [configWith({ servers: { watch: false } }), configWith({}, true)]) {
      const { actions } = run(outage, c);
      expect(actions.flat().filter((a) => a.kind === 'watch-servers')).toEqual([]);
    }
  });
});

describe('when the server answers again', () => {
  it('says so with how long it was gone, reloads autofs once, then probes the refused paths at once', () => {
    const down = run([...outage, [server(false, 60_100), 60_100]]);
    expect(down.last).toContainEqual({
      kind: 'report',
      report: expect.objectContaining({ kind: 'server', paths: [DAGS, LOGS], goneMs: null }),
    });
    expect(reloads(down.actions)).toBe(0);

    const back = run([[server(true, 125_000, 60_100), 125_000]], cfg, down.state);
    // Gone since the first failed probe (60 040), not the first unanswered check.
    expect(back.last).toContainEqual({
      kind: 'report',
      report: expect.objectContaining({ kind: 'server', paths: [DAGS, LOGS], goneMs: 125_000 - 60_040 }),
    });
    expect(back.last).toContainEqual({ kind: 'reload-autofs', argv: ['systemctl', 'reload', 'autofs'], dryRun: false });
    expect(back.last).toContainEqual({
      kind: 'report',
      report: { kind: 'autofs-reload', paths: [DAGS, LOGS], servers: ['10.99.0.1:2049'], dryRun: false },
    });
    expect(back.state.reload).toMatchObject({ lastAt: 125_000, inARow: 1, running: [DAGS, LOGS] });

    const after = run([[reloadedOk, 125_030]], cfg, back.state);
    expect(kinds(after.last)).toEqual(['report:autofs-reloaded', 'probe']);
    expect(after.last).toContainEqual({ kind: 'probe', paths: [DAGS, LOGS] });
    expect(after.state.reload.running).toBeNull();
  });

  it('re-probes every second while autofs re-reads its maps, then every 5 s again', () => {
    const reloaded = run([...outage, [server(false, 60_100), 60_100], [server(true, 125_000, 60_100), 125_000], [reloadedOk, 125_030]]);
    // The first probe after the reload still met the cache (the map re-read had not run yet).
    const early = run([[probed([refused(DAGS), refused(LOGS)]), 125_040]], cfg, reloaded.state);
    expect(early.last).toContainEqual({ kind: 'set-wake', at: 125_040 + RELOAD_RETRY_MS });
    expect(reloads(early.actions)).toBe(0); // not due before reload_interval
    const later = run(
      [
        [{ kind: 'wake' }, 131_000],
        [probed([refused(DAGS), refused(LOGS)]), 131_040],
      ],
      cfg,
      early.state,
    );
    expect(later.last).toContainEqual({ kind: 'set-wake', at: 131_040 + AUTOMOUNT_RETRY_MS });
  });

  it('is no news when the server answers at its first try (a failover: the server never went away)', () => {
    const { actions } = run([...outage, [server(true, 60_100), 60_100]]);
    expect(actions.flat().filter((a) => a.kind === 'report' && a.report.kind === 'server')).toEqual([]);
    // …but the refused paths are still reloaded for: the cache holds whatever the server does.
    expect(reloads(actions)).toBe(1);
  });
});

describe("the client's stalled connections", () => {
  const resets = (all: readonly ControllerAction[][]): ControllerAction[] => all.flat().filter((a) => a.kind === 'reset-stalled');
  const watched = { key: KEY, address: SERVER, from: 'autofs' };

  it('are looked for (and reset) when a server answers again after a silence, from where it was watched', () => {
    const back = run([...outage, [server(false, 60_100), 60_100], [server(true, 125_000, 60_100), 125_000]]);
    expect(resets(back.actions)).toEqual([{ kind: 'reset-stalled', server: watched, dryRun: false }]);
  });

  it('not for a server that answered at its first try, nor with reset_stalled off or recovery off; only looked for in a dry run', () => {
    expect(resets(run([...outage, [server(true, 60_100), 60_100]]).actions)).toEqual([]);
    const silentThenBack: (readonly [ControllerEvent, number])[] = [
      ...outage,
      [server(false, 60_100), 60_100],
      [server(true, 125_000, 60_100), 125_000],
    ];
    expect(resets(run(silentThenBack, configWith({ servers: { resetStalled: false } })).actions)).toEqual([]);
    expect(resets(run(silentThenBack, configWith({ recovery: { enabled: false } })).actions)).toEqual([]);
    expect(resets(run(silentThenBack, configWith({ recovery: { dryRun: true } })).actions)).toEqual([
      { kind: 'reset-stalled', server: watched, dryRun: true },
    ]);
  });
});

describe('an automount under way when the server answers again', () => {
  /** autofs still trying to mount: the probe's call blocked under autofs, nothing mounted. */
  const mounting = (path: string): ProbeResult => ({
    ...refused(path),
    result: 'automount_timeout',
    errno: undefined,
    ms: 5000,
    stuck: true,
    blockedMs: 5000,
  });
  const pendingOutage: (readonly [ControllerEvent, number])[] = [
    [{ kind: 'start' }, 0],
    [probed([ok(DAGS), ok(LOGS)]), 40],
    [{ kind: 'tick' }, 60_000],
    [probed([mounting(DAGS), ok(LOGS)]), 65_000],
    [server(false, 65_100), 65_100],
  ];

  it('is probed at once when the server answers: a failed attempt is then seen (and reloaded for) now', () => {
    const back = run([...pendingOutage, [server(true, 90_000, 65_100), 90_000]]);
    expect(back.last).toContainEqual({ kind: 'probe', paths: [DAGS] });
    const refusedNow = run([[probed([refused(DAGS)]), 90_010]], cfg, back.state);
    expect(refusedNow.last).toContainEqual({ kind: 'reload-autofs', argv: ['systemctl', 'reload', 'autofs'], dryRun: false });
  });

  it('is probed at once when its call returns while the server answers, not 5 s later', () => {
    const answering = run([...pendingOutage, [server(true, 90_000, 65_100), 90_000], [probed([mounting(DAGS)]), 90_010]]);
    const ended = run(
      [
        [
          { kind: 'released', call: { path: DAGS, blockedMs: 10_000, raw: { kind: 'error', errno: -2, code: 'ENOENT' }, stillStuck: 0 } },
          92_000,
        ],
      ],
      cfg,
      answering.state,
    );
    expect(ended.last).toContainEqual({ kind: 'probe', paths: [DAGS] });
  });
});

describe('how often autofs is reloaded', () => {
  /** Refused paths whose server answers; a probe every 5 s, each still refused, from `fromMs` to `toMs`. */
  function refusedFor(fromMs: number, toMs: number, c: ControllerConfig = cfg) {
    let { state } = run([...outage, [server(true, 60_100), 60_100]], c);
    const reloadedAt: number[] = [60_100];
    for (let t = fromMs; t <= toMs; t += 5_000) {
      // the reload started last ends 30 ms after it started
      if (state.reload.running) state = transition(state, reloadedOk, reloadedAt[reloadedAt.length - 1]! + 30, c).state;
      const next = transition(state, probed([refused(DAGS), refused(LOGS)]), t, c);
      if (next.actions.some((a) => a.kind === 'reload-autofs')) reloadedAt.push(t);
      state = next.state;
    }
    return { state, reloadedAt };
  }

  it('waits reload_interval, then twice that each time up to max_backoff, while the paths stay refused', () => {
    const { reloadedAt } = refusedFor(65_000, 65_000 + 16 * 60_000);
    // 10, 20, 40, 80, 160 s apart, then 300 s (max_backoff), each on the first 5 s probe due
    expect(reloadedAt).toEqual([60_100, 75_000, 95_000, 135_000, 215_000, 375_000, 675_000, 975_000]);
  });

  it('starts over once the paths are back', () => {
    const long = refusedFor(65_000, 200_000);
    expect(long.state.reload.inARow).toBeGreaterThan(2);
    const back = run(
      [
        [{ kind: 'tick' }, 205_000],
        [probed([ok(DAGS), ok(LOGS)]), 205_040],
      ],
      cfg,
      long.state,
    );
    expect(back.state.reload.inARow).toBe(0);
  });

  it('never reloads for a server that never answers, however long', () => {
    const steps: (readonly [ControllerEvent, number])[] = [...outage, [server(false, 60_100), 60_100]];
    for (let t = 65_000; t <= 3_600_000; t += 5_000) steps.push([probed([refused(DAGS), refused(LOGS)]), t]);
    const { actions, state } = run(steps);
    expect(reloads(actions)).toBe(0);
    expect(state.watching.map((w) => w.key)).toEqual([KEY]);
  });

  it('never with autofs_reload [] or recovery off; only says so in a dry run', () => {
    for (const c of [configWith({ servers: { autofsReload: [] } }), configWith({ recovery: { enabled: false } })]) {
      expect(reloads(run([...outage, [server(true, 60_100), 60_100]], c).actions)).toBe(0);
    }
    const dry = run([...outage, [server(true, 60_100), 60_100]], configWith({ recovery: { dryRun: true } }));
    expect(dry.last).toContainEqual({ kind: 'reload-autofs', argv: ['systemctl', 'reload', 'autofs'], dryRun: true });
  });

  it('not while a recovery runs: after it', () => {
    const steps: (readonly [ControllerEvent, number])[] = [
      [{ kind: 'start' }, 0],
      [probed([ok(DAGS), ok(LOGS)]), 40],
      [{ kind: 'tick' }, 60_000],
      // logs is stale: a recovery starts; dags is refused meanwhile
      [probed([refused(DAGS), { ...ok(LOGS), result: 'ESTALE', errno: 'ESTALE' }]), 60_040],
      [server(true, 60_100), 60_100],
    ];
    const during = run(steps);
    expect(during.state.recovery).not.toBeNull();
    expect(reloads(during.actions)).toBe(0);
    const done = run(
      [
        [
          {
            kind: 'recovered',
            report: { result: 'success', steps: [], reprobe: [ok(LOGS)], stillFailing: [], collateral: [], durationMs: 900 },
          },
          61_000,
        ],
      ],
      cfg,
      during.state,
    );
    expect(reloads(done.actions)).toBe(1);
  });
});

describe('static mounts a recovery could not put back', () => {
  const failedMount: CommandOutcome = {
    argv: ['mount', '--', '/mnt/static'],
    status: 'failed',
    exitCode: 32,
    signal: null,
    output: 'timed out',
    durationMs: 9000,
  };
  const left: CollateralReport = {
    mountPoint: '/mnt/static',
    fstype: 'nfs4',
    source: '10.99.0.1:/srv/a/static',
    via: 'fstab',
    outcome: 'failed',
    command: failedMount,
    argv: ['mount', '--', '/mnt/static'],
    server: SERVER,
  };
  const healthy: (readonly [ControllerEvent, number])[] = [
    [{ kind: 'start' }, 0],
    [probed([ok(DAGS), ok(LOGS)]), 40],
  ];

  it('are watched from the daemon’s own namespace, and put back once their server answers', () => {
    const waiting = run([...healthy, [{ kind: 'collateral', report: left }, 1_000]]);
    expect(waiting.last).toContainEqual({ kind: 'watch-servers', servers: [{ key: SELF_KEY, address: SERVER, from: 'self' }] });
    expect(waiting.state.putBack).toMatchObject([{ mountPoint: '/mnt/static', tries: 0 }]);

    const silent = run([[server(false, 1_100, null, SELF_KEY), 1_100]], cfg, waiting.state);
    expect(silent.last.filter((a) => a.kind === 'put-back')).toEqual([]);

    const back = run([[server(true, 50_000, 1_100, SELF_KEY), 50_000]], cfg, silent.state);
    expect(back.last).toContainEqual({
      kind: 'put-back',
      mounts: [expect.objectContaining({ mountPoint: '/mnt/static', argv: left.argv })],
    });

    const done = run(
      [
        [
          {
            kind: 'put-back',
            report: { mountPoint: '/mnt/static', server: SERVER, outcome: 'remounted', command: null, downMs: 49_000, tries: 1 },
          },
          50_500,
        ],
      ],
      cfg,
      back.state,
    );
    expect(done.state.putBack).toEqual([]);
    expect(done.last).toContainEqual({ kind: 'watch-servers', servers: [] });
  });

  it('a failed put-back is tried again after reload_interval, not at every event', () => {
    const back = run([...healthy, [{ kind: 'collateral', report: left }, 1_000], [server(true, 2_000, null, SELF_KEY), 2_000]]);
    const failed = run(
      [
        [
          {
            kind: 'put-back',
            report: { mountPoint: '/mnt/static', server: SERVER, outcome: 'failed', command: failedMount, downMs: 1_000, tries: 1 },
          },
          3_000,
        ],
        [{ kind: 'tick' }, 5_000],
        [probed([ok(DAGS), ok(LOGS)]), 5_040],
      ],
      cfg,
      back.state,
    );
    expect(failed.actions.flat().filter((a) => a.kind === 'put-back')).toEqual([]);
    const again = run([[{ kind: 'tick' }, 12_000]], cfg, failed.state);
    expect(again.last).toContainEqual({ kind: 'put-back', mounts: [expect.objectContaining({ mountPoint: '/mnt/static', tries: 1 })] });
  });
});
