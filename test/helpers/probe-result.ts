// A probe result as src/probe/probe-mounts.ts makes it: a healthy NFS mount, with what a test changes.
import type { ProbeResult } from '../../src/probe/probe-mounts.js';

export function probeResult(path: string, over: Partial<ProbeResult> = {}): ProbeResult {
  return {
    path,
    result: 'ok',
    ms: 2,
    mounted: true,
    fstype: 'nfs4',
    mountId: 9,
    underAutofs: false,
    stuck: false,
    skipped: null,
    blockedMs: null,
    ...over,
  };
}
