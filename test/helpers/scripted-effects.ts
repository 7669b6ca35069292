// The wired parts' effects, scripted: a hand-moved clock, the scripted world's mount table and
// commands, and probe workers the test answers (src/wire.ts takes the real ones in production).
import type { RawProbe } from '../../src/probe/classify.js';
import type { Effects } from '../../src/wire.js';
import type { FakeClock } from './fake-clock.js';
import { HandWorker } from './hand-worker.js';
import type { ScriptedWorld } from './scripted-world.js';

export interface ScriptedEffects {
  effects: Effects;
  /** Every probe worker spawned, in order. */
  workers: HandWorker[];
}

/**
 * `answer` answers each probe call (undefined: the call hangs); `online: false` makes workers that
 * never come online. Holders must be off in the config: there is no scripted scanner.
 */
export function scriptedEffects(
  clock: FakeClock,
  world: ScriptedWorld,
  opts: { answer?: (path: string) => RawProbe | undefined; online?: boolean } = {},
): ScriptedEffects {
  const workers: HandWorker[] = [];
  const effects: Effects = {
    clock,
    table: world.table,
    mountstats: world.mountstats,
    mountinfo: world.mountinfo,
    resolveMounts: (c) => Promise.resolve({ paths: c.mounts.map((m) => m.path), resolved: [], unresolved: [] }),
    spawnProbe: () => {
      const w = new HandWorker(opts.answer);
      w.online = opts.online ?? true;
      workers.push(w);
      return w;
    },
    holderScanner: () => {
      throw new Error('no scripted holder scanner: set holders.enabled false');
    },
    runner: () => world.run,
    fstab: () => () => null,
    autofsRunning: () => true,
    checkServer: (server) =>
      Promise.resolve(world.answering(server) ? { answering: true, ms: 1 } : { answering: false, ms: 1000, reason: 'timeout' }),
    autofsNetns: () => ({ netns: null, why: 'scripted: one namespace' }),
    mapServers: () => new Map(),
    selfPid: process.pid,
    ownUnit: () => null,
    mountNamespace: () => null,
    bootId: () => 'scripted-boot',
    stateFile: world.stateFile,
  };
  return { effects, workers };
}
