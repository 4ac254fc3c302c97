// Writing a new factory image over the link: staged into the slot that is not
// served, verified (SHA-256 of exactly the bytes on flash, then the full
// factory verification: digest and manufacturer signature against OTP), and
// only then committed by one program of the slot's record. A power cut or a
// lost link at any step leaves the served image as it was. Only a dock whose
// factory-lock fuse is intact (factory mode) accepts any of it.

import type { Crypto } from '../../hal/crypto.ts';
import type { FlashPartition } from '../../hal/flash.ts';
import type { Otp } from '../../hal/otp.ts';
import { equalBytes } from '../../bytes/byte-order.ts';
import { FactoryPartition, FactoryVerificationError } from './factory-partition.ts';
import { encodeSlotRecord, MARK_CONFIRM, MODE_ON_APPROVAL, MODE_PERMANENT, slotRecordOffset } from './slot-record.ts';
import { programMark } from './factory-slots.ts';
import { decodeHeader, HEADER_SIZE, TRAILER_SIZE, type FactoryHeader } from './partition-format.ts';
import type { SlotState } from './factory-slots.ts';

export type FactoryWriteProblem = 'locked' | 'one-slot' | 'too-large' | 'out-of-order' | 'incomplete' | 'mismatch' | 'untrusted' | 'not-verified' | 'on-trial' | 'pending';

export class FactoryWriteError extends Error {
  readonly code = 'factory-write';
  constructor(
    readonly problem: FactoryWriteProblem,
    message: string,
  ) {
    super(message);
    this.name = 'FactoryWriteError';
  }
}

export function assertFactoryMode(otp: Otp): void {
  if (otp.factoryLocked()) throw new FactoryWriteError('locked', 'this dock is locked: its factory image can no longer be written over the link (lock is permanent; factory mode has ended)');
}

export class FactoryStaging {
  received = 0;
  private readonly tail: Uint8Array;
  private tailLength = 0;
  private erasedSectors = 0;
  private verifiedDigest: Uint8Array | null = null;
  /**
   * The image's first sector (its header) is held back and programmed only at
   * verification: until then the slot has no header and can never be mounted,
   * so an abandoned staging is never served, record or not.
   */
  private readonly firstSector: Uint8Array;
  private headerProgrammed = false;

  private constructor(
    private readonly flash: FlashPartition,
    readonly target: number,
    readonly length: number,
    readonly sha256: Uint8Array,
    private readonly generation: number,
    private readonly otp: Otp,
  ) {
    this.tail = new Uint8Array(flash.programUnit);
    this.firstSector = new Uint8Array(flash.sectorSize).fill(0xff);
  }

  /** Start staging `length` bytes whose SHA-256 is `sha256` into the slot not being served. */
  static begin(slots: FlashPartition[], states: SlotState[], active: number | null, otp: Otp, length: number, sha256: Uint8Array): FactoryStaging {
    assertFactoryMode(otp);
    if (slots.length < 2) throw new FactoryWriteError('one-slot', 'this dock has a single factory slot: its image can only be written on the manufacturing line');
    if (!(length > 0) || sha256.length !== 32) throw new FactoryWriteError('incomplete', 'a factory write needs the image length and its 32-byte SHA-256');
    const target = active === null ? 0 : 1 - active;
    const flash = slots[target];
    const room = slotRecordOffset(flash);
    if (length > room) throw new FactoryWriteError('too-large', `the image is ${length} bytes; a factory slot holds ${room} (${length - room} bytes too many): rebuild it with fewer or smaller images`);
    let top = 0;
    for (const s of states) if (s.record && s.record.generation > top) top = s.record.generation;
    // The record goes first: an old record must never bless a half-written image.
    flash.erase(room / flash.sectorSize);
    // Then the header's sector: the slot stays unmountable until verification writes it.
    flash.erase(0);
    const staging = new FactoryStaging(flash, target, length, sha256.slice(), top + 1, otp);
    staging.erasedSectors = 1;
    return staging;
  }

  /** Bytes in order: `offset` must be exactly what has been received so far. */
  write(offset: number, bytes: Uint8Array): void {
    if (offset !== this.received) throw new FactoryWriteError('out-of-order', `expected bytes from offset ${this.received}, got ${offset}`);
    if (this.received + bytes.length > this.length) throw new FactoryWriteError('too-large', `${this.received + bytes.length - this.length} bytes more than the ${this.length} announced`);
    const unit = this.flash.programUnit;
    let at = 0;
    const sector = this.flash.sectorSize;
    if (this.received < sector) {
      at = Math.min(sector - this.received, bytes.length);
      this.firstSector.set(bytes.subarray(0, at), this.received);
    }
    while (at < bytes.length) {
      if (this.tailLength > 0 || bytes.length - at < unit) {
        const n = Math.min(unit - this.tailLength, bytes.length - at);
        this.tail.set(bytes.subarray(at, at + n), this.tailLength);
        this.tailLength += n;
        at += n;
        if (this.tailLength === unit) this.programAt(this.received + at - unit, this.tail);
        continue;
      }
      const whole = Math.floor((bytes.length - at) / unit) * unit;
      this.programAt(this.received + at, bytes.subarray(at, at + whole));
      at += whole;
    }
    this.received += bytes.length;
  }

  private programAt(offset: number, data: Uint8Array): void {
    const sector = this.flash.sectorSize;
    while (this.erasedSectors * sector < offset + data.length) this.flash.erase(this.erasedSectors++);
    this.flash.program(offset, data);
    if (data === this.tail) this.tailLength = 0;
  }

  /**
   * Check what is on flash: SHA-256 of exactly the staged bytes against what
   * the host announced, then the factory verification the boot does. Returns
   * the digest. Then `check`. Also erases the rest of the slot's per-dock region.
   */
  verify(crypto: Crypto, otp: Otp, check?: (partition: FactoryPartition, flash: FlashPartition) => void): { sha256: Uint8Array; partition: FactoryPartition } {
    if (this.received < this.length) throw new FactoryWriteError('incomplete', `${this.received} of ${this.length} bytes staged: send the rest (the transfer resumes at offset ${this.received})`);
    if (this.tailLength > 0) {
      this.tail.fill(0xff, this.tailLength);
      this.programAt(this.length - this.tailLength, this.tail);
    }
    if (!this.headerProgrammed) {
      this.flash.program(0, this.firstSector);
      this.headerProgrammed = true;
    }
    try {
      return this.check(crypto, otp, check);
    } catch (e) {
      // An image that failed is never left mountable (it has no record, but slot 0 without one is served).
      try {
        this.flash.erase(0);
      } catch {
        /* the erase failing leaves it no worse: the next staging erases it first */
      }
      throw e;
    }
  }

  private check(crypto: Crypto, otp: Otp, check?: (partition: FactoryPartition, flash: FlashPartition) => void): { sha256: Uint8Array; partition: FactoryPartition } {
    // Everything the checks read must lie within the staged bytes, never in what the slot held before.
    const head = new Uint8Array(HEADER_SIZE);
    this.flash.read(0, head);
    let header: FactoryHeader | null = null;
    try {
      header = decodeHeader(head, this.flash.size);
    } catch {
      header = null; // mount says what is wrong with it
    }
    if (header && header.trailerOffset + TRAILER_SIZE > this.length) {
      throw new FactoryWriteError('incomplete', `${this.length} bytes were sent but the image's header puts its trailer at ${header.trailerOffset}: send the whole image`);
    }
    if (header && this.length > header.perDockOffset + header.perDockCapacity) {
      throw new FactoryWriteError('too-large', `the image runs ${this.length - header.perDockOffset - header.perDockCapacity} bytes past its per-dock region`);
    }
    const digest = crypto.sha256Flash(this.flash, 0, this.length);
    if (!equalBytes(digest, this.sha256)) throw new FactoryWriteError('mismatch', 'the bytes on flash are not the bytes announced (their SHA-256 differs): the image was damaged in transfer; send it again');
    let partition: FactoryPartition;
    try {
      partition = FactoryPartition.mount(this.flash, crypto, otp);
    } catch (e) {
      if (e instanceof FactoryVerificationError) throw new FactoryWriteError('untrusted', `the staged image was not committed: ${e.message}`);
      throw e;
    }
    // Whatever else the caller needs proven (this dock's per-dock section) before a commit.
    check?.(partition, this.flash);
    const sector = this.flash.sectorSize;
    const h = partition.header;
    const from = Math.max(this.erasedSectors, Math.floor(h.perDockOffset / sector));
    const to = Math.min(Math.ceil((h.perDockOffset + h.perDockCapacity) / sector), slotRecordOffset(this.flash) / sector);
    for (let s = from; s < to; s++) this.flash.erase(s);
    this.erasedSectors = Math.max(this.erasedSectors, to);
    this.verifiedDigest = digest;
    return { sha256: digest, partition };
  }

  private staged = false;

  /** One program: from here on the new image is the factory image. Returns its generation. */
  commit(): number {
    assertFactoryMode(this.otp);
    if (!this.verifiedDigest) throw new FactoryWriteError('not-verified', 'verify the staged image before committing it');
    // Already recorded on approval (an image-group upload): the confirm mark is the one program that commits it.
    if (this.staged) programMark(this.flash, MARK_CONFIRM);
    else this.flash.program(slotRecordOffset(this.flash), encodeSlotRecord({ generation: this.generation, mode: MODE_PERMANENT, imageLength: this.length, sha256: this.verifiedDigest }, this.flash.programUnit));
    return this.generation;
  }

  /**
   * Record the verified image on approval (MCUboot's "uploaded, not pending"):
   * it is listed with its hash, and boots only after a test or confirm mark.
   */
  stage(): number {
    assertFactoryMode(this.otp);
    if (!this.verifiedDigest) throw new FactoryWriteError('not-verified', 'verify the staged image before recording it');
    if (!this.staged) this.flash.program(slotRecordOffset(this.flash), encodeSlotRecord({ generation: this.generation, mode: MODE_ON_APPROVAL, imageLength: this.length, sha256: this.verifiedDigest }, this.flash.programUnit));
    this.staged = true;
    return this.generation;
  }
}

/**
 * Write a slot's record again, on approval, with a new generation (to test
 * or confirm an image that was reverted or superseded). Erase then one
 * program: a cut in between leaves the slot without a record (never served),
 * the served slot untouched.
 */
export function rerecordSlot(flash: FlashPartition, otp: Otp, generation: number, imageLength: number, sha256: Uint8Array): void {
  assertFactoryMode(otp);
  const at = slotRecordOffset(flash);
  flash.erase(at / flash.sectorSize);
  flash.program(at, encodeSlotRecord({ generation, mode: MODE_ON_APPROVAL, imageLength, sha256 }, flash.programUnit));
}
