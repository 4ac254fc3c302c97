// The legacy runtime store, format v2: a power-safe, log-structured key-value
// and blob store over a NOR-flash partition, laid out as one FIFO ring.
// FORMAT.md beside this file gives the bytes and the reasoning. Format v3
// (v3/journal-store.ts) is the default; this store still mounts, writes and
// keeps every promise on partitions formatted v2 (runtime-store.ts decides).
//
// - Writes append records to a log laid over the sector ring (record-log.ts).
// - The newest record of each key is found through a compact hash index
//   (key-index.ts) rebuilt at mount from the newest checkpoint plus the
//   records written after it.
// - Garbage collection is first-in first-out: the oldest sector (the tail)
//   has its live records copied to the head, then it is free. Every sector
//   is erased once per pass round the ring, so wear is level by construction.

import type { FlashPartition } from '../../hal/flash.ts';
import type { Clock } from '../../hal/clock.ts';
import {
  decodeSectorHeader,
  afterPad,
  closeSpan,
  CHECKPOINT_ENTRY_SIZE,
  checkpointSize,
  decodeRecordHeader,
  encodeRecordHeader,
  NONE,
  RECORD_HEADER_SIZE,
  RECORD_TRAILER_SIZE,
  RecordKind,
  recordSize,
  SECTOR_HEADER_SIZE,
  trailerCrc,
  encodeCheckpointEntry,
  encodeCheckpointHead,
  type RecordHeader,
  keyCheckOf,
  keyIntact,
} from './format.ts';
import { crc32 } from '../../bytes/crc32.ts';
import { readU32LE, writeU32LE } from '../../bytes/byte-order.ts';
import { KeyIndex } from './key-index.ts';
import { utf8Decode } from '../../bytes/utf8.ts';
import { checkedKey, keyHash } from './key-text.ts';
import { RecordLog } from './record-log.ts';
import { MountRecovery } from './mount-recovery.ts';
import { RecordReader } from './record-reader.ts';
import { SectorRing } from './sector-ring.ts';
import {
  CorruptRecordError,
  NotFormattedError,
  PartitionFullError,
  StoreError,
  ValueStreamError,
  ValueTooLargeError,
} from './errors.ts';
import { ValueWriter } from './value-writer.ts';
import { IndexCycle } from './index-cycle.ts';
import type { RecordInfo, RuntimeStoreOptions, StoreStats, WriteOptions } from './store-api.ts';

const CHUNK = 512;

/** GC's lead over what writes need, in free sectors (at most). */
const GC_AHEAD_SECTORS = 8;
/** Collections a write may run to keep that lead (more only when it must, to fit itself). */
const GC_AHEAD_STEPS = 12;

export class RingStore {
  readonly flash: FlashPartition;
  private readonly ring: SectorRing;
  private readonly log: RecordLog;
  private readonly reader: RecordReader;
  private index: KeyIndex;
  private readonly opts: Required<Omit<RuntimeStoreOptions, 'clock'>> & { clock: Clock | null };

  private liveBytes = 0;
  private liveBytesExact = true;
  /** The record appended last (a pad written after it belongs to it while it is live). */
  private lastAppend: { offset: number; end: number; hash: number } | null = null;
  /** log.eraseOps when the current write began. */
  private opErases = 0;
  private largestRecord = 0;
  private tailPos = 0;
  private pendingOps = 0;
  /** The rolling index snapshot's writer. */
  private readonly cycle: IndexCycle;
  /** Partition offset of the newest full CHECKPOINT record (a clean unmount's CLOSE names only those). */
  private lastFullCheckpoint = NONE;
  /** Writing forced slices (GC they need must not start another round). */
  private cycleBusy = false;
  private changedSinceCheckpoint = false;
  private inMaintenance = false;
  /** The streamed value being written, if any (beginValue). */
  private stream: ValueWriter | null = null;
  private mounted = true;
  private corruptSkipped = 0;
  private cleanMount = true;
  private readonly hdr = new Uint8Array(RECORD_HEADER_SIZE);

  private constructor(flash: FlashPartition, options: RuntimeStoreOptions) {
    this.flash = flash;
    if (flash.size % flash.sectorSize !== 0 || flash.sectorSize < 512 || flash.sectorSize % flash.programUnit !== 0) {
      throw new StoreError('geometry', `unsupported flash geometry: size ${flash.size}, sector ${flash.sectorSize}, program unit ${flash.programUnit}. Sectors must be at least 512 bytes and divide the partition.`);
    }
    this.ring = new SectorRing(flash);
    if (this.ring.sectorCount < 8) throw new StoreError('geometry', `the partition has ${this.ring.sectorCount} sectors; the store needs at least 8.`);
    this.log = new RecordLog(this.ring);
    this.reader = new RecordReader(this.log);
    this.cycle = new IndexCycle(this.log, {
      index: () => this.index,
      totals: () => ({ liveBytes: this.liveBytes, exact: this.liveBytesExact, largestRecord: this.largestRecord }),
      retired: () => this.ring.retiredList(),
      now: () => this.now(),
      budget: () => this.cycleBudget(),
    });
    this.log.beforePad = (room) => {
      if (this.mounted) this.cycle.fillPadding(room);
    };
    this.log.onCommitted = () => this.cycle.committed();
    // Padding after a live record is part of its footprint until GC packs it.
    this.log.onPad = (at, bytes) => {
      const last = this.lastAppend;
      if (last && last.end === at && this.index.findOffset(last.hash, last.offset) >= 0) this.liveBytes += bytes;
    };
    this.index = new KeyIndex();
    const payload = this.ring.payloadSize * this.ring.sectorCount;
    this.opts = {
      durability: options.durability ?? 'immediate',
      batchSize: Math.max(1, options.batchSize ?? 16),
      clock: options.clock ?? null,
      maxValueBytes: options.maxValueBytes ?? Math.floor(payload * 0.4),
      indexCycleBytes: options.indexCycleBytes ?? 0,
    };
  }

  // ---- lifecycle -------------------------------------------------------------

  /** An empty store on the same partition with this store's own options (clock, durability, limits): factory reset. */
  /** The options this store was opened with (a reformat keeps them). */
  get options(): RuntimeStoreOptions {
    const { clock, ...rest } = this.opts;
    return { ...rest, ...(clock ? { clock } : {}) };
  }

  reformat(): RingStore {
    // A value still being streamed would go on writing through this store's log onto the new store's sectors.
    if (this.stream) this.stream.abort();
    this.log.leaveSessionTrace();
    return RingStore.formatOver(this.flash, this.options);
  }

  /**
   * Make an empty store. Over an existing store this is atomic: one new
   * sector whose header says "the log starts here" (old sectors become free
   * space). Over anything else the same: one sector erased and opened; the
   * rest are erased as the head first reaches them.
   */
  static format(flash: FlashPartition, options: RuntimeStoreOptions = {}): RingStore {
    // Over a store, as a session of it: a clean unmount's token must be spent before
    // the format erases what its CLOSE record lists as erased ahead.
    if (new RingStore(flash, options).ring.scanHead()) {
      try {
        return RingStore.mount(flash, options).reformat();
      } catch (e) {
        if (!(e instanceof StoreError)) throw e;
      }
    }
    return RingStore.formatOver(flash, options);
  }

  private static formatOver(flash: FlashPartition, options: RuntimeStoreOptions): RingStore {
    const store = new RingStore(flash, options);
    const ring = store.ring;
    const log = store.log;
    const head = ring.scanHead();
    if (head) {
      // Continue the old sequence so seq stays a rotated sorted sequence round the ring.
      log.headSector = head.sector;
      log.headSeq = head.seq;
      log.headFresh = false;
    } else {
      // Nothing is blank-checked or trusted: every open in the first pass erases, as in every
      // later pass. A blank read proves nothing on parts where an interrupted program marks
      // units (ECC) or an interrupted erase leaves weak bits, and erasing the first pass's
      // sectors as they open keeps wear level: each sector is erased once per pass, the
      // first one included.
      log.headSeq = 0;
      log.headFresh = false;
      log.trustBlank = false;
    }
    log.latestCheckpoint = NONE;
    log.openNext(0, true);
    log.flush();
    store.tailPos = ring.payloadStart(log.tailSector);
    return store;
  }

  /** Mount an existing store; throws NotFormattedError if there is none. */
  static mount(flash: FlashPartition, options: RuntimeStoreOptions = {}): RingStore {
    const store = new RingStore(flash, options);
    store.recover();
    return store;
  }

  /** Mount, or format if the partition holds no store (first boot). */
  static open(flash: FlashPartition, options: RuntimeStoreOptions = {}): RingStore {
    try {
      return RingStore.mount(flash, options);
    } catch (e) {
      if (e instanceof NotFormattedError) return RingStore.format(flash, options);
      throw e;
    }
  }

  /**
   * Commit pending writes, write a checkpoint so the next mount is fast, and
   * stop. The checkpoint goes on in the head sector and a CLOSE record at its
   * end names it (FORMAT.md §5.1): no sector is opened for it, so a session
   * that writes costs one sector open (its first write's) and one that writes
   * nothing costs none.
   */
  unmount(): void {
    if (!this.mounted) return;
    // After a failed program or erase nothing more is written: the next mount recovers.
    if (this.log.failed !== null) {
      this.mounted = false;
      return;
    }
    // A clean stop abandons a value still being streamed: the key keeps its old value.
    if (this.stream) this.stream.abort();
    this.flush();
    const span = closeSpan(this.flash.programUnit);
    // A CLOSE record names a full checkpoint only (a mount loads it without replay).
    if (this.changedSinceCheckpoint || this.log.latestCheckpoint === NONE || this.log.latestCheckpoint !== this.lastFullCheckpoint) {
      const unit = this.flash.programUnit;
      this.ensureSpace(Math.ceil(this.checkpointRecordSize() / unit) * unit + span, '(checkpoint)', 'checkpoint');
      this.writeCheckpoint();
      this.log.close({ checkpoint: this.log.latestCheckpoint });
    } else if (this.log.latestCheckpoint !== this.log.durableCheckpoint) {
      // The newest checkpoint is current, but a mount finds it only through a CLOSE record
      // or a sector header that names it.
      this.ensureSpace(span, '(checkpoint)', 'checkpoint');
      this.log.close({ checkpoint: this.log.latestCheckpoint });
    }
    this.mounted = false;
  }

  // ---- reads -----------------------------------------------------------------

  has(key: string): boolean {
    return this.lookup(key) >= 0;
  }

  /** The value's bytes, or undefined when the key has no value. Never returns corrupt bytes. */
  get(key: string): Uint8Array | undefined {
    return this.getRecord(key)?.value;
  }

  getRecord(key: string): { value: Uint8Array; info: RecordInfo } | undefined {
    const keyBytes = this.checkKey(key);
    const slot = this.findSlot(keyBytes);
    if (slot < 0) return undefined;
    const offset = this.index.offsetAt(slot);
    for (let attempt = 0; ; attempt++) {
      const h = this.readHeader(offset);
      if (!h) {
        if (attempt < 2) continue;
        throw new CorruptRecordError(key, offset, 'record header checksum');
      }
      const size = recordSize(h.keyLength, h.valueLength);
      const body = new Uint8Array(size - RECORD_HEADER_SIZE);
      this.log.read(this.log.advance(offset, RECORD_HEADER_SIZE), body);
      const dataEnd = h.keyLength + h.valueLength;
      const stored = readU32LE(body, dataEnd);
      if (trailerCrc(crc32(body, 0, 0, dataEnd)) !== stored) {
        if (attempt < 2) continue; // a transient read error is retried, not reported
        throw new CorruptRecordError(key, offset, 'data checksum');
      }
      return {
        value: body.subarray(h.keyLength, dataEnd),
        info: { key, size: h.valueLength, encoding: h.encoding, writtenAt: h.writtenAt, offset, dataCrc: stored },
      };
    }
  }

  /** Metadata without reading the value. */
  info(key: string): RecordInfo | undefined {
    const found = this.locate(key);
    if (!found) return undefined;
    const { offset, h } = found;
    const trailer = new Uint8Array(4);
    this.log.read(this.log.advance(offset, recordSize(h.keyLength, h.valueLength) - RECORD_TRAILER_SIZE), trailer);
    return { key, size: h.valueLength, encoding: h.encoding, writtenAt: h.writtenAt, offset, dataCrc: readU32LE(trailer, 0) };
  }

  /**
   * Copy part of a value into `into` without reading the rest (large blobs,
   * image tokens). Not checksummed: call verify(key) once if it matters.
   */
  readRange(key: string, valueOffset: number, into: Uint8Array): number {
    const found = this.locate(key);
    if (!found) return 0;
    const n = Math.max(0, Math.min(into.length, found.h.valueLength - valueOffset));
    const at = this.log.advance(found.offset, RECORD_HEADER_SIZE + found.h.keyLength + valueOffset);
    this.log.read(at, into, 0, n);
    return n;
  }

  /** The key's newest record: its offset and verified header. */
  private locate(key: string): { offset: number; h: RecordHeader } | undefined {
    const slot = this.lookup(key);
    if (slot < 0) return undefined;
    const offset = this.index.offsetAt(slot);
    const h = this.readHeader(offset);
    if (!h) throw new CorruptRecordError(key, offset, 'record header checksum');
    return { offset, h };
  }

  /** Keys that have values, in no particular order. */
  keys(): string[] {
    const out: string[] = [];
    this.index.forEach((hash, offset) => {
      const h = this.readHeader(offset);
      if (!h) return;
      const key = new Uint8Array(h.keyLength);
      this.log.read(this.log.advance(offset, RECORD_HEADER_SIZE), key);
      // A key damaged on flash is not the key that was written: never list it (get() of the
      // key it was reports the record corrupt).
      if (keyIntact(h, key) && keyHash(key) === hash) out.push(utf8Decode(key));
    });
    return out;
  }

  /**
   * Every live key's hash (key-text keyHash) and a reader of its text from
   * flash, for listing a page at a time (datastore/tiers/name-pages.ts):
   * nothing is read unless `readKey` is called. The visitor must not write.
   */
  forEachKey(visit: (hash: number, readKey: () => string | undefined) => void): void {
    // Header and a short key in one flash read (listing reads thousands of keys).
    const head = new Uint8Array(RECORD_HEADER_SIZE + 48);
    this.index.forEach((hash, offset) =>
      visit(hash, () => {
        this.log.read(offset, head);
        const h = decodeRecordHeader(head) ?? this.readHeader(offset);
        if (!h) return undefined;
        let key: Uint8Array;
        if (h.keyLength <= head.length - RECORD_HEADER_SIZE) key = head.subarray(RECORD_HEADER_SIZE, RECORD_HEADER_SIZE + h.keyLength);
        else {
          key = new Uint8Array(h.keyLength);
          this.log.read(this.log.advance(offset, RECORD_HEADER_SIZE), key);
        }
        return keyIntact(h, key) && keyHash(key) === hash ? utf8Decode(key) : undefined;
      }),
    );
  }

  /** Writes accepted but not yet committed (always 0 in 'immediate' mode): what a power cut now could lose. */
  get pendingWrites(): number {
    return this.pendingOps;
  }

  get size(): number {
    return this.index.size;
  }

  stats(): StoreStats {
    if (!this.liveBytesExact) this.recount();
    const capacity = this.capacityBytes();
    return {
      format: 2,
      keys: this.index.size,
      liveBytes: this.liveBytes,
      freeBytes: Math.max(0, capacity - this.usedBytes()),
      capacityBytes: capacity,
      usableSectors: this.ring.usableSectors(),
      retiredSectors: this.ring.retiredList(),
      indexHeapBytes: this.index.heapBytes,
      corruptRecordsSkipped: this.corruptSkipped,
      mountedCleanly: this.cleanMount,
      headSector: this.log.headSector,
      tailSector: this.log.tailSector,
    };
  }

  /**
   * Erase counts as the sector headers record them (one 32-byte read per
   * sector: for inspection, not the hot path). Blank or unreadable sectors
   * are counted apart.
   */
  wear(): { min: number; max: number; mean: number; sectors: number; blank: number; unreadable: number } {
    const head = new Uint8Array(SECTOR_HEADER_SIZE);
    const sectors = this.flash.size / this.flash.sectorSize;
    let min = Infinity;
    let max = 0;
    let sum = 0;
    let valid = 0;
    let blank = 0;
    for (let s = 0; s < sectors; s++) {
      this.flash.read(s * this.flash.sectorSize, head);
      const h = decodeSectorHeader(head);
      if (h.kind === 'blank') blank++;
      if (h.kind !== 'valid') continue;
      valid++;
      sum += h.header.eraseCount;
      if (h.header.eraseCount < min) min = h.header.eraseCount;
      if (h.header.eraseCount > max) max = h.header.eraseCount;
    }
    return { min: valid ? min : 0, max, mean: valid ? sum / valid : 0, sectors, blank, unreadable: sectors - valid - blank };
  }

  // ---- writes ----------------------------------------------------------------

  set(key: string, value: Uint8Array, options: WriteOptions = {}): void {
    this.assertMounted();
    const keyBytes = this.checkKey(key);
    const { size, hash, slot, oldOffset, oldFootprint } = this.makeRoom(key, keyBytes, value.length);
    const header: RecordHeader = {
      kind: RecordKind.Put,
      keyLength: keyBytes.length,
      encoding: options.encoding ?? 0,
      valueLength: value.length,
      writtenAt: this.now(),
      keyCheck: keyCheckOf(keyBytes),
    };
    const offset = this.appendRecord(header, keyBytes, value);
    this.cycle.chargeRecord(size, value.length);
    this.indexPut(slot, hash, offset, size, oldOffset, oldFootprint);
    this.committed(options.flush === true);
  }

  /** Size checks, the key's slot and old record, and room for a record of `length` value bytes (GC if needed). */
  private makeRoom(key: string, keyBytes: Uint8Array, length: number): { size: number; hash: number; slot: number; oldOffset: number; oldFootprint: number } {
    if (length > this.opts.maxValueBytes) throw new ValueTooLargeError(key, length, this.opts.maxValueBytes);
    const size = recordSize(keyBytes.length, length);
    this.opErases = this.log.eraseOps;
    const hash = keyHash(keyBytes);
    // GC only moves records (setOffset), never adds or removes slots: the slot stays valid.
    const slot = this.findSlot(keyBytes, hash);
    const oldOffset = slot >= 0 ? this.index.offsetAt(slot) : -1;
    const oldFootprint = slot >= 0 ? this.footprintAt(oldOffset) : 0;
    this.ensureSpace(size, key, 'write', oldFootprint);
    return { size, hash, slot, oldOffset, oldFootprint };
  }

  /**
   * Begin a value of `length` bytes written in pieces (see value-writer.ts):
   * append chunks, then commit, and the key has the new value atomically; a
   * power cut or abort before commit leaves the old one. Room is reserved (and
   * any GC done) here, so appends never erase more than the sectors the value
   * fills. Until commit or abort the store refuses other writes (they would
   * land inside the value's record); reads go on; reformat and unmount abort it.
   */
  beginValue(key: string, length: number, options: WriteOptions = {}): ValueWriter {
    this.assertMounted();
    const keyBytes = this.checkKey(key);
    if (!Number.isInteger(length) || length < 0) throw new ValueStreamError(key, `the length must be a whole number of bytes, got ${length}.`);
    // Batched writes are committed first: no flush can happen while the value is open.
    if (this.pendingWrites > 0) this.flush();
    const { size, hash, slot, oldOffset, oldFootprint } = this.makeRoom(key, keyBytes, length);
    const header: RecordHeader = { kind: RecordKind.Put, keyLength: keyBytes.length, encoding: options.encoding ?? 0, valueLength: length, writtenAt: this.now(), keyCheck: keyCheckOf(keyBytes) };
    const log = this.log;
    const offset = log.beginRecord(size);
    encodeRecordHeader(header, this.hdr);
    log.put(this.hdr);
    log.put(keyBytes);
    let crc = crc32(keyBytes);
    const writer = new ValueWriter(key, length, {
      append: (chunk) => {
        crc = crc32(chunk, crc);
        log.put(chunk);
      },
      commit: () => {
        const trailer = new Uint8Array(4);
        writeU32LE(trailer, 0, trailerCrc(crc));
        log.put(trailer);
        this.stream = null;
        this.lastAppend = { offset, end: log.endOffset, hash };
        // No other write ran since beginValue, so the slot and the old record are as they were.
        this.cycle.chargeRecord(size, length);
        this.indexPut(slot, hash, offset, size, oldOffset, oldFootprint);
        this.committed(options.flush === true);
      },
      abort: () => {
        // Released even if the flash fails here: the store must not refuse every later write for an abort.
        try {
          log.abandonRecord(offset);
        } finally {
          this.stream = null;
        }
      },
    });
    this.stream = writer;
    return writer;
  }

  /** Point the key's slot (or a new one) at its new record, keeping live bytes exact. */
  private indexPut(slot: number, hash: number, offset: number, size: number, oldOffset: number, oldFootprint: number): void {
    if (slot >= 0) {
      const now = this.index.offsetAt(slot);
      this.liveBytes -= now === oldOffset ? oldFootprint : this.footprintAt(now); // GC may have packed it
      this.index.setOffset(slot, offset);
    } else {
      this.index.insert(hash, offset);
    }
    this.liveBytes += size;
    if (size > this.largestRecord) this.largestRecord = size;
  }

  /** Remove a key. Returns false (and writes nothing) if it had no value. */
  delete(key: string, options: { flush?: boolean } = {}): boolean {
    this.assertMounted();
    const keyBytes = this.checkKey(key);
    const slot = this.findSlot(keyBytes);
    if (slot < 0) return false;
    const size = recordSize(keyBytes.length, 0);
    this.opErases = this.log.eraseOps;
    this.ensureSpace(size, key, 'delete');
    const header: RecordHeader = { kind: RecordKind.Delete, keyLength: keyBytes.length, encoding: 0, valueLength: 0, writtenAt: this.now(), keyCheck: keyCheckOf(keyBytes) };
    this.appendRecord(header, keyBytes, new Uint8Array(0));
    this.cycle.chargeRecord(recordSize(header.keyLength, 0), 0);
    // GC may have moved the record (its offset), never the slot.
    this.liveBytes -= this.footprintAt(this.index.offsetAt(slot));
    this.index.removeAt(slot);
    this.committed(options.flush === true);
    return true;
  }

  /** Commit every pending write to flash. */
  flush(): void {
    this.assertMounted();
    this.log.flush();
    this.pendingOps = 0;
  }

  private committed(forceFlush: boolean): void {
    this.changedSinceCheckpoint = true;
    this.pendingOps++;
    if (this.opts.durability === 'immediate' || forceFlush || this.pendingOps >= this.opts.batchSize) {
      this.log.flush();
      this.pendingOps = 0;
      this.keepCycleDue();
    }
    // A write that erased nothing erases one sector ahead of need (at most one erase per write),
    // keeping enough ready for a checkpoint and the GC that may follow.
    if (this.log.eraseOps === this.opErases) {
      this.log.eraseAhead(Math.ceil(this.checkpointRecordSize() / this.ring.payloadSize) + 2);
    }
  }

  // ---- space and garbage collection -------------------------------------------

  /** Live records with the padding each still carries: exactly what GC would have to keep. */
  private usedBytes(): number {
    return this.liveBytes;
  }

  /**
   * What live data may occupy: the usable sectors minus the reserve, minus the
   * checkpoint a mount relies on (always somewhere in the log), minus two more
   * because even a fully packed log starts part-way into its tail sector and
   * ends part-way into its head sector.
   */
  private capacityBytes(largest = this.largestRecord): number {
    const p = this.ring.payloadSize;
    const resident = Math.ceil(this.checkpointRecordSize() / p);
    return Math.max(0, this.ring.usableSectors() - this.reserveSectors(largest) - resident - 2) * p;
  }

  /**
   * Free sectors GC needs to make progress from any state: room to move the
   * largest record out of the tail sector, to write a checkpoint (and open a
   * sector after it) if the tail holds the durable one, and the one-sector gap
   * that keeps the head off the tail.
   */
  private gcMinimumSectors(largest = this.largestRecord): number {
    const p = this.ring.payloadSize;
    return 3 + Math.ceil(largest / p) + Math.ceil(this.checkpointRecordSize() / p);
  }

  /**
   * Free sectors a write must leave: the GC minimum plus slack that deletes,
   * checkpoints and a remount after a power cut (which abandons the head
   * sector) may use without ever cutting into the GC minimum.
   */
  private reserveSectors(largest = this.largestRecord): number {
    const p = this.ring.payloadSize;
    return this.gcMinimumSectors(largest) + 2 + Math.ceil(this.checkpointRecordSize() / p);
  }

  private freeSectors(): number {
    return this.ring.between(this.log.headSector, this.log.tailSector);
  }

  private sectorsFor(bytes: number): number {
    const room = this.log.headRoom;
    return bytes <= room ? 0 : Math.ceil((bytes - room) / this.ring.payloadSize);
  }

  /** Make room for `bytes` more log, collecting garbage if needed; throws if the data cannot fit. */
  private ensureSpace(bytes: number, key: string, kind: 'write' | 'delete' | 'checkpoint' = 'write', replaces = 0): void {
    // A delete frees more than its tombstone takes, and a checkpoint is what the slack is
    // kept for: both may use the slack above the GC minimum, so a full partition can always
    // be emptied and unmounted.
    // Once written, this record may be the largest one GC must be able to move.
    const largest = () => Math.max(this.largestRecord, kind === 'write' ? bytes : 0);
    const floor = () =>
      kind === 'write' ? this.reserveSectors(largest()) : kind === 'delete' ? this.gcMinimumSectors() + 1 : this.gcMinimumSectors();
    const need = () => this.sectorsFor(bytes) + floor();
    // The verdict depends on live data only, never on how much garbage happens to be
    // uncollected, so a store decides the same before and after a remount. An overwrite
    // frees the value it replaces.
    const free = () => Math.max(0, this.capacityBytes(largest()) - this.usedBytes() + replaces);
    // A write committed on its own is padded to the program unit.
    const padded = Math.ceil(bytes / this.flash.programUnit) * this.flash.programUnit;
    if (kind === 'write' && padded > free()) {
      this.recount();
      if (padded > free()) throw new PartitionFullError(key, padded, Math.max(0, free() - replaces));
    }
    // A write also runs GC a little ahead of need (a few sectors, a few collections per write):
    // a run of densely live sectors at the tail is then passed over several writes instead of
    // stalling one (at 0.9 fill with 4 KiB values the worst write erased 46 sectors, now 14).
    // The lead is at most a 32nd of the garbage GC could win back (the sectors holding neither
    // live data nor the reserve), so it keeps little less garbage to collect; near full there is
    // none to spare and there is no lead (running ahead there only copies the same records sooner).
    // Only writes of a quarter sector or more: a small write needs so little room that it never
    // stalls (the worst 64-byte write at 0.9 fill erased 1 sector), and running ahead for every
    // small write cost 15 % more programming at that fill.
    const slack = () => this.ring.usableSectors() - floor() - Math.ceil(this.liveBytes / this.ring.payloadSize);
    const ahead = kind === 'write' && bytes >= this.ring.payloadSize / 4 ? Math.min(GC_AHEAD_SECTORS, Math.floor(slack() / 32)) : 0;
    if (this.freeSectors() >= need() + ahead) return;
    const limit = this.ring.usableSectors() * 2;
    let steps = 0;
    for (; this.freeSectors() < need(); steps++) {
      if (steps > limit || this.log.tailSector === this.log.headSector) {
        // Live data fits by the count above, yet GC cannot free the sectors (sector boundaries,
        // a large record to keep movable): report what could be written now.
        const writable = Math.max(0, (this.freeSectors() - floor()) * this.ring.payloadSize + this.log.headRoom);
        throw new PartitionFullError(key, bytes, Math.min(writable, Math.max(0, bytes - 1)));
      }
      this.collectTail();
    }
    for (; steps < GC_AHEAD_STEPS && this.freeSectors() < need() + ahead && this.log.tailSector !== this.log.headSector; steps++) this.collectTail();
  }

  /** Recount live bytes and the largest live record exactly (two small reads per key). */
  private recount(): void {
    let largest = 0;
    let live = 0;
    this.index.forEach((_h, offset) => {
      const size = this.recordSizeAt(offset);
      live += size === 0 ? 0 : size + this.padAfter(this.log.advance(offset, size));
      if (size > largest) largest = size;
    });
    this.largestRecord = largest;
    this.liveBytes = live;
    this.liveBytesExact = true;
  }

  /**
   * Free the tail sector: copy its live records to the head, then move the
   * tail on. The sector is erased later, when the head reaches it.
   */
  private collectTail(): void {
    const wasMaintaining = this.inMaintenance;
    this.inMaintenance = true;
    try {
      const log = this.log;
      const ring = this.ring;
      const sector = log.tailSector;
      if (log.durableCheckpoint !== NONE && ring.sectorOf(log.durableCheckpoint) === sector) {
        // A mount reads that checkpoint (or index cycle): point a header at a newer one first,
        // writing a full checkpoint unless a newer durable point lies elsewhere.
        if (log.latestCheckpoint === log.durableCheckpoint || ring.sectorOf(log.latestCheckpoint) === sector) this.writeCheckpoint();
        log.openEmpty();
      } else if (log.latestCheckpoint !== NONE && ring.sectorOf(log.latestCheckpoint) === sector) {
        // The next header would name a point in a freed sector: make a newer one first.
        this.writeCheckpoint();
      }
      // A cycle whose first slice is about to be freed can never be named: start again.
      if (this.cycle.startsIn(sector)) this.cycle.reset();
      let pos = this.tailPos;
      // Records that start in this sector (advance wraps round the ring, so compare sectors).
      while (ring.sectorOf(pos) === sector) {
        log.readSector(pos, this.hdr, 0, 1);
        const kind = this.hdr[0];
        if (kind === RecordKind.Erased || kind === RecordKind.Close) break; // nothing more in this sector
        if (kind === RecordKind.Pad) {
          pos = afterPad(pos, log.unit, ring.sectorSize);
          continue;
        }
        const h = this.readHeader(pos);
        if (!h) break; // unreadable: the rest of this sector is lost anyway
        const size = recordSize(h.keyLength, h.valueLength);
        if (h.kind === RecordKind.Put) {
          const key = new Uint8Array(h.keyLength);
          log.read(log.advance(pos, RECORD_HEADER_SIZE), key);
          let slot = this.index.findOffset(keyHash(key), pos);
          // A key damaged on flash hashes elsewhere: find its entry by offset (rare, so a scan),
          // and move the record as it is (get() reports it corrupt) rather than leave the entry
          // pointing into an erased sector.
          if (slot < 0 && !keyIntact(h, key)) slot = this.index.slotOfOffset(pos);
          if (slot >= 0) {
            this.liveBytes += size - this.footprintAt(pos); // the copy is packed; a pad may follow it later
            this.index.setOffset(slot, this.relocate(pos, size, this.index.hashAt(slot)));
            this.cycle.chargeCopy(size, h.valueLength);
          }
        }
        pos = log.advance(pos, size);
      }
      // The next sector's carry says where its first record starts. Trust it rather than the
      // length of the last record here: that record may have been cut short by a power cut,
      // with the writer going on in a fresh sector (carry 0) after the mount.
      const next = ring.next(sector);
      this.tailPos = ring.payloadStart(next) + Math.min(this.carryOf(next), ring.payloadSize);
      // No commit here: the copies reach flash with the write that needed the room, or when
      // the head fills, before any header names the new tail. So the first program of a
      // session at high fill carries a whole tail sector's copies, not a sliver of them (a
      // cut right after a small program abandons the rest of a fresh head).
      log.tailSector = next;
    } finally {
      this.inMaintenance = wasMaintaining;
    }
  }

  /** A sector's carry, from its header (which may still be pending in the head's write buffer). */
  private carryOf(sector: number): number {
    const header = new Uint8Array(SECTOR_HEADER_SIZE);
    for (let attempt = 0; attempt < 3; attempt++) {
      this.log.readSector(sector * this.ring.sectorSize, header);
      const state = decodeSectorHeader(header);
      if (state.kind === 'valid') return state.header.carry;
    }
    return 0;
  }

  /** Copy a record verbatim to the head; verifies it on the way so a read error is not made permanent. */
  private relocate(from: number, size: number, hash: number): number {
    const log = this.log;
    for (let attempt = 0; ; attempt++) {
      let src = from;
      let crc = 0;
      let done = 0;
      const keyAndValue = size - RECORD_HEADER_SIZE - RECORD_TRAILER_SIZE;
      const to = log.beginRecord(size);
      log.putFrom(size, (into) => {
        src = log.read(src, into);
        // Running CRC over key+value bytes only (they sit between header and trailer).
        const a = Math.max(0, RECORD_HEADER_SIZE - done);
        const b = Math.min(into.length, RECORD_HEADER_SIZE + keyAndValue - done);
        if (b > a) crc = crc32(into, crc, a, b);
        done += into.length;
      });
      this.lastAppend = { offset: to, end: log.endOffset, hash };
      // Check the copy in place: header CRC and data CRC.
      const h = this.readHeader(to);
      const trailer = new Uint8Array(4);
      log.read(log.advance(to, size - RECORD_TRAILER_SIZE), trailer);
      if ((h && readU32LE(trailer, 0) === trailerCrc(crc)) || attempt >= 2) return to;
      // The source itself fails its CRC (damaged on flash, not a transient read): the verbatim
      // copy is as good as it gets (get() reports it corrupt). Copying again would only spend
      // the reserve, which holds one copy of the largest record: two more of a large value
      // ran the head into the tail and every later write failed.
      if (!this.reader.dataChecks(from, size)) return to;
      // The copy read badly: it stays as dead weight; try again.
    }
  }

  // ---- checkpoints -------------------------------------------------------------

  /** Log bytes within which an index cycle completes (see RuntimeStoreOptions.indexCycleBytes). */
  private cycleBudget(): number {
    if (this.opts.indexCycleBytes > 0) return this.opts.indexCycleBytes;
    const partition = this.ring.usableSectors() * this.ring.payloadSize;
    return Math.min(Math.max(20 * this.index.size, 16 * 1024), Math.max(4096, Math.floor(partition / 8)));
  }

  /**
   * At a commit point: if slices in padding have not kept the index cycle on
   * pace, write the next ones on their own (about a sector of entries each),
   * so replay after a power cut stays within about twice the budget.
   */
  private keepCycleDue(): void {
    if (this.cycleBusy || this.stream) return;
    const budget = this.cycleBudget();
    if (this.cycle.due(budget) < 0) return;
    const perSlice = Math.max(1, Math.floor((this.ring.payloadSize - 64) / CHECKPOINT_ENTRY_SIZE));
    const wasMaintaining = this.inMaintenance;
    this.inMaintenance = true;
    this.cycleBusy = true;
    try {
      // Room first: GC may write a checkpoint (which restarts the cycle) or pass the cycle's start.
      this.ensureSpace(this.cycle.forcedBytes(this.cycle.due(budget), perSlice), '(index)', 'checkpoint');
      const target = this.cycle.due(budget);
      if (target < 0) return;
      this.cycle.writeForced(target, perSlice);
      this.log.flush();
    } catch (e) {
      // The write that got here has returned to nobody yet but is on flash: never fail it for
      // a slice. Without room the cycle waits (replay after a cut grows until there is room).
      if (!(e instanceof PartitionFullError)) throw e;
    } finally {
      this.inMaintenance = wasMaintaining;
      this.cycleBusy = false;
    }
  }

  private checkpointRecordSize(): number {
    return recordSize(0, checkpointSize(this.index.size + 1, this.ring.retiredCount));
  }

  /** Append a snapshot of the index. It is what a mount loads once a sector header points at it. */
  private writeCheckpoint(): void {
    const wasMaintaining = this.inMaintenance;
    this.inMaintenance = true;
    try {
      const log = this.log;
      if (!this.liveBytesExact) this.recount();
      const retired = this.ring.retiredList();
      const payloadSize = checkpointSize(this.index.size, retired.length);
      const fixed = encodeCheckpointHead(this.index.size, this.liveBytes, this.largestRecord, retired);
      const header: RecordHeader = { kind: RecordKind.Checkpoint, keyLength: 0, encoding: 0, valueLength: payloadSize, writtenAt: this.now() };
      const size = recordSize(0, payloadSize);
      const at = log.beginRecord(size);
      encodeRecordHeader(header, this.hdr);
      log.put(this.hdr);
      let crc = crc32(fixed);
      log.put(fixed);
      const entries = new Uint8Array(CHUNK);
      let n = 0;
      this.index.forEach((hash, offset) => {
        encodeCheckpointEntry(hash, offset, entries, n);
        n += CHECKPOINT_ENTRY_SIZE;
        if (n === CHUNK) {
          crc = crc32(entries, crc);
          log.put(entries);
          n = 0;
        }
      });
      crc = crc32(entries, crc, 0, n);
      log.put(entries, 0, n);
      const trailer = new Uint8Array(4);
      writeU32LE(trailer, 0, trailerCrc(crc));
      log.put(trailer);
      // A newer durable point than any cycle in progress: the next cycle starts after it.
      this.cycle.reset();
      log.flush();
      log.latestCheckpoint = at;
      this.lastFullCheckpoint = at;
      this.changedSinceCheckpoint = false;
    } finally {
      this.inMaintenance = wasMaintaining;
    }
  }

  // ---- mount -----------------------------------------------------------------

  private recover(): void {
    const r = new MountRecovery(this.ring, this.log, this.reader);
    r.run();
    this.index = r.index;
    this.liveBytes = r.liveBytes;
    this.liveBytesExact = r.liveBytesExact;
    this.largestRecord = r.largestRecord;
    this.corruptSkipped = r.corruptSkipped;
    this.cleanMount = r.cleanMount;
    this.tailPos = r.tailPos;
    this.lastFullCheckpoint = r.lastFullCheckpoint;
    // Nothing replayed after a full checkpoint: it is as current as any cycle after it, and
    // it is what an unmount's CLOSE record can name without writing another.
    if (r.replayed === 0 && this.lastFullCheckpoint !== NONE) this.log.latestCheckpoint = this.lastFullCheckpoint;
    this.changedSinceCheckpoint = r.replayed > 0 || this.log.latestCheckpoint !== this.lastFullCheckpoint;
    // The log replayed since the durable point counts against the first cycle's budget.
    this.cycle.reset();
    this.cycle.charge(r.replayedLogBytes);
  }

  // ---- helpers -----------------------------------------------------------------

  private appendRecord(h: RecordHeader, key: Uint8Array, value: Uint8Array): number {
    const size = recordSize(h.keyLength, h.valueLength);
    const at = this.log.beginRecord(size);
    encodeRecordHeader(h, this.hdr);
    this.log.put(this.hdr);
    this.log.put(key);
    this.log.put(value);
    const trailer = new Uint8Array(4);
    writeU32LE(trailer, 0, trailerCrc(crc32(value, crc32(key))));
    this.log.put(trailer);
    this.lastAppend = { offset: at, end: this.log.endOffset, hash: keyHash(key) };
    return at;
  }

  private readHeader(offset: number): RecordHeader | null {
    return this.reader.readHeader(offset);
  }

  private recordSizeAt(offset: number): number {
    return this.reader.recordSizeAt(offset);
  }

  private footprintAt(offset: number): number {
    return this.reader.footprintAt(offset);
  }

  private padAfter(end: number): number {
    return this.reader.padAfter(end);
  }

  private lookup(key: string): number {
    return this.findSlot(this.checkKey(key));
  }

  private findSlot(keyBytes: Uint8Array, hash = keyHash(keyBytes)): number {
    return this.reader.findSlot(this.index, keyBytes, hash);
  }

  private checkKey(key: string): Uint8Array {
    return checkedKey(key);
  }

  private now(): number {
    return this.opts.clock ? Math.floor(this.opts.clock.now() / 1000) >>> 0 : 0;
  }

  private assertMounted(): void {
    if (!this.mounted) throw new StoreError('unmounted', 'the store was unmounted; mount it again to write.');
    if (this.log.failed !== null) {
      throw new StoreError('flash-failure', `a flash operation failed (${this.log.failed}); nothing was written after it. Mount the store again: recovery finds what reached flash and retires a worn sector.`);
    }
    if (this.stream) throw new ValueStreamError(this.stream.key, 'it is still open: commit or abort it before any other write or flush (an unmount abandons it).');
  }
}


