// The dock's side of factory writes over the link: one staging at a time,
// resumable while the dock stays up (a host that lost the line asks again
// with the same length and SHA-256 and continues from where the dock is).
// Every write path checks the OTP factory-lock fuse (factory-staging.ts).

import type { Crypto } from '../hal/crypto.ts';
import type { FlashPartition } from '../hal/flash.ts';
import type { Otp } from '../hal/otp.ts';
import { FactoryStaging, FactoryWriteError, assertFactoryMode } from '../datastore/factory/factory-staging.ts';
import { readSlotRecord, type MountedSlots } from '../datastore/factory/factory-slots.ts';
import { PerDockError, readPerDockSection } from '../datastore/factory/per-dock-section.ts';
import { equalBytes, type FactoryPartition } from '../datastore/factory/factory-partition.ts';
import type { DockKeystore } from '../hal/keystore.ts';

export interface FactoryStatus {
  locked: boolean;
  /** Slot served since boot, and its generation. */
  active: number | null;
  generation: number;
  slots: { slot: number; generation: number | null; sha256: Uint8Array | null }[];
  staging: { slot: number; length: number; received: number } | null;
  /** A committed image waits for a restart to be served. */
  pendingRestart: boolean;
}

export class FactoryService {
  private staging: FactoryStaging | null = null;
  private committed = false;

  constructor(
    private readonly flashes: FlashPartition[],
    private readonly mounted: MountedSlots,
    private readonly crypto: Crypto,
    private readonly otp: Otp,
    private readonly keystore: DockKeystore | null = null,
  ) {}

  status(): FactoryStatus {
    return {
      locked: this.otp.factoryLocked(),
      active: this.mounted.active,
      generation: this.mounted.generation,
      slots: this.flashes.map((f, slot) => {
        const r = readSlotRecord(f);
        return { slot, generation: r ? r.generation : null, sha256: r ? r.sha256 : null };
      }),
      staging: this.staging && { slot: this.staging.target, length: this.staging.length, received: this.staging.received },
      pendingRestart: this.pendingRestart,
    };
  }

  /** Start (or resume: same length and digest) a staging; returns the offset to send from. */
  begin(length: number, sha256: Uint8Array): number {
    assertFactoryMode(this.otp);
    const s = this.staging;
    if (s && s.length === length && equalBytes(s.sha256, sha256)) return s.received;
    if (this.committed) throw new FactoryWriteError('not-verified', 'a new factory image was committed and waits for a restart: reset the dock before writing another');
    this.staging = null;
    this.staging = FactoryStaging.begin(this.flashes, this.mounted.slots, this.mounted.active, this.otp, length, sha256);
    return 0;
  }

  write(offset: number, bytes: Uint8Array): number {
    assertFactoryMode(this.otp);
    if (!this.staging) throw new FactoryWriteError('incomplete', 'no factory write in progress: begin one (length and SHA-256) first');
    this.staging.write(offset, bytes);
    return this.staging.received;
  }

  /** A committed image waits for a restart to be served. */
  get pendingRestart(): boolean {
    return this.committed;
  }

  get received(): number {
    return this.staging ? this.staging.received : 0;
  }

  /** Verify what is on flash and commit it: served after the next restart. */
  commit(sha256: Uint8Array): { slot: number; generation: number; sha256: Uint8Array } {
    assertFactoryMode(this.otp);
    const s = this.staging;
    if (!s) throw new FactoryWriteError('incomplete', 'no factory write in progress: nothing to commit');
    if (!equalBytes(s.sha256, sha256)) throw new FactoryWriteError('mismatch', 'the SHA-256 given to commit is not that of the image being staged');
    let digest: Uint8Array;
    try {
      digest = s.verify(this.crypto, this.otp, (partition, flash) => this.checkPerDock(s.length, partition, flash)).sha256;
    } catch (e) {
      // A staging that failed verification cannot succeed later: the host starts again.
      this.staging = null;
      throw e;
    }
    const generation = s.commit();
    this.staging = null;
    this.committed = true;
    return { slot: s.target, generation, sha256: digest };
  }

  /**
   * Bytes past the common image are this dock's per-dock section: it must be
   * the manufacturer's, issued for this dock and this image, and open with
   * this dock's key, or nothing is committed.
   */
  private checkPerDock(length: number, partition: FactoryPartition, flash: FlashPartition): void {
    const region = partition.perDockRegion();
    if (length <= region.offset) return; // the common image alone
    if (length > region.offset + region.capacity) throw new FactoryWriteError('too-large', `the image runs ${length - region.offset - region.capacity} bytes past its per-dock region`);
    if (!this.keystore) throw new FactoryWriteError('untrusted', 'this dock has no key store, so it cannot take per-dock data');
    try {
      const section = readPerDockSection(flash, partition, this.crypto, this.otp, this.keystore);
      // The section must lie within the bytes sent: never judge what the slot held before.
      if (!section || region.offset + section.length > length) throw new FactoryWriteError('untrusted', 'bytes follow the common image but they are not a whole per-dock section');
      section.open();
    } catch (e) {
      if (e instanceof PerDockError) throw new FactoryWriteError('untrusted', `the staged image was not committed: ${e.message}`);
      throw e;
    }
  }

  /** End factory mode for good (burns the OTP fuse); an unfinished staging is dropped. */
  lock(): void {
    this.staging = null;
    this.otp.lockFactory();
  }
}
