// One probe round over several paths: mount table before (to tie calls to mounts), all probes in
// parallel, mount table after (the probe itself may have made autofs mount the path), classify.
import type { Clock } from '../clock.js';
import { classify, type ProbeClass } from './classify.js';
import { mountAt, pathMountState, type MountTable } from './mountinfo.js';
import { serverOfMount, type ServerAddress } from '../server/address.js';
import type { Prober } from './prober.js';

export interface ProbeResult {
  /** The configured path. */
  path: string;
  result: ProbeClass;
  /** errno name when the call failed. */
  errno?: string;
  ms: number;
  /** A mount other than autofs sits on the path (after the probe). */
  mounted: boolean;
  fstype: string | null;
  /** ID of the mount on the path after the probe, null when none. */
  mountId: number | null;
  /** Under an autofs mount: an access mounts it. */
  underAutofs: boolean;
  stuck: boolean;
  /** Why no call was made, when none was. */
  skipped: 'same_mount' | 'stuck_cap' | null;
  /** For a timeout: how long the call blocking the path had been blocked when the round ended. */
  blockedMs: number | null;
  /** The NFS server of the mount on the path after the probe; absent or null when none is NFS. */
  server?: ServerAddress | null;
}

/** The probe seam: paths in, classified results out, in the same order. */
export type ProbeMounts = (paths: readonly string[]) => Promise<ProbeResult[]>;

export function createProbeMounts(prober: Prober, table: MountTable, clock: Clock): ProbeMounts {
  return async (paths) => {
    const beforeTable = table();
    const before = paths.map((path) => pathMountState(beforeTable, path));
    const outcomes = await Promise.all(paths.map((path, i) => prober.probe(path, before[i]!.containingMountId)));
    const after = table();
    const now = clock.now();
    return paths.map((path, i): ProbeResult => {
      const outcome = outcomes[i]!;
      const state = pathMountState(after, path);
      const top = state.mounted ? mountAt(after, path) : undefined;
      const { result, errno } = classify(outcome.raw, state, before[i]);
      return {
        path,
        result,
        ...(errno !== undefined ? { errno } : {}),
        ms: Math.round(outcome.ms * 10) / 10,
        mounted: state.mounted,
        fstype: state.fstype,
        mountId: state.mountIdAtPath,
        underAutofs: state.underAutofs,
        stuck: outcome.stuck,
        skipped: outcome.skipped,
        blockedMs: outcome.blockedSince === null ? null : Math.round(now - outcome.blockedSince),
        server: top ? serverOfMount(top) : null,
      };
    });
  };
}
