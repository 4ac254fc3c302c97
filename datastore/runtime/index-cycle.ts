// The rolling index snapshot (FORMAT.md §5.2): the writer's side. A cycle of
// INDEX records lists every index entry, one hash range after another, so a
// mount after a power cut replays only from the start of the newest complete
// cycle instead of from the last full checkpoint. Slices go where a commit
// would otherwise write PAD up to the program unit's end, which costs nothing
// (the unit is programmed either way); when padding does not keep up with the
// log, a slice is written on its own ("forced"), so a cycle always completes
// within the budget of log bytes and replay stays bounded whatever the
// workload.

import {
  CHECKPOINT_ENTRY_SIZE,
  encodeCheckpointEntry,
  encodeIndexHead,
  encodeRecordHeader,
  HASH_SPACE,
  indexSliceSize,
  LARGE_VALUE,
  NONE,
  RECORD_HEADER_SIZE,
  RECORD_TRAILER_SIZE,
  RecordKind,
  recordSize,
  trailerCrc,
} from './format.ts';
import { crc32 } from '../../bytes/crc32.ts';
import { writeU32LE } from '../../bytes/byte-order.ts';
import type { KeyIndex } from './key-index.ts';

/** The log a cycle writes its slices into: v2's RecordLog, or v3's journal. */
export interface CycleLog {
  readonly sectorSize: number;
  /** Partition offset where a record of `size` bytes begins (the log makes room for it). */
  beginRecord(size: number): number;
  put(bytes: Uint8Array, start?: number, length?: number): void;
  /** Set when a cycle's last slice is on flash: the durable point the next headers name. */
  latestCheckpoint: number;
}

/** What a slice records besides the entries: the store's state when it is written. */
export interface CycleSource {
  index(): KeyIndex;
  totals(): { liveBytes: number; exact: boolean; largestRecord: number };
  retired(): number[];
  now(): number;
  /** Bytes of log within which a cycle must cover the hash space. */
  budget(): number;
}

const OVERHEAD = RECORD_HEADER_SIZE + RECORD_TRAILER_SIZE;

export class IndexCycle {
  private readonly log: CycleLog;
  private readonly source: CycleSource;
  /** Partition offset of the current cycle's first slice, or NONE before it. */
  private start = NONE;
  /** Hash where the next slice's range begins. */
  private next = 0;
  /**
   * Bytes of log written for the application since the current cycle began
   * counting (the previous one completed, or a reset): records of set and
   * delete, the bodies of values of LARGE_VALUE bytes or more left out (a
   * mount does not reread them), and forced slices. GC's copies are not counted: at high fill
   * they are many times the application's writes, and pacing slices by them
   * would feed GC more garbage than it frees.
   */
  private spent = 0;
  /**
   * Bytes of small records GC copied since the cycle began counting. A mount
   * replays those too; where they outweigh the application's writes (a
   * partition more than about half full) no budget of forced slices bounds
   * replay, and forcing them would only add garbage for GC to move.
   */
  private copied = 0;
  /** A cycle completed by a slice not yet programmed: published by committed(). */
  private completed = NONE;
  /** Slices written (for tests and benches): [in padding, on their own]. */
  readonly written = { natural: 0, forced: 0 };
  private readonly hdr = new Uint8Array(RECORD_HEADER_SIZE);
  private readonly chunk = new Uint8Array(512);
  private readonly trailer = new Uint8Array(4);

  constructor(log: CycleLog, source: CycleSource) {
    this.log = log;
    this.source = source;
  }

  /** Abandon the cycle in progress (a full checkpoint was written, or GC passed its start). */
  reset(): void {
    this.start = NONE;
    this.next = 0;
    this.completed = NONE;
    this.spent = 0;
    this.copied = 0;
  }

  /**
   * Carry on a cycle a mount found under way (its slices up to `next` on
   * flash and replayed): the next slice continues its range, so sessions cut
   * short still complete cycles between them.
   */
  resume(start: number, next: number): void {
    this.start = start;
    this.next = next;
    this.completed = NONE;
    this.spent = 0;
    this.copied = 0;
  }

  /** Count a record GC copied (a large value's body is not reread by a mount: not counted). */
  chargeCopy(size: number, valueLength: number): void {
    if (valueLength < LARGE_VALUE) this.copied += size;
  }

  /** Count `bytes` of log against the current cycle's budget. */
  charge(bytes: number): void {
    this.spent += bytes;
  }

  /** Count a record the application wrote: its size, less the body of a large value. */
  chargeRecord(size: number, valueLength: number): void {
    this.spent += valueLength >= LARGE_VALUE ? size - valueLength : size;
  }

  /** The current cycle's first slice lies in `sector` (GC is about to free it). */
  startsIn(sector: number): boolean {
    return this.start !== NONE && Math.floor(this.start / this.log.sectorSize) === sector;
  }

  /**
   * log.beforePad: use the padding of a commit for the next slice, if one
   * fits and the cycle is not already well ahead (twice the pace `due` asks
   * for): a slice costs no flash but some CPU, which a small engine feels.
   */
  fillPadding(room: number): void {
    const ahead = Math.min(1, (2 * this.spent) / this.source.budget());
    if (this.next >= this.source.index().alignUp(Math.floor(ahead * HASH_SPACE)) && this.spent > 0) return;
    const retired = this.next === 0 ? this.source.retired() : [];
    const max = Math.floor((room - OVERHEAD - indexSliceSize(0, retired.length)) / CHECKPOINT_ENTRY_SIZE);
    if (max < 0) return;
    const { end, entries } = this.source.index().rangeFrom(this.next, max);
    if (end === this.next) return;
    this.write(end, entries, retired);
    this.written.natural++;
  }

  /**
   * How far the cycle must have got by now: it covers the hash space within
   * `budget` bytes of log, pro rata. Slices in padding usually keep ahead;
   * when they do not, the cycle is brought up to date an eighth at a time
   * (a slice per commit would cost a program unit each). Returns the hash
   * the next forced slices must reach, or -1.
   */
  due(budget = this.source.budget()): number {
    const used = this.spent;
    if (4 * this.copied > used) return -1;
    if (used >= budget) return this.next < HASH_SPACE ? HASH_SPACE : -1;
    const target = this.source.index().alignUp(Math.floor((used / budget) * HASH_SPACE));
    return target - this.next >= HASH_SPACE / 8 ? target : -1;
  }

  /** Hash where the next slice's range begins. */
  get position(): number {
    return this.next;
  }

  /**
   * The hash the cycle should have reached by now (the pace of `due` without
   * its eighth-of-a-cycle granularity), or -1 if the cycle has nothing to
   * write. A writer that forces one slice at a time keeps to it this way.
   */
  paceTarget(budget = this.source.budget(), within = 1): number {
    if (this.spent >= budget) return this.next < HASH_SPACE ? HASH_SPACE : -1;
    // `within` < 1 paces the cycle over the budget's last part only: the cycle then completes as late as it
    // may, and a durable point (its first slice) lies close to the one after it, so the window a mount
    // replays (and pins) is shorter.
    const begin = budget * (1 - within);
    if (this.spent <= begin) return -1;
    const target = this.source.index().alignUp(Math.floor(((this.spent - begin) / (budget - begin)) * HASH_SPACE));
    return target > this.next ? target : -1;
  }

  /** Bytes of log the forced slices up to `target` take at most (for making room first). */
  forcedBytes(target: number, maxEntries: number): number {
    const index = this.source.index();
    let bytes = 0;
    let at = this.next;
    while (at < target) {
      const r = this.nextRange(index, at, maxEntries, target);
      bytes += recordSize(0, indexSliceSize(r.entries, at === 0 ? this.source.retired().length : 0));
      at = r.end;
    }
    return bytes;
  }

  /** Write slices on their own until the cycle reaches `target`, each of at most `maxEntries` entries. */
  writeForced(target: number, maxEntries: number, chargeSlices = true): void {
    const index = this.source.index();
    while (this.next < target) {
      const r = this.nextRange(index, this.next, maxEntries, target);
      const retired = this.next === 0 ? this.source.retired() : [];
      this.write(r.end, r.entries, retired);
      this.written.forced++;
      if (r.end === HASH_SPACE) return; // complete: the next cycle starts counting now
      // A mount replays forced slices too: they count against the budget (v2; format v3 counts them apart,
      // DESIGN.md §5.2, and sizes its pinned window for the budget plus a cycle of slices).
      if (chargeSlices) this.spent += recordSize(0, indexSliceSize(r.entries, retired.length));
    }
  }

  /** log.onCommitted: a cycle whose last slice is now on flash becomes what sector headers name. */
  committed(): void {
    if (this.completed === NONE) return;
    this.log.latestCheckpoint = this.completed;
    this.completed = NONE;
  }

  private nextRange(index: KeyIndex, at: number, maxEntries: number, target: number): { end: number; entries: number } {
    const r = index.rangeFrom(at, maxEntries, target);
    // Keys sharing one home slot are never split: take them all if they alone exceed the limit.
    return r.end > at ? r : index.rangeFrom(at, Infinity, index.alignUp(at + 1));
  }

  private write(end: number, entries: number, retired: number[]): void {
    const log = this.log;
    const valueLength = indexSliceSize(entries, retired.length);
    const at = log.beginRecord(recordSize(0, valueLength));
    if (this.start === NONE) this.start = at;
    const hdr = this.hdr;
    encodeRecordHeader({ kind: RecordKind.Index, keyLength: 0, encoding: 0, valueLength, writtenAt: this.source.now() }, hdr);
    log.put(hdr);
    const totals = this.source.totals();
    const head = encodeIndexHead({ cycleStart: this.start, rangeStart: this.next, rangeEnd: end, ...totals }, retired);
    log.put(head);
    let crc = crc32(head);
    const chunk = this.chunk;
    let n = 0;
    let left = entries;
    this.source.index().walkFrom(this.next, (hash, offset) => {
      if (left === 0 || hash >= end) return false;
      encodeCheckpointEntry(hash, offset, chunk, n);
      n += CHECKPOINT_ENTRY_SIZE;
      left--;
      if (n === chunk.length) {
        crc = crc32(chunk, crc);
        log.put(chunk);
        n = 0;
      }
      return true;
    });
    crc = crc32(chunk, crc, 0, n);
    log.put(chunk, 0, n);
    const trailer = this.trailer;
    writeU32LE(trailer, 0, trailerCrc(crc));
    log.put(trailer);
    this.next = end;
    if (end === HASH_SPACE) {
      this.completed = this.start;
      this.start = NONE;
      this.next = 0;
      this.spent = 0;
      this.copied = 0;
    }
  }
}
