// What the kernel's counters say of a configured mount between probes. The rule that reads it
// from successive mountstats samples is in this module; the controller only ever probes on it.

/**
 * errors: an operation's error count rose beyond its own recent rate; timeouts: new major
 * timeouts; mount_table: the mount on the path vanished or was replaced.
 */
export type EvidenceKind = 'errors' | 'timeouts' | 'mount_table';

export const EVIDENCE_KINDS: readonly EvidenceKind[] = ['errors', 'timeouts', 'mount_table'];

/** Counters that moved on one operation since the previous sample. */
export interface OpMoved {
  readonly errors?: number;
  readonly timeouts?: number;
}

export interface Evidence {
  /** The configured path. */
  readonly path: string;
  /** The strongest kind seen: timeouts, then errors, then mount_table. */
  readonly kind: EvidenceKind;
  /** Per operation name, what moved since the previous sample (errors and timeouts only). */
  readonly moved: Readonly<Record<string, OpMoved>>;
  /** The mount ID on the path before and after, for mount_table. */
  readonly mountIds?: { readonly before: number | null; readonly after: number | null };
  /** Time between the two samples compared. */
  readonly sampleMs: number;
}
