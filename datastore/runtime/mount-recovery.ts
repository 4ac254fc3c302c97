// Mount: find the newest sector, load the checkpoint it names, replay the
// records written after it, decide where the log ends after a power cut, and
// recover the progress of a GC the cut interrupted. FORMAT.md §6 gives the
// rules; this module is their one implementation. The result is handed to the
// store, which takes over the index and the log positioned here.

import {
  CLOSE_RECORD_SIZE,
  closeSpan,
  decodeCloseRecord,
  type CloseRecord,
  CHECKPOINT_ENTRY_SIZE,
  CHECKPOINT_FIXED_SIZE,
  CHECKPOINT_PAYLOAD_VERSION,
  checkpointEntryHash,
  checkpointEntryOffset,
  checkpointRetiredAt,
  checkpointSize,
  decodeCheckpointFixed,
  decodeIndexSlice,
  afterPad,
  HASH_SPACE,
  indexSliceEntries,
  INDEX_FIXED_SIZE,
  LARGE_VALUE,
  type IndexSlice,
  decodeRecordHeader,
  NONE,
  RECORD_HEADER_SIZE,
  RECORD_TRAILER_SIZE,
  RecordKind,
  recordSize,
  SECTOR_HEADER_SIZE,
  trailerCrc,
  type RecordHeader,
  keyIntact,
  UNREAD_MIN,
} from './format.ts';
import { crc32 } from '../../bytes/crc32.ts';
import { readU32LE } from '../../bytes/byte-order.ts';
import { KeyIndex } from './key-index.ts';
import { keyHash } from './key-text.ts';
import type { RecordLog } from './record-log.ts';
import type { RecordReader } from './record-reader.ts';
import { ReplayCursor } from './replay-cursor.ts';
import type { SectorRing } from './sector-ring.ts';
import { NotFormattedError } from './errors.ts';

const CHUNK = 512;
/** INDEX records larger than this are not read as slices (the writer makes them about a sector). */
const MAX_SLICE_BYTES = 64 * 1024;

/** The index cycle a mount replays from (FORMAT.md §5.2), or a later one it watches complete. */
interface CycleState {
  start: number;
  /** Hash where the next slice must begin; HASH_SPACE once complete. */
  next: number;
}

export class MountRecovery {
  private readonly ring: SectorRing;
  private readonly log: RecordLog;
  private readonly reader: RecordReader;
  private readonly scratch = new Uint8Array(CHUNK);
  private readonly hdr = new Uint8Array(RECORD_HEADER_SIZE);

  // What the store takes over after run().
  index = new KeyIndex();
  liveBytes = 0;
  /** False when checkpoint entries were dropped: liveBytes over-counts until a recount. */
  liveBytesExact = true;
  largestRecord = 0;
  corruptSkipped = 0;
  /** The last record replayRecord found failing its data CRC (header valid), for applyDamagedDelete. */
  private lastBad: { h: RecordHeader; key: Uint8Array; start: number } | null = null;
  /** A checkpoint was loaded and the head held nothing after its header (a clean unmount). */
  cleanMount = true;
  /** Partition offset where the first record of the tail sector starts. */
  tailPos = 0;
  /** Records applied after the checkpoint. */
  replayed = 0;
  /** Log bytes from the durable point the mount started from to the end of the log (about). */
  replayedLogBytes = 0;
  /** Partition offset of the newest full CHECKPOINT record known, or NONE. */
  lastFullCheckpoint = NONE;
  /** Replaying from an index cycle: records whose hash is at or past `next` are skipped (their slice comes later). */
  private cycle: CycleState | null = null;
  /** The cycle did not check out (a slice missing or damaged): replay from the tail instead. */
  private cycleBroken = false;
  /** A later cycle seen starting during replay; named after mount once complete. */
  private later: CycleState | null = null;
  /** Checkpoint or slice entries were dropped as stale: liveBytes may over-count. */
  private staleDropped = false;
  /** Start of a later cycle whose last slice replay just met. */
  private laterComplete = NONE;
  /** The last answer of nextSectorFollows: records of one sector ask it in turn. */
  private followsAsked = { sector: -1, seq: 0, answer: false };
  private headTail = 0;
  /** The head found held nothing but its header (see previousHead), or NONE. */
  private uselessHead = NONE;
  /** Mounting from the sector before a useless head: its CLOSE record (if any) is stale. */
  private givenBack = false;

  constructor(ring: SectorRing, log: RecordLog, reader: RecordReader) {
    this.ring = ring;
    this.log = log;
    this.reader = reader;
  }

  /** Find the head, load the index and position the log; throws NotFormattedError if there is no store. */
  run(): void {
    const ring = this.ring;
    let head = ring.findHead();
    if (!head) throw new NotFormattedError('no valid sector header');
    // A head that will turn out useless is given back without replaying the log twice
    // (once to find it useless, once from the sector before): test the head sector alone.
    if (this.headLooksUseless(head.sector)) {
      const prev = this.previousHead(head.sector);
      if (prev >= 0) {
        this.uselessHead = head.sector;
        this.givenBack = true;
        if (this.recoverFrom(prev)) return;
        this.uselessHead = NONE;
        this.givenBack = false;
      }
    }
    if (!this.recoverFrom(head.sector)) {
      // The fast search may have been misled by damaged headers: take the certain way.
      head = ring.scanHead();
      if (!head || !this.recoverFrom(head.sector)) throw new NotFormattedError('the newest sector names no readable tail');
    }
    if (this.uselessHead !== NONE) {
      const prev = this.previousHead(this.uselessHead);
      // A session wrote after that sector's CLOSE (if it has one): it vouches for nothing now.
      this.givenBack = prev >= 0;
      if (prev >= 0 && !this.recoverFrom(prev)) {
        this.givenBack = false;
        this.recoverFrom(this.uselessHead);
      }
    }
  }

  /**
   * Whether nothing after the head's header would count (the rule recoverFrom
   * applies after a whole replay: no CLOSE record, no carry, not a format's
   * first sector, and the replay ends where the head's payload starts). Only
   * the first thing in the payload is read: erased (or the CLOSE kind), or a
   * first record that replay would end the log at. Anything else is left to
   * the whole replay.
   */
  private headLooksUseless(headSector: number): boolean {
    const ring = this.ring;
    const hs = ring.readHeader(headSector);
    if (hs.kind !== 'valid') return false;
    const h = hs.header;
    if (h.carry !== 0 || h.tailSector === headSector || h.tailSector >= ring.sectorCount) return false;
    const start = ring.payloadStart(headSector);
    const one = new Uint8Array(1);
    ring.flash.read(start, one);
    if (one[0] === RecordKind.Erased || one[0] === RecordKind.Close) return this.readClose(headSector, h.carry) === null;
    if (one[0] === RecordKind.Pad) return false;
    this.index.clear();
    const cursor = new ReplayCursor(ring, headSector, headSector, h, start);
    const ok = this.replayRecord(cursor);
    const useless = ok === 'bad-header' || (ok === 'bad-data' && !this.validRecordAt(cursor));
    this.index.clear();
    return useless && this.readClose(headSector, h.carry) === null;
  }

  /**
   * A head whose header is all that counts in it (its first program was torn:
   * FORMAT.md §6.6) is given back: mount from the sector before it, so the next
   * open erases and reuses it instead of abandoning it. Otherwise repeated cuts
   * at the first program of a session would each cost a sector and could
   * exhaust the free ones. Allowed only when that sector's state is still whole:
   * it is the head's predecessor (seq - 1) inside the head's log, and every
   * sector from its tail up to the head's tail still holds its old header (no
   * erase relied on the head's newer tail).
   */
  private previousHead(head: number): number {
    const ring = this.ring;
    const n = ring.sectorCount;
    const h = ring.readHeader(head);
    if (h.kind !== 'valid') return -1;
    let p = head;
    for (let i = 0; i < n; i++) {
      p = p === 0 ? n - 1 : p - 1;
      if (!ring.retired[p]) break;
    }
    const ph = ring.readHeader(p);
    if (ph.kind !== 'valid' || ph.header.seq !== ((h.header.seq - 1) >>> 0)) return -1;
    const tail = h.header.tailSector;
    const from = ph.header.tailSector;
    if (tail >= n || from >= n) return -1;
    const dist = (a: number, b: number) => (b - a + n) % n;
    // The predecessor lies in the head's log, and its tail at or before the head's tail.
    if (dist(tail, p) >= dist(tail, head) || dist(from, tail) > dist(from, p)) return -1;
    for (let s = from; s !== tail; s = (s + 1) % n) {
      if (ring.retired[s]) continue;
      const sh = ring.readHeader(s);
      if (sh.kind !== 'valid' || ((sh.header.seq - ph.header.seq) | 0) > 0) return -1;
    }
    return p;
  }

  private recoverFrom(headSector: number, useDurable = true): boolean {
    const ring = this.ring;
    const hs = ring.readHeader(headSector);
    if (hs.kind !== 'valid') return false;
    const head = hs.header;
    this.index.clear();
    this.liveBytes = 0;
    this.liveBytesExact = true;
    this.largestRecord = 0;
    this.corruptSkipped = 0;
    this.cycle = null;
    this.cycleBroken = false;
    this.later = null;
    this.staleDropped = false;
    this.headTail = head.tailSector;
    this.lastFullCheckpoint = NONE;

    let cursor: ReplayCursor | null = null;
    let checkpoint = NONE;
    // A clean unmount left a CLOSE record at the end of the head: the checkpoint it names.
    const close = useDurable ? this.readClose(headSector, head.carry) : null;
    if (close && close.checkpoint !== NONE && head.tailSector < ring.sectorCount) {
      cursor = this.loadCheckpoint(headSector, head.tailSector, close.checkpoint);
      if (cursor) checkpoint = close.checkpoint;
    }
    let closed = cursor !== null;
    if (!cursor && useDurable && head.checkpoint !== NONE && head.tailSector < ring.sectorCount) {
      // The head's header names a full checkpoint or the first slice of a complete index cycle.
      cursor = this.cycleAt(headSector, head.checkpoint) ?? this.loadCheckpoint(headSector, head.tailSector, head.checkpoint);
      if (cursor) checkpoint = head.checkpoint;
    }
    if (checkpoint !== NONE && this.cycle === null) this.lastFullCheckpoint = checkpoint;
    if (!cursor) {
      this.index.clear();
      this.liveBytes = 0;
      this.largestRecord = 0;
      if (head.tailSector >= ring.sectorCount) return false;
      const ts = ring.readHeader(head.tailSector);
      if (ts.kind !== 'valid') return false;
      cursor = new ReplayCursor(ring, headSector, head.tailSector, ts.header, ring.payloadStart(head.tailSector) + ts.header.carry);
      this.cleanMount = false;
    }
    const startPos = cursor.pos;
    const end = this.replay(cursor);
    // The named cycle must complete, slice after slice, before the log ends; else take the slow way.
    const replayedCycle = this.cycle as CycleState | null;
    if (replayedCycle && (this.cycleBroken || replayedCycle.next !== HASH_SPACE)) return this.recoverFrom(headSector, false);
    if (cursor.sector !== headSector) return false;
    this.replayedLogBytes = this.logDistance(startPos, end.pos);
    // Nothing after the header counted, the head does not continue a record and it is not a
    // format's first sector (whose tail is itself): see previousHead.
    this.uselessHead =
      close === null && head.carry === 0 && end.pos === ring.payloadStart(headSector) && head.tailSector !== headSector && this.uselessHead === NONE
        ? headSector
        : NONE;

    const log = this.log;
    const tail = ring.readHeader(head.tailSector);
    log.restoreHead({
      sector: headSector,
      seq: head.seq,
      eraseCount: head.eraseCount,
      fresh: head.fresh,
      // Never append to the head found at mount, even after a clean unmount: a program that a
      // power cut interrupted may have marked units (ECC parts) while leaving them reading 0xFF.
      // The first write opens (and erases) a new sector.
      programmed: ring.sectorSize,
      open: false,
    });
    if (!end.clean || this.givenBack) closed = false;
    this.cleanMount = closed;
    log.tailSector = head.tailSector;
    log.durableTail = head.tailSector;
    log.latestCheckpoint = end.latestCheckpoint !== NONE ? end.latestCheckpoint : checkpoint;
    if (this.staleDropped) this.liveBytesExact = false;
    log.durableCheckpoint = checkpoint;
    log.trustBlank = false;
    // Only a clean unmount vouches for the sectors it left erased ahead of the head.
    log.restoreAhead(closed ? close!.erasedAhead : 0);
    this.tailPos = ring.payloadStart(head.tailSector) + (tail.kind === 'valid' ? tail.header.carry : 0);
    this.advanceTailPastGarbage(headSector);
    this.replayed = end.replayed;
    return true;
  }

  /**
   * A power cut during GC leaves the copies on flash but the tail where the head's header put
   * it: the next open would have recorded the new one. Recover that progress here: move the
   * tail (in RAM; the first sector opened records it) to the first sector holding a live
   * record or the newest complete checkpoint. Sectors skipped hold only records that newer
   * ones replace (or deletes of keys with no older record after them), so a mount never
   * needs them. Only when the first open cannot be the old tail: until a header names the
   * new tail, a mount still relies on the old one, and nothing before it is erased.
   */
  private advanceTailPastGarbage(headSector: number): void {
    const log = this.log;
    const ring = this.ring;
    const t0 = log.tailSector;
    if (ring.between(headSector, t0) < 1) return;
    const n = ring.sectorCount;
    const distance = (sector: number) => (sector - t0 + n) % n;
    let best = distance(headSector);
    if (log.latestCheckpoint !== NONE) best = Math.min(best, distance(ring.sectorOf(log.latestCheckpoint)));
    this.index.forEach((_hash, offset) => {
      const d = distance(ring.sectorOf(offset));
      if (d < best) best = d;
    });
    if (best === 0) return;
    const sector = (t0 + best) % n;
    const h = ring.readHeader(sector);
    if (h.kind !== 'valid' || ring.retired[sector]) return;
    log.tailSector = sector;
    this.tailPos = ring.payloadStart(sector) + Math.min(h.header.carry, ring.payloadSize);
  }

  /** Log bytes from `from` to `to`, following the ring (retired sectors not counted). */
  private logDistance(from: number, to: number): number {
    const ring = this.ring;
    let bytes = 0;
    let s = ring.sectorOf(from);
    let pos = from;
    for (let i = 0; i < ring.sectorCount && s !== ring.sectorOf(to); i++) {
      bytes += (s + 1) * ring.sectorSize - pos;
      s = ring.next(s);
      pos = ring.payloadStart(s);
    }
    return bytes + Math.max(0, to - pos);
  }

  /**
   * A cursor at the first slice of the index cycle starting at `offset`, if
   * an INDEX record that begins a cycle is there: replay then skips each record
   * whose slice is still to come (FORMAT.md §5.2). Null otherwise.
   */
  private cycleAt(headSector: number, offset: number): ReplayCursor | null {
    const ring = this.ring;
    const sector = ring.sectorOf(offset);
    if (sector >= ring.sectorCount) return null;
    const sh = ring.readHeader(sector);
    if (sh.kind !== 'valid') return null;
    ring.flash.read(offset, this.hdr);
    const h = decodeRecordHeader(this.hdr);
    if (!h || h.kind !== RecordKind.Index) return null;
    this.cycle = { start: offset, next: 0 };
    return new ReplayCursor(ring, headSector, sector, sh.header, offset);
  }

  /**
   * An INDEX record met in replay (its CRC checked). A slice of the cycle the
   * mount started from fills its range of the index and sets the totals; a
   * slice out of order breaks that cycle. After the cycle (or a full
   * checkpoint), slices only refresh the totals, and a later cycle seen whole
   * becomes the one sector headers name after this mount.
   */
  private applySlice(value: Uint8Array, valueLength: number, at: number): 'index' | 'checkpoint' {
    const slice = decodeIndexSlice(value, valueLength);
    const c = this.cycle;
    if (c && c.next !== HASH_SPACE) {
      if (!slice || slice.cycleStart !== c.start || slice.rangeStart !== c.next) {
        this.cycleBroken = true;
        return 'index';
      }
      this.insertSliceEntries(slice, value, valueLength, at);
      this.takeTotals(slice);
      c.next = slice.rangeEnd;
      return 'index';
    }
    if (!slice) return 'index';
    this.takeTotals(slice);
    const l = this.later;
    if (slice.rangeStart === 0 && slice.cycleStart === at) this.later = { start: at, next: slice.rangeEnd };
    else if (l && slice.cycleStart === l.start && slice.rangeStart === l.next) l.next = slice.rangeEnd;
    else this.later = null;
    if (this.later && this.later.next === HASH_SPACE) {
      this.laterComplete = this.later.start;
      this.later = null;
      return 'checkpoint';
    }
    return 'index';
  }

  private takeTotals(slice: IndexSlice): void {
    this.liveBytes = slice.liveBytes;
    this.liveBytesExact = slice.exact;
    this.largestRecord = slice.largestRecord;
  }

  /** Index entries of a slice, keeping only those in sectors from the tail up to the slice's own (as for a checkpoint). */
  private insertSliceEntries(slice: IndexSlice, value: Uint8Array, valueLength: number, at: number): void {
    const ring = this.ring;
    const n = ring.sectorCount;
    const tail = this.headTail;
    const keepSpan = (ring.sectorOf(at) - tail + n) % n;
    const base = INDEX_FIXED_SIZE + 4 * slice.retiredCount;
    for (let i = 0; i < slice.retiredCount; i++) {
      const s = checkpointRetiredAt(value.subarray(INDEX_FIXED_SIZE), i);
      if (s < n) ring.retire(s);
    }
    const count = indexSliceEntries(slice, valueLength);
    for (let i = 0; i < count; i++) {
      const offset = checkpointEntryOffset(value, base + i * CHECKPOINT_ENTRY_SIZE);
      if ((ring.sectorOf(offset) - tail + n) % n > keepSpan) this.staleDropped = true;
      else this.index.insert(checkpointEntryHash(value, base + i * CHECKPOINT_ENTRY_SIZE), offset);
    }
  }

  /** The CLOSE record in the last program units of the head sector, if a clean unmount wrote one. */
  private readClose(headSector: number, carry: number): CloseRecord | null {
    const span = closeSpan(this.log.unit);
    const at = (headSector + 1) * this.ring.sectorSize - span;
    const bytes = new Uint8Array(CLOSE_RECORD_SIZE);
    for (let attempt = 0; attempt < 3; attempt++) {
      this.ring.flash.read(at, bytes);
      if (bytes[0] === RecordKind.Erased) return null;
      const close = decodeCloseRecord(bytes);
      if (close) return this.logEndsBefore(headSector, carry, at) ? close : null;
    }
    return null;
  }

  /**
   * The head's own records, walked by their headers from its first one, end
   * (ERASED) before `at`. Otherwise the bytes there belong to a record: a value
   * that happens to hold a CLOSE record in the last units of a full head is
   * data, never a clean unmount. A genuine CLOSE is programmed after every
   * record before it completed, so each header on the way checks.
   */
  private logEndsBefore(headSector: number, carry: number, at: number): boolean {
    const ring = this.ring;
    const unit = this.log.unit;
    const sectorStart = headSector * ring.sectorSize;
    if (carry >= at - sectorStart - SECTOR_HEADER_SIZE) return false;
    let pos = sectorStart + SECTOR_HEADER_SIZE + carry;
    const one = new Uint8Array(1);
    while (pos < at) {
      ring.flash.read(pos, one);
      if (one[0] === RecordKind.Erased) return true;
      if (one[0] === RecordKind.Pad) {
        pos = afterPad(pos, unit, ring.sectorSize);
        continue;
      }
      if (pos + RECORD_HEADER_SIZE > at) return false;
      ring.flash.read(pos, this.hdr);
      const h = decodeRecordHeader(this.hdr);
      if (!h || h.kind === RecordKind.Close) return false;
      pos += recordSize(h.keyLength, h.valueLength);
    }
    return pos === at;
  }

  /** Load the index from the checkpoint at `offset`; returns a cursor after it, or null if unusable. */
  private loadCheckpoint(headSector: number, tailSector: number, offset: number): ReplayCursor | null {
    const ring = this.ring;
    const sector = ring.sectorOf(offset);
    if (sector >= ring.sectorCount) return null;
    const sh = ring.readHeader(sector);
    if (sh.kind !== 'valid') return null;
    const cursor = new ReplayCursor(ring, headSector, sector, sh.header, offset);
    for (let attempt = 0; attempt < 3; attempt++) {
      cursor.sector = sector;
      cursor.header = sh.header;
      cursor.pos = offset;
      cursor.beginRecord();
      if (!cursor.read(this.hdr)) return null;
      const h = decodeRecordHeader(this.hdr);
      if (!h || h.kind !== RecordKind.Checkpoint || h.valueLength < CHECKPOINT_FIXED_SIZE) continue;
      cursor.recordLeft = h.valueLength + RECORD_TRAILER_SIZE;
      const fixed = new Uint8Array(CHECKPOINT_FIXED_SIZE);
      if (!cursor.read(fixed)) return null;
      const cp = decodeCheckpointFixed(fixed);
      const count = cp.entryCount;
      const retiredCount = cp.retiredCount;
      if (cp.version !== CHECKPOINT_PAYLOAD_VERSION || checkpointSize(count, retiredCount) !== h.valueLength) continue;
      let crc = crc32(fixed);
      // Every entry points at a record written before this checkpoint and still in the log,
      // so in a sector from the tail up to the checkpoint's own. Any other sector has been
      // collected since (its live records were copied forward, where replay finds them) and
      // erased, or is being erased. Drop such entries before replay could mistake them for
      // live records.
      const n = ring.sectorCount;
      const keepSpan = (sector - tailSector + n) % n;
      let stale = 0;
      const retiredBytes = new Uint8Array(4 * retiredCount);
      if (!cursor.read(retiredBytes)) return null;
      crc = crc32(retiredBytes, crc);
      const index = new KeyIndex(count);
      let left = count * CHECKPOINT_ENTRY_SIZE;
      while (left > 0) {
        const chunk = Math.min(left, CHUNK);
        if (!cursor.read(this.scratch, 0, chunk)) return null;
        crc = crc32(this.scratch, crc, 0, chunk);
        for (let i = 0; i < chunk; i += CHECKPOINT_ENTRY_SIZE) {
          const offset = checkpointEntryOffset(this.scratch, i);
          if ((Math.floor(offset / ring.sectorSize) - tailSector + n) % n > keepSpan) stale++;
          else index.insert(checkpointEntryHash(this.scratch, i), offset);
        }
        left -= chunk;
      }
      const trailer = new Uint8Array(4);
      if (!cursor.read(trailer)) return null;
      if (readU32LE(trailer, 0) !== trailerCrc(crc)) continue;
      cursor.endRecord();
      this.index = index;
      this.liveBytes = cp.liveBytes;
      this.largestRecord = cp.largestRecord;
      // The dropped entries' sizes are unknown now (their sectors were rewritten); until a
      // recount, liveBytes over-counts by their copies, which errs towards "full".
      if (stale > 0) this.staleDropped = true;
      for (let i = 0; i < retiredCount; i++) {
        const s = checkpointRetiredAt(retiredBytes, i);
        if (s < ring.sectorCount) ring.retire(s);
      }
      if (!cursor.settle()) cursor.pos = cursor.sectorEnd;
      return cursor;
    }
    return null;
  }

  /**
   * Apply every record from the cursor to the end of the log. In the head
   * sector, the first unreadable record is where power was cut: the log
   * ends there. Elsewhere an unreadable record is corruption: skip it.
   */
  private replay(cursor: ReplayCursor): { pos: number; clean: boolean; latestCheckpoint: number; replayed: number } {
    const ring = this.ring;
    const unit = this.log.flash.programUnit;
    let latestCheckpoint = NONE;
    let replayed = 0;
    const one = new Uint8Array(1);
    for (;;) {
      if (cursor.pos === cursor.sectorEnd && !cursor.settle()) {
        // Stream ended exactly at a sector end: only clean if that sector is the head.
        return { pos: cursor.pos, clean: false, latestCheckpoint, replayed };
      }
      const pos = cursor.pos;
      ring.flash.read(pos, one);
      // ERASED, or the CLOSE record at the end of a sector: nothing more in this sector.
      if (one[0] === RecordKind.Erased || one[0] === RecordKind.Close) {
        if (cursor.inHead) return { pos, clean: true, latestCheckpoint, replayed };
        if (!cursor.skipToNextSector()) return { pos, clean: false, latestCheckpoint, replayed };
        continue;
      }
      if (one[0] === RecordKind.Pad) {
        cursor.pos = afterPad(pos, unit, ring.sectorSize);
        continue;
      }
      const startSector = cursor.sector;
      const startHeader = cursor.header;
      const ok = this.replayRecord(cursor);
      if (ok === 'applied' || ok === 'index') { if (ok === 'applied') replayed++; continue; }
      // Cut short by a power cut; the writer went on in a fresh sector, where the cursor now is.
      if (ok === 'torn') continue;
      if (ok === 'checkpoint') {
        // A full checkpoint, or the last slice of a later cycle seen whole: the newest durable point.
        latestCheckpoint = this.laterComplete !== NONE ? this.laterComplete : pos;
        this.laterComplete = NONE;
        continue;
      }
      // Unreadable. In the head sector (or running into it) this is the torn last write.
      if (cursor.inHead || startSector === cursor.headSector) {
        if (ok === 'bad-data' && this.validRecordAt(cursor)) {
          this.corruptSkipped++;
          this.applyDamagedDelete();
          continue;
        }
        return { pos, clean: false, latestCheckpoint, replayed };
      }
      this.corruptSkipped++;
      // Length known and a valid record starts in a later page: damage, carry on after it.
      // Otherwise it may be a torn commit that an earlier mount ended the log at (that head
      // was abandoned, so the rest of its sector holds only what that program left): apply
      // the same rule as in the head, so that decision stays the same on every later mount.
      if (ok === 'bad-data' && !cursor.broken && (this.validRecordAt(cursor) || this.nextSectorFollows(cursor))) {
        this.applyDamagedDelete();
        continue;
      }
      // The rest of the last sector the record reached is skipped, not just the record: a
      // record that ran on into a later sector (whose carry continued it) was cut in that
      // sector's program (the writer programs a sector whole before opening the next), and
      // the mount that found that sector as its head dropped everything after the record
      // there, later records of the same page included, however intact they read.
      if (cursor.broken) {
        cursor.sector = startSector;
        cursor.header = startHeader;
      }
      if (!cursor.skipToNextSector()) return { pos, clean: false, latestCheckpoint, replayed };
    }
  }

  /** Read one record at the cursor, verify it and apply it to the index. */
  private replayRecord(cursor: ReplayCursor): 'applied' | 'checkpoint' | 'index' | 'bad-header' | 'bad-data' | 'torn' {
    const start = cursor.pos;
    const sector = cursor.sector;
    const header = cursor.header;
    this.lastBad = null;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        cursor.pos = start;
        cursor.sector = sector;
        cursor.header = header;
        cursor.beginRecord();
        if (!cursor.read(this.hdr)) {
          if (cursor.torn) return 'torn';
          continue;
        }
        const h = decodeRecordHeader(this.hdr);
        if (!h) continue;
        cursor.recordLeft = h.keyLength + h.valueLength + RECORD_TRAILER_SIZE;
        const key = new Uint8Array(h.keyLength);
        if (!cursor.read(key)) return cursor.torn ? 'torn' : 'bad-data';
        if (h.kind === RecordKind.Put || h.kind === RecordKind.Delete) {
          const unread = this.unreadValue(cursor, h, key, start);
          if (unread === 'torn') return 'torn';
          if (unread !== null) return unread;
        }
        let crc = crc32(key);
        let left = h.valueLength;
        let bad = false;
        // A slice of the index snapshot is kept whole to be applied once its CRC checks.
        const slice = h.kind === RecordKind.Index && h.valueLength <= MAX_SLICE_BYTES ? new Uint8Array(h.valueLength) : null;
        while (left > 0) {
          const n = Math.min(left, CHUNK);
          if (!cursor.read(this.scratch, 0, n)) { bad = true; break; }
          crc = crc32(this.scratch, crc, 0, n);
          if (slice) slice.set(this.scratch.subarray(0, n), h.valueLength - left);
          left -= n;
        }
        if (cursor.torn) return 'torn';
        const trailer = new Uint8Array(4);
        if (bad || !cursor.read(trailer) || readU32LE(trailer, 0) !== trailerCrc(crc)) {
          if (cursor.torn) return 'torn';
          if (attempt < 2) continue;
          this.lastBad = { h, key, start };
          return 'bad-data';
        }
        if (h.kind === RecordKind.Checkpoint) {
          this.lastFullCheckpoint = start;
          return 'checkpoint';
        }
        if (h.kind === RecordKind.Index) {
          if (slice) return this.applySlice(slice, h.valueLength, start);
          if (this.cycle && this.cycle.next !== HASH_SPACE) this.cycleBroken = true;
          return 'index';
        }
        if (h.kind !== RecordKind.Put && h.kind !== RecordKind.Delete) return 'index';
        this.applyRecord(h, key, start, cursor.pos === cursor.sectorEnd ? 0 : this.reader.padAfter(cursor.pos));
        return 'applied';
      }
      return 'bad-header';
    } finally {
      cursor.endRecord();
    }
  }

  /**
   * Records whose value replay need not read, the cursor just past their key:
   * one the cycle being replayed lists in a slice still to come (its state is
   * there, and every record before a complete cycle's last slice was written
   * by a program that completed), and a large value followed by a valid record
   * in a later page (the program that wrote it completed, so its bytes are as
   * written unless damaged since: get() checks its CRC, as always). Returns
   * null to read and check the record the usual way (the cursor is then
   * rewound by the caller's retry).
   */
  private unreadValue(cursor: ReplayCursor, h: RecordHeader, key: Uint8Array, start: number): 'applied' | 'torn' | null {
    // A key that fails its check is damaged: only the data CRC can judge the record (and a
    // damaged key's hash would place it wrongly against the cycle's cursor).
    if (!keyIntact(h, key)) return null;
    const c = this.cycle;
    const skipped = c !== null && c.next !== HASH_SPACE && keyHash(key) >= c.next;
    // A value shorter than UNREAD_MIN costs little more to read than to vouch for. Records
    // without the key check (older writers) are read unless large, as those writers' mounts did.
    if (!skipped && (h.keyCheck === undefined ? h.valueLength < LARGE_VALUE : h.valueLength < UNREAD_MIN)) return null;
    const at = { pos: cursor.pos, sector: cursor.sector, header: cursor.header, left: cursor.recordLeft };
    const rewind = () => {
      cursor.pos = at.pos;
      cursor.sector = at.sector;
      cursor.header = at.header;
      cursor.recordLeft = at.left;
      cursor.torn = false;
      cursor.broken = false;
      return null;
    };
    if (!cursor.skip(h.valueLength + RECORD_TRAILER_SIZE)) return cursor.torn ? 'torn' : rewind();
    if (skipped) return 'applied';
    if (!this.laterPageWritten(cursor) && !this.nextSectorFollows(cursor)) return rewind();
    this.applyRecord(h, key, start, this.reader.padAfter(cursor.pos));
    return 'applied';
  }

  /**
   * Something was programmed in a page after the one holding the byte before
   * the cursor, in the same sector: the program that wrote that byte
   * completed (an interrupted program leaves later pages untouched, and a
   * head a cut interrupted is never appended to again).
   */
  private laterPageWritten(cursor: ReplayCursor): boolean {
    if (cursor.pos === cursor.sectorEnd) return false;
    const page = Math.max(this.log.flash.pageSize ?? 256, this.log.flash.programUnit);
    const next = (Math.floor((cursor.pos - 1) / page) + 1) * page;
    if (next >= cursor.sectorEnd) return false;
    const one = new Uint8Array(1);
    this.ring.flash.read(next, one);
    return one[0] !== RecordKind.Erased || this.validRecordAt(cursor);
  }

  /**
   * The log's next sector was opened by the writer that wrote the cursor's
   * sector (its FOLLOWS flag): every program in the cursor's sector completed.
   * Only the sector right after it is looked at; anything else (a retired
   * sector between, an older writer) answers no, and the record is read.
   */
  private nextSectorFollows(cursor: ReplayCursor): boolean {
    if (cursor.inHead) return false;
    if (this.followsAsked.sector === cursor.sector && this.followsAsked.seq === cursor.header.seq) return this.followsAsked.answer;
    const ring = this.ring;
    let s = cursor.sector;
    do s = s + 1 === ring.sectorCount ? 0 : s + 1; while (ring.retired[s] && s !== cursor.sector);
    const h = ring.readHeader(s);
    const answer = h.kind === 'valid' && h.header.follows === true && h.header.seq === ((cursor.header.seq + 1) >>> 0);
    this.followsAsked = { sector: cursor.sector, seq: cursor.header.seq, answer };
    return answer;
  }

  /**
   * The record replay just found damaged (its program completed) was a DELETE whose key passes
   * its check: apply it. Skipped, the tombstone would bring back the value it deleted, served
   * by get() as if never deleted. A damaged key the check misses deletes a key that is almost
   * surely absent; one that fails it names no key, and the tombstone is lost.
   */
  private applyDamagedDelete(): void {
    const bad = this.lastBad;
    this.lastBad = null;
    if (!bad || bad.h.kind !== RecordKind.Delete || bad.h.keyCheck === undefined || !keyIntact(bad.h, bad.key)) return;
    this.applyRecord(bad.h, bad.key, bad.start, 0);
  }

  private applyRecord(h: RecordHeader, key: Uint8Array, offset: number, pad: number): void {
    const hash = keyHash(key);
    const c = this.cycle;
    if (c && c.next !== HASH_SPACE) {
      // Replaying a cycle: a key whose slice is still to come is listed there as it stood
      // then, this record included; one whose slice has passed changes from it. The totals
      // come with the slices.
      if (hash >= c.next) return;
      const slot = this.reader.findSlot(this.index, key, hash);
      if (h.kind === RecordKind.Put) {
        if (slot >= 0) this.index.setOffset(slot, offset);
        else this.index.insert(hash, offset);
      } else if (slot >= 0) {
        this.index.removeAt(slot);
      }
      return;
    }
    const slot = this.reader.findSlot(this.index, key, hash);
    if (slot >= 0) this.liveBytes -= this.reader.footprintAt(this.index.offsetAt(slot));
    if (h.kind === RecordKind.Put) {
      const size = recordSize(h.keyLength, h.valueLength);
      if (slot >= 0) this.index.setOffset(slot, offset);
      else this.index.insert(hash, offset);
      this.liveBytes += size + pad;
      if (size > this.largestRecord) this.largestRecord = size;
    } else if (slot >= 0) {
      this.index.removeAt(slot);
    }
  }

  /**
   * A record in the head sector failed its CRC and the cursor sits at its end.
   * Was it cut short by a power cut (the log ends there) or damaged later (bit
   * rot: skip it and go on)? An interrupted program leaves the pages before
   * the cut done, one page partly written and none after it. So if a valid
   * record starts in a page after the one holding this record's last byte,
   * the program that wrote this record completed: it is damage. Otherwise
   * treat it as torn: later records in the same page could be a partial
   * program too, and accepting one would commit a later write without an
   * earlier one.
   */
  private validRecordAt(cursor: ReplayCursor): boolean {
    const page = Math.max(this.log.flash.pageSize ?? 256, this.log.flash.programUnit);
    const unit = this.log.flash.programUnit;
    const lastPage = Math.floor((cursor.pos - 1) / page);
    const one = new Uint8Array(1);
    const probe = new Uint8Array(RECORD_HEADER_SIZE);
    let at = cursor.pos;
    while (at + RECORD_HEADER_SIZE <= cursor.sectorEnd) {
      this.log.flash.read(at, one);
      if (one[0] === RecordKind.Pad) {
        at = afterPad(at, unit, this.ring.sectorSize);
        continue;
      }
      this.log.flash.read(at, probe);
      const h = decodeRecordHeader(probe);
      if (!h) return false;
      if (Math.floor(at / page) > lastPage) return true;
      at += recordSize(h.keyLength, h.valueLength);
    }
    return false;
  }

}
