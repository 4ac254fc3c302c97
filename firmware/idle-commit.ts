// Batched runtime writes are committed with the batch's last write, on
// flush(), at a clean shutdown, and, so that an app that stops writing does
// not leave them uncommitted for ever, by the dock loop once the first of them
// has waited BATCH_WAIT_MS. That bounds what a power cut can take from an app
// that chose 'batched' to about a second of its writes.

import type { TierSet } from '../datastore/tiers/tier-set.ts';

export const BATCH_WAIT_MS = 1000;

export class IdleCommit {
  /** Dock time when the loop first saw uncommitted writes, or -1. */
  private since = -1;

  /** Commit if the oldest uncommitted write has waited long enough; returns when to look again (dock clock), or -1. */
  run(tiers: TierSet, now: number): number {
    if (tiers.pendingWrites === 0) {
      this.since = -1;
      return -1;
    }
    if (this.since < 0) this.since = now;
    if (now - this.since < BATCH_WAIT_MS) return this.since + BATCH_WAIT_MS;
    tiers.flush();
    // A subscriber told of this commit may have written again (batched): its
    // wait starts now. Left for the loop's next look, it waited for a timer,
    // serial input or the host's idle poll: up to a second more on a dock
    // whose app set no timer (or for ever on a loop that only wakes on input).
    if (tiers.pendingWrites === 0) {
      this.since = -1;
      return -1;
    }
    this.since = now;
    return now + BATCH_WAIT_MS;
  }
}
