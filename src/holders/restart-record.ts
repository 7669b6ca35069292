// What the holder watch remembers of its restarts, per detachment batch (one recovery): the units
// it restarted, so none is restarted twice for one batch, and the "did not help" reports it made,
// so each is made once. A batch is forgotten once none of its former mounts is watched.

/** A unit restarted for the processes one batch left on its detached mounts. */
export interface RestartKey {
  readonly batch: string;
  readonly unit: string;
}

/** Units by batch. */
class UnitsByBatch {
  private readonly byBatch = new Map<string, Set<string>>();

  has(key: RestartKey): boolean {
    return this.byBatch.get(key.batch)?.has(key.unit) ?? false;
  }

  add(key: RestartKey): void {
    const units = this.byBatch.get(key.batch) ?? new Set<string>();
    units.add(key.unit);
    this.byBatch.set(key.batch, units);
  }

  keys(): RestartKey[] {
    return [...this.byBatch].flatMap(([batch, units]) => [...units].map((unit) => ({ batch, unit })));
  }

  keepOnly(batches: ReadonlySet<string>): void {
    for (const batch of this.byBatch.keys()) if (!batches.has(batch)) this.byBatch.delete(batch);
  }
}

export class RestartRecord {
  private readonly restarted = new UnitsByBatch();
  private readonly told = new UnitsByBatch();

  wasRestarted(key: RestartKey): boolean {
    return this.restarted.has(key);
  }

  markRestarted(keys: Iterable<RestartKey>): void {
    for (const key of keys) this.restarted.add(key);
  }

  /** Every unit restarted, with its batch: what a new process must not restart again. */
  restartedUnits(): RestartKey[] {
    return this.restarted.keys();
  }

  /** The "did not help" reports not made before, in order; from now on they count as made. */
  untold<T extends RestartKey>(reports: Iterable<T>): T[] {
    const fresh: T[] = [];
    for (const report of reports) {
      if (this.told.has(report)) continue;
      this.told.add(report);
      fresh.push(report);
    }
    return fresh;
  }

  /** Forgets every batch not among `batches` (those of the former mounts still watched). */
  keepBatches(batches: ReadonlySet<string>): void {
    this.restarted.keepOnly(batches);
    this.told.keepOnly(batches);
  }
}
