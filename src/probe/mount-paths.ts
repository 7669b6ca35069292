// The configured paths as the daemon and `check` probe them: symbolic links resolved to the mount
// points they name (resolve-links.ts), against the real mount table, each look bounded by the
// probe timeout. A path that cannot be used stops the start with one line (exit 78).
import type { Clock } from '../clock.js';
import type { Config } from '../config/types.js';
import { StartupError } from '../startup-error.js';
import { readMountTable } from './mountinfo.js';
import { childLook, MountPathError, resolveConfiguredMounts, type ResolvedMounts } from './resolve-links.js';

export async function resolveMountPaths(config: Config, clock: Clock): Promise<ResolvedMounts> {
  try {
    const paths = config.mounts.map((m) => m.path);
    return await resolveConfiguredMounts(paths, readMountTable(), childLook(clock, config.probe.timeoutMs));
  } catch (err) {
    if (err instanceof MountPathError) throw new StartupError(err.message);
    throw err;
  }
}
