// The dock's side of factory writes over the link: one staging at a time,
// resumable while the dock stays up (a host that lost the line asks again
// with the same length and SHA-256 and continues from where the dock is).
// Every write path checks the OTP factory-lock fuse (factory-staging.ts).

import type { Crypto } from '../hal/crypto.ts';
import type { FlashPartition } from '../hal/flash.ts';
import type { Otp } from '../hal/otp.ts';
import { FactoryStaging, FactoryWriteError, assertFactoryMode, rerecordSlot } from '../datastore/factory/factory-staging.ts';
import { programMark, slotState, type MountedSlots, type SlotApproval } from '../datastore/factory/factory-slots.ts';
import { MARK_CONFIRM, MARK_TEST, slotRecordOffset } from '../datastore/factory/slot-record.ts';
import { PerDockError, readPerDockSection } from '../datastore/factory/per-dock-section.ts';
import { equalBytes } from '../bytes/byte-order.ts';
import { type FactoryPartition } from '../datastore/factory/factory-partition.ts';
import type { DockKeystore } from '../hal/keystore.ts';

export interface FactoryStatus {
  locked: boolean;
  /** Slot served since boot, and its generation. */
  active: number | null;
  generation: number;
  slots: { slot: number; generation: number | null; sha256: Uint8Array | null; approval: SlotApproval; imageLength: number | null }[];
  /** The served image runs its one trial boot (a restart without confirm reverts it). */
  trial: boolean;
  staging: { slot: number; length: number; received: number } | null;
  /** A committed image waits for a restart to be served. */
  pendingRestart: boolean;
  /** The manufacturer's Ed25519 public key in OTP: a host checks an image against it before sending a byte. */
  trustedKey: Uint8Array;
  /** The most bytes a staged image may have (a slot less its record sector). */
  slotBytes: number;
}

export class FactoryService {
  private staging: FactoryStaging | null = null;
  private committed = false;
  /**
   * The staging whose bytes were verified by the last chunk of an image-group
   * upload, and the digest: commit reuses it instead of hashing the slot a
   * second time. Every path that could change that slot (another write, a new
   * staging, an approval, the lock) clears it.
   */
  private verified: { staging: FactoryStaging; sha256: Uint8Array } | null = null;
  /**
   * The image the last image-group upload stored (verified, recorded) in
   * this session: a chunk of it sent again after the staging was consumed
   * (a test, confirm or commit came between; its answer was lost) is
   * acknowledged, not refused. Cleared by a new staging and the lock.
   */
  private uploaded: { length: number; sha256: Uint8Array } | null = null;

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
        const st = slotState(f, slot);
        const r = st.record;
        // A line-flashed slot 0 has no record: its image is named by the digest its trailer signs.
        const sha256 = r ? r.sha256 : slot === this.mounted.active && this.mounted.partition ? this.mounted.partition.digest : null;
        return { slot, generation: r ? r.generation : slot === this.mounted.active ? 0 : null, sha256, approval: st.approval, imageLength: r ? r.imageLength : null };
      }),
      trial: this.mounted.trial,
      trustedKey: this.otp.manufacturerPublicKey(),
      slotBytes: Math.min(...this.flashes.map((f) => slotRecordOffset(f))),
      staging: this.staging && { slot: this.staging.target, length: this.staging.length, received: this.staging.received },
      pendingRestart: this.pendingRestart,
    };
  }

  /** Start (or resume: same length and digest) a staging; returns the offset to send from. */
  begin(length: number, sha256: Uint8Array): number {
    assertFactoryMode(this.otp);
    const s = this.staging;
    if (s && s.length === length && equalBytes(s.sha256, sha256)) return s.received;
    if (this.committed) throw new FactoryWriteError('pending', 'a new factory image was committed (or tested, or confirmed) and waits for a restart: reset the dock before writing another');
    // The other slot holds the image a reset reverts to: it must not be overwritten while this one is on trial.
    if (this.mounted.trial) throw new FactoryWriteError('on-trial', 'the served image is on its trial boot: confirm it (image confirm) or reset the dock to revert before writing another');
    this.staging = null;
    this.verified = null;
    this.uploaded = null;
    this.staging = FactoryStaging.begin(this.flashes, this.mounted.slots, this.mounted.active, this.otp, length, sha256);
    return 0;
  }

  write(offset: number, bytes: Uint8Array): number {
    assertFactoryMode(this.otp);
    if (!this.staging) throw new FactoryWriteError('incomplete', 'no factory write in progress: begin one (length and SHA-256) first');
    this.verified = null;
    this.staging.write(offset, bytes);
    return this.staging.received;
  }

  /** A committed image waits for a restart to be served. */
  get pendingRestart(): boolean {
    return this.committed;
  }

  /** Bytes the running staging expects in all (0 with none). */
  get stagingLength(): number {
    return this.staging ? this.staging.length : 0;
  }

  /** The slot a test or confirm of this session makes boot next, and whether for good. */
  pendingSlot: number | null = null;
  pendingPermanent = false;

  get received(): number {
    return this.staging ? this.staging.received : 0;
  }

  /**
   * The staged image's SHA-256 once every boot check passes (once per staging:
   * a verified one is not hashed again); a staging that fails cannot succeed
   * later (the host starts again).
   */
  private verifyStaged(s: FactoryStaging): Uint8Array {
    if (this.verified && this.verified.staging === s) return this.verified.sha256;
    try {
      const sha256 = s.verify(this.crypto, this.otp, (partition, flash) => this.checkPerDock(s.length, partition, flash)).sha256;
      this.verified = { staging: s, sha256 };
      return sha256;
    } catch (e) {
      this.staging = null;
      this.verified = null;
      throw e;
    }
  }

  commit(sha256: Uint8Array): { slot: number; generation: number; sha256: Uint8Array } {
    assertFactoryMode(this.otp);
    const s = this.staging;
    if (!s) throw new FactoryWriteError('incomplete', 'no factory write in progress: nothing to commit');
    if (!equalBytes(s.sha256, sha256)) throw new FactoryWriteError('mismatch', 'the SHA-256 given to commit is not that of the image being staged');
    const digest = this.verifyStaged(s);
    const generation = s.commit();
    this.staging = null;
    this.verified = null;
    this.committed = true;
    this.pendingSlot = s.target;
    this.pendingPermanent = true;
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

  /**
   * The last chunk of an image-group upload: verify the slot now (so the list
   * shows its hash and a bad image is refused at once) and record it on
   * approval. Returns the dock's SHA-256 of the bytes stored.
   */
  finishUpload(): Uint8Array {
    assertFactoryMode(this.otp);
    const s = this.staging;
    if (!s) throw new FactoryWriteError('incomplete', 'no factory write in progress');
    const digest = this.verifyStaged(s);
    s.stage();
    this.uploaded = { length: s.length, sha256: s.sha256 };
    return digest;
  }

  /**
   * The length of the image the last upload stored when no staging is open
   * and `length` and `sha256`, where given, name that image; else -1. A chunk
   * resent for it is answered with this offset (the upload is whole).
   */
  storedUploadLength(length?: number, sha256?: Uint8Array): number {
    const u = this.uploaded;
    if (this.staging || !u) return -1;
    if (length !== undefined && length !== u.length) return -1;
    if (sha256 !== undefined && !equalBytes(sha256, u.sha256)) return -1;
    return u.length;
  }

  /** The slot (not necessarily served) whose image has this SHA-256, or -1. */
  slotByHash(sha256: Uint8Array): number {
    return this.status().slots.findIndex((x) => x.sha256 !== null && equalBytes(x.sha256, sha256));
  }

  /**
   * MCUboot's test (confirm false) and confirm (true) of a slot that is not
   * served: test boots it once at the next restart, confirm boots it and
   * keeps it. One program of a mark; a slot whose trial was spent gets a new
   * record first.
   */
  approve(slot: number, permanent: boolean): void {
    assertFactoryMode(this.otp);
    const st = this.status();
    if (slot === st.active) throw new FactoryWriteError('on-trial', 'that is the running image');
    const target = st.slots[slot];
    if (this.committed) throw new FactoryWriteError('pending', 'another image already boots at the next restart: reset the dock first');
    if (this.mounted.trial) throw new FactoryWriteError('on-trial', 'the served image is on its trial boot: confirm it or reset the dock to revert first');
    if (!target.sha256 || target.imageLength === null || target.approval === 'none') throw new FactoryWriteError('incomplete', `slot ${slot} holds no verified image`);
    if (this.staging && this.staging.target === slot) this.staging = null;
    this.verified = null;
    const flash = this.flashes[slot];
    if (target.approval !== 'staged') {
      // Reverted or superseded: recorded again above every generation, then marked.
      let top = 0;
      for (const x of st.slots) if (x.generation !== null && x.generation > top) top = x.generation;
      rerecordSlot(flash, this.otp, top + 1, target.imageLength, target.sha256);
    }
    programMark(flash, permanent ? MARK_CONFIRM : MARK_TEST);
    this.committed = true;
    this.pendingSlot = slot;
    this.pendingPermanent = permanent;
  }

  /** Confirm the running image (MCUboot's confirm with no hash): ends its trial, so it stays. */
  confirmRunning(): void {
    if (!this.mounted.trial || this.mounted.active === null) return; // already for good
    programMark(this.flashes[this.mounted.active], MARK_CONFIRM);
    this.mounted.trial = false;
    const s = this.mounted.slots[this.mounted.active];
    if (s) s.approval = 'permanent';
  }

  /** End factory mode for good (burns the OTP fuse); an unfinished staging is dropped. */
  lock(): void {
    this.staging = null;
    this.verified = null;
    this.uploaded = null;
    this.otp.lockFactory();
  }
}
