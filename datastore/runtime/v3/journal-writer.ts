// Format v3: the journal, the chain of sectors that takes the application's
// records (DESIGN.md §1.2). Each journal sector's header names the sector the
// next open will use, erased (completed) before the header is programmed, so
// a mount walks the chain from the anchor without ever reading a sector that
// was not named to it (rule N). Records never cross sectors here: a record
// that does not fit the head opens the next sector (values that large live
// in whole sectors, sector-value.ts). New bytes collect in a one-sector
// buffer and are programmed at a commit, padded to the program unit.

import { FlashError, type FlashPartition } from '../../../hal/flash.ts';
import { NONE, RecordKind } from '../format.ts';
import { StoreError } from '../errors.ts';
import type { CycleLog } from '../index-cycle.ts';
import { encodeJournalHeader, JOURNAL_HEADER_SIZE } from './format-v3.ts';

export interface JournalResume {
  /** The head found at mount (never appended to again: rule E). */
  head: number;
  seq: number;
  /** The erased sector the head's header names; the first open erases it again unless `nextTrusted`. */
  next: number;
  /** The token trick showed no session programmed anything since the clean unmount: `next` is as that session left it. */
  nextTrusted?: boolean;
}

export class JournalWriter implements CycleLog {
  readonly flash: FlashPartition;
  readonly unit: number;
  readonly sectorSize: number;
  readonly payloadSize: number;

  head = -1;
  headSeq = 0;
  /** The sector the head's header names as next: erased, reserved, never anything else. */
  next = -1;
  /** May records be appended to the head (false after a mount, until the first open). */
  private headOpen = false;
  /** This writer opened the head: every program in the sector before it completed. */
  private headOpenedHere = false;
  private wasted = 0;
  /** The first open after a mount erases `next` again: a cut may have marked its units. */
  private nextNeedsErase = false;
  private readonly buf: Uint8Array;
  private progPos = 0;
  private bufPos = 0;

  /** Durable point the next header names (CHECKPOINT record or a cycle's first slice), and the one before. */
  durable = NONE;
  fallback = NONE;
  /** Offset of the newest WEAR record on flash, named by the next header (NONE: none). */
  wear = NONE;
  /** Called after each erase completed (the store counts erases). */
  onErase: ((sector: number) => void) | null = null;
  /** Called before each program and erase (the store erases its token first: DESIGN.md §4). */
  beforeWrite: (() => void) | null = null;
  /** Why a program or erase failed (the journal stops), or null. */
  failed: string | null = null;

  /** Takes an erased sector for the next header to name (the store's allocator; erases it). */
  takeSector: () => number = () => {
    throw new StoreError('flash-failure', 'internal: no sector source');
  };
  /** Called at a commit point with `room` bytes to the unit's end (a slice may go there). */
  beforePad: ((room: number) => void) | null = null;
  onCommitted: (() => void) | null = null;
  /** Called after a sector joined the chain (its header is in the buffer). */
  onOpened: ((sector: number, wasted: number) => void) | null = null;
  eraseOps = 0;
  programOps = 0;
  /** Commits that programmed something. */
  commits = 0;

  constructor(flash: FlashPartition) {
    this.flash = flash;
    this.unit = flash.programUnit;
    this.sectorSize = flash.sectorSize;
    this.payloadSize = flash.sectorSize - JOURNAL_HEADER_SIZE;
    this.buf = new Uint8Array(flash.sectorSize);
  }

  /** CycleLog: a completed cycle becomes the durable point. */
  get latestCheckpoint(): number {
    return this.durable;
  }
  set latestCheckpoint(offset: number) {
    this.setDurable(offset);
  }

  setDurable(offset: number): void {
    if (offset === this.durable) return;
    this.fallback = this.durable;
    this.durable = offset;
  }

  /** A fresh journal: `first` and `next` erased by the caller; the header goes out with the first commit. */
  startFresh(first: number, next: number): void {
    this.head = -1;
    this.next = first;
    this.headSeq = 0;
    this.nextNeedsErase = false;
    this.headOpenedHere = false;
    this.openAt(first, next, 1);
  }

  resume(r: JournalResume): void {
    this.head = r.head;
    this.headSeq = r.seq;
    this.next = r.next;
    this.headOpen = false;
    this.headOpenedHere = false;
    this.nextNeedsErase = r.nextTrusted !== true;
    this.progPos = this.bufPos = 0;
  }

  /**
   * Make sure the head can take `recordBytes` more (records appended back to
   * back, then padded to the unit) and still keep `endBytes` at its end (a
   * CLOSE): open the next sector now if not. After it, those appends and
   * putAtEnd erase nothing.
   */
  reserve(recordBytes: number, endBytes: number): void {
    this.checkUsable();
    const fits = (pos: number) => Math.ceil((pos + recordBytes) / this.unit) * this.unit + endBytes <= this.sectorSize;
    if (this.headOpen && fits(this.bufPos)) return;
    if (!fits(JOURNAL_HEADER_SIZE)) throw new StoreError('flash-failure', `internal: ${recordBytes} + ${endBytes} bytes do not fit a journal sector`);
    this.openNext();
  }

  /** Bytes a record can still take in the head without an open. */
  get room(): number {
    return this.headOpen ? this.sectorSize - this.bufPos : 0;
  }

  get pendingBytes(): number {
    return this.bufPos - this.progPos;
  }

  /** Partition offset the next appended byte goes to. */
  get endOffset(): number {
    return this.head * this.sectorSize + this.bufPos;
  }

  /** Read bytes at a partition offset, the head's pending (unprogrammed) bytes from the buffer. */
  read(offset: number, into: Uint8Array): void {
    this.flash.read(offset, into);
    if (!this.headOpen || this.bufPos === this.progPos) return;
    const from = this.head * this.sectorSize + this.progPos;
    const to = this.head * this.sectorSize + this.bufPos;
    const a = Math.max(offset, from);
    const b = Math.min(offset + into.length, to);
    if (a < b) into.set(this.buf.subarray(a - this.head * this.sectorSize, b - this.head * this.sectorSize), a - offset);
  }

  /** Make room for a record of `size` bytes (opening the next sector if need be); its partition offset. */
  beginRecord(size: number): number {
    if (size > this.payloadSize) throw new StoreError('flash-failure', `internal: a ${size}-byte record does not fit a journal sector`);
    this.checkUsable();
    if (!this.headOpen || this.bufPos + size > this.sectorSize) this.openNext();
    return this.endOffset;
  }

  put(bytes: Uint8Array, start = 0, length = bytes.length - start): void {
    if (this.bufPos + length > this.sectorSize) throw new StoreError('flash-failure', 'internal: record overran its journal sector');
    this.buf.set(bytes.subarray(start, start + length), this.bufPos);
    this.bufPos += length;
  }

  /**
   * Program everything pending, padded to the unit (a commit point). The
   * padding may take a slice (beforePad), except when the commit is the
   * head's last before an open that a record in the making asked for: that
   * record's writer (a slice among them) has already decided what it writes.
   */
  commit(fillPadding = true): void {
    if (!this.headOpen || this.bufPos === this.progPos) return;
    this.checkUsable();
    const unitEnd = Math.min(this.sectorSize, Math.ceil(this.bufPos / this.unit) * this.unit);
    if (fillPadding && unitEnd > this.bufPos && this.beforePad) this.beforePad(unitEnd - this.bufPos);
    if (this.bufPos < unitEnd) this.buf[this.bufPos] = RecordKind.Pad;
    const end = Math.min(this.sectorSize, Math.ceil(this.bufPos / this.unit) * this.unit);
    this.program(this.head * this.sectorSize + this.progPos, this.buf.subarray(this.progPos, end));
    this.progPos = this.bufPos = end;
    this.commits++;
    this.onCommitted?.();
  }

  /** Close the head for good (its remaining units stay erased and are never programmed). */
  closeHead(): void {
    this.commit();
    this.headOpen = false;
  }

  /**
   * Program a record into the head's last units (a CLOSE, DESIGN.md §4): after
   * everything pending, with the units between left erased. Opens a sector
   * first if the head has no room.
   */
  putAtEnd(record: Uint8Array): void {
    const span = Math.ceil(record.length / this.unit) * this.unit;
    if (!this.headOpen || this.sectorSize - Math.ceil(this.bufPos / this.unit) * this.unit < span) {
      this.beginRecord(span);
    }
    this.commit();
    const at = this.sectorSize - span;
    const unitBuf = new Uint8Array(span).fill(0xff);
    unitBuf.set(record);
    this.program(this.head * this.sectorSize + at, unitBuf);
    this.headOpen = false;
  }

  /** Open `next` as the head (erasing it again first after a mount). */
  openNext(): void {
    this.checkUsable();
    if (this.headOpen) this.commit(false);
    // The unused end of the head: journal the window spends without a record in it (after a mount, all of it
    // as far as this writer knows: the head it found is never appended to).
    this.wasted = this.headOpen ? this.sectorSize - this.progPos : this.payloadSize;
    const target = this.next;
    if (this.nextNeedsErase) {
      this.erase(target);
      this.nextNeedsErase = false;
    }
    const after = this.takeSector();
    this.openAt(target, after, (this.headSeq + 1) >>> 0);
  }

  private openAt(target: number, after: number, seq: number): void {
    const follows = this.headOpenedHere;
    this.buf.fill(0xff);
    encodeJournalHeader(
      { seq, carry: 0, next: after, durable: this.durable, fallback: this.fallback, wear: this.wear, follows },
      this.buf,
      0,
    );
    this.head = target;
    this.headSeq = seq;
    this.next = after;
    this.progPos = 0;
    this.bufPos = JOURNAL_HEADER_SIZE;
    this.headOpen = true;
    this.headOpenedHere = true;
    this.onOpened?.(target, this.wasted);
    this.wasted = 0;
  }

  private checkUsable(): void {
    if (this.failed) throw new StoreError('flash-failure', `the runtime partition stopped taking writes after a flash failure (${this.failed}); remount it`);
  }

  /** Every program and erase of the store goes through here (value and pack sectors too), so after a failure none does. */
  program(offset: number, data: Uint8Array): void {
    this.checkUsable();
    this.beforeWrite?.();
    try {
      this.programOps++;
      this.flash.program(offset, data);
    } catch (e) {
      throw this.stop(e);
    }
  }

  erase(sector: number): void {
    this.checkUsable();
    this.beforeWrite?.();
    try {
      this.eraseOps++;
      this.flash.erase(sector);
    } catch (e) {
      throw this.stop(e);
    }
    this.onErase?.(sector);
  }

  /**
   * A failed program or erase stops the writer: retrying could program a unit
   * twice, or make durable a write the caller was told had failed. The next
   * mount finds what reached flash. A power loss stays what it is.
   */
  private stop(e: unknown): unknown {
    this.failed = e instanceof FlashError ? `${e.code} at ${e.at}` : String(e);
    if (!(e instanceof FlashError) || e.code === 'power-loss') return e;
    return new StoreError('flash-failure', `the flash failed: ${e.message}; nothing was written after it. Mount the store again: recovery finds what reached flash.`);
  }
}
