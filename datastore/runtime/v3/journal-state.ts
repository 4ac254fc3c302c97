// What a format v3 store knows of its partition (DESIGN.md in this folder):
// the sector table and allocator, the index, the chain and what it pins, live
// bytes, the token and the erase counts, with the bookkeeping every job of the
// store shares (appending a record, taking an erased sector, releasing what
// records freed). The jobs themselves live beside it: journal-store.ts (API,
// write path), journal-session.ts (mount, WEAR, clean unmount), journal-gc.ts,
// sector-levelling.ts, journal-window.ts (capacity, index cycle, anchor).

import type { FlashPartition } from '../../../hal/flash.ts';
import type { Clock } from '../../../hal/clock.ts';
import { crc32 } from '../../../bytes/crc32.ts';
import { writeU32LE } from '../../../bytes/byte-order.ts';
import { encodeRecordHeader, keyCheckOf, NONE, RECORD_HEADER_SIZE, RecordKind, recordSize, trailerCrc } from '../format.ts';
import { KeyIndex } from '../key-index.ts';
import { checkedKey, keyHash } from '../key-text.ts';
import { IndexCycle } from '../index-cycle.ts';
import { StoreError } from '../errors.ts';
import type { Durability, RuntimeStoreOptions } from '../store-api.ts';
import { JOURNAL_HEADER_SIZE } from './format-v3.ts';
import { AnchorArea, anchorSectorCount } from './anchor.ts';
import { SectorKind, SectorTable } from './sector-table.ts';
import { SectorAllocator } from './sector-allocator.ts';
import { JournalWriter } from './journal-writer.ts';
import { PackWriter } from './pack-writer.ts';
import { checkpointSectors, readWearRecord } from './journal-mount.ts';
import { entryOffset, isKeyed, isSectorValue, RecordAt, REPLACES_SIZE } from './journal-records.ts';
import { sectorsHeldBy } from './sector-value.ts';

/** GC steps (a collection or a levelling move) one put may run; more only below the hard reserve (DESIGN.md §3.5). */
export const GC_STEPS_PER_PUT = 1;
/**
 * Each anchor record is written twice: a mount that finds the newest damaged
 * takes its twin, so the chain before it need not stay pinned for the
 * previous record's sake.
 */
export const ANCHOR_COPIES = 2;
/**
 * Free sectors a collection may need (a pack sector and a journal open for its
 * MOVE record), plus one: the first write after a mount opens a journal sector
 * before anything else, and must still leave a collection room to run.
 */
export const GC_RESERVE = 3;
/** valueOwner of a sector no PUT-S names (free, a checkpoint's, a value being written). */
export const NO_OWNER = 0xffffffff;

/** Below this the reserve (GC's sectors, the pinned window, anchors) leaves no room for data. */
export const MIN_SECTORS = 16;

/** What the state's writers call back into (journal-window.ts): passed in, so this module imports no job. */
export interface StateJobs {
  /** A journal sector joined the chain. */
  opened(sector: number): void;
  /** Log bytes within which an index cycle completes. */
  cycleBudget(): number;
}

export class JournalState {
  readonly flash: FlashPartition;
  readonly S: number;
  readonly N: number;
  readonly A: number;
  readonly anchors: AnchorArea;
  table: SectorTable;
  allocator: SectorAllocator;
  readonly journal: JournalWriter;
  readonly pack: PackWriter;
  readonly rec: RecordAt;
  index = new KeyIndex();
  readonly cycle: IndexCycle;
  readonly opts: { durability: Durability; batchSize: number; clock: Clock | null; maxValueBytes: number; indexCycleBytes: number };
  /** Journal sectors from the pinned start (the previous anchor's) to the head, in chain order. */
  chain: number[] = [];
  anchorStart = -1;
  readonly chainSet = new Set<number>();
  /** Checkpoint sectors a durable point or CLOSE names, by the checkpoint record's offset. */
  readonly checkpointPins = new Map<number, number[]>();
  /** Durable points the newest programmed headers name (kept until a newer header is on flash). */
  headerNames: number[] = [];
  /** Sectors freed by records not yet committed (rule R). */
  pendingRelease: number[] = [];
  liveBytes = 0;
  /** False after a mount that replayed records: liveBytes is the last snapshot's, until recount(). */
  liveExact = true;
  /** Live records per log sector: exact, so a sector is freed only when none is left (live bytes are estimates after a mount). */
  liveRecords: Uint32Array;
  /**
   * Key hash of the PUT-S record that names each value or list sector, else
   * NO_OWNER: wear levelling finds the record to re-point with one index
   * probe, without reading every PUT-S (4 bytes a sector).
   */
  valueOwner: Uint32Array;
  /** Static levelling moves this session: log sectors collected, value sectors relocated. */
  readonly levellingMoves = { collected: 0, relocated: 0 };
  /** journal.eraseOps when levelling last looked: wear changes only with an erase. */
  levelledAtErases = -1;
  largestRecord = 0;
  pendingOps = 0;
  /** Writes since mount: the age of a sector for cost-benefit victims. */
  clock = 0;
  changedSinceCheckpoint = false;
  lastCheckpoint = NONE;
  mounted = true;
  cleanMount = true;
  corruptSkipped = 0;
  inGc = false;
  /**
   * The token (DESIGN.md §4): the sector the head's CLOSE names. Reserved
   * until the first journal open takes it as its new `next`: nothing else
   * programs it, and the session's first erase is its erase. -1: none.
   */
  token = -1;
  tokenErased = false;
  /** The erase counts are an estimate (a mount that could not prove them exact). */
  wearEstimated = false;
  /** The WEAR record a clean mount left unread (ensureWear reads it before the counts are used), or NONE. */
  unreadWear = NONE;
  /** Delta width the last wearRecordBytes() planned for the WEAR record (1 or 2 bytes a sector). */
  wearWidthPlanned: 1 | 2 = 1;
  /** Erases since the newest WEAR record (one is written every wearInterval()). */
  erasesSinceWear = 0;
  /** WEAR records the on-flash head's header and the next header name: their sectors stay pinned. */
  wearNames: number[] = [];
  /** GC steps this put may still run (outside the hard reserve). */
  gcStepsLeft = GC_STEPS_PER_PUT;
  /** Erases this put did outside its own value sectors (journal, pack, checkpoint, pool). */
  putErases = 0;

  constructor(flash: FlashPartition, options: RuntimeStoreOptions, jobs: StateJobs) {
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
      jobs.opened(s);
    };
    this.pack = new PackWriter(flash, () => this.takeErased(SectorKind.Pack), (o, d) => this.journal.program(o, d));
    this.rec = new RecordAt({ size: flash.size, read: (o, into) => this.journal.read(o, into) });
    this.cycle = new IndexCycle(this.journal, {
      index: () => this.index,
      totals: () => ({ liveBytes: this.liveBytes, exact: this.liveExact, largestRecord: this.largestRecord }),
      retired: () => [],
      now: () => this.now(),
      budget: () => jobs.cycleBudget(),
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

  /** Per-sector erase counts as the store knows them (for tests and tools). */
  eraseCounts(): number[] {
    this.ensureWear();
    const out: number[] = [];
    for (let s = 0; s < this.N; s++) out.push(this.table.wear(s));
    return out;
  }

  /** Append a record; keyed kinds (PUT, PUT-S, DELETE) carry `replaces` before their value. */
  appendRecord(kind: RecordKind, key: Uint8Array, value: Uint8Array, encoding: number, replaces = NONE, writtenAt = this.now()): number {
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
  chargeJournal(size: number): void {
    const u = this.flash.programUnit;
    this.cycle.charge(this.opts.durability === 'immediate' ? Math.ceil(size / u) * u : size);
  }

  /**
   * What a small record takes of the partition, as capacity counts it: records
   * never cross pack sectors, so k records of a size share a sector only if k
   * fit, and each takes S / k (two of 2.1 KB cannot share 4 KiB: each counts
   * a sector). Without this, records between half and three quarters of a
   * sector filled the partition at 79 % of the capacity reported.
   */
  packed(size: number): number {
    return size <= 0 ? 0 : Math.ceil(this.S / Math.max(1, Math.floor(this.S / size)));
  }

  /** What an entry holds: its record's size and sector, and its value sectors if any. */
  footprintOf(entry: number): { entry: number; bytes: number; size: number; sector: number; held: number[] } {
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

  /** The old record no longer counts: its bytes leave its sector, its value sectors go after the commit. */
  dropOld(old: { size: number; sector: number; held: number[] }): void {
    this.liveBytes -= this.packed(old.size) + old.held.length * this.S;
    this.table.addLive(old.sector, -Math.min(old.size, this.table.live(old.sector)));
    if (this.liveRecords[old.sector] > 0) this.liveRecords[old.sector]--;
    for (const s of old.held) this.pendingRelease.push(s);
    this.maybeFree(old.sector);
  }

  /** A log sector with nothing live that nothing pins is free once the records that emptied it are on flash. */
  maybeFree(sector: number): void {
    const k = this.table.kind(sector);
    if ((k === SectorKind.Journal || k === SectorKind.Pack) && this.liveRecords[sector] === 0 && !this.pinned(sector)) this.pendingRelease.push(sector);
  }

  releasePending(): void {
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

  freeNow(s: number): void {
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
  spendToken(): void {
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
  ensureWear(): void {
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

  /** Start from these erase counts (a store that reformats itself hands its own on). */
  seedWear(wear: { counts: number[]; estimated: boolean }): void {
    if (wear.counts.length !== this.N) return;
    this.table = new SectorTable(this.N, this.S, wear.counts);
    this.allocator = new SectorAllocator(this.table);
    this.wearEstimated = wear.estimated;
  }

  /**
   * A sector erased for `kind`: from the pool (erased this session, unprogrammed since), else a fresh erase.
   * `own`: a value's own sector (not a levelling copy). It is the put's own cost, erased as it is written,
   * and takes a pool sector only if that is no more worn than the best other free one: least-worn allocation
   * stays global (a pool kept out of the values' choice concentrated their erases on fewer sectors: wear
   * max/mean 2.8 instead of 2.0 on 128 sectors).
   */
  takeErased(kind: SectorKind, own = kind === SectorKind.Value): number {
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

  pinned(s: number): boolean {
    if (s < this.A || this.chainSet.has(s) || s === this.journal.next || s === this.pack.head || s === this.token) return true;
    for (const w of this.wearNames) if (w !== NONE && Math.floor(w / this.S) === s) return true;
    for (const list of this.checkpointPins.values()) if (list.includes(s)) return true;
    return false;
  }

  pinCheckpoint(offset: number, t = this.table): void {
    if (offset === NONE || this.checkpointPins.has(offset)) return;
    const sectors = checkpointSectors(this.flash, offset);
    this.checkpointPins.set(offset, sectors);
    for (const s of sectors) if (t.kind(s) === SectorKind.Free) t.setKind(s, SectorKind.Value);
  }

  findSlot(keyBytes: Uint8Array, hash = keyHash(keyBytes)): number {
    return this.index.find(hash, (entry) => this.rec.keyIs(entryOffset(entry), keyBytes));
  }

  checkKey(key: string): Uint8Array {
    return checkedKey(key);
  }

  assertMounted(): void {
    if (!this.mounted) throw new StoreError('unmounted', 'the runtime store was unmounted; mount it again to write');
  }

  now(): number {
    return this.opts.clock ? Math.floor(this.opts.clock.now() / 1000) : 0;
  }
}
