// Format v3 runtime store (issue 18; DESIGN.md in this folder): the
// application's records in a journal chain, GC's copies in headerless pack
// sectors announced by MOVE records, values of ¾ sector and more in whole
// sectors that GC never copies, victims chosen by live bytes outside the
// pinned replay window. Same API and promises as the v2 RuntimeStore; not
// yet the default format (DESIGN.md §7 step 6).

import type { FlashPartition } from '../../../hal/flash.ts';
import type { Clock } from '../../../hal/clock.ts';
import { crc32 } from '../../../bytes/crc32.ts';
import { utf8Encode, utf8Decode } from '../../../bytes/utf8.ts';
import { readU32LE, writeU32LE } from '../../../bytes/byte-order.ts';
import {
  CHECKPOINT_ENTRY_SIZE,
  checkpointSize,
  encodeCheckpointEntry,
  encodeCheckpointHead,
  encodeRecordHeader,
  keyCheckOf,
  keyIntact,
  MAX_KEY_BYTES,
  NONE,
  RECORD_HEADER_SIZE,
  RECORD_TRAILER_SIZE,
  RecordKind,
  recordSize,
  trailerCrc,
  type RecordHeader,
} from '../format.ts';
import { KeyIndex } from '../key-index.ts';
import { keyHash } from '../key-text.ts';
import { IndexCycle } from '../index-cycle.ts';
import {
  CorruptRecordError,
  KeyInvalidError,
  KeyTooLongError,
  NotFormattedError,
  PartitionFullError,
  StoreError,
  ValueTooLargeError,
} from '../errors.ts';
import type { Durability, RecordInfo, RuntimeStoreOptions, StoreStats, WriteOptions } from '../store-api.ts';
import {
  closeV3Span,
  CLOSE_V3_RECORD_SIZE,
  decodePutS,
  encodeCloseV3,
  encodeListSector,
  encodeMove,
  encodePutS,
  encodeWear,
  JOURNAL_HEADER_SIZE,
  JOURNAL_MAGIC,
  listCapacity,
  moveSize,
  putSSize,
  wearSize,
  wearWidth,
  type MoveEntry,
  type SectorValueRef,
} from './format-v3.ts';
import { AnchorArea, anchorSectorCount } from './anchor.ts';
import { SectorKind, SectorTable } from './sector-table.ts';
import { SectorAllocator } from './sector-allocator.ts';
import { chooseVictim } from './victim-policy.ts';
import { levellingMove } from './wear-leveller.ts';
import { JournalWriter } from './journal-writer.ts';
import { PackWriter } from './pack-writer.ts';
import { CHECKPOINT_IN_SECTORS, checkpointSectors, mountJournal, readWearRecord, tokenCheckOf } from './journal-mount.ts';
import { entryOffset, isKeyed, isSectorValue, payloadLength, RecordAt, REPLACES_SIZE, SECTOR_VALUE_FLAG } from './journal-records.ts';
import { readSectorValue, sectorFootprint, sectorsHeldBy, SectorValueWriter, valueSectorsOf } from './sector-value.ts';
import { ValueWriter } from '../value-writer.ts';

/** GC steps (a collection or a levelling move) one put may run; more only below the hard reserve (DESIGN.md §3.5). */
const GC_STEPS_PER_PUT = 1;
/** Forced index slices (about a sector each) one put may write; more only once the whole cycle is overdue. */
const SLICES_PER_PUT = 1;
/**
 * Forced slices are paced over the last quarter of the cycle's budget (slices
 * do not count against it, DESIGN.md §5.2): a cycle written late lies close
 * to the next, so the window a mount replays and pins behind the durable
 * points is shorter; a quarter budget of records (at 64 B, about 20 puts a
 * slice) still keeps a put to one slice.
 */
const CYCLE_PACED_WITHIN = 0.25;
/** Forced slices one put may write when the whole cycle is overdue (the emergency of DESIGN.md §3.5). */
const MAX_SLICES_PER_COMMIT = 4;
/**
 * Sectors kept erased ahead (DESIGN.md §3.2): a put takes its journal and pack
 * opens from them and refills at most one, so the sectors a put's bookkeeping
 * opens (its record's journal open, a GC step's pack sector and MOVE, a
 * forced slice) cost it at most one erase.
 */
const POOL_SECTORS = 3;
/**
 * Each anchor record is written twice: a mount that finds the newest damaged
 * takes its twin, so the chain before it need not stay pinned for the
 * previous record's sake.
 */
const ANCHOR_COPIES = 2;
/**
 * Free sectors a collection may need (a pack sector and a journal open for its
 * MOVE record), plus one: the first write after a mount opens a journal sector
 * before anything else, and must still leave a collection room to run.
 */
const GC_RESERVE = 3;
/** Free sectors an unmount reads (32 bytes each) looking for a token that does not read blank. */
const TOKEN_TRIES = 8;
/** A made token's first 32 bytes: "DLTK", the head's seq, zeros (anything but blank would do). */
const TOKEN_MARKER_MAGIC = 0x4b544c44;
const TOKEN_MARKER_BYTES = 32;
/** valueOwner of a sector no PUT-S names (free, a checkpoint's, a value being written). */
const NO_OWNER = 0xffffffff;

/** Below this the reserve (GC's sectors, the pinned window, anchors) leaves no room for data. */
export const MIN_SECTORS = 16;

export class JournalStore {
  readonly flash: FlashPartition;
  private readonly S: number;
  private readonly N: number;
  private readonly A: number;
  private readonly anchors: AnchorArea;
  private table: SectorTable;
  private allocator: SectorAllocator;
  private readonly journal: JournalWriter;
  private readonly pack: PackWriter;
  private readonly rec: RecordAt;
  private index = new KeyIndex();
  private readonly cycle: IndexCycle;
  private readonly opts: { durability: Durability; batchSize: number; clock: Clock | null; maxValueBytes: number; indexCycleBytes: number };
  /** Journal sectors from the pinned start (the previous anchor's) to the head, in chain order. */
  private chain: number[] = [];
  private anchorStart = -1;
  private readonly chainSet = new Set<number>();
  /** Checkpoint sectors a durable point or CLOSE names, by the checkpoint record's offset. */
  private readonly checkpointPins = new Map<number, number[]>();
  /** Durable points the newest programmed headers name (kept until a newer header is on flash). */
  private headerNames: number[] = [];
  /** Sectors freed by records not yet committed (rule R). */
  private pendingRelease: number[] = [];
  private liveBytes = 0;
  /** False after a mount that replayed records: liveBytes is the last snapshot's, until recount(). */
  private liveExact = true;
  /** Live records per log sector: exact, so a sector is freed only when none is left (live bytes are estimates after a mount). */
  private liveRecords: Uint32Array;
  /**
   * Key hash of the PUT-S record that names each value or list sector, else
   * NO_OWNER: wear levelling finds the record to re-point with one index
   * probe, without reading every PUT-S (4 bytes a sector).
   */
  private valueOwner: Uint32Array;
  /** Static levelling moves this session: log sectors collected, value sectors relocated. */
  private readonly levellingMoves = { collected: 0, relocated: 0 };
  /** journal.eraseOps when levelling last looked: wear changes only with an erase. */
  private levelledAtErases = -1;
  private largestRecord = 0;
  private pendingOps = 0;
  /** Writes since mount: the age of a sector for cost-benefit victims. */
  private clock = 0;
  private changedSinceCheckpoint = false;
  private lastCheckpoint = NONE;
  private mounted = true;
  private cleanMount = true;
  private corruptSkipped = 0;
  private inGc = false;
  /**
   * The token (DESIGN.md §4): the sector the head's CLOSE names. Reserved
   * until the first journal open takes it as its new `next`: nothing else
   * programs it, and the session's first erase is its erase. -1: none.
   */
  private token = -1;
  private tokenErased = false;
  /** The erase counts are an estimate (a mount that could not prove them exact). */
  private wearEstimated = false;
  /** The WEAR record a clean mount left unread (ensureWear reads it before the counts are used), or NONE. */
  private unreadWear = NONE;
  /** Delta width the last wearRecordBytes() planned for the WEAR record (1 or 2 bytes a sector). */
  private wearWidthPlanned: 1 | 2 = 1;
  /** Erases since the newest WEAR record (one is written every wearInterval()). */
  private erasesSinceWear = 0;
  /** WEAR records the on-flash head's header and the next header name: their sectors stay pinned. */
  private wearNames: number[] = [];
  /** GC steps this put may still run (outside the hard reserve). */
  private gcStepsLeft = GC_STEPS_PER_PUT;
  /** Erases this put did outside its own value sectors (journal, pack, checkpoint, pool). */
  private putErases = 0;

  private constructor(flash: FlashPartition, options: RuntimeStoreOptions) {
    this.flash = flash;
    if (flash.size % flash.sectorSize !== 0 || flash.sectorSize < 512 || flash.sectorSize % flash.programUnit !== 0 || flash.size >= 0x80000000) {
      throw new StoreError('geometry', `unsupported flash geometry: size ${flash.size}, sector ${flash.sectorSize}, program unit ${flash.programUnit}. Sectors must be at least 512 bytes and divide a partition under 2 GiB.`);
    }
    this.S = flash.sectorSize;
    this.N = flash.size / flash.sectorSize;
    if (this.N < MIN_SECTORS) throw new StoreError('geometry', `the partition has ${this.N} sectors; a format v3 store needs at least ${MIN_SECTORS}.`);
    this.A = anchorSectorCount(this.N);
    this.anchors = new AnchorArea(flash, this.A);
    this.table = new SectorTable(this.N, this.S);
    this.liveRecords = new Uint32Array(this.N);
    this.valueOwner = new Uint32Array(this.N).fill(NO_OWNER);
    this.allocator = new SectorAllocator(this.table);
    this.journal = new JournalWriter(flash);
    const erased = (s: number): void => {
      this.table.noteErase(s);
      this.erasesSinceWear++;
    };
    this.journal.onErase = erased;
    this.anchors.onErase = erased;
    this.journal.beforeWrite = () => {
      this.ensureWear();
      this.spendToken();
    };
    this.journal.takeSector = () => this.takeErased(SectorKind.Journal);
    this.journal.onOpened = (s, wasted) => {
      this.cycle.charge(wasted + JOURNAL_HEADER_SIZE);
      this.opened(s);
    };
    this.pack = new PackWriter(flash, () => this.takeErased(SectorKind.Pack), (o, d) => this.journal.program(o, d));
    this.rec = new RecordAt({ size: flash.size, read: (o, into) => this.journal.read(o, into) });
    this.cycle = new IndexCycle(this.journal, {
      index: () => this.index,
      totals: () => ({ liveBytes: this.liveBytes, exact: this.liveExact, largestRecord: this.largestRecord }),
      retired: () => [],
      now: () => this.now(),
      budget: () => this.cycleBudget(),
    });
    this.journal.beforePad = (room) => {
      if (this.mounted && !this.inGc) this.cycle.fillPadding(room);
    };
    this.journal.onCommitted = () => {
      this.cycle.committed();
      this.releasePending();
    };
    this.opts = {
      durability: options.durability ?? 'immediate',
      batchSize: Math.max(1, options.batchSize ?? 16),
      clock: options.clock ?? null,
      maxValueBytes: options.maxValueBytes ?? Math.floor(this.S * this.N * 0.4),
      indexCycleBytes: options.indexCycleBytes ?? 0,
    };
  }

  // ---- lifecycle -------------------------------------------------------------------

  /**
   * An empty store. `keep` names a sector the format must not erase before its
   * anchor is on flash (runtime-store.ts: the legacy store's empty head, which
   * is what a cut mid-format leaves mountable). It is never an anchor sector.
   * Erase counts start at 0 (a partition that holds no v3 store is taken as
   * fresh), or at `wear` when a store reformats itself.
   */
  static format(flash: FlashPartition, options: RuntimeStoreOptions = {}, keep = -1, wear?: { counts: number[]; estimated: boolean }): JournalStore {
    const s = new JournalStore(flash, options);
    if (wear) s.seedWear(wear);
    for (let a = 0; a < s.A; a++) s.table.setKind(a, SectorKind.Anchor);
    if (keep >= s.A) s.table.setKind(keep, SectorKind.Value);
    const first = s.takeErased(SectorKind.Journal);
    const next = s.takeErased(SectorKind.Journal);
    if (keep >= s.A) s.table.setKind(keep, SectorKind.Free);
    s.journal.startFresh(first, next);
    s.journal.commit(); // the first header is on flash before the anchor names it
    // Anchors last: a cut before this leaves an unformatted partition, never a half store.
    for (let a = 0; a < s.A; a++) s.journal.erase(a);
    s.anchors.find();
    s.anchors.write(first, 1, ANCHOR_COPIES);
    s.anchorStart = first;
    s.changedSinceCheckpoint = true;
    return s;
  }

  static mount(flash: FlashPartition, options: RuntimeStoreOptions = {}): JournalStore {
    const s = new JournalStore(flash, options);
    s.load();
    return s;
  }

  static open(flash: FlashPartition, options: RuntimeStoreOptions = {}): JournalStore {
    try {
      return JournalStore.mount(flash, options);
    } catch (e) {
      if (e instanceof NotFormattedError) return JournalStore.format(flash, options);
      throw e;
    }
  }

  /** Start from these erase counts (a store that reformats itself hands its own on). */
  private seedWear(wear: { counts: number[]; estimated: boolean }): void {
    if (wear.counts.length !== this.N) return;
    this.table = new SectorTable(this.N, this.S, wear.counts);
    this.allocator = new SectorAllocator(this.table);
    this.wearEstimated = wear.estimated;
  }

  /** The options this store was opened with (a reformat keeps them). */
  get options(): RuntimeStoreOptions {
    const { clock, ...rest } = this.opts;
    return { ...rest, ...(clock ? { clock } : {}) };
  }

  /**
   * An empty store in place of this one (factory reset), atomic: the new
   * journal goes into sectors this store does not use, and the anchor record
   * naming it is the one program that switches stores. A cut before that
   * record is whole leaves this store's data; after, the empty store. Only
   * with fewer than two unused sectors (a wedged store) is it a plain format.
   */
  reformat(): JournalStore {
    // The old store's token first (a cut from here on must not leave it claiming its counts are exact), and
    // the counts go to the new store: the flash remembers every erase, so must the store.
    // (After a flash failure the old writer erases nothing: the counts handed on are then an estimate.)
    if (!this.journal.failed) this.spendToken();
    const wear = { counts: this.eraseCounts(), estimated: this.wearEstimated || this.journal.failed !== null };
    this.mounted = false;
    const inUse: number[] = [];
    for (let x = this.A; x < this.N; x++) if (this.table.kind(x) !== SectorKind.Free || x === this.journal.next || this.pendingRelease.includes(x)) inUse.push(x);
    if (this.N - this.A - inUse.length < 2) return JournalStore.format(this.flash, this.options, -1, wear);
    const s = new JournalStore(this.flash, this.options);
    s.seedWear(wear);
    for (let a = 0; a < s.A; a++) s.table.setKind(a, SectorKind.Anchor);
    for (const x of inUse) s.table.setKind(x, SectorKind.Value);
    const first = s.takeErased(SectorKind.Journal);
    const next = s.takeErased(SectorKind.Journal);
    for (const x of inUse) s.table.setKind(x, SectorKind.Free);
    s.journal.startFresh(first, next);
    s.journal.commit();
    s.anchors.find();
    s.anchors.write(first, 1, ANCHOR_COPIES);
    s.anchorStart = first;
    s.changedSinceCheckpoint = true;
    return s;
  }

  /** Write a checkpoint (if anything changed) and a CLOSE record: the next mount replays nothing. */
  unmount(): void {
    if (!this.mounted) return;
    if (this.journal.failed) {
      // After a flash failure nothing more is written (as v2): the next mount recovers what reached flash.
      this.mounted = false;
      return;
    }
    if (this.changedSinceCheckpoint || this.journal.pendingBytes > 0) {
      this.inGc = true; // no slices in the padding: nothing but the checkpoint and CLOSE after the last write
      try {
        this.journal.commit();
        this.closeLog();
      } finally {
        this.inGc = false;
      }
    }
    this.pendingOps = 0;
    this.mounted = false;
  }

  private load(): void {
    // The mount reads the anchors through this store's AnchorArea, which then knows the newest record to follow.
    const m = mountJournal(this.flash, this.anchors);
    this.index = m.index;
    this.cleanMount = m.clean;
    this.corruptSkipped = m.corruptSkipped;
    this.largestRecord = m.largestRecord;
    const head = m.chain[m.chain.length - 1];
    this.journal.durable = m.durable;
    this.journal.fallback = m.fallback;
    this.headerNames = [head.header.durable, head.header.fallback];
    this.journal.wear = m.wear ? m.wear.offset : NONE;
    this.wearNames = [head.header.wear, this.journal.wear];
    this.anchorStart = m.anchorStart;
    this.chain = m.chain.map((l) => l.sector);
    this.deriveSectors(head.header.next, { liveBytes: m.liveBytes, largestRecord: m.largestRecord, exact: m.clean }, m.wear?.counts ?? undefined);
    this.wearEstimated = !(m.wear && m.wear.exact);
    if (m.wear && m.wear.counts === null) this.unreadWear = m.wear.offset;
    // The token trick: the token the head's CLOSE names stays reserved for the first open (intact or not: while
    // that CLOSE may be read again, nothing else may program the token). Intact, it proves nothing was erased or
    // programmed since the clean unmount, so the head's `next` is still as its erase left it, and so is the
    // anchor slot after the newest record.
    let trusted = false;
    const t = m.close ? m.close.token : NONE;
    if (t !== NONE && t >= this.A && t < this.N && this.table.kind(t) === SectorKind.Free) {
      this.token = t;
      this.table.setKind(t, SectorKind.Journal);
      trusted = m.tokenIntact;
      if (trusted && m.close!.anchor) this.anchors.resume(m.close!.anchor.sector, m.close!.anchor.slot);
      const p = trusted ? m.close!.pack : null;
      const pk = p && p.sector < this.N ? this.table.kind(p.sector) : -1;
      if (p && p.sector >= this.A && p.sector !== t && !this.chainSet.has(p.sector) && p.sector !== head.header.next && (pk === SectorKind.Free || pk === SectorKind.Pack || pk === SectorKind.Journal) && p.offset < this.S && p.offset % this.flash.programUnit === 0) {
        this.table.setKind(p.sector, SectorKind.Pack);
        // Its live bytes were estimated from a mean record size: never more than the bytes it holds.
        const live = this.table.live(p.sector);
        if (live > p.offset) this.table.addLive(p.sector, p.offset - live);
        this.pack.resume(p.sector, p.offset);
      }
    }
    this.journal.resume({ head: head.sector, seq: head.header.seq, next: head.header.next, nextTrusted: trusted });
    if (m.cycleInProgress) this.cycle.resume(m.cycleInProgress.start, m.cycleInProgress.next);
    this.changedSinceCheckpoint = !m.clean;
  }

  /** The free map after a mount: everything no reference reaches is free (DESIGN.md §2 step 5). */
  private deriveSectors(next: number, totals: { liveBytes: number; largestRecord: number; exact: boolean }, eraseCounts?: number[]): void {
    const t = new SectorTable(this.N, this.S, eraseCounts);
    for (let a = 0; a < this.A; a++) t.setKind(a, SectorKind.Anchor);
    this.chainSet.clear();
    for (const s of this.chain) {
      t.setKind(s, SectorKind.Journal);
      this.chainSet.add(s);
    }
    t.setKind(next, SectorKind.Journal);
    // Small records are counted, not read (a header read a key would cost a mount 16 bytes a key);
    // the value sectors of PUT-S records must be read to know which sectors are free.
    let valueBytes = 0;
    let smallCount = 0;
    const counts = new Uint32Array(this.N);
    this.valueOwner.fill(NO_OWNER);
    this.index.forEach((hash, entry) => {
      const off = entryOffset(entry);
      const s = Math.floor(off / this.S);
      if (s >= this.N) return;
      if (t.kind(s) === SectorKind.Free) t.setKind(s, SectorKind.Journal);
      counts[s]++;
      smallCount++;
      if (!isSectorValue(entry)) return;
      const h = this.rec.header(off);
      const ref = h ? this.rec.sectorRef(off, h) : null;
      const held = ref ? sectorsHeldBy(this.flash, ref) : null;
      if (!held) return;
      for (const v of held) {
        if (v < this.N) {
          t.setKind(v, SectorKind.Value);
          t.addLive(v, this.S);
          this.valueOwner[v] = hash;
        }
      }
      valueBytes += held.length * this.S;
    });
    const meanSmall = smallCount > 0 ? Math.max(RECORD_HEADER_SIZE + 1, (totals.liveBytes - valueBytes) / smallCount) : 0;
    this.liveRecords = counts;
    for (let s = 0; s < this.N; s++) if (counts[s] > 0) t.addLive(s, Math.min(this.S, meanSmall * counts[s]) | 0);
    for (const d of [this.journal.durable, this.journal.fallback, ...this.headerNames]) this.pinCheckpoint(d, t);
    for (const w of this.wearNames) {
      const s = w === NONE ? -1 : Math.floor(w / this.S);
      if (s >= 0 && s < this.N && t.kind(s) === SectorKind.Free) t.setKind(s, SectorKind.Journal);
    }
    this.table = t;
    this.allocator = new SectorAllocator(t);
    // Exact after a clean mount (the checkpoint's totals); after a cut, the last slice's, recounted before
    // a capacity verdict depends on them (recount).
    this.liveBytes = Math.max(totals.liveBytes, valueBytes);
    this.largestRecord = totals.largestRecord;
    this.liveExact = totals.exact;
    // Ties between equally worn sectors go on from after the head's next.
    this.allocator.startAt(next + 1);
  }

  private pinCheckpoint(offset: number, t = this.table): void {
    if (offset === NONE || this.checkpointPins.has(offset)) return;
    const sectors = checkpointSectors(this.flash, offset);
    this.checkpointPins.set(offset, sectors);
    for (const s of sectors) if (t.kind(s) === SectorKind.Free) t.setKind(s, SectorKind.Value);
  }

  // ---- reads -------------------------------------------------------------------------

  has(key: string): boolean {
    return this.findSlot(this.checkKey(key)) >= 0;
  }

  get(key: string): Uint8Array | undefined {
    return this.getRecord(key)?.value;
  }

  getRecord(key: string): { value: Uint8Array; info: RecordInfo } | undefined {
    const keyBytes = this.checkKey(key);
    const slot = this.findSlot(keyBytes);
    if (slot < 0) return undefined;
    const entry = this.index.offsetAt(slot);
    const offset = entryOffset(entry);
    const h = this.rec.header(offset);
    if (!h) throw new CorruptRecordError(key, offset, 'record header checksum');
    // One read of the record, checked: the value itself, or the reference to its sectors.
    const payload = this.rec.checkedPayload(offset, h);
    if (!payload) throw new CorruptRecordError(key, offset, 'data checksum');
    if (!isSectorValue(entry)) {
      return { value: payload, info: { key, size: payload.length, encoding: h.encoding, writtenAt: h.writtenAt, offset, dataCrc: this.rec.storedCrc(offset, h) } };
    }
    const ref = decodePutS(payload, payload.length);
    const sectors = ref ? valueSectorsOf(this.flash, ref) : null;
    if (!ref || !sectors) throw new CorruptRecordError(key, offset, 'sector list');
    const value = new Uint8Array(ref.valueLength);
    for (let attempt = 0; ; attempt++) {
      readSectorValue(this.flash, sectors, ref.valueLength, 0, value);
      if (trailerCrc(crc32(value)) === ref.valueCrc) break;
      if (attempt >= 1) throw new CorruptRecordError(key, offset, 'value checksum');
    }
    return { value, info: { key, size: ref.valueLength, encoding: h.encoding, writtenAt: h.writtenAt, offset, dataCrc: ref.valueCrc } };
  }

  info(key: string): RecordInfo | undefined {
    const found = this.locate(key);
    if (!found) return undefined;
    const { offset, h, ref } = found;
    return { key, size: ref ? ref.valueLength : payloadLength(h), encoding: h.encoding, writtenAt: h.writtenAt, offset, dataCrc: ref ? ref.valueCrc : this.rec.storedCrc(offset, h) };
  }

  readRange(key: string, valueOffset: number, into: Uint8Array): number {
    const found = this.locate(key);
    if (!found) return 0;
    const { offset, h, ref } = found;
    if (ref) {
      const sectors = valueSectorsOf(this.flash, ref);
      if (!sectors) throw new CorruptRecordError(key, offset, 'sector list');
      return readSectorValue(this.flash, sectors, ref.valueLength, valueOffset, into);
    }
    const n = Math.max(0, Math.min(into.length, payloadLength(h) - valueOffset));
    this.journal.read(this.rec.payloadAt(offset, h) + valueOffset, into.subarray(0, n));
    return n;
  }

  private locate(key: string): { offset: number; h: RecordHeader; ref: SectorValueRef | null } | undefined {
    const slot = this.findSlot(this.checkKey(key));
    if (slot < 0) return undefined;
    const entry = this.index.offsetAt(slot);
    const offset = entryOffset(entry);
    const h = this.rec.header(offset);
    if (!h) throw new CorruptRecordError(key, offset, 'record header checksum');
    if (!isSectorValue(entry)) return { offset, h, ref: null };
    const ref = this.rec.sectorRef(offset, h);
    if (!ref) throw new CorruptRecordError(key, offset, 'sector reference');
    return { offset, h, ref };
  }

  keys(): string[] {
    const out: string[] = [];
    this.forEachKey((_h, read) => {
      const k = read();
      if (k !== undefined) out.push(k);
    });
    return out;
  }

  forEachKey(visit: (hash: number, readKey: () => string | undefined) => void): void {
    this.index.forEach((hash, entry) => {
      visit(hash, () => {
        const off = entryOffset(entry);
        const h = this.rec.header(off);
        if (!h) return undefined;
        const k = this.rec.key(off, h);
        if (!keyIntact(h, k) || keyHash(k) !== hash) return undefined;
        return utf8Decode(k);
      });
    });
  }

  get pendingWrites(): number {
    return this.pendingOps;
  }

  get size(): number {
    return this.index.size;
  }

  stats(): StoreStats {
    if (!this.liveExact) this.recount();
    this.ensureWear(); // for the estimate flag, which the record carries
    const capacity = this.capacityBytes();
    return {
      format: 3,
      keys: this.index.size,
      liveBytes: this.liveBytes,
      freeBytes: Math.max(0, capacity - this.liveBytes),
      capacityBytes: capacity,
      usableSectors: this.N - this.A,
      retiredSectors: [],
      indexHeapBytes: this.index.heapBytes,
      corruptRecordsSkipped: this.corruptSkipped,
      mountedCleanly: this.cleanMount,
      headSector: this.journal.head,
      tailSector: this.anchorStart,
      wearEstimated: this.wearEstimated,
    };
  }

  /** Erase counts as the store knows them (WEAR records; `estimated` after a mount that could not prove them exact), and levelling moves made. */
  wear(): { min: number; max: number; mean: number; sectors: number; estimated: boolean; levellingMoves: { collected: number; relocated: number } } {
    this.ensureWear();
    let min = Infinity;
    let max = 0;
    for (let s = 0; s < this.N; s++) {
      const w = this.table.wear(s);
      min = Math.min(min, w);
      max = Math.max(max, w);
    }
    return { min, max, mean: this.table.meanWear(), sectors: this.N, estimated: this.wearEstimated, levellingMoves: { ...this.levellingMoves } };
  }

  /** Per-sector erase counts as the store knows them (for tests and tools). */
  eraseCounts(): number[] {
    this.ensureWear();
    const out: number[] = [];
    for (let s = 0; s < this.N; s++) out.push(this.table.wear(s));
    return out;
  }

  // ---- writes ------------------------------------------------------------------------

  /** Values this long or longer live in whole sectors. */
  get sectorValueThreshold(): number {
    // A keyed record's value starts with its `replaces`.
    const fitsJournal = this.S - JOURNAL_HEADER_SIZE - RECORD_HEADER_SIZE - MAX_KEY_BYTES - REPLACES_SIZE - RECORD_TRAILER_SIZE;
    return Math.min(Math.floor((3 * this.S) / 4), fitsJournal + 1);
  }

  set(key: string, value: Uint8Array, options: WriteOptions = {}): void {
    const keyBytes = this.prepareWrite(key, value.length);
    if (value.length < this.sectorValueThreshold) {
      this.finishWrite(keyBytes, RecordKind.Put, value, [], options);
      return;
    }
    const w = this.sectorWriter(value.length);
    try {
      w.append(value);
      this.finishSectorValue(keyBytes, w, options);
    } catch (e) {
      this.dropTaken(w);
      throw e;
    }
  }

  /** Checks, the capacity verdict and room (GC) for a value of `length` bytes; the key's bytes. */
  private prepareWrite(key: string, length: number): Uint8Array {
    this.assertMounted();
    this.beginPut();
    const keyBytes = this.checkKey(key);
    if (length > this.opts.maxValueBytes) throw new ValueTooLargeError(key, length, this.opts.maxValueBytes);
    const slot = this.findSlot(keyBytes);
    const oldBytes = slot >= 0 ? this.footprintOf(this.index.offsetAt(slot)).bytes : 0;
    const big = length >= this.sectorValueThreshold;
    const sectors = big ? sectorFootprint(length, this.S) : 0;
    const recordBytes = recordSize(keyBytes.length, REPLACES_SIZE + (big ? putSSize(Math.min(256, sectors)) : length));
    const footprint = sectors * this.S + this.packed(recordBytes);
    this.checkCapacity(key, footprint - oldBytes, footprint);
    this.makeRoom(key, sectors, recordBytes);
    return keyBytes;
  }

  private sectorWriter(length: number): SectorValueWriter {
    return new SectorValueWriter(this.flash, length, () => this.takeErased(SectorKind.Value), (o, d) => this.journal.program(o, d));
  }

  /** Sectors of a value that will never be named: free again at once (nothing refers to them). */
  private dropTaken(w: SectorValueWriter): void {
    for (const s of w.taken) if (this.table.kind(s) === SectorKind.Value) this.freeNow(s);
  }

  /** The value's sectors are programmed: name them with a PUT-S record. */
  private finishSectorValue(keyBytes: Uint8Array, w: SectorValueWriter, options: WriteOptions): void {
    const ref = w.finish();
    const refBytes = new Uint8Array(putSSize(ref.sectors.length));
    encodePutS(ref, refBytes);
    this.finishWrite(keyBytes, RecordKind.PutS, refBytes, w.taken, options);
  }

  /** Append the key's record (it replaces what the index names now) and make it the key's. */
  private finishWrite(keyBytes: Uint8Array, kind: RecordKind, payload: Uint8Array, taken: number[], options: WriteOptions): void {
    const hash = keyHash(keyBytes);
    const slot = this.findSlot(keyBytes, hash);
    const old = slot >= 0 ? this.footprintOf(this.index.offsetAt(slot)) : null;
    const at = this.appendRecord(kind, keyBytes, payload, options.encoding ?? 0, old ? old.entry : NONE);
    const size = recordSize(keyBytes.length, REPLACES_SIZE + payload.length);
    const entry = kind === RecordKind.PutS ? (at | SECTOR_VALUE_FLAG) >>> 0 : at;
    for (const s of taken) this.table.addLive(s, this.S);
    for (const s of taken) this.valueOwner[s] = hash;
    this.liveBytes += taken.length * this.S + this.packed(size);
    this.chargeJournal(size);
    this.table.addLive(Math.floor(at / this.S), size);
    this.liveRecords[Math.floor(at / this.S)]++;
    if (size > this.largestRecord) this.largestRecord = size;
    if (old) {
      this.dropOld(old);
      this.index.setOffset(slot, entry);
    } else this.index.insert(hash, entry);
    this.committed(options.flush === true);
  }

  delete(key: string, options: { flush?: boolean } = {}): boolean {
    this.assertMounted();
    const keyBytes = this.checkKey(key);
    const hash = keyHash(keyBytes);
    const slot = this.findSlot(keyBytes, hash);
    if (slot < 0) return false;
    this.beginPut();
    // A delete only frees: it runs no GC while its record fits the head (GC may gain nothing at high fill, and
    // each MOVE spends journal the delete would need).
    if (this.journal.room < recordSize(keyBytes.length, REPLACES_SIZE)) this.makeRoom(key, 0, recordSize(keyBytes.length, REPLACES_SIZE), true);
    const old = this.footprintOf(this.index.offsetAt(slot)); // after GC, which may have moved it
    const size = recordSize(keyBytes.length, REPLACES_SIZE);
    this.appendRecord(RecordKind.Delete, keyBytes, new Uint8Array(0), 0, old.entry);
    this.chargeJournal(size);
    this.dropOld(old);
    this.index.removeAt(slot);
    this.committed(options.flush === true);
    return true;
  }

  flush(): void {
    this.assertMounted();
    this.journal.commit();
    this.pendingOps = 0;
  }

  /**
   * Stream a value of known length. A value of ¾ sector or more goes straight
   * into its sectors as chunks arrive (nothing holds it whole in RAM), named
   * by its PUT-S at commit; a smaller one is gathered (under ¾ sector) and
   * written at commit. Until commit the key keeps its old value, across a cut
   * too: nothing names the new sectors.
   */
  beginValue(key: string, length: number, options: WriteOptions = {}): ValueWriter {
    if (length < this.sectorValueThreshold) {
      this.assertMounted();
      this.checkKey(key);
      const gathered = new Uint8Array(length);
      let at = 0;
      return new ValueWriter(key, length, {
        append: (chunk) => {
          gathered.set(chunk, at);
          at += chunk.length;
        },
        commit: () => this.set(key, gathered, options),
        abort: () => {},
      });
    }
    const keyBytes = this.prepareWrite(key, length);
    const w = this.sectorWriter(length);
    return new ValueWriter(key, length, {
      append: (chunk) => {
        try {
          w.append(chunk);
        } catch (e) {
          this.dropTaken(w);
          throw e;
        }
      },
      commit: () => {
        this.assertMounted();
        this.finishSectorValue(keyBytes, w, options);
      },
      abort: () => this.dropTaken(w),
    });
  }

  // ---- internals: records --------------------------------------------------------------

  /** Append a record; keyed kinds (PUT, PUT-S, DELETE) carry `replaces` before their value. */
  private appendRecord(kind: RecordKind, key: Uint8Array, value: Uint8Array, encoding: number, replaces = NONE, writtenAt = this.now()): number {
    const prefix = isKeyed(kind) ? REPLACES_SIZE : 0;
    const valueLength = prefix + value.length;
    const size = recordSize(key.length, valueLength);
    const at = this.journal.beginRecord(size);
    const rec = new Uint8Array(size);
    encodeRecordHeader({ kind, keyLength: key.length, encoding, valueLength, writtenAt, keyCheck: key.length ? keyCheckOf(key) : undefined }, rec, 0);
    rec.set(key, RECORD_HEADER_SIZE);
    if (prefix) writeU32LE(rec, RECORD_HEADER_SIZE + key.length, replaces);
    rec.set(value, RECORD_HEADER_SIZE + key.length + prefix);
    writeU32LE(rec, size - 4, trailerCrc(crc32(rec, 0, RECORD_HEADER_SIZE, size - 4)));
    this.journal.put(rec);
    this.changedSinceCheckpoint = true;
    return at;
  }

  /** The cycle's budget counts journal bytes as they fill sectors (a commit pads to the unit): the pinned window is sectors. */
  private chargeJournal(size: number): void {
    const u = this.flash.programUnit;
    this.cycle.charge(this.opts.durability === 'immediate' ? Math.ceil(size / u) * u : size);
  }

  private committed(force: boolean): void {
    this.pendingOps++;
    // A batch also ends once the cycle's budget is spent: slices go out only at a commit, and a long batch of
    // journal-sized values would otherwise outrun the budget, growing the pinned window past the reserve
    // until GC wedges with the partition a third full (review finding 1).
    const cycleOverdue = this.cycle.paceTarget() === 0x100000000;
    if (this.opts.durability === 'immediate' || force || this.pendingOps >= this.opts.batchSize || cycleOverdue) {
      this.journal.commit();
      this.pendingOps = 0;
    }
    // Every put looks (a forced slice commits the batch so far): in batched mode a look only at commits
    // left the cycle a batch behind, caught up by several slices in one put.
    this.keepCycleDue();
    this.refillPool();
    if (this.pendingOps === 0 && this.erasesSinceWear >= this.wearInterval()) this.writeWear();
  }

  /** Erases between WEAR records: a 16th of the partition (what a mount after a cut may under-count), at least 16. */
  private wearInterval(): number {
    return Math.max(16, Math.ceil(this.N / 16));
  }

  /** Bytes of a WEAR record now, or 0 if the table does not fit a journal sector (then counts restart estimated). */
  private wearRecordBytes(): number {
    const room = this.journal.payloadSize - closeV3Span(this.flash.programUnit) - this.flash.programUnit;
    // Two bytes a sector when the spread needs them and they fit; else one, saturating (flagged an estimate).
    const wide = wearWidth(this.eraseCounts()) === 2 && recordSize(0, wearSize(this.N, 2)) <= room;
    this.wearWidthPlanned = wide ? 2 : 1;
    const bytes = recordSize(0, wearSize(this.N, this.wearWidthPlanned));
    return bytes <= room ? bytes : 0;
  }

  /** Append and commit a WEAR record between writes (after a cut, a mount starts its estimate there). */
  private writeWear(): void {
    if (this.inGc || !this.mounted) return;
    const bytes = this.wearRecordBytes();
    if (bytes === 0 || this.table.freeCount < GC_RESERVE) return;
    this.inGc = true;
    try {
      this.journal.reserve(bytes, 0);
      const at = this.appendWear();
      this.journal.commit();
      this.journal.wear = at;
    } finally {
      this.inGc = false;
    }
  }

  /** The WEAR record, encoded from the table as it is now (the caller has reserved room: nothing erases after). */
  private appendWear(): number {
    const counts = this.eraseCounts();
    // The width wearRecordBytes planned (the room reserved for it): narrower than the counts need saturates.
    const width = this.wearWidthPlanned;
    const value = new Uint8Array(wearSize(this.N, width));
    encodeWear(counts, value, 0, this.wearEstimated || wearWidth(counts) > width, width);
    const at = this.appendRecord(RecordKind.Wear, new Uint8Array(0), value, 0);
    this.erasesSinceWear = 0;
    return at;
  }

  /** A put starts: its allowance of GC steps and erases (DESIGN.md §3.5). */
  private beginPut(): void {
    this.gcStepsLeft = GC_STEPS_PER_PUT;
    this.putErases = 0;
  }

  /** A put ends: erase one sector into the pool if it erased nothing else and the pool is short. */
  private refillPool(): void {
    if (this.putErases > 0 || this.allocator.poolSize >= POOL_SECTORS || this.journal.failed) return;
    // Not while the token is unspent (its erase would come first: two erases in a put), and with the erase
    // counts read before the allocator chooses (reading them rebuilds the table and the allocator).
    if (this.token >= 0 && !this.tokenErased) return;
    this.ensureWear();
    const s = this.allocator.reserveForPool();
    if (s < 0) return;
    this.journal.erase(s); // counted by the writer's onErase hook, as every erase
    this.putErases++;
  }

  /** What an entry holds: its record's size and sector, and its value sectors if any. */
  private footprintOf(entry: number): { entry: number; bytes: number; size: number; sector: number; held: number[] } {
    const off = entryOffset(entry);
    const h = this.rec.header(off);
    const size = h ? recordSize(h.keyLength, h.valueLength) : 0;
    let held: number[] = [];
    if (h && isSectorValue(entry)) {
      const ref = this.rec.sectorRef(off, h);
      held = (ref && sectorsHeldBy(this.flash, ref)) || [];
    }
    return { entry, bytes: this.packed(size) + held.length * this.S, size, sector: Math.floor(off / this.S), held };
  }

  /**
   * What a small record takes of the partition, as capacity counts it: records
   * never cross pack sectors, so k records of a size share a sector only if k
   * fit, and each takes S / k (two of 2.1 KB cannot share 4 KiB: each counts
   * a sector). Without this, records between half and three quarters of a
   * sector filled the partition at 79 % of the capacity reported.
   */
  private packed(size: number): number {
    return size <= 0 ? 0 : Math.ceil(this.S / Math.max(1, Math.floor(this.S / size)));
  }

  /** The old record no longer counts: its bytes leave its sector, its value sectors go after the commit. */
  private dropOld(old: { size: number; sector: number; held: number[] }): void {
    this.liveBytes -= this.packed(old.size) + old.held.length * this.S;
    this.table.addLive(old.sector, -Math.min(old.size, this.table.live(old.sector)));
    if (this.liveRecords[old.sector] > 0) this.liveRecords[old.sector]--;
    for (const s of old.held) this.pendingRelease.push(s);
    this.maybeFree(old.sector);
  }

  /** A log sector with nothing live that nothing pins is free once the records that emptied it are on flash. */
  private maybeFree(sector: number): void {
    const k = this.table.kind(sector);
    if ((k === SectorKind.Journal || k === SectorKind.Pack) && this.liveRecords[sector] === 0 && !this.pinned(sector)) this.pendingRelease.push(sector);
  }

  private releasePending(): void {
    if (this.pendingRelease.length === 0) return;
    const list = this.pendingRelease;
    this.pendingRelease = [];
    for (const s of list) {
      if (this.pinned(s)) continue;
      if (this.table.kind(s) === SectorKind.Value) this.table.addLive(s, -this.table.live(s));
      const k = this.table.kind(s);
      if (k === SectorKind.Value || ((k === SectorKind.Journal || k === SectorKind.Pack) && this.liveRecords[s] === 0)) this.freeNow(s);
    }
  }

  private freeNow(s: number): void {
    this.table.addLive(s, -this.table.live(s));
    this.liveRecords[s] = 0;
    this.table.setKind(s, SectorKind.Free);
  }

  /**
   * The session's first erase or program, whatever it is for, is preceded by
   * the token's erase: a later mount that finds the token intact then knows
   * nothing at all was erased or programmed since the clean unmount (a GC copy
   * into the resumed pack head included).
   */
  private spendToken(): void {
    if (this.token < 0 || this.tokenErased) return;
    this.tokenErased = true;
    this.journal.erase(this.token);
    this.putErases++; // the put's erase: it refills no pool sector
  }

  /**
   * Read the erase counts a clean mount left unread (the WEAR record the CLOSE
   * names: N + 28 bytes), before anything uses or changes them: a session that
   * writes nothing never reads them. A damaged record leaves the counts at 0,
   * flagged as an estimate.
   */
  private ensureWear(): void {
    if (this.unreadWear === NONE) return;
    const w = readWearRecord(this.rec, this.unreadWear, this.N);
    this.unreadWear = NONE;
    if (!w) {
      this.wearEstimated = true;
      return;
    }
    this.wearEstimated = w.estimate;
    const old = this.table;
    const t = new SectorTable(this.N, this.S, w.counts);
    for (let s = 0; s < this.N; s++) {
      t.setKind(s, old.kind(s));
      if (old.live(s) > 0) t.addLive(s, old.live(s));
      t.touch(s, old.stamp(s));
    }
    this.table = t;
    this.allocator = new SectorAllocator(t);
    this.allocator.startAt(this.journal.next + 1);
  }

  /**
   * A sector erased for `kind`: from the pool (erased this session, unprogrammed since), else a fresh erase.
   * `own`: a value's own sector (not a levelling copy). It is the put's own cost, erased as it is written,
   * and takes a pool sector only if that is no more worn than the best other free one: least-worn allocation
   * stays global (a pool kept out of the values' choice concentrated their erases on fewer sectors: wear
   * max/mean 2.8 instead of 2.0 on 128 sectors).
   */
  private takeErased(kind: SectorKind, own = kind === SectorKind.Value): number {
    this.ensureWear();
    if (this.token >= 0) {
      this.spendToken();
      if (kind === SectorKind.Journal) {
        // Erased in this session and unprogrammed since: the first open's new `next` (rule E allows it).
        const t = this.token;
        this.token = -1;
        this.table.touch(t, this.clock);
        return t;
      }
    }
    const pooled = this.allocator.peekPooled();
    const fresh = own && pooled >= 0 ? this.allocator.peek() : -1;
    if (pooled >= 0 && (!own || fresh < 0 || this.table.wear(pooled) <= this.table.wear(fresh))) {
      const p = this.allocator.takePooled(kind);
      if (p >= 0) {
        this.table.touch(p, this.clock);
        return p;
      }
    }
    const s = this.allocator.take(kind);
    if (s < 0) throw new StoreError('flash-failure', 'internal: no free sector left for the store to open');
    this.table.touch(s, this.clock);
    this.valueOwner[s] = NO_OWNER; // named only once a PUT-S naming it is written
    this.journal.erase(s);
    if (!own) this.putErases++;
    return s;
  }

  // ---- the chain, anchors and pins ------------------------------------------------------

  private pinned(s: number): boolean {
    if (s < this.A || this.chainSet.has(s) || s === this.journal.next || s === this.pack.head || s === this.token) return true;
    for (const w of this.wearNames) if (w !== NONE && Math.floor(w / this.S) === s) return true;
    for (const list of this.checkpointPins.values()) if (list.includes(s)) return true;
    return false;
  }

  /** A journal sector joined the chain: maybe move the anchor on, and unpin what no header names any more. */
  private opened(sector: number): void {
    this.chain.push(sector);
    this.chainSet.add(sector);
    // WEAR records: the on-flash head's header names one, the new header (once programmed) another.
    const wasWear = this.wearNames;
    this.wearNames = [wasWear[wasWear.length - 1] ?? NONE, this.journal.wear];
    for (const w of wasWear) if (w !== NONE && !this.wearNames.includes(w)) this.maybeFree(Math.floor(w / this.S));
    // Until the new header is on flash a mount takes the previous head, and its names: both sets stay reachable.
    const prev = this.headerNames;
    this.headerNames = [this.journal.durable, this.journal.fallback];
    const need = [...prev, ...this.headerNames];
    const keep = new Set<number>([...need, this.lastCheckpoint]);
    for (const off of [...this.checkpointPins.keys()]) {
      if (!keep.has(off)) {
        const sectors = this.checkpointPins.get(off)!;
        this.checkpointPins.delete(off);
        for (const s of sectors) this.pendingRelease.push(s);
      }
    }
    this.moveAnchor(need);
  }

  /** Name a later chain start when the walk has grown K sectors past what the durable points named need. */
  private moveAnchor(need: number[]): void {
    let pos = this.chain.length - 1;
    for (const d of need) {
      if (d === NONE) return; // before two durable points, the chain from the format is the window
      const p = this.chain.indexOf(Math.floor(d / this.S));
      if (p < 0) return;
      pos = Math.min(pos, p);
    }
    const at = this.chain.indexOf(this.anchorStart);
    const K = this.anchorLag();
    if (pos - at < K) return;
    const target = this.chain[pos];
    const seq = this.seqOf(target);
    if (seq < 0) return;
    this.anchors.write(target, seq, ANCHOR_COPIES);
    this.putErases++; // it may have erased the next anchor sector: this put refills no pool sector
    this.anchorStart = target;
    const dropped = this.chain.slice(0, pos);
    this.chain = this.chain.slice(pos);
    for (const s of dropped) {
      this.chainSet.delete(s);
      this.maybeFree(s);
    }
  }

  private seqOf(sector: number): number {
    const b = new Uint8Array(JOURNAL_HEADER_SIZE);
    this.flash.read(sector * this.S, b);
    if (readU32LE(b, 0) !== JOURNAL_MAGIC) return -1;
    return readU32LE(b, 8);
  }

  // ---- checkpoints and the index cycle ---------------------------------------------------

  /**
   * Log bytes within which an index cycle completes (20 bytes a key, at least
   * 16 KiB, as v2): slices cost 8 bytes a key per cycle, so a smaller budget
   * costs programming; the pinned window is about three cycles, so a larger one
   * costs capacity. At most an eighth of the partition (a 32nd on small ones,
   * whose window must still leave room for data).
   */
  private cycleBudget(): number {
    const cap = Math.max(2048, Math.floor(this.flash.size / (this.N >= 256 ? 8 : 32)));
    if (this.opts.indexCycleBytes > 0) return Math.min(this.opts.indexCycleBytes, cap);
    return Math.min(Math.max(20 * this.index.size, 16 * 1024), cap);
  }

  /**
   * At a commit point: keep the index cycle on pace with forced slices, one
   * slice (at most a journal sector of entries) per commit, written once a
   * whole slice is due, so no single put writes a run of them.
   */
  private keepCycleDue(): void {
    if (this.inGc) return;
    // One slice a put: even paced over a quarter of the budget a slice is due only every few puts (about 20
    // at 64 B), so one a put catches up a lag within a few puts. Only once the whole cycle is overdue (its budget spent: the pinned window is
    // at its reserve's edge) may a put write more: the emergency of DESIGN.md §3.5.
    const limit = this.cycle.paceTarget() === 0x100000000 ? MAX_SLICES_PER_COMMIT : SLICES_PER_PUT;
    for (let i = 0; i < limit && this.forceSlice(); i++);
  }

  /** Write one forced slice if one is due; true if it did. */
  private forceSlice(): boolean {
    const target = this.cycle.paceTarget(undefined, CYCLE_PACED_WITHIN);
    if (target < 0) return false;
    const perSlice = Math.max(1, Math.floor((this.journal.payloadSize - 64) / CHECKPOINT_ENTRY_SIZE));
    const from = this.cycle.position;
    // Less than a whole slice behind (and not closing the cycle): wait, so slices stay about a sector each. A
    // range cut short by the slice size ends before the target; one that reached the target is not a whole
    // slice yet. (Its entry count cannot say: a range that stops before a group of colliding keys holds fewer
    // than perSlice, and waiting for the count stalled the cycle until its whole budget was spent, then forced
    // four slices a put for dozens of puts.)
    if (this.index.rangeFrom(from, perSlice, target).end >= target && target < 0x100000000) return false;
    // The slice fills what the head has left, unless that is little: a slice that opened a sector charged the
    // head's unused end to the cycle, which then ran faster (at 64 B and U 16, 3.5x instead of 2.6x).
    const fits = Math.floor((this.journal.room - 64) / CHECKPOINT_ENTRY_SIZE);
    const size = fits >= perSlice / 8 ? Math.min(perSlice, fits) : perSlice;
    const r = this.index.rangeFrom(from, size, target);
    // Keys sharing one home slot are never split: take them all if they alone exceed the limit.
    const end = r.end > from ? r.end : this.index.rangeFrom(from, Infinity, this.index.alignUp(from + 1)).end;
    try {
      this.makeRoom('(index)', 0, 64 + CHECKPOINT_ENTRY_SIZE * size, true);
    } catch (e) {
      if (!(e instanceof PartitionFullError)) throw e;
      return false; // no room now: the cycle catches up at a later put
    }
    this.cycle.writeForced(end, size, false);
    this.journal.commit();
    return true;
  }

  /**
   * Complete an index cycle at once and open a journal sector that names it,
   * so the durable points (and the anchor after them) move on and the chain
   * behind them is released. Three rounds take the oldest name past what
   * is pinned now. False if there was no sector to open.
   */
  private advanceWindow(): boolean {
    if (this.inGc) return false;
    const perSlice = Math.max(1, Math.floor((this.journal.payloadSize - 64) / CHECKPOINT_ENTRY_SIZE));
    // A round writes a whole cycle of slices and opens a sector after it: only if all of that fits.
    const roundSectors = Math.ceil((CHECKPOINT_ENTRY_SIZE * this.index.size + 64) / (this.journal.payloadSize - 64)) + 2;
    if (this.table.freeCount < roundSectors) return false;
    this.inGc = true;
    try {
      for (let round = 0; round < 3 && this.table.freeCount >= roundSectors; round++) {
        this.cycle.reset();
        this.cycle.writeForced(0x100000000, perSlice);
        this.journal.commit();
        if (this.table.freeCount < 1) break;
        this.journal.openNext();
        this.journal.commit();
      }
    } finally {
      this.inGc = false;
    }
    return true;
  }

  /** Live bytes and the largest record, exactly: one header read a key (and the PUT-S references). */
  private recount(): void {
    let live = 0;
    let largest = 0;
    this.index.forEach((_hash, entry) => {
      const off = entryOffset(entry);
      const h = this.rec.header(off);
      if (!h) return;
      const size = recordSize(h.keyLength, h.valueLength);
      live += this.packed(size);
      if (size > largest) largest = size;
      if (isSectorValue(entry)) {
        const ref = this.rec.sectorRef(off, h);
        const held = ref ? sectorsHeldBy(this.flash, ref) : null;
        if (held) live += held.length * this.S;
      }
    });
    this.liveBytes = live;
    this.largestRecord = largest;
    this.liveExact = true;
  }

  /**
   * A clean unmount's end of the log: a WEAR record, a full checkpoint (inline
   * if both fit a journal sector, else in sectors), then the CLOSE record in
   * the head's last units, naming the checkpoint, the WEAR record, a token and
   * the anchor slot to go on at. Every erase happens before the WEAR record is
   * encoded, so its counts are the session's final ones.
   */
  private closeLog(): void {
    if (!this.liveExact) this.recount();
    const entries = this.index.size;
    const head = encodeCheckpointHead(entries, this.liveBytes, this.largestRecord, []);
    const payload = new Uint8Array(checkpointSize(entries, 0));
    payload.set(head);
    let p = head.length;
    this.index.forEach((hash, entry) => {
      encodeCheckpointEntry(hash, entry, payload, p);
      p += CHECKPOINT_ENTRY_SIZE;
    });
    const span = closeV3Span(this.flash.programUnit);
    let wearBytes = this.wearRecordBytes();
    let value = payload;
    let encoding = 0;
    let taken: number[] = [];
    if (recordSize(0, payload.length) + wearBytes + span + this.flash.programUnit > this.journal.payloadSize - 64) {
      this.makeRoom('(checkpoint)', Math.ceil(payload.length / this.S), 64, true);
      const w = new SectorValueWriter(this.flash, payload.length, () => this.takeErased(SectorKind.Value), (o, d) => this.journal.program(o, d));
      w.append(payload);
      const ref = w.finish();
      value = new Uint8Array(putSSize(ref.sectors.length));
      encodePutS(ref, value);
      encoding = CHECKPOINT_IN_SECTORS;
      taken = w.taken;
      wearBytes = this.wearRecordBytes(); // the erases above may have widened the table
    }
    this.journal.reserve(recordSize(0, value.length) + wearBytes, span);
    // From here nothing erases but makeToken (before the WEAR record is encoded).
    const found = this.chooseToken();
    const token = found >= 0 ? found : this.makeToken();
    const tokenCheck = token >= 0 ? tokenCheckOf(this.flash, token) : null;
    const wearAt = wearBytes > 0 ? this.appendWear() : NONE;
    const at = this.appendRecord(RecordKind.Checkpoint, new Uint8Array(0), value, encoding);
    if (taken.length > 0) this.checkpointPins.set(at, taken);
    this.journal.commit();
    if (wearAt !== NONE) this.journal.wear = wearAt;
    this.lastCheckpoint = at;
    this.changedSinceCheckpoint = false;
    const close = new Uint8Array(CLOSE_V3_RECORD_SIZE);
    encodeCloseV3({ checkpoint: at, wear: wearAt, token: tokenCheck !== null ? token : NONE, tokenCheck: tokenCheck ?? 0, anchor: this.anchors.continuation(), pack: this.pack.continuation() }, close);
    this.journal.putAtEnd(close);
  }

  /**
   * No free sector qualifies as a token (early in a partition's life they are
   * all blank): make one. Erase the least-worn free sector and program a
   * marker into its first unit; nothing ever reads it but the next mount's
   * token check. One erase, only at unmounts that find no token. -1 if no
   * sector is free.
   */
  private makeToken(): number {
    if (this.table.freeCount === 0) return -1;
    const s = this.takeErased(SectorKind.Journal);
    const marker = new Uint8Array(Math.max(this.flash.programUnit, TOKEN_MARKER_BYTES)).fill(0xff);
    writeU32LE(marker, 0, TOKEN_MARKER_MAGIC);
    writeU32LE(marker, 4, this.journal.headSeq);
    marker.fill(0, 8, TOKEN_MARKER_BYTES);
    this.journal.program(s * this.S, marker.subarray(0, Math.ceil(TOKEN_MARKER_BYTES / this.flash.programUnit) * this.flash.programUnit));
    this.table.setKind(s, SectorKind.Free);
    return s;
  }

  /**
   * The token for the next session (DESIGN.md §4): a free sector whose first
   * 32 bytes do not read blank, the least worn of them (the next session's
   * first erase is the token's, as the allocator would have chosen). At most
   * TOKEN_TRIES sectors are read (32 bytes each). -1 if none qualifies: the
   * next session then erases `next` again.
   */
  private chooseToken(): number {
    const free: number[] = [];
    for (let s = this.A; s < this.N; s++) if (this.table.kind(s) === SectorKind.Free && !this.pinned(s)) free.push(s);
    free.sort((a, b) => this.table.wear(a) - this.table.wear(b) || a - b);
    for (let i = 0; i < free.length && i < TOKEN_TRIES; i++) if (tokenCheckOf(this.flash, free[i]) !== null) return free[i];
    return -1;
  }

  // ---- GC ------------------------------------------------------------------------------

  private usableForData(): number {
    return this.N - this.A;
  }

  /** Sectors kept out of data's reach: the chain's window, next, pack head, a pool for GC. */
  /**
   * Sectors whose garbage GC may not reclaim, or that must stay free: GC's
   * reserve and the head's `next`; the pinned chain (the anchor's lag, the
   * two cycles a mount may replay, the head); a checkpoint.
   */
  private reserveSectors(): number {
    // Pinned: the anchor's lag, two cycles a mount may replay and the one under way (each the budget's
    // records plus the slices listing every key: 8 bytes a key), the head.
    const cycleBytes = this.cycleBudget() + CHECKPOINT_ENTRY_SIZE * this.index.size;
    const windowSectors = this.anchorLag() + Math.ceil((3 * cycleBytes) / this.journal.payloadSize) + 2;
    const ckpt = Math.ceil(checkpointSize(this.index.size + 1, 0) / this.S);
    // And garbage for GC to work on when the partition is full: with none outside the window, each collection
    // copies a whole sector to free nothing, the cycle falls behind and the window outgrows its reserve.
    const slack = Math.ceil(this.N / 16);
    return GC_RESERVE + 1 + windowSectors + ckpt + slack;
  }

  /** Journal opens the anchor may lag behind the oldest durable point before it is rewritten (DESIGN.md §1.1). */
  private anchorLag(): number {
    // Records are written twice: counted as half the slots' worth of records. A pass opens at most N journal
    // sectors, so with this lag an anchor sector is erased at most 4/5 as often as the average sector (2/5 where
    // the two copies share a slot, 32 bytes or more): anchors cannot take part in levelling, and they start one
    // erase ahead (the format erases them all). With a lag of N records' worth (once a pass) they led every other
    // sector: kv-workload wear 1.23. (Counting shared slots as one would halve K where they are: more capacity,
    // but runtime-v3-wear's cold-value case, whose key count follows capacity, then reached 1.625.)
    return Math.max(2, Math.ceil((5 * this.N) / 4 / ((this.A * this.anchors.slotsPerSector) / ANCHOR_COPIES)));
  }

  private capacityBytes(): number {
    return Math.max(0, this.usableForData() - this.reserveSectors()) * this.S;
  }

  private checkCapacity(key: string, growth: number, footprint: number): void {
    if (growth <= 0) return;
    if (!this.liveExact && this.liveBytes + growth > this.capacityBytes()) this.recount();
    const capacity = this.capacityBytes();
    if (this.liveBytes + growth > capacity) throw new PartitionFullError(key, footprint, Math.max(0, capacity - this.liveBytes));
  }

  /**
   * Room for a write that takes `sectors` sectors (value sectors) and a record
   * of `recordBytes` in the journal: keep that free plus GC's own reserve (a
   * pack sector and a journal open for its MOVE) plus a lead. One collection
   * per write in the steady state; more only while the write or GC's reserve
   * would not fit. A delete may use GC's reserve: it only frees space.
   */
  private makeRoom(key: string, sectors: number, recordBytes: number, isDelete = false): void {
    this.clock = (this.clock + 1) >>> 0;
    const need = sectors + (this.journal.room >= recordBytes ? 0 : 1);
    const lead = Math.ceil(this.N / 32);
    if (this.pendingRelease.length > 0 && this.table.freeCount < need + GC_RESERVE + lead) {
      // Sectors a batch emptied are free once its records are on flash: commit the batch early rather than collect.
      this.journal.commit();
      this.pendingOps = 0;
      this.releasePending();
    }
    let steps = 0;
    while (this.table.freeCount < need + GC_RESERVE + lead) {
      // Below the hard reserve a put runs as many steps as it takes (the emergency of DESIGN.md §3.5).
      const hard = this.table.freeCount < need + GC_RESERVE;
      if (this.gcStepsLeft <= 0 && !hard) break;
      if (steps > this.N) break;
      if (!this.collectOne()) {
        // Nothing to collect outside the pinned window: move the window on (rare; the reserve is sized for it).
        if (!hard || steps > this.N || !this.advanceWindow()) break;
      }
      steps++;
      this.gcStepsLeft--;
    }
    // A levelling move is a GC step: only in a put that has its step left.
    if (!isDelete && steps === 0 && this.gcStepsLeft > 0 && this.levelWear(this.table.freeCount - need - GC_RESERVE)) this.gcStepsLeft--;
    // The sectors GC keeps to work with are part of what a write needs (a delete may use them).
    const required = need + (isDelete ? 0 : GC_RESERVE);
    if (this.table.freeCount < required) throw new PartitionFullError(key, required * this.S, this.table.freeCount * this.S);
  }

  /** Collect the unpinned log sector with the fewest live bytes; false if none helps. */
  /** A closed log sector GC may take: not pinned, not already released, not wholly live. */
  private collectable(s: number): boolean {
    const k = this.table.kind(s);
    if (k !== SectorKind.Journal && k !== SectorKind.Pack) return false;
    return !this.pinned(s) && !this.pendingRelease.includes(s);
  }

  /** Collect the sector cost-benefit picks (victim-policy.ts: old and mostly dead first); false if none can be. */
  private collectOne(): boolean {
    const victim = chooseVictim(this.table, this.clock, (s) => this.collectable(s) && this.table.live(s) < this.S);
    if (victim < 0) return false;
    return this.collectIfRoom(victim);
  }

  /**
   * Static wear levelling (wear-leveller.ts, DESIGN.md §3.6): when the
   * least-worn free sector is more worn than a sector holding data by more
   * than the bound, that data is cold: a log sector is collected, a value
   * sector relocated, so the little-worn sector goes back into circulation.
   * Looked at in a write (not a delete or an internal write) that ran no GC
   * step, once each time something was erased since the last look: at most
   * one move a write, and never a second step beside a collection.
   * `spare`: free sectors beyond what the write itself and GC's reserve need.
   */
  private levelWear(spare: number): boolean {
    if (this.journal.eraseOps === this.levelledAtErases || spare < 1) return false;
    this.levelledAtErases = this.journal.eraseOps;
    const cold = levellingMove(this.table, (s) => this.collectable(s) || this.relocatable(s));
    if (cold < 0) return false;
    if (this.table.kind(cold) === SectorKind.Value) {
      if (!this.relocate(cold, spare)) return false;
      this.levellingMoves.relocated++;
    } else {
      if (!this.collectIfRoom(cold)) return false;
      this.levellingMoves.collected++;
    }
    return true;
  }

  /** A value or list sector levelling may move: named by a PUT-S, not pinned, not on its way out. */
  private relocatable(s: number): boolean {
    return this.table.kind(s) === SectorKind.Value && this.valueOwner[s] !== NO_OWNER && !this.pinned(s) && !this.pendingRelease.includes(s);
  }

  /**
   * Move one value sector: copy it to a freshly allocated sector, then append
   * a PUT-S for the same key and value (relocation bit, the old record's
   * encoding and time) naming the new sector in its place, and commit; the
   * old sector is released after the commit (rule R). In a value named
   * through list sectors, a moved value sector means its list sector is
   * rewritten too (a second new sector), and a list sector is copied as it
   * is. A cut before the commit leaves the new sectors unnamed (free at
   * mount) and the old record in force; after it, the new record replaces the
   * old one as any PUT-S does. False if nothing was moved.
   */
  private relocate(sector: number, spare: number): boolean {
    const hash = this.valueOwner[sector];
    let ref: SectorValueRef | null = null;
    let values: number[] | null = null;
    let h: RecordHeader | null = null;
    const slot = this.index.find(hash, (entry) => {
      if (!isSectorValue(entry)) return false;
      h = this.rec.header(entryOffset(entry));
      ref = h ? this.rec.sectorRef(entryOffset(entry), h) : null;
      if (!ref) return false;
      if (ref.sectors.includes(sector)) return true;
      values = ref.lists ? valueSectorsOf(this.flash, ref) : null; // reads the list sectors (at most 2)
      return values !== null && values.includes(sector);
    });
    if (slot < 0 || !ref || !h) {
      this.valueOwner[sector] = NO_OWNER; // no record names it (a damaged one, say): leave it be
      return false;
    }
    const old: SectorValueRef = ref;
    const oldHeader: RecordHeader = h;
    const oldEntry = this.index.offsetAt(slot);
    const oldOffset = entryOffset(oldEntry);
    const key = this.rec.key(oldOffset, oldHeader);
    if (!keyIntact(oldHeader, key) || keyHash(key) !== hash) {
      this.valueOwner[sector] = NO_OWNER;
      return false;
    }
    const S = this.S;
    const u = this.flash.programUnit;
    // What to write: the sector's copy, and (a value sector of a list-form value) its list rewritten.
    let at = old.sectors.indexOf(sector); // the reference entry that changes
    let copyBytes: number; // the units of `sector` its writer programmed
    let list: number[] | null = null; // the entries of the list sector to rewrite, or null
    if (at >= 0) {
      copyBytes = old.lists ? S : Math.ceil(Math.min(S, old.valueLength - at * S) / u) * u;
    } else {
      const all = values as number[] | null;
      if (!all) return false;
      const per = listCapacity(S);
      const p = all.indexOf(sector);
      at = Math.floor(p / per);
      copyBytes = Math.ceil(Math.min(S, old.valueLength - p * S) / u) * u;
      list = all.slice(at * per, (at + 1) * per);
    }
    const refBytes = new Uint8Array(putSSize(old.sectors.length));
    const size = recordSize(key.length, REPLACES_SIZE + refBytes.length);
    // At most two erases, as a GC step (a pack open and a journal open): a rewritten list takes two sectors, so
    // its PUT-S must fit the journal head (else the move waits for a later look).
    const opensJournal = this.journal.room < size;
    if (list && opensJournal) return false;
    if (spare < (list ? 2 : 1) + (opensJournal ? 1 : 0)) return false;
    const bytes = new Uint8Array(copyBytes);
    this.flash.read(sector * S, bytes);
    const released = list ? [sector, old.sectors[at]] : [sector];
    this.inGc = true;
    try {
      const to = this.takeErased(SectorKind.Value, false); // levelling's copy: from the pool, one of the put's erases
      this.valueOwner[to] = hash;
      this.table.addLive(to, S);
      this.journal.program(to * S, bytes);
      let named = to;
      if (list) {
        const page = new Uint8Array(S);
        encodeListSector(list.map((s) => (s === sector ? to : s)), page);
        named = this.takeErased(SectorKind.Value, false);
        this.valueOwner[named] = hash;
        this.table.addLive(named, S);
        this.journal.program(named * S, page);
      }
      const moved: SectorValueRef = { ...old, relocation: true, sectors: old.sectors.slice() };
      moved.sectors[at] = named;
      encodePutS(moved, refBytes);
      const rec = this.appendRecord(RecordKind.PutS, key, refBytes, oldHeader.encoding, oldEntry, oldHeader.writtenAt);
      this.chargeJournal(size);
      const recSector = Math.floor(rec / S);
      this.table.addLive(recSector, size);
      this.liveRecords[recSector]++;
      this.index.setOffset(slot, (rec | SECTOR_VALUE_FLAG) >>> 0);
      // The old record leaves its sector; of the sectors it named, only the moved ones are released.
      const oldSector = Math.floor(oldOffset / S);
      this.table.addLive(oldSector, -Math.min(recordSize(oldHeader.keyLength, oldHeader.valueLength), this.table.live(oldSector)));
      if (this.liveRecords[oldSector] > 0) this.liveRecords[oldSector]--;
      this.maybeFree(oldSector);
      for (const s of released) {
        this.valueOwner[s] = NO_OWNER;
        this.pendingRelease.push(s);
      }
      this.journal.commit();
      this.pendingOps = 0;
    } finally {
      this.inGc = false;
    }
    return true;
  }

  private collectIfRoom(victim: number): boolean {
    // It may open a pack sector (live bytes after a mount are estimates) and a journal sector for its MOVE
    // before the victim is free: never start one that could run out of sectors half-way.
    const moveBytes = recordSize(0, moveSize(this.liveRecords[victim] + 1));
    const stepNeed = 1 + (this.journal.room >= moveBytes ? 0 : 1);
    if (this.table.freeCount < stepNeed) return false;
    this.collect(victim);
    return true;
  }

  private collect(victim: number): void {
    this.inGc = true;
    try {
      const S = this.S;
      const base = victim * S;
      const first = new Uint8Array(4);
      this.flash.read(base, first);
      let pos = readU32LE(first, 0) === JOURNAL_MAGIC ? base + JOURNAL_HEADER_SIZE : base;
      const moves: MoveEntry[] = [];
      const one = new Uint8Array(1);
      let moved = 0;
      const end = base + S;
      const copy = (off: number, h: RecordHeader, entry: number, slot: number): void => {
        const size = recordSize(h.keyLength, h.valueLength);
        const bytes = new Uint8Array(size);
        this.flash.read(off, bytes);
        const to = this.pack.append(bytes);
        const toEntry = isSectorValue(entry) ? (to | SECTOR_VALUE_FLAG) >>> 0 : to;
        moves.push({ hash: this.index.hashAt(slot), from: entry, to: toEntry });
        this.index.setOffset(slot, toEntry);
        this.table.addLive(Math.floor(to / S), size);
        this.liveRecords[Math.floor(to / S)]++;
        moved += size;
      };
      while (pos + RECORD_HEADER_SIZE <= end) {
        this.flash.read(pos, one);
        if (one[0] === 0xff) break;
        if (one[0] === RecordKind.Pad) {
          pos = Math.min(end, (Math.floor(pos / this.flash.programUnit) + 1) * this.flash.programUnit);
          continue;
        }
        const h = this.rec.header(pos);
        if (!h) break;
        const size = recordSize(h.keyLength, h.valueLength);
        if (pos + size > end) break;
        if (h.kind === RecordKind.Put || h.kind === RecordKind.PutS) {
          const entry = h.kind === RecordKind.PutS ? (pos | SECTOR_VALUE_FLAG) >>> 0 : pos;
          const k = this.rec.key(pos, h);
          const slot = this.index.findOffset(keyHash(k), entry);
          if (slot >= 0) copy(pos, h, entry, slot);
        }
        pos += size;
      }
      // Entries the walk could not reach (a damaged header before them): found by offset. An entry whose own
      // header is damaged cannot be copied: the MOVE drops it (to NONE), so no index entry, in RAM or replayed,
      // points into the victim once it is reused.
      const damaged: MoveEntry[] = [];
      this.index.forEach((hash, entry, slot) => {
        const off = entryOffset(entry);
        if (Math.floor(off / S) !== victim) return;
        const h = this.rec.header(off);
        if (h) copy(off, h, entry, slot);
        else damaged.push({ hash, from: entry, to: NONE });
      });
      // Removed by hash and offset after the walk: a removal shifts the slots after it.
      for (const d of damaged) {
        moves.push(d);
        const slot = this.index.findOffset(d.hash, d.from);
        if (slot >= 0) this.index.removeAt(slot);
      }
      this.corruptSkipped += damaged.length;
      this.pack.flush();
      if (moves.length > 0) {
        const value = new Uint8Array(moveSize(moves.length));
        encodeMove(victim, moves, value);
        this.appendRecord(RecordKind.Move, new Uint8Array(0), value, 0);
        this.cycle.charge(recordSize(0, value.length));
      }
      this.table.addLive(victim, -this.table.live(victim));
      this.liveRecords[victim] = 0;
      this.pendingRelease.push(victim);
      this.journal.commit();
      this.pendingOps = 0;
      void moved;
    } finally {
      this.inGc = false;
    }
  }

  // ---- small things ---------------------------------------------------------------------

  private findSlot(keyBytes: Uint8Array, hash = keyHash(keyBytes)): number {
    return this.index.find(hash, (entry) => this.rec.keyIs(entryOffset(entry), keyBytes));
  }

  private checkKey(key: string): Uint8Array {
    if (typeof key !== 'string' || key.length === 0) throw new KeyInvalidError('the key is empty or not a string');
    const bytes = utf8Encode(key);
    if (bytes.length > MAX_KEY_BYTES) throw new KeyTooLongError(key, bytes.length, MAX_KEY_BYTES);
    return bytes;
  }

  private assertMounted(): void {
    if (!this.mounted) throw new StoreError('unmounted', 'the runtime store was unmounted; mount it again to write');
  }

  private now(): number {
    return this.opts.clock ? Math.floor(this.opts.clock.now() / 1000) : 0;
  }
}

