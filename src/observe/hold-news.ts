// Whether a held recovery is news: said once per reason and targets, and again only after a
// recovery started or a mount came back. The log and the status board share it, so both tell the
// same holds.
import type { Hold } from '../controller/policy.js';

export class HoldNews {
  private last = '';

  /** True the first time this hold (its reason and targets) comes since the last forget. */
  isNew(hold: Hold): boolean {
    const key = `${hold.reason}:${hold.targets.join(',')}`;
    if (key === this.last) return false;
    this.last = key;
    return true;
  }

  /** A recovery started or a mount came back: the next hold is news again. */
  forget(): void {
    this.last = '';
  }
}
