// Between the parts' own state and the kept file, both ways, as pure functions: `snapshot` takes
// what the controller and the holder watch know of an incident; `resume` checks a file read back
// against the machine as it is now and gives each part what still holds, with what it dropped
// and why. A mount ID names a mount only while that mount lives, and a detached mount lives on
// while anyone holds it: so an ID of a saved detached mount that is back in the mount table names
// a newer mount (its device tells), and the old one is gone with every holder it had.
import type { ControllerIncident } from '../controller/controller.js';
import { recorded, type PathHealth, type PolicyConfig } from '../controller/policy.js';
import type { PutBack } from '../controller/server-return.js';
import { UNKNOWN_PATH, type FormerWatched } from '../holders/scan-plan.js';
import type { HolderIncident } from '../holders/watch.js';
import { isProbeClass } from '../probe/classify.js';
import type { MountEntry } from '../probe/mountinfo.js';
import { nfsMountedAt } from '../recovery/collateral.js';
import type { IncidentState, SavedPutBack } from './incident.js';

/** The two clocks now: the process's own (ms since it started) and the wall clock. */
export interface Moment {
  now: number;
  wallNow: number;
}

export interface Resumed {
  controller: Omit<ControllerIncident, 'atRisk' | 'recovering'>;
  /** Paths of a recovery the last process did not see end: counted as failed, so a restart loop backs off. */
  cutShort: string[];
  holders: HolderIncident;
  /** What was dropped, one phrase each ("/airflow/logs: mount 812 is in the mount table again, device 0:61, was 0:53"). */
  dropped: string[];
}

/** A path the file keeps: failing, or still in a cooldown or backoff. */
export function inIncident(h: PathHealth, now: number): boolean {
  return h.failingSince !== null || h.failedRecoveries > 0 || h.nextRecoveryAt > now;
}

export function snapshot(c: ControllerIncident, h: HolderIncident | undefined, bootId: string, { now, wallNow }: Moment): IncidentState {
  const wall = (t: number): number => Math.round(t + wallNow - now);
  const paths = [...c.health]
    .filter(([, p]) => inIncident(p, now))
    .map(([path, p]) => ({
      path,
      result: p.result,
      failingSince: p.failingSince === null ? null : wall(p.failingSince),
      failedRecoveries: p.failedRecoveries,
      nextRecoveryAt: Math.max(0, wall(p.nextRecoveryAt)),
      wait: p.wait,
    }));
  const saved = (p: PutBack, state: SavedPutBack['state']): SavedPutBack => ({
    mountPoint: p.mountPoint,
    argv: p.argv,
    server: p.server,
    since: wall(p.since),
    tries: p.tries,
    state,
  });
  const waiting = new Set(c.putBack.map((p) => p.mountPoint));
  return {
    bootId,
    recoveries: c.recoveries,
    paths,
    detached: (h?.formers ?? []).map((f) => ({
      path: f.path,
      mountId: f.mountId,
      dev: f.dev,
      since: wall(f.since),
      batch: f.batch,
      unitsRestarted: (h?.restarted ?? []).filter((r) => r.batch === f.batch).map((r) => r.unit),
      dirs: (h?.memory ?? []).filter((m) => m.mountId === f.mountId).map(({ pid, start, kind, rel }) => ({ pid, start, kind, rel })),
    })),
    putBack: [
      ...c.putBack.map((p) => saved(p, 'waiting')),
      ...c.atRisk.filter((p) => !waiting.has(p.mountPoint)).map((p) => saved(p, 'at_risk')),
    ],
    recovering: c.recovering && { paths: c.recovering.paths, startedAt: wall(c.recovering.startedAt) },
  };
}

export function resume(
  saved: IncidentState,
  live: { paths: readonly string[]; table: readonly MountEntry[]; policy: PolicyConfig },
  moment: Moment,
): Resumed {
  const local = (t: number): number => t - (moment.wallNow - moment.now);
  const configured = new Set(live.paths);
  const dropped: string[] = [];

  const health = new Map<string, PathHealth>();
  for (const p of saved.paths) {
    if (!configured.has(p.path)) dropped.push(`${p.path}: no longer configured`);
    else if (!isProbeClass(p.result)) dropped.push(`${p.path}: result ${JSON.stringify(p.result)} is no probe result`);
    else {
      health.set(p.path, {
        result: p.result,
        // The call behind a timeout died with the process that made it: this process's own calls age anew.
        hangAt: null,
        failingSince: p.failingSince === null ? null : local(p.failingSince),
        failedRecoveries: p.failedRecoveries,
        nextRecoveryAt: local(p.nextRecoveryAt),
        wait: p.wait,
      });
    }
  }

  // A recovery the last process did not see end (killed in it, perhaps by it) is a failed one, from
  // when it started: a daemon killed in every recovery backs off instead of unmounting at each start.
  const cut = saved.recovering;
  const cutShort = cut ? cut.paths.filter((p) => health.has(p)) : [];
  const afterCut = cut ? recorded(health, cutShort, new Set(cutShort), local(cut.startedAt), live.policy) : health;

  const byId = new Map(live.table.map((e) => [e.id, e]));
  const formers: FormerWatched[] = [];
  for (const d of saved.detached) {
    const now = byId.get(d.mountId);
    if (!configured.has(d.path) && d.path !== UNKNOWN_PATH) dropped.push(`${d.path}: no longer configured (detached mount ${d.mountId})`);
    else if (now && now.dev !== d.dev)
      dropped.push(`${d.path}: detached mount ${d.mountId} is gone: its ID names a newer mount (device ${now.dev}, was ${d.dev})`);
    else if (now) dropped.push(`${d.path}: mount ${d.mountId} is in the mount table again (device ${d.dev}): not detached`);
    else formers.push({ path: d.path, mountId: d.mountId, dev: d.dev, state: 'detached', batch: d.batch, since: local(d.since) });
  }
  const kept = new Set(formers.map((f) => f.mountId));
  const batches = new Map(saved.detached.filter((d) => kept.has(d.mountId)).map((d) => [d.batch, d.unitsRestarted]));

  const putBack: PutBack[] = [];
  for (const p of saved.putBack) {
    if (nfsMountedAt(live.table, p.mountPoint)) {
      // An at-risk mount still there is the usual case: the recovery did not take it away.
      if (p.state === 'waiting') dropped.push(`${p.mountPoint}: mounted again`);
      continue;
    }
    // Tried at once, whatever the last process's backoff: a mount left missing is the worse harm.
    putBack.push({
      mountPoint: p.mountPoint,
      argv: p.argv,
      server: p.server,
      since: local(p.since),
      tries: p.tries,
      lastTryAt: null,
      running: false,
    });
  }

  return {
    controller: { health: afterCut, putBack, recoveries: saved.recoveries },
    cutShort,
    holders: {
      formers,
      restarted: [...batches].flatMap(([batch, units]) => units.map((unit) => ({ batch, unit }))),
      memory: saved.detached.filter((d) => kept.has(d.mountId)).flatMap((d) => d.dirs.map((dir) => ({ ...dir, mountId: d.mountId }))),
    },
    dropped,
  };
}
