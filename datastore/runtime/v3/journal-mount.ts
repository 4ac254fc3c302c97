// Format v3 mount (DESIGN.md §2): the anchor names where the journal chain
// starts; the walk follows each header's `next` while the header there is
// valid with seq + 1; the durable point the head names (a CHECKPOINT, or the
// first slice of a complete index cycle) gives the index as it stood; replay
// applies the journal records after it, in chain order. Pack, value and
// list sectors are read only where a record names them.

import type { FlashPartition } from '../../../hal/flash.ts';
import {
  CHECKPOINT_ENTRY_SIZE,
  CHECKPOINT_FIXED_SIZE,
  CHECKPOINT_PAYLOAD_VERSION,
  checkpointEntryHash,
  checkpointEntryOffset,
  decodeCheckpointFixed,
  decodeIndexSlice,
  HASH_SPACE,
  INDEX_FIXED_SIZE,
  indexSliceEntries,
  keyIntact,
  NONE,
  RECORD_HEADER_SIZE,
  RecordKind,
  recordSize,
  UNREAD_MIN,
  type RecordHeader,
} from '../format.ts';
import { readU32LE } from '../../../bytes/byte-order.ts';
import { crc32 } from '../../../bytes/crc32.ts';
import { KeyIndex } from '../key-index.ts';
import { keyHash } from '../key-text.ts';
import { NotFormattedError, StoreError } from '../errors.ts';
import {
  closeV3Span,
  CLOSE_V3_RECORD_SIZE,
  decodeCloseV3,
  decodeJournalHeader,
  decodeMove,
  decodePutS,
  decodeWear,
  wearIsEstimate,
  JOURNAL_HEADER_SIZE,
  TOKEN_BYTES,
  type CloseV3,
  type JournalHeader,
  type SectorValueRef,
} from './format-v3.ts';
import { AnchorArea } from './anchor.ts';
import { RecordAt, REPLACES_SIZE, SECTOR_VALUE_FLAG } from './journal-records.ts';
import { readWholeSectorValue, valueSectorsOf } from './sector-value.ts';

/** CHECKPOINT record encoding byte: 0 = payload inline, 1 = payload in sectors (value is a PUT-S reference). */
export const CHECKPOINT_IN_SECTORS = 1;

export interface ChainLink {
  sector: number;
  header: JournalHeader;
}

export interface MountResult {
  index: KeyIndex;
  chain: ChainLink[];
  anchorStart: number;
  clean: boolean;
  /** The durable point and fallback the writer names next (replay may have seen a newer cycle complete). */
  durable: number;
  fallback: number;
  liveBytes: number;
  largestRecord: number;
  corruptSkipped: number;
  replayed: number;
  bytesRead: number;
  /** An index cycle under way at the end of the log (its slices so far all replayed): the writer carries it on. */
  cycleInProgress: { start: number; next: number } | null;
  /** The head's CLOSE record (a clean unmount), or null. */
  close: CloseV3 | null;
  /**
   * The CLOSE's token sector still holds the bytes it named: no session
   * erased or programmed anything since that unmount (DESIGN.md §4).
   */
  tokenIntact: boolean;
  /**
   * Erase counts: estimated (never above) unless the token is intact. Then
   * `counts` is null: the WEAR record the CLOSE names (`offset`) is read
   * when the store first needs it (its first erase or program, or wear()),
   * so a clean mount of a session that writes nothing does not pay for it.
   */
  wear: { counts: number[] | null; offset: number; exact: boolean } | null;
}

interface Cycle {
  start: number;
  next: number;
}

export function mountJournal(flash: FlashPartition, anchors: AnchorArea): MountResult {
  return new JournalMount(flash, anchors).run();
}

class JournalMount {
  private readonly S: number;
  private readonly rec: RecordAt;
  private readonly page: number;
  private index = new KeyIndex();
  private chain: ChainLink[] = [];
  private corrupt = 0;
  private replayed = 0;
  private liveBytes = 0;
  private largestRecord = 0;
  /** Replaying from a cycle: records at or past `next` wait for their slice. */
  private cycle: Cycle | null = null;
  /** The loaded checkpoint's own offset: replay steps over it. */
  private skipAt = NONE;
  /** Journal headers found damaged and stepped over by the walk (counted as corrupt). */
  private damagedHeaders = 0;
  /** A cycle that started during replay, followed while its slices come in order. */
  private later: Cycle | null = null;
  private newestComplete = NONE;
  private newestCheckpoint = NONE;
  /** The newest WEAR record replay met. */
  private newestWear = NONE;

  constructor(
    private readonly flash: FlashPartition,
    private readonly anchors: AnchorArea,
  ) {
    this.S = flash.sectorSize;
    this.rec = new RecordAt(flash);
    this.page = Math.max(256, flash.programUnit, flash.pageSize ?? 0);
  }

  run(): MountResult {
    const anchor = this.anchors.find();
    if (!anchor) throw new NotFormattedError('no valid anchor record');
    this.walk(anchor.record.chainStart, anchor.record.chainSeq);
    const head = this.chain[this.chain.length - 1];
    const close = this.closeOf(head);
    const tries: number[] = [];
    if (close) tries.push(close.checkpoint);
    tries.push(head.header.durable, head.header.fallback);
    let started = false;
    let from = NONE;
    for (const d of tries) {
      if (d === NONE || !this.inChain(d)) continue;
      this.reset();
      const at = this.startAt(d);
      if (at >= 0) {
        started = true;
        from = at;
        break;
      }
    }
    if (!started) {
      this.reset();
      from = this.chain[0].sector * this.S + JOURNAL_HEADER_SIZE;
    }
    const torn = this.replayFrom(from);
    if (this.cycle && this.cycle.next < HASH_SPACE) {
      // The cycle never completed (damaged slice): replay from the next candidate, or the chain start.
      return this.retryWithout(from);
    }
    const durable = this.newestComplete !== NONE ? this.newestComplete : this.newestCheckpoint !== NONE ? this.newestCheckpoint : head.header.durable;
    const fallback = durable === head.header.durable ? head.header.fallback : head.header.durable;
    return {
      index: this.index,
      chain: this.chain,
      anchorStart: anchor.record.chainStart,
      clean: close !== null && this.newestCheckpoint === close.checkpoint && !torn && this.replayed === 0,
      durable,
      fallback,
      liveBytes: this.liveBytes,
      largestRecord: this.largestRecord,
      corruptSkipped: this.corrupt + this.damagedHeaders,
      replayed: this.replayed,
      bytesRead: 0,
      cycleInProgress: this.later && this.later.next < HASH_SPACE ? { ...this.later } : null,
      ...this.closing(close, this.replayed === 0 && !torn && close !== null && this.newestCheckpoint === close.checkpoint),
    };
  }

  private excluded = new Set<number>();

  private retryWithout(bad: number): MountResult {
    this.excluded.add(bad);
    const head = this.chain[this.chain.length - 1];
    for (const d of [head.header.durable, head.header.fallback]) {
      if (d === NONE || this.excluded.has(d) || !this.inChain(d)) continue;
      this.reset();
      const at = this.startAt(d);
      if (at < 0) continue;
      const torn = this.replayFrom(at);
      if (this.cycle && this.cycle.next < HASH_SPACE) {
        this.excluded.add(d);
        continue;
      }
      return this.result(torn, d);
    }
    this.reset();
    const start = this.chain[0].sector * this.S + JOURNAL_HEADER_SIZE;
    const torn = this.replayFrom(start);
    return this.result(torn, start);
  }

  private result(_torn: boolean, _from: number): MountResult {
    const head = this.chain[this.chain.length - 1];
    const durable = this.newestComplete !== NONE ? this.newestComplete : this.newestCheckpoint !== NONE ? this.newestCheckpoint : NONE;
    return {
      index: this.index,
      chain: this.chain,
      anchorStart: this.chain[0].sector,
      clean: false,
      durable,
      fallback: head.header.fallback === durable ? NONE : head.header.fallback,
      liveBytes: this.liveBytes,
      largestRecord: this.largestRecord,
      corruptSkipped: this.corrupt + this.damagedHeaders,
      replayed: this.replayed,
      bytesRead: 0,
      cycleInProgress: this.later && this.later.next < HASH_SPACE ? { ...this.later } : null,
      ...this.closing(null, false),
    };
  }

  /**
   * The token check and the erase counts. A clean mount whose token still
   * holds its header takes the unmount's WEAR record as exact. Otherwise the
   * newest WEAR record reached (replayed, or named by the head's header) plus
   * one for each journal sector opened after it: sessions since may have
   * erased more (pack, value and anchor sectors, re-erases), never less.
   */
  private closing(close: CloseV3 | null, clean: boolean): Pick<MountResult, 'close' | 'tokenIntact' | 'wear'> {
    const tokenIntact = clean && close !== null && this.tokenIntact(close);
    if (tokenIntact && close!.wear !== NONE) return { close, tokenIntact, wear: { counts: null, offset: close!.wear, exact: true } };
    const head = this.chain[this.chain.length - 1];
    const offset = clean && close!.wear !== NONE ? close!.wear : this.newestWear !== NONE ? this.newestWear : head.header.wear;
    const w = offset === NONE ? null : this.wearAt(offset);
    if (!w) return { close, tokenIntact, wear: null };
    const counts = w.counts;
    // A sector of seq s was erased when the sector of seq s - 1 opened: those of seq >= c + 2 after the record
    // (in the sector of seq c) was written. A record in a sector the walk no longer reaches predates the chain.
    const at = this.chainPos(Math.floor(offset / this.S));
    const from = at >= 0 ? (this.chain[at].header.seq + 2) >>> 0 : (this.chain[0].header.seq + 1) >>> 0;
    const after = (seq: number) => ((seq - from) | 0) >= 0;
    for (const link of this.chain) if (after(link.header.seq) && link.sector < counts.length) counts[link.sector]++;
    if (after((head.header.seq + 1) >>> 0) && head.header.next < counts.length) counts[head.header.next]++;
    return { close, tokenIntact, wear: { counts, offset, exact: false } };
  }

  private tokenIntact(close: CloseV3): boolean {
    const n = this.flash.size / this.S;
    if (close.token === NONE || close.token >= n || close.token < this.anchors.count || this.chainPos(close.token) >= 0) return false;
    const check = tokenCheckOf(this.flash, close.token);
    return check !== null && check === close.tokenCheck;
  }

  private wearAt(offset: number): { counts: number[]; estimate: boolean } | null {
    return readWearRecord(this.rec, offset, this.flash.size / this.S);
  }

  private reset(): void {
    this.index = new KeyIndex();
    this.corrupt = 0;
    this.replayed = 0;
    this.liveBytes = 0;
    this.largestRecord = 0;
    this.cycle = null;
    this.later = null;
    this.skipAt = NONE;
    this.newestComplete = NONE;
    this.newestCheckpoint = NONE;
    this.newestWear = NONE;
  }

  // ---- the chain ---------------------------------------------------------------

  private readHeader(sector: number): ReturnType<typeof decodeJournalHeader> {
    const b = new Uint8Array(JOURNAL_HEADER_SIZE);
    let state = decodeJournalHeader(b);
    for (let attempt = 0; attempt < 3; attempt++) {
      this.flash.read(sector * this.S, b);
      state = decodeJournalHeader(b);
      if (state.kind === 'valid') return state;
    }
    return state;
  }

  private walk(start: number, seqLow: number): void {
    const n = this.flash.size / this.S;
    if (start >= n) throw new StoreError('corrupt-record', `the runtime partition's anchor names sector ${start}, outside the partition: reformat it (dl7450 flash runtime --erase) to recover`);
    const first = this.readHeader(start);
    if (first.kind !== 'valid' || (first.header.seq & 0xffff) !== seqLow) {
      throw new StoreError('corrupt-record', `the runtime partition's journal start (sector ${start}) is damaged: its data cannot be found; reformat it to recover`);
    }
    this.chain.push({ sector: start, header: first.header });
    const seen = new Set<number>([start]);
    for (;;) {
      const last = this.chain[this.chain.length - 1];
      const next = last.header.next;
      if (next >= n || seen.has(next)) break;
      const h = this.readHeader(next);
      if (h.kind === 'valid' && h.header.seq === ((last.header.seq + 1) >>> 0)) {
        seen.add(next);
        this.chain.push({ sector: next, header: h.header });
        continue;
      }
      if (h.kind !== 'invalid' || !this.stepOverDamaged(next, last.header.seq, seen)) break;
    }
  }

  /**
   * A header that fails its check is a torn first program, or damage found
   * later (bit rot). If the sector after it, as its `next` field reads, holds
   * a valid header two past the last one, the program completed and the chain
   * goes on through it: its records are replayed like any (each is checked),
   * and the damage is counted. Otherwise the chain ends there, as for a
   * torn program (a torn header's successor was never opened).
   */
  private stepOverDamaged(sector: number, lastSeq: number, seen: Set<number>): boolean {
    const n = this.flash.size / this.S;
    const raw = new Uint8Array(JOURNAL_HEADER_SIZE);
    this.flash.read(sector * this.S, raw);
    const after = readU32LE(raw, 12);
    if (after >= n || seen.has(after) || after === sector) return false;
    const h = this.readHeader(after);
    if (h.kind !== 'valid' || h.header.seq !== ((lastSeq + 2) >>> 0)) return false;
    seen.add(sector);
    seen.add(after);
    this.damagedHeaders++;
    this.chain.push({ sector, header: { seq: (lastSeq + 1) >>> 0, carry: 0, next: after, durable: NONE, fallback: NONE, wear: NONE, follows: false } });
    this.chain.push({ sector: after, header: h.header });
    return true;
  }

  private chainPos(sector: number): number {
    for (let i = 0; i < this.chain.length; i++) if (this.chain[i].sector === sector) return i;
    return -1;
  }

  private inChain(offset: number): boolean {
    return this.chainPos(Math.floor(offset / this.S)) >= 0;
  }

  /** The head's CLOSE record, if its records end before it (a clean unmount). */
  private closeOf(head: ChainLink): CloseV3 | null {
    const span = closeV3Span(this.flash.programUnit);
    const at = head.sector * this.S + this.S - span;
    const b = new Uint8Array(CLOSE_V3_RECORD_SIZE);
    this.flash.read(at, b);
    const c = decodeCloseV3(b);
    if (!c) return null;
    // The records must end before it, or these bytes belong to a record.
    let pos = head.sector * this.S + JOURNAL_HEADER_SIZE;
    while (pos < at) {
      const one = new Uint8Array(1);
      this.flash.read(pos, one);
      if (one[0] === 0xff) return c;
      if (one[0] === RecordKind.Pad) {
        pos = this.afterPad(pos);
        continue;
      }
      const h = this.rec.header(pos);
      if (!h) return null;
      pos += recordSize(h.keyLength, h.valueLength);
    }
    return pos === at ? c : null;
  }

  private afterPad(pos: number): number {
    const u = this.flash.programUnit;
    const sectorEnd = (Math.floor(pos / this.S) + 1) * this.S;
    return Math.min(sectorEnd, (Math.floor(pos / u) + 1) * u);
  }

  // ---- durable points ------------------------------------------------------------

  /** Load the durable point at `offset` (a checkpoint, or a cycle's first slice): where replay starts, or -1 if unusable. */
  private startAt(offset: number): number {
    const h = this.rec.header(offset);
    if (!h) return -1;
    if (h.kind === RecordKind.Index) {
      this.cycle = { start: offset, next: 0 };
      return offset;
    }
    if (h.kind !== RecordKind.Checkpoint) return -1;
    const payload = this.checkpointPayload(offset, h);
    if (!payload || payload.length < CHECKPOINT_FIXED_SIZE) return -1;
    const fixed = decodeCheckpointFixed(payload);
    if (fixed.version !== CHECKPOINT_PAYLOAD_VERSION) return -1;
    const entriesAt = CHECKPOINT_FIXED_SIZE + 4 * fixed.retiredCount;
    if (entriesAt + fixed.entryCount * CHECKPOINT_ENTRY_SIZE !== payload.length) return -1;
    const index = new KeyIndex(fixed.entryCount);
    for (let i = 0; i < fixed.entryCount; i++) {
      const p = entriesAt + i * CHECKPOINT_ENTRY_SIZE;
      index.insert(checkpointEntryHash(payload, p), checkpointEntryOffset(payload, p));
    }
    this.index = index;
    this.liveBytes = fixed.liveBytes;
    this.largestRecord = fixed.largestRecord;
    this.newestCheckpoint = offset;
    // Replay starts at the checkpoint and steps over it (it may end at its sector's end: the chain says what follows).
    this.skipAt = offset;
    return offset;
  }

  /** A CHECKPOINT record's payload (inline, or from its sectors), CRC-checked; null if unusable. */
  checkpointPayload(offset: number, h: RecordHeader): Uint8Array | null {
    if (!this.rec.dataChecks(offset, h)) return null;
    const value = this.rec.value(offset, h);
    if (h.encoding !== CHECKPOINT_IN_SECTORS) return value;
    const ref = decodePutS(value, h.valueLength);
    if (!ref) return null;
    const sectors = valueSectorsOf(this.flash, ref);
    return sectors ? readWholeSectorValue(this.flash, sectors, ref) : null;
  }

  // ---- replay ----------------------------------------------------------------------

  /** Apply every record from `from` to the end of the log; true if it met a torn record. */
  private replayFrom(from: number): boolean {
    const startSector = Math.floor(from / this.S);
    const first = this.chainPos(startSector);
    let torn = false;
    for (let i = first; i < this.chain.length; i++) {
      const link = this.chain[i];
      const pos = i === first ? from : link.sector * this.S + JOURNAL_HEADER_SIZE;
      const follows = i + 1 < this.chain.length && this.chain[i + 1].header.follows;
      if (!this.replaySector(link.sector, pos, follows)) torn = true;
    }
    return torn;
  }

  /** Replay one sector's records from `pos`; false if it ended at a record a cut tore. */
  private replaySector(sector: number, start: number, follows: boolean): boolean {
    const end = (sector + 1) * this.S;
    let lastWritten = -1; // the last non-blank page, computed when a proof needs it
    const proven = (recordEnd: number): boolean => {
      if (follows) return true;
      if (lastWritten < 0) lastWritten = this.lastWrittenPage(sector);
      return Math.floor((recordEnd - 1) / this.page) < lastWritten;
    };
    let pos = start;
    const one = new Uint8Array(1);
    while (pos + RECORD_HEADER_SIZE <= end) {
      this.flash.read(pos, one);
      if (one[0] === 0xff) return true;
      if (one[0] === RecordKind.Pad) {
        pos = this.afterPad(pos);
        continue;
      }
      const h = this.rec.header(pos);
      if (!h) return false; // a header a cut tore, or damage: nothing after it in this sector is trusted
      const size = recordSize(h.keyLength, h.valueLength);
      if (pos + size > end) return false;
      if (h.kind === RecordKind.Close) return true;
      if (pos === this.skipAt) {
        pos += size;
        continue;
      }
      const ok = this.replayRecord(pos, h, proven(pos + size));
      if (ok === 'torn') return false;
      pos += size;
    }
    return true;
  }

  /** Page index (within the sector) of the last page holding a programmed byte, or -1. */
  private lastWrittenPage(sector: number): number {
    const pages = this.S / this.page;
    const b = new Uint8Array(this.page);
    for (let p = pages - 1; p >= 0; p--) {
      this.flash.read(sector * this.S + p * this.page, b);
      for (let i = 0; i < b.length; i++) if (b[i] !== 0xff) return p;
    }
    return -1;
  }

  private replayRecord(pos: number, h: RecordHeader, complete: boolean): 'ok' | 'torn' {
    const keyed = h.kind === RecordKind.Put || h.kind === RecordKind.PutS || h.kind === RecordKind.Delete;
    const key = keyed ? this.rec.key(pos, h) : null;
    const intact = key ? keyIntact(h, key) : true;
    const skipData = complete && h.kind === RecordKind.Put && h.keyCheck !== undefined && intact && h.valueLength >= UNREAD_MIN + REPLACES_SIZE;
    // Records without a key are read once, whole (their value is what replay applies).
    const payload = keyed ? null : this.rec.checkedPayload(pos, h);
    if (keyed ? !skipData && !this.rec.dataChecks(pos, h) : payload === null) {
      if (!complete) return 'torn';
      this.corrupt++;
      // Damage in a record whose program completed: a put still names the key (get reports it corrupt);
      // a delete still deletes (skipped, it would bring back the value it deleted).
      if (key && intact && (h.kind === RecordKind.Put || h.kind === RecordKind.PutS)) this.applyPut(key, pos, h, true);
      if (key && intact && h.kind === RecordKind.Delete) this.applyDelete(key, pos, h, true);
      return 'ok';
    }
    this.replayed++;
    switch (h.kind) {
      case RecordKind.Put:
      case RecordKind.PutS:
        this.applyPut(key!, pos, h, false);
        break;
      case RecordKind.Delete:
        this.applyDelete(key!, pos, h, false);
        break;
      case RecordKind.Index:
        this.applySlice(pos, h, payload!);
        break;
      case RecordKind.Move:
        this.applyMove(payload!);
        break;
      case RecordKind.Wear:
        this.newestWear = pos;
        break;
      case RecordKind.Checkpoint:
        this.newestCheckpoint = pos;
        this.newestComplete = NONE;
        break;
    }
    return 'ok';
  }

  private waiting(hash: number): boolean {
    return this.cycle !== null && hash >= this.cycle.next;
  }

  private applyPut(key: Uint8Array, pos: number, h: RecordHeader, damaged: boolean): void {
    const hash = keyHash(key);
    if (this.waiting(hash)) return;
    const entry = (h.kind === RecordKind.PutS && !damaged ? (pos | SECTOR_VALUE_FLAG) : pos) >>> 0;
    const slot = this.replacedSlot(key, hash, pos, h, damaged);
    if (slot >= 0) this.index.setOffset(slot, entry);
    else this.index.insert(hash, entry);
  }

  private applyDelete(key: Uint8Array, pos: number, h: RecordHeader, damaged: boolean): void {
    const hash = keyHash(key);
    if (this.waiting(hash)) return;
    const slot = this.replacedSlot(key, hash, pos, h, damaged);
    if (slot >= 0) this.index.removeAt(slot);
  }

  /**
   * The entry a keyed record replaces, found by the offset it names (no read
   * of the old record, whose sector may have been reused since the snapshot
   * replay started from). Only when that does not match (a damaged record,
   * whose `replaces` is not trusted) are the candidates' keys read.
   */
  private replacedSlot(key: Uint8Array, hash: number, pos: number, h: RecordHeader, damaged: boolean): number {
    const replaces = this.rec.replaces(pos, h);
    if (!damaged) {
      if (replaces === NONE) return -1;
      const slot = this.index.findOffset(hash, replaces);
      if (slot >= 0) return slot;
    }
    return this.index.find(hash, (off) => this.rec.keyIs(off & 0x7fffffff, key));
  }

  private applyMove(value: Uint8Array): void {
    const m = decodeMove(value, value.length);
    if (!m) return;
    for (const e of m.entries) {
      if (this.waiting(e.hash)) continue;
      const slot = this.index.findOffset(e.hash, e.from);
      if (slot < 0) continue;
      if (e.to === NONE) this.index.removeAt(slot); // GC found the record's header damaged: dropped, counted corrupt then
      else this.index.setOffset(slot, e.to);
    }
  }

  private applySlice(pos: number, h: RecordHeader, value: Uint8Array): void {
    const slice = decodeIndexSlice(value, h.valueLength);
    if (!slice) return;
    this.liveBytes = slice.liveBytes;
    this.largestRecord = slice.largestRecord;
    const c = this.cycle;
    if (c && c.next < HASH_SPACE) {
      if (slice.cycleStart !== c.start || slice.rangeStart !== c.next) {
        this.trackLater(pos, slice);
        return;
      }
      const n = indexSliceEntries(slice, h.valueLength);
      const at = INDEX_FIXED_SIZE + 4 * slice.retiredCount;
      for (let i = 0; i < n; i++) {
        const p = at + i * CHECKPOINT_ENTRY_SIZE;
        this.index.insert(readU32LE(value, p), readU32LE(value, p + 4));
      }
      c.next = slice.rangeEnd;
      if (c.next === HASH_SPACE) this.newestComplete = c.start;
      return;
    }
    this.trackLater(pos, slice);
  }

  private trackLater(pos: number, slice: { cycleStart: number; rangeStart: number; rangeEnd: number }): void {
    if (slice.rangeStart === 0 && slice.cycleStart === pos) this.later = { start: pos, next: 0 };
    const l = this.later;
    if (!l || slice.cycleStart !== l.start || slice.rangeStart !== l.next) return;
    l.next = slice.rangeEnd;
    if (l.next === HASH_SPACE) {
      this.newestComplete = l.start;
      this.later = null;
    }
  }
}

/** The erase counts of the WEAR record at `offset` (checked, `sectors` of them) and its estimate flag, or null. */
export function readWearRecord(rec: RecordAt, offset: number, sectors: number): { counts: number[]; estimate: boolean } | null {
  const h = rec.header(offset);
  if (!h || h.kind !== RecordKind.Wear) return null;
  const payload = rec.checkedPayload(offset, h);
  const counts = payload ? decodeWear(payload, payload.length) : null;
  return counts && counts.length === sectors ? { counts, estimate: wearIsEstimate(payload!) } : null;
}

/**
 * CRC-32 of a sector's first TOKEN_BYTES bytes, or null if they read blank
 * (what an erase leaves: no proof of anything). One read of 32 bytes.
 */
export function tokenCheckOf(flash: FlashPartition, sector: number): number | null {
  const b = new Uint8Array(TOKEN_BYTES);
  flash.read(sector * flash.sectorSize, b);
  let blank = true;
  for (let i = 0; i < b.length; i++) if (b[i] !== 0xff) blank = false;
  return blank ? null : crc32(b) >>> 0;
}

export function checkpointSectors(flash: FlashPartition, offset: number): number[] {
  const rec = new RecordAt(flash);
  const h = rec.header(offset);
  if (!h || h.kind !== RecordKind.Checkpoint || h.encoding !== CHECKPOINT_IN_SECTORS) return [];
  const ref: SectorValueRef | null = rec.sectorRef(offset, h);
  if (!ref) return [];
  const values = valueSectorsOf(flash, ref);
  return (ref.lists ? ref.sectors : []).concat(values ?? []);
}

