// The runtime partition's on-flash format: the single implementation used by
// the device and by host tools. FORMAT.md beside this file is the authority;
// the names here are the names there. All integers are little-endian.

import { crc32 } from '../../bytes/crc32.ts';
import { crc7 } from '../../bytes/crc7.ts';
import { readU32LE, writeU32LE } from '../../bytes/byte-order.ts';

/** Written in every sector header. Version 1 sectors (no INDEX records) are read as well. */
export const FORMAT_VERSION = 2;
const READABLE_VERSIONS = [1, 2];
/** "DLRT" read as a little-endian u32. */
export const SECTOR_MAGIC = 0x54524c44;
export const SECTOR_HEADER_SIZE = 32;
export const RECORD_HEADER_SIZE = 16;
export const RECORD_TRAILER_SIZE = 4;
export const NONE = 0xffffffff;
export const MAX_KEY_BYTES = 255;

/** SectorHeader.flags bits. A set bit (1) is the erased state, so flags are "cleared to assert". */
export const SECTOR_FLAG_FRESH = 0x01; // cleared: every sector physically after this one was blank at format
/**
 * Cleared: the writer that opened this sector also opened the log's previous
 * sector, so every program in that one completed (FORMAT.md §2.1). Set on a
 * session's first open, and on sectors from writers that predate the flag.
 */
export const SECTOR_FLAG_FOLLOWS = 0x02;

export enum RecordKind {
  Pad = 0x00, // skip to the next program-unit boundary
  Put = 0x01,
  Delete = 0x02,
  Checkpoint = 0x03,
  Close = 0x04, // a clean unmount: at the end of the head sector, names the checkpoint (FORMAT.md §5.1)
  Index = 0x05, // one slice of the rolling index snapshot (FORMAT.md §5.2)
  PutS = 0x06, // format v3: the key's value lives in whole sectors (v3/DESIGN.md §1.3)
  Move = 0x07, // format v3: GC copied records to a pack sector (v3/DESIGN.md §1.3)
  Wear = 0x08, // format v3: erase counts of every sector (v3/DESIGN.md §1.3)
  Erased = 0xff, // nothing written here
}

export interface SectorHeader {
  seq: number;
  eraseCount: number;
  /** Bytes at the start of the payload that continue a record begun in an earlier sector. */
  carry: number;
  /** Physical index of the oldest sector holding live data when this sector was opened. */
  tailSector: number;
  /** Partition offset of the newest complete checkpoint record when opened, or NONE. */
  checkpoint: number;
  fresh: boolean;
  /** The log's previous sector was opened by the same writer: all its programs completed. */
  follows?: boolean;
}

export function encodeSectorHeader(h: SectorHeader, into: Uint8Array, at = 0): void {
  const v = new DataView(into.buffer, into.byteOffset + at, SECTOR_HEADER_SIZE);
  v.setUint32(0, SECTOR_MAGIC, true);
  v.setUint8(4, FORMAT_VERSION);
  v.setUint8(5, 0xff & ~(h.fresh ? SECTOR_FLAG_FRESH : 0) & ~(h.follows ? SECTOR_FLAG_FOLLOWS : 0));
  v.setUint16(6, 0xffff, true);
  v.setUint32(8, h.seq, true);
  v.setUint32(12, h.eraseCount, true);
  v.setUint32(16, h.carry, true);
  v.setUint32(20, h.tailSector, true);
  v.setUint32(24, h.checkpoint, true);
  v.setUint32(28, crc32(into, 0, at, at + 28), true);
}

export type SectorHeaderState =
  | { kind: 'valid'; header: SectorHeader }
  | { kind: 'blank' } // all 0xFF: never written since the last erase
  | { kind: 'invalid'; reason: string }; // torn, worn, corrupt, foreign, or a newer format

export function decodeSectorHeader(bytes: Uint8Array, at = 0): SectorHeaderState {
  let blank = true;
  for (let i = 0; i < SECTOR_HEADER_SIZE; i++) {
    if (bytes[at + i] !== 0xff) {
      blank = false;
      break;
    }
  }
  if (blank) return { kind: 'blank' };
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, SECTOR_HEADER_SIZE);
  if (v.getUint32(0, true) !== SECTOR_MAGIC) return { kind: 'invalid', reason: 'magic' };
  if (v.getUint32(28, true) !== crc32(bytes, 0, at, at + 28)) return { kind: 'invalid', reason: 'crc' };
  if (READABLE_VERSIONS.indexOf(v.getUint8(4)) < 0) return { kind: 'invalid', reason: `version ${v.getUint8(4)}` };
  return {
    kind: 'valid',
    header: {
      seq: v.getUint32(8, true),
      eraseCount: v.getUint32(12, true),
      carry: v.getUint32(16, true),
      tailSector: v.getUint32(20, true),
      checkpoint: v.getUint32(24, true),
      fresh: (v.getUint8(5) & SECTOR_FLAG_FRESH) === 0,
      follows: (v.getUint8(5) & SECTOR_FLAG_FOLLOWS) === 0,
    },
  };
}

export interface RecordHeader {
  kind: RecordKind;
  keyLength: number;
  /** Application's value type tag (see value-codec.ts); the store treats it as opaque. */
  encoding: number;
  valueLength: number;
  /** Seconds since 1970 when the value was first written (kept across GC moves). */
  writtenAt: number;
  /**
   * PUT and DELETE: keyCheckOf(key) when written, so a key damaged on flash is
   * told from the key it was (the header CRC covers this byte, the data CRC
   * covers the key only with the whole value). Undefined: written before the
   * check existed, or a record without a key.
   */
  keyCheck?: number;
}

/**
 * The key check: CRC-7 of the key (0x00..0x7F), which catches every single
 * flipped bit. A header byte with bit 7 set (0xFF) marks a record without one.
 */
export function keyCheckOf(key: Uint8Array): number {
  return crc7(key);
}

/** The key read with a record is the one it was written with, as far as its header can tell. */
export function keyIntact(h: RecordHeader, key: Uint8Array): boolean {
  return h.keyCheck === undefined || keyCheckOf(key) === h.keyCheck;
}

/**
 * The value a record's trailer holds for a data CRC. A CRC of 0xFFFFFFFF is
 * stored as 0x7FFFFFFF, so a trailer that reads erased never validates: a
 * record whose last bytes were never programmed cannot count, whatever its
 * length (CRC-32 of FF FF FF FF is 0xFFFFFFFF, the erased trailer).
 */
export function trailerCrc(dataCrc: number): number {
  return dataCrc === 0xffffffff ? 0x7fffffff : dataCrc >>> 0;
}

/**
 * Where the next record starts after a PAD byte at partition offset `pos`:
 * the next program-unit boundary of its sector (FORMAT.md §3), at most the
 * sector's end. Sectors start at multiples of the unit, so partition
 * offsets and offsets in the sector round alike.
 */
export function afterPad(pos: number, programUnit: number, sectorSize: number): number {
  const sectorEnd = (Math.floor(pos / sectorSize) + 1) * sectorSize;
  return Math.min(sectorEnd, (Math.floor(pos / programUnit) + 1) * programUnit);
}

/** Values this large are not reread by a mount that finds their program completed (FORMAT.md §6.3). */
export const LARGE_VALUE = 8 * 1024;
/** The same for records with a key check (§3), down to values this long. */
export const UNREAD_MIN = 32;

export function recordSize(keyLength: number, valueLength: number): number {
  return RECORD_HEADER_SIZE + keyLength + valueLength + RECORD_TRAILER_SIZE;
}

export function encodeRecordHeader(h: RecordHeader, into: Uint8Array, at = 0): void {
  const v = new DataView(into.buffer, into.byteOffset + at, RECORD_HEADER_SIZE);
  v.setUint8(0, h.kind);
  v.setUint8(1, h.keyLength);
  v.setUint8(2, h.encoding);
  v.setUint8(3, h.keyCheck ?? 0xff);
  v.setUint32(4, h.valueLength, true);
  v.setUint32(8, h.writtenAt, true);
  v.setUint32(12, crc32(into, 0, at, at + 12), true);
}

/** Returns null when the header's CRC or kind is not valid. */
export function decodeRecordHeader(bytes: Uint8Array, at = 0): RecordHeader | null {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, RECORD_HEADER_SIZE);
  if (v.getUint32(12, true) !== crc32(bytes, 0, at, at + 12)) return null;
  const kind = v.getUint8(0);
  if (kind < RecordKind.Put || kind > RecordKind.Wear) return null;
  return {
    kind,
    keyLength: v.getUint8(1),
    encoding: v.getUint8(2),
    valueLength: v.getUint32(4, true),
    writtenAt: v.getUint32(8, true),
    keyCheck: v.getUint8(3) & 0x80 ? undefined : v.getUint8(3),
  };
}

/** Checkpoint payload: a snapshot of the index so mount need not replay the log. */
export const CHECKPOINT_FIXED_SIZE = 20;
export const CHECKPOINT_ENTRY_SIZE = 8;

export function checkpointSize(entries: number, retired: number): number {
  return CHECKPOINT_FIXED_SIZE + 4 * retired + CHECKPOINT_ENTRY_SIZE * entries;
}

export const CHECKPOINT_PAYLOAD_VERSION = 1;

/** The fixed part of a checkpoint payload (FORMAT.md §5), before the retired list and entries. */
export interface CheckpointFixed {
  version: number;
  entryCount: number;
  liveBytes: number;
  largestRecord: number;
  retiredCount: number;
}

/** The fixed part followed by the retired sector indices: the payload up to its entries. */
export function encodeCheckpointHead(entryCount: number, liveBytes: number, largestRecord: number, retired: number[]): Uint8Array {
  const out = new Uint8Array(CHECKPOINT_FIXED_SIZE + 4 * retired.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, CHECKPOINT_PAYLOAD_VERSION, true);
  v.setUint32(4, entryCount, true);
  v.setUint32(8, liveBytes, true);
  v.setUint32(12, largestRecord, true);
  v.setUint32(16, retired.length, true);
  retired.forEach((s, i) => v.setUint32(CHECKPOINT_FIXED_SIZE + 4 * i, s, true));
  return out;
}

export function decodeCheckpointFixed(bytes: Uint8Array, at = 0): CheckpointFixed {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, CHECKPOINT_FIXED_SIZE);
  return { version: v.getUint32(0, true), entryCount: v.getUint32(4, true), liveBytes: v.getUint32(8, true), largestRecord: v.getUint32(12, true), retiredCount: v.getUint32(16, true) };
}

/** A retired sector index from the list after the fixed part (bytes holds just the list). */
export function checkpointRetiredAt(list: Uint8Array, i: number): number {
  return readU32LE(list, 4 * i);
}

/** One index entry: (keyHash, partition offset of the key's newest PUT). */
export function encodeCheckpointEntry(hash: number, offset: number, into: Uint8Array, at: number): void {
  writeU32LE(into, at, hash);
  writeU32LE(into, at + 4, offset);
}

export function checkpointEntryHash(bytes: Uint8Array, at: number): number {
  return readU32LE(bytes, at);
}

export function checkpointEntryOffset(bytes: Uint8Array, at: number): number {
  return readU32LE(bytes, at + 4);
}

/**
 * CLOSE record (FORMAT.md §5.1): written by a clean unmount in the last program
 * units of the head sector. Its value names the checkpoint a mount loads and
 * how many sectors after the head this session left erased and untouched.
 */
export const CLOSE_VALUE_SIZE = 8;
export const CLOSE_RECORD_SIZE = RECORD_HEADER_SIZE + CLOSE_VALUE_SIZE + RECORD_TRAILER_SIZE;

export interface CloseRecord {
  checkpoint: number;
  erasedAhead: number;
}

/** Bytes at the end of a sector a CLOSE record takes: its size rounded up to the program unit. */
export function closeSpan(programUnit: number): number {
  return Math.ceil(CLOSE_RECORD_SIZE / programUnit) * programUnit;
}

/** The whole record (header, value, trailer) into `into` at `at`. */
export function encodeCloseRecord(c: CloseRecord, into: Uint8Array, at = 0): void {
  encodeRecordHeader({ kind: RecordKind.Close, keyLength: 0, encoding: 0, valueLength: CLOSE_VALUE_SIZE, writtenAt: 0 }, into, at);
  const v = at + RECORD_HEADER_SIZE;
  writeU32LE(into, v, c.checkpoint);
  writeU32LE(into, v + 4, c.erasedAhead);
  writeU32LE(into, v + CLOSE_VALUE_SIZE, trailerCrc(crc32(into, 0, v, v + CLOSE_VALUE_SIZE)));
}

/** A CLOSE record read from `bytes` at `at` (CLOSE_RECORD_SIZE bytes), or null if it does not check. */
export function decodeCloseRecord(bytes: Uint8Array, at = 0): CloseRecord | null {
  const h = decodeRecordHeader(bytes, at);
  if (!h || h.kind !== RecordKind.Close || h.keyLength !== 0 || h.valueLength !== CLOSE_VALUE_SIZE) return null;
  const v = at + RECORD_HEADER_SIZE;
  if (readU32LE(bytes, v + CLOSE_VALUE_SIZE) !== trailerCrc(crc32(bytes, 0, v, v + CLOSE_VALUE_SIZE))) return null;
  return { checkpoint: readU32LE(bytes, v), erasedAhead: readU32LE(bytes, v + 4) };
}

/**
 * INDEX record (FORMAT.md §5.2): one slice of the rolling index snapshot. A
 * cycle of slices covers the hash space [0, 2^32) in order; each lists the
 * index entries whose key hash lies in its range when it was written, and the
 * store's totals at that moment.
 */
export const INDEX_FIXED_SIZE = 28;
export const INDEX_PAYLOAD_VERSION = 1;
/** A range end of 2^32 (the slice that completes a cycle) is stored as 0. */
export const HASH_SPACE = 0x100000000;

export interface IndexSlice {
  version: number;
  /** Partition offset of the first INDEX record of this slice's cycle (its own offset for the first). */
  cycleStart: number;
  /** First key hash of the range (inclusive). */
  rangeStart: number;
  /** End of the range (exclusive), 1..2^32. */
  rangeEnd: number;
  /** The store's live bytes when the slice was written (all keys, not just this range). */
  liveBytes: number;
  largestRecord: number;
  /** liveBytes was an exact count, not an upper bound. */
  exact: boolean;
  retiredCount: number;
}

/** Bytes of an INDEX record's value for `entries` entries and `retired` retired sectors. */
export function indexSliceSize(entries: number, retired: number): number {
  return INDEX_FIXED_SIZE + 4 * retired + CHECKPOINT_ENTRY_SIZE * entries;
}

/** The fixed part and the retired list of an INDEX value (the entries follow, as in a checkpoint). */
export function encodeIndexHead(s: Omit<IndexSlice, 'version' | 'retiredCount'>, retired: number[]): Uint8Array {
  const out = new Uint8Array(INDEX_FIXED_SIZE + 4 * retired.length);
  writeU32LE(out, 0, INDEX_PAYLOAD_VERSION | (s.exact ? 0 : 0x80000000));
  writeU32LE(out, 4, s.cycleStart);
  writeU32LE(out, 8, s.rangeStart);
  writeU32LE(out, 12, s.rangeEnd === HASH_SPACE ? 0 : s.rangeEnd);
  writeU32LE(out, 16, s.liveBytes);
  writeU32LE(out, 20, s.largestRecord);
  writeU32LE(out, 24, retired.length);
  retired.forEach((r, i) => writeU32LE(out, INDEX_FIXED_SIZE + 4 * i, r));
  return out;
}

/** The fixed part of an INDEX value, or null if it is not a version this reader knows or its sizes disagree. */
export function decodeIndexSlice(value: Uint8Array, valueLength: number): IndexSlice | null {
  if (valueLength < INDEX_FIXED_SIZE) return null;
  const word = readU32LE(value, 0);
  const version = word & 0x7fffffff;
  const retiredCount = readU32LE(value, 24);
  const rest = valueLength - INDEX_FIXED_SIZE - 4 * retiredCount;
  if (version !== INDEX_PAYLOAD_VERSION || rest < 0 || rest % CHECKPOINT_ENTRY_SIZE !== 0) return null;
  const rangeStart = readU32LE(value, 8);
  const end = readU32LE(value, 12);
  const rangeEnd = end === 0 ? HASH_SPACE : end;
  if (rangeEnd <= rangeStart) return null;
  return {
    version,
    cycleStart: readU32LE(value, 4),
    rangeStart,
    rangeEnd,
    liveBytes: readU32LE(value, 16),
    largestRecord: readU32LE(value, 20),
    exact: (word & 0x80000000) === 0,
    retiredCount,
  };
}

/** Entries in an INDEX value of `valueLength` bytes. */
export function indexSliceEntries(s: IndexSlice, valueLength: number): number {
  return (valueLength - INDEX_FIXED_SIZE - 4 * s.retiredCount) / CHECKPOINT_ENTRY_SIZE;
}
