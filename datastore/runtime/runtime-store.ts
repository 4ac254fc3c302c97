// The runtime tier: a power-safe, log-structured key-value and blob store
// over a NOR-flash partition. FORMAT.md beside this file gives the bytes and
// the reasoning; this file is the engine.
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
  CHECKPOINT_ENTRY_SIZE,
  CHECKPOINT_FIXED_SIZE,
  checkpointSize,
  decodeRecordHeader,
  encodeRecordHeader,
  MAX_KEY_BYTES,
  NONE,
  RECORD_HEADER_SIZE,
  RECORD_TRAILER_SIZE,
  RecordKind,
  recordSize,
  SECTOR_HEADER_SIZE,
  type RecordHeader,
} from './format.ts';
import { crc32 } from './crc32.ts';
import { KeyIndex } from './key-index.ts';
import { keyHash, utf8Decode, utf8Encode } from './key-text.ts';
import { RecordLog } from './record-log.ts';
import { ReplayCursor } from './replay-cursor.ts';
import { SectorRing } from './sector-ring.ts';
import {
  CorruptRecordError,
  KeyInvalidError,
  KeyTooLongError,
  NotFormattedError,
  PartitionFullError,
  StoreError,
  ValueTooLargeError,
} from './errors.ts';

export type Durability = 'immediate' | 'batched';

export interface RuntimeStoreOptions {
  /**
   * 'immediate': every set/delete is on flash when it returns.
   * 'batched': writes collect in RAM and are committed every `batchSize`
   * operations, when a sector fills, or on flush(). A power cut loses the
   * operations since the last commit (the newest ones; order is kept).
   */
  durability?: Durability;
  batchSize?: number;
  clock?: Clock;
  /** Largest value accepted; default: 40 % of the partition's payload capacity. */
  maxValueBytes?: number;
  /** Sectors of log between periodic checkpoints (bounds replay after a power cut). */
  checkpointEverySectors?: number;
}

export interface WriteOptions {
  /** Application's value type tag, returned by get/info. Default 0 (raw bytes). */
  encoding?: number;
  /** Commit this write before returning even in 'batched' mode (a critical value). */
  flush?: boolean;
}

export interface RecordInfo {
  key: string;
  /** Value size in bytes. */
  size: number;
  encoding: number;
  /** Seconds since 1970 when the value was written. */
  writtenAt: number;
  /** Partition offset of the record (for tokens and inspection). It changes when GC moves the record. */
  offset: number;
  /** The record's data CRC: names this version of the value, and survives GC moves. */
  dataCrc: number;
}

export interface StoreStats {
  keys: number;
  liveBytes: number;
  freeBytes: number;
  capacityBytes: number;
  usableSectors: number;
  retiredSectors: number[];
  indexHeapBytes: number;
  corruptRecordsSkipped: number;
  mountedCleanly: boolean;
  headSector: number;
  tailSector: number;
}

const CHUNK = 512;

export class RuntimeStore {
  readonly flash: FlashPartition;
  private readonly ring: SectorRing;
  private readonly log: RecordLog;
  private index: KeyIndex;
  private readonly opts: Required<Omit<RuntimeStoreOptions, 'clock'>> & { clock: Clock | null };

  private liveBytes = 0;
  private liveBytesExact = true;
  private readonly one = new Uint8Array(1);
  /** The record appended last (a pad written after it belongs to it while it is live). */
  private lastAppend: { offset: number; end: number; hash: number } | null = null;
  /** log.eraseOps when the current write began. */
  private opErases = 0;
  private largestRecord = 0;
  private checkpointBytes = 0;
  private tailPos = 0;
  private pendingOps = 0;
  private sectorsSinceCheckpoint = 0;
  private changedSinceCheckpoint = false;
  private inMaintenance = false;
  private mounted = true;
  private corruptSkipped = 0;
  private cleanMount = true;
  private readonly scratch = new Uint8Array(CHUNK);
  private readonly hdr = new Uint8Array(RECORD_HEADER_SIZE);

  private constructor(flash: FlashPartition, options: RuntimeStoreOptions) {
    this.flash = flash;
    if (flash.size % flash.sectorSize !== 0 || flash.sectorSize < 512 || flash.sectorSize % flash.programUnit !== 0) {
      throw new StoreError('geometry', `unsupported flash geometry: size ${flash.size}, sector ${flash.sectorSize}, program unit ${flash.programUnit}. Sectors must be at least 512 bytes and divide the partition.`);
    }
    this.ring = new SectorRing(flash);
    if (this.ring.sectorCount < 8) throw new StoreError('geometry', `the partition has ${this.ring.sectorCount} sectors; the store needs at least 8.`);
    this.log = new RecordLog(this.ring);
    this.log.onSectorOpened = () => {
      this.sectorsSinceCheckpoint++;
    };
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
      checkpointEverySectors: options.checkpointEverySectors ?? 256,
    };
  }

  // ---- lifecycle -------------------------------------------------------------

  /** An empty store on the same partition with this store's own options (clock, durability, limits): factory reset. */
  reformat(): RuntimeStore {
    const { clock, ...rest } = this.opts;
    return RuntimeStore.format(this.flash, { ...rest, ...(clock ? { clock } : {}) });
  }

  /**
   * Make an empty store. Over an existing store this is atomic: one new
   * sector whose header says "the log starts here" (old sectors become free
   * space). Over anything else every sector is blank-checked and erased
   * if needed, so the first pass round the ring needs no erases.
   */
  static format(flash: FlashPartition, options: RuntimeStoreOptions = {}): RuntimeStore {
    const store = new RuntimeStore(flash, options);
    const ring = store.ring;
    const log = store.log;
    const head = ring.scanHead();
    if (head) {
      // Continue the old sequence so seq stays a rotated sorted sequence round the ring.
      log.headSector = head.sector;
      log.headSeq = head.seq;
      log.headFresh = false;
    } else {
      const buf = new Uint8Array(flash.sectorSize);
      for (let s = 0; s < ring.sectorCount; s++) {
        flash.read(s * flash.sectorSize, buf);
        let blank = true;
        for (let i = 0; i < buf.length; i++) if (buf[i] !== 0xff) { blank = false; break; }
        if (!blank) flash.erase(s);
      }
      log.headSeq = 0;
      log.headFresh = true;
      log.trustBlank = true;
    }
    log.latestCheckpoint = NONE;
    log.openNext(0, true);
    log.flush();
    store.tailPos = ring.payloadStart(log.tailSector);
    return store;
  }

  /** Mount an existing store; throws NotFormattedError if there is none. */
  static mount(flash: FlashPartition, options: RuntimeStoreOptions = {}): RuntimeStore {
    const store = new RuntimeStore(flash, options);
    store.recover();
    return store;
  }

  /** Mount, or format if the partition holds no store (first boot). */
  static open(flash: FlashPartition, options: RuntimeStoreOptions = {}): RuntimeStore {
    try {
      return RuntimeStore.mount(flash, options);
    } catch (e) {
      if (e instanceof NotFormattedError) return RuntimeStore.format(flash, options);
      throw e;
    }
  }

  /** Commit pending writes, write a checkpoint so the next mount is fast, and stop. */
  unmount(): void {
    if (!this.mounted) return;
    this.flush();
    if (this.changedSinceCheckpoint || this.log.latestCheckpoint === NONE) {
      this.ensureSpace(this.checkpointRecordSize(), '(checkpoint)', 'checkpoint');
      this.writeCheckpoint();
      this.log.openEmpty();
    } else if (this.log.latestCheckpoint !== this.log.durableCheckpoint || this.log.headRoom < this.ring.payloadSize) {
      // The newest checkpoint is current, but a mount finds it only through a sector header
      // that names it, and resumes cleanly only in a head that holds nothing but its header.
      this.log.openEmpty();
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
      const stored = readU32(body, dataEnd);
      if (crc32(body, 0, 0, dataEnd) !== stored) {
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
    return { key, size: h.valueLength, encoding: h.encoding, writtenAt: h.writtenAt, offset, dataCrc: readU32(trailer, 0) };
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
    this.index.forEach((_hash, offset) => {
      const h = this.readHeader(offset);
      if (!h) return;
      const key = new Uint8Array(h.keyLength);
      this.log.read(this.log.advance(offset, RECORD_HEADER_SIZE), key);
      out.push(utf8Decode(key));
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
        if (h.keyLength <= head.length - RECORD_HEADER_SIZE) return utf8Decode(head, RECORD_HEADER_SIZE, RECORD_HEADER_SIZE + h.keyLength);
        const key = new Uint8Array(h.keyLength);
        this.log.read(this.log.advance(offset, RECORD_HEADER_SIZE), key);
        return utf8Decode(key);
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
    if (value.length > this.opts.maxValueBytes) throw new ValueTooLargeError(key, value.length, this.opts.maxValueBytes);
    const size = recordSize(keyBytes.length, value.length);
    this.opErases = this.log.eraseOps;
    const hash = keyHash(keyBytes);
    // GC only moves records (setOffset), never adds or removes slots: the slot stays valid.
    const slot = this.findSlot(keyBytes, hash);
    const oldOffset = slot >= 0 ? this.index.offsetAt(slot) : -1;
    const oldFootprint = slot >= 0 ? this.footprintAt(oldOffset) : 0;
    this.ensureSpace(size, key, 'write', oldFootprint);
    const header: RecordHeader = {
      kind: RecordKind.Put,
      keyLength: keyBytes.length,
      encoding: options.encoding ?? 0,
      valueLength: value.length,
      writtenAt: this.now(),
    };
    const offset = this.appendRecord(header, keyBytes, value);
    if (slot >= 0) {
      const now = this.index.offsetAt(slot);
      this.liveBytes -= now === oldOffset ? oldFootprint : this.footprintAt(now); // GC may have packed it
      this.index.setOffset(slot, offset);
    } else {
      this.index.insert(hash, offset);
    }
    this.liveBytes += size;
    if (size > this.largestRecord) this.largestRecord = size;
    this.committed(options.flush === true);
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
    const header: RecordHeader = { kind: RecordKind.Delete, keyLength: keyBytes.length, encoding: 0, valueLength: 0, writtenAt: this.now() };
    this.appendRecord(header, keyBytes, new Uint8Array(0));
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
    }
    if (this.sectorsSinceCheckpoint >= this.opts.checkpointEverySectors && !this.inMaintenance) {
      const want = this.checkpointRecordSize();
      // Cheap relative to the log written since the last one: at most ~1/32 of it.
      if (this.sectorsSinceCheckpoint * this.ring.payloadSize >= 32 * want) {
        this.ensureSpace(want, '(checkpoint)', 'checkpoint');
        this.writeCheckpoint();
        this.log.flush();
        this.pendingOps = 0;
      }
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
    if (this.freeSectors() >= need()) return;
    const limit = this.ring.usableSectors() * 2;
    for (let steps = 0; this.freeSectors() < need(); steps++) {
      if (steps > limit || this.log.tailSector === this.log.headSector) {
        // Live data fits by the count above, yet GC cannot free the sectors (sector boundaries,
        // a large record to keep movable): report what could be written now.
        const writable = Math.max(0, (this.freeSectors() - floor()) * this.ring.payloadSize + this.log.headRoom);
        throw new PartitionFullError(key, bytes, Math.min(writable, Math.max(0, bytes - 1)));
      }
      this.collectTail();
    }
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
        // A mount reads that checkpoint: write a newer one and point a header at it first.
        this.writeCheckpoint();
        log.openEmpty();
      }
      let pos = this.tailPos;
      // Records that start in this sector (advance wraps round the ring, so compare sectors).
      while (ring.sectorOf(pos) === sector) {
        const at = pos - sector * ring.sectorSize;
        log.readSector(pos, this.hdr, 0, 1);
        const kind = this.hdr[0];
        if (kind === RecordKind.Erased) break;
        if (kind === RecordKind.Pad) {
          pos = sector * ring.sectorSize + Math.ceil((at + 1) / log.unit) * log.unit;
          continue;
        }
        const h = this.readHeader(pos);
        if (!h) break; // unreadable: the rest of this sector is lost anyway
        const size = recordSize(h.keyLength, h.valueLength);
        if (h.kind === RecordKind.Put) {
          const key = new Uint8Array(h.keyLength);
          log.read(log.advance(pos, RECORD_HEADER_SIZE), key);
          const slot = this.index.findOffset(keyHash(key), pos);
          if (slot >= 0) {
            this.liveBytes += size - this.footprintAt(pos); // the copy is packed; a pad may follow it later
            this.index.setOffset(slot, this.relocate(pos, size, keyHash(key)));
          }
        }
        pos = log.advance(pos, size);
      }
      // The next sector's carry says where its first record starts. Trust it rather than the
      // length of the last record here: that record may have been cut short by a power cut,
      // with the writer going on in a fresh sector (carry 0) after the mount.
      const next = ring.next(sector);
      this.tailPos = ring.payloadStart(next) + Math.min(this.carryOf(next), ring.payloadSize);
      log.tailSector = next;
      log.flush();
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
      if ((h && readU32(trailer, 0) === crc) || attempt >= 2) return to;
      // The copy (or the source) read badly: this copy stays as dead weight; try again.
    }
  }

  // ---- checkpoints -------------------------------------------------------------

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
      const fixed = new Uint8Array(CHECKPOINT_FIXED_SIZE + 4 * retired.length);
      const v = new DataView(fixed.buffer);
      v.setUint32(0, 1, true); // checkpoint payload version
      v.setUint32(4, this.index.size, true);
      v.setUint32(8, this.liveBytes, true);
      v.setUint32(12, this.largestRecord, true);
      v.setUint32(16, retired.length, true);
      retired.forEach((s, i) => v.setUint32(CHECKPOINT_FIXED_SIZE + 4 * i, s, true));
      const header: RecordHeader = { kind: RecordKind.Checkpoint, keyLength: 0, encoding: 0, valueLength: payloadSize, writtenAt: this.now() };
      const size = recordSize(0, payloadSize);
      const at = log.beginRecord(size);
      encodeRecordHeader(header, this.hdr);
      log.put(this.hdr);
      let crc = crc32(fixed);
      log.put(fixed);
      const entries = new Uint8Array(CHUNK);
      const ev = new DataView(entries.buffer);
      let n = 0;
      this.index.forEach((hash, offset) => {
        ev.setUint32(n, hash, true);
        ev.setUint32(n + 4, offset, true);
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
      writeU32(trailer, 0, crc);
      log.put(trailer);
      log.flush();
      log.latestCheckpoint = at;
      this.checkpointBytes = size;
      this.sectorsSinceCheckpoint = 0;
      this.changedSinceCheckpoint = false;
    } finally {
      this.inMaintenance = wasMaintaining;
    }
  }

  // ---- mount -----------------------------------------------------------------

  private recover(): void {
    const ring = this.ring;
    let head = ring.findHead();
    if (!head) throw new NotFormattedError('no valid sector header');
    if (!this.recoverFrom(head.sector)) {
      // The fast search may have been misled by damaged headers: take the certain way.
      head = ring.scanHead();
      if (!head || !this.recoverFrom(head.sector)) throw new NotFormattedError('the newest sector names no readable tail');
    }
  }

  private recoverFrom(headSector: number): boolean {
    const ring = this.ring;
    const hs = ring.readHeader(headSector);
    if (hs.kind !== 'valid') return false;
    const head = hs.header;
    this.index.clear();
    this.liveBytes = 0;
    this.liveBytesExact = true;
    this.largestRecord = 0;
    this.corruptSkipped = 0;

    let cursor: ReplayCursor | null = null;
    let checkpoint = NONE;
    if (head.checkpoint !== NONE) {
      cursor = head.tailSector < ring.sectorCount ? this.loadCheckpoint(headSector, head.tailSector, head.checkpoint) : null;
      if (cursor) checkpoint = head.checkpoint;
    }
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
    const end = this.replay(cursor);
    if (cursor.sector !== headSector) return false;

    const log = this.log;
    const tail = ring.readHeader(head.tailSector);
    log.restoreHead({
      sector: headSector,
      seq: head.seq,
      eraseCount: head.eraseCount,
      fresh: head.fresh,
      programmed: end.clean ? end.pos - headSector * ring.sectorSize : ring.sectorSize,
      open: end.clean,
    });
    if (!end.clean) this.cleanMount = false;
    log.tailSector = head.tailSector;
    log.durableTail = head.tailSector;
    log.latestCheckpoint = end.latestCheckpoint !== NONE ? end.latestCheckpoint : checkpoint;
    log.durableCheckpoint = checkpoint;
    log.trustBlank = false;
    this.tailPos = ring.payloadStart(head.tailSector) + (tail.kind === 'valid' ? tail.header.carry : 0);
    this.checkpointBytes = this.checkpointRecordSize();
    this.changedSinceCheckpoint = end.replayed > 0;
    return true;
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
      const v = new DataView(fixed.buffer);
      const count = v.getUint32(4, true);
      const retiredCount = v.getUint32(16, true);
      if (checkpointSize(count, retiredCount) !== h.valueLength) continue;
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
      const ev = new DataView(this.scratch.buffer);
      while (left > 0) {
        const chunk = Math.min(left, CHUNK);
        if (!cursor.read(this.scratch, 0, chunk)) return null;
        crc = crc32(this.scratch, crc, 0, chunk);
        for (let i = 0; i < chunk; i += CHECKPOINT_ENTRY_SIZE) {
          const offset = ev.getUint32(i + 4, true);
          if ((Math.floor(offset / ring.sectorSize) - tailSector + n) % n > keepSpan) stale++;
          else index.insert(ev.getUint32(i, true), offset);
        }
        left -= chunk;
      }
      const trailer = new Uint8Array(4);
      if (!cursor.read(trailer)) return null;
      if (readU32(trailer, 0) !== crc) continue;
      cursor.endRecord();
      this.index = index;
      this.liveBytes = v.getUint32(8, true);
      this.largestRecord = v.getUint32(12, true);
      // The dropped entries' sizes are unknown now (their sectors were rewritten); until a
      // recount, liveBytes over-counts by their copies, which errs towards "full".
      if (stale > 0) this.liveBytesExact = false;
      for (let i = 0; i < retiredCount; i++) {
        const s = readU32(retiredBytes, 4 * i);
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
    const unit = this.flash.programUnit;
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
      if (one[0] === RecordKind.Erased) {
        if (cursor.inHead) {
          // Appending may resume here only after a clean unmount: a head holding just its
          // header (an interrupted program can leave units marked that read as erased).
          const emptyHead = pos === cursor.sector * ring.sectorSize + Math.ceil(SECTOR_HEADER_SIZE / unit) * unit;
          return { pos, clean: emptyHead && this.blankFrom(pos, cursor.sectorEnd), latestCheckpoint, replayed };
        }
        if (!cursor.skipToNextSector()) return { pos, clean: false, latestCheckpoint, replayed };
        continue;
      }
      if (one[0] === RecordKind.Pad) {
        const inSector = pos - cursor.sector * ring.sectorSize;
        const next = Math.ceil((inSector + 1) / unit) * unit;
        cursor.pos = cursor.sector * ring.sectorSize + Math.min(next, ring.sectorSize);
        continue;
      }
      const startSector = cursor.sector;
      const startHeader = cursor.header;
      const ok = this.replayRecord(cursor);
      if (ok === 'applied') { replayed++; continue; }
      // Cut short by a power cut; the writer went on in a fresh sector, where the cursor now is.
      if (ok === 'torn') continue;
      if (ok === 'checkpoint') { latestCheckpoint = pos; continue; }
      // Unreadable. In the head sector (or running into it) this is the torn last write.
      if (cursor.inHead || startSector === cursor.headSector) {
        if (ok === 'bad-data' && this.validRecordAt(cursor)) { this.corruptSkipped++; continue; }
        return { pos, clean: false, latestCheckpoint, replayed };
      }
      this.corruptSkipped++;
      if (ok === 'bad-data' && !cursor.broken) continue; // length known: carry on after it
      cursor.sector = startSector;
      cursor.header = startHeader;
      if (!cursor.skipToNextSector()) return { pos, clean: false, latestCheckpoint, replayed };
    }
  }

  /** Read one record at the cursor, verify it and apply it to the index. */
  private replayRecord(cursor: ReplayCursor): 'applied' | 'checkpoint' | 'bad-header' | 'bad-data' | 'torn' {
    const start = cursor.pos;
    const sector = cursor.sector;
    const header = cursor.header;
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
        let crc = crc32(key);
        let left = h.valueLength;
        let bad = false;
        while (left > 0) {
          const n = Math.min(left, CHUNK);
          if (!cursor.read(this.scratch, 0, n)) { bad = true; break; }
          crc = crc32(this.scratch, crc, 0, n);
          left -= n;
        }
        if (cursor.torn) return 'torn';
        const trailer = new Uint8Array(4);
        if (bad || !cursor.read(trailer) || readU32(trailer, 0) !== crc) {
          if (cursor.torn) return 'torn';
          if (attempt < 2) continue;
          return 'bad-data';
        }
        if (h.kind === RecordKind.Checkpoint) return 'checkpoint';
        this.applyRecord(h, key, start, cursor.pos === cursor.sectorEnd ? 0 : this.padAfter(cursor.pos));
        return 'applied';
      }
      return 'bad-header';
    } finally {
      cursor.endRecord();
    }
  }

  private applyRecord(h: RecordHeader, key: Uint8Array, offset: number, pad: number): void {
    const hash = keyHash(key);
    const slot = this.findSlot(key, hash);
    if (slot >= 0) this.liveBytes -= this.footprintAt(this.index.offsetAt(slot));
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
    const page = Math.max(this.flash.pageSize ?? 256, this.flash.programUnit);
    const unit = this.flash.programUnit;
    const sectorStart = cursor.sector * this.ring.sectorSize;
    const lastPage = Math.floor((cursor.pos - 1) / page);
    const one = new Uint8Array(1);
    const probe = new Uint8Array(RECORD_HEADER_SIZE);
    let at = cursor.pos;
    while (at + RECORD_HEADER_SIZE <= cursor.sectorEnd) {
      this.flash.read(at, one);
      if (one[0] === RecordKind.Pad) {
        at = sectorStart + Math.ceil((at - sectorStart + 1) / unit) * unit;
        continue;
      }
      this.flash.read(at, probe);
      const h = decodeRecordHeader(probe);
      if (!h) return false;
      if (Math.floor(at / page) > lastPage) return true;
      at += recordSize(h.keyLength, h.valueLength);
    }
    return false;
  }

  private blankFrom(pos: number, end: number): boolean {
    const buf = new Uint8Array(end - pos);
    this.flash.read(pos, buf);
    for (let i = 0; i < buf.length; i++) if (buf[i] !== 0xff) return false;
    return true;
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
    writeU32(trailer, 0, crc32(value, crc32(key)));
    this.log.put(trailer);
    this.lastAppend = { offset: at, end: this.log.endOffset, hash: keyHash(key) };
    return at;
  }

  private readHeader(offset: number): RecordHeader | null {
    for (let attempt = 0; attempt < 3; attempt++) {
      this.log.read(offset, this.hdr);
      const h = decodeRecordHeader(this.hdr);
      if (h) return h;
    }
    return null;
  }

  private recordSizeAt(offset: number): number {
    const h = this.readHeader(offset);
    return h ? recordSize(h.keyLength, h.valueLength) : 0;
  }

  /** A record's size plus the PAD that follows it, if a commit padded right after it. */
  private footprintAt(offset: number): number {
    const size = this.recordSizeAt(offset);
    if (size === 0) return 0;
    return size + this.padAfter(this.log.advance(offset, size));
  }

  private padAfter(end: number): number {
    const unit = this.flash.programUnit;
    if (end % unit === 0) return 0;
    this.log.readSector(end, this.one);
    return this.one[0] === RecordKind.Pad ? unit - (end % unit) : 0;
  }

  private lookup(key: string): number {
    return this.findSlot(this.checkKey(key));
  }

  private findSlot(keyBytes: Uint8Array, hash = keyHash(keyBytes)): number {
    const probe = new Uint8Array(RECORD_HEADER_SIZE + keyBytes.length);
    return this.index.find(hash, (offset) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        this.log.read(offset, probe);
        const h = decodeRecordHeader(probe);
        if (!h) continue;
        if (h.keyLength !== keyBytes.length) return false;
        for (let i = 0; i < keyBytes.length; i++) if (probe[RECORD_HEADER_SIZE + i] !== keyBytes[i]) return false;
        return true;
      }
      return false;
    });
  }

  private checkKey(key: string): Uint8Array {
    if (typeof key !== 'string' || key.length === 0) throw new KeyInvalidError(typeof key !== 'string' ? `expected a string, got ${typeof key}` : 'empty');
    const bytes = utf8Encode(key);
    if (bytes.length > MAX_KEY_BYTES) throw new KeyTooLongError(key, bytes.length, MAX_KEY_BYTES);
    return bytes;
  }

  private now(): number {
    return this.opts.clock ? Math.floor(this.opts.clock.now() / 1000) >>> 0 : 0;
  }

  private assertMounted(): void {
    if (!this.mounted) throw new StoreError('unmounted', 'the store was unmounted; mount it again to write.');
  }
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}
