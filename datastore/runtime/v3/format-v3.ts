// Format v3 groundwork (issue 18): the byte layouts the v3 writer adds, one
// codec each (DESIGN.md §1; it becomes FORMAT.md when v3 is the format).
// Records keep v2's layout (../format.ts). Every CRC here is stored with
// v2's rule (0xFFFFFFFF written as 0x7FFFFFFF), so erased bytes never
// validate, and decoders return null (or 'blank') rather than guess.

import { crc32 } from '../../../bytes/crc32.ts';
import { readU16LE, readU32LE, writeU16LE, writeU32LE } from '../../../bytes/byte-order.ts';
import { decodeRecordHeader, encodeRecordHeader, RECORD_HEADER_SIZE, RECORD_TRAILER_SIZE, RecordKind, trailerCrc } from '../format.ts';

export const FORMAT_VERSION_V3 = 3;
const NONE = 0xffffffff;

function storedCrc(bytes: Uint8Array, start: number, end: number): number {
  return trailerCrc(crc32(bytes, 0, start, end));
}

// ---- anchor record (§1.1): 16 bytes in a slot of an anchor sector -------------

export const ANCHOR_RECORD_SIZE = 16;
export const ANCHOR_MAGIC = 0x4133; // "3A"

export interface AnchorRecord {
  /** +1 for each anchor write, across the anchor sectors. */
  gen: number;
  /** The journal sector a mount's walk starts at. */
  chainStart: number;
  /** Low 16 bits of that sector's seq: a cross-check. */
  chainSeq: number;
}

export function encodeAnchorRecord(r: AnchorRecord, into: Uint8Array, at = 0): void {
  writeU16LE(into, at, ANCHOR_MAGIC);
  writeU32LE(into, at + 2, r.gen);
  writeU32LE(into, at + 6, r.chainStart);
  writeU16LE(into, at + 10, r.chainSeq & 0xffff);
  writeU32LE(into, at + 12, storedCrc(into, at, at + 12));
}

export function decodeAnchorRecord(bytes: Uint8Array, at = 0): AnchorRecord | null {
  if (readU16LE(bytes, at) !== ANCHOR_MAGIC) return null;
  if (readU32LE(bytes, at + 12) !== storedCrc(bytes, at, at + 12)) return null;
  return { gen: readU32LE(bytes, at + 2), chainStart: readU32LE(bytes, at + 6), chainSeq: readU16LE(bytes, at + 10) };
}

// ---- journal sector header (§1.2): 32 bytes at offset 0 -------------------------

export const JOURNAL_HEADER_SIZE = 32;
export const JOURNAL_MAGIC = 0x54524c44; // "DLRT", as v2
/** flags bit 0 cleared: this writer also opened the journal's previous sector. */
export const JOURNAL_FLAG_FOLLOWS = 0x01;

export interface JournalHeader {
  seq: number;
  /** Payload bytes continuing a record begun in the previous journal sector. */
  carry: number;
  /** The sector the next journal open uses: erased (completed) before this header was programmed. */
  next: number;
  /** Partition offset of the durable point when this sector opened (CHECKPOINT or a cycle's first INDEX slice). */
  durable: number;
  /** The durable point before it (the previous complete cycle), or NONE. */
  fallback: number;
  /** Offset of the newest WEAR record (or CHECKPOINT carrying the wear table), or NONE. */
  wear: number;
  follows: boolean;
}

export type JournalHeaderState = { kind: 'valid'; header: JournalHeader } | { kind: 'blank' } | { kind: 'invalid' };

export function encodeJournalHeader(h: JournalHeader, into: Uint8Array, at = 0): void {
  if (h.carry > 0xffff) throw new RangeError(`carry ${h.carry} does not fit 16 bits`);
  writeU32LE(into, at, JOURNAL_MAGIC);
  into[at + 4] = FORMAT_VERSION_V3;
  into[at + 5] = 0xff & ~(h.follows ? JOURNAL_FLAG_FOLLOWS : 0);
  writeU16LE(into, at + 6, h.carry);
  writeU32LE(into, at + 8, h.seq);
  writeU32LE(into, at + 12, h.next);
  writeU32LE(into, at + 16, h.durable);
  writeU32LE(into, at + 20, h.fallback);
  writeU32LE(into, at + 24, h.wear);
  writeU32LE(into, at + 28, storedCrc(into, at, at + 28));
}

export function decodeJournalHeader(bytes: Uint8Array, at = 0): JournalHeaderState {
  let blank = true;
  for (let i = 0; i < JOURNAL_HEADER_SIZE; i++) if (bytes[at + i] !== 0xff) blank = false;
  if (blank) return { kind: 'blank' };
  if (readU32LE(bytes, at) !== JOURNAL_MAGIC || bytes[at + 4] !== FORMAT_VERSION_V3) return { kind: 'invalid' };
  if (readU32LE(bytes, at + 28) !== storedCrc(bytes, at, at + 28)) return { kind: 'invalid' };
  return {
    kind: 'valid',
    header: {
      follows: (bytes[at + 5] & JOURNAL_FLAG_FOLLOWS) === 0,
      carry: readU16LE(bytes, at + 6),
      seq: readU32LE(bytes, at + 8),
      next: readU32LE(bytes, at + 12),
      durable: readU32LE(bytes, at + 16),
      fallback: readU32LE(bytes, at + 20),
      wear: readU32LE(bytes, at + 24),
    },
  };
}

// ---- PUT-S value (§1.3): a key's value in whole sectors ---------------------------

export const PUT_S_FIXED_SIZE = 12;
/** At most this many sectors listed directly; longer values go through LIST sectors. */
export const PUT_S_DIRECT_MAX = 256;

export interface SectorValueRef {
  valueLength: number;
  valueCrc: number;
  /** True: `sectors` are LIST sectors naming the value sectors; false: the value sectors themselves, in order. */
  lists: boolean;
  /** Written by wear levelling: the same value, moved. */
  relocation: boolean;
  sectors: number[];
}

export function putSSize(sectors: number): number {
  return PUT_S_FIXED_SIZE + 4 * sectors;
}

export function encodePutS(r: SectorValueRef, into: Uint8Array, at = 0): void {
  if (r.sectors.length > 0xffff || (!r.lists && r.sectors.length > PUT_S_DIRECT_MAX)) throw new RangeError(`${r.sectors.length} sectors listed directly (at most ${PUT_S_DIRECT_MAX})`);
  writeU32LE(into, at, r.valueLength);
  writeU32LE(into, at + 4, r.valueCrc);
  into[at + 8] = (r.lists ? 1 : 0) | (r.relocation ? 0x80 : 0);
  into[at + 9] = 0xff;
  writeU16LE(into, at + 10, r.sectors.length);
  for (let i = 0; i < r.sectors.length; i++) writeU32LE(into, at + 12 + 4 * i, r.sectors[i]);
}

/** Decode a PUT-S value of `length` bytes (its record's CRC was checked by the caller). */
export function decodePutS(bytes: Uint8Array, length: number, at = 0): SectorValueRef | null {
  if (length < PUT_S_FIXED_SIZE) return null;
  const form = bytes[at + 8];
  if ((form & 0x7f) > 1) return null;
  const n = readU16LE(bytes, at + 10);
  if (length !== putSSize(n)) return null;
  const lists = (form & 0x7f) === 1;
  if (!lists && n > PUT_S_DIRECT_MAX) return null;
  const sectors: number[] = [];
  for (let i = 0; i < n; i++) sectors.push(readU32LE(bytes, at + 12 + 4 * i));
  return { valueLength: readU32LE(bytes, at), valueCrc: readU32LE(bytes, at + 4), lists, relocation: (form & 0x80) !== 0, sectors };
}

// ---- LIST sector (§1.3): headerless, u32 count, entries, CRC in the last 4 bytes ---

export function listCapacity(sectorSize: number): number {
  return Math.floor((sectorSize - 8) / 4);
}

export function encodeListSector(sectors: number[], into: Uint8Array): void {
  const size = into.length;
  if (sectors.length > listCapacity(size)) throw new RangeError(`${sectors.length} entries do not fit a ${size}-byte list sector`);
  into.fill(0xff);
  writeU32LE(into, 0, sectors.length);
  for (let i = 0; i < sectors.length; i++) writeU32LE(into, 4 + 4 * i, sectors[i]);
  writeU32LE(into, size - 4, storedCrc(into, 0, 4 + 4 * sectors.length));
}

export function decodeListSector(bytes: Uint8Array): number[] | null {
  const size = bytes.length;
  const n = readU32LE(bytes, 0);
  if (n > listCapacity(size)) return null;
  if (readU32LE(bytes, size - 4) !== storedCrc(bytes, 0, 4 + 4 * n)) return null;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(readU32LE(bytes, 4 + 4 * i));
  return out;
}

// ---- MOVE value (§1.3): GC copied records from a victim ----------------------------

export const MOVE_ENTRY_SIZE = 12;

export interface MoveEntry {
  hash: number;
  from: number;
  to: number;
}

export function moveSize(entries: number): number {
  return 4 + MOVE_ENTRY_SIZE * entries;
}

export function encodeMove(victim: number, entries: MoveEntry[], into: Uint8Array, at = 0): void {
  writeU32LE(into, at, victim);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const p = at + 4 + MOVE_ENTRY_SIZE * i;
    writeU32LE(into, p, e.hash);
    writeU32LE(into, p + 4, e.from);
    writeU32LE(into, p + 8, e.to);
  }
}

export function decodeMove(bytes: Uint8Array, length: number, at = 0): { victim: number; entries: MoveEntry[] } | null {
  if (length < 4 || (length - 4) % MOVE_ENTRY_SIZE !== 0) return null;
  const entries: MoveEntry[] = [];
  for (let p = at + 4; p < at + length; p += MOVE_ENTRY_SIZE) entries.push({ hash: readU32LE(bytes, p), from: readU32LE(bytes, p + 4), to: readU32LE(bytes, p + 8) });
  return { victim: readU32LE(bytes, at), entries };
}

// ---- WEAR value (§1.3): erase counts, above a base ------------------------------
//
// u32 version, u32 base (the smallest count), then one delta a sector: a u8
// (version 1) while the spread fits 255, else a u16 (version 2). Exact either
// way: a clean mount restores the counts the unmount had. Bit 31 of the
// version word set: the counts are an estimate (some erases went uncounted
// since a power cut), never above the truth; it stays set from then on.

export const WEAR_VERSION = 1;
export const WEAR_VERSION_WIDE = 2;

/** Bytes of a WEAR value for `sectors` sectors with `width`-byte deltas. */
export function wearSize(sectors: number, width: 1 | 2 = 1): number {
  return 8 + width * sectors;
}

/** Delta width the counts need: 1 byte while they lie within 255 of the smallest, else 2. */
export function wearWidth(counts: ArrayLike<number>): 1 | 2 {
  let min = Infinity;
  let max = 0;
  for (let i = 0; i < counts.length; i++) {
    min = Math.min(min, counts[i]);
    max = Math.max(max, counts[i]);
  }
  if (max - min > 0xffff) throw new RangeError(`erase counts ${max - min} apart do not fit a WEAR record`);
  return counts.length === 0 || max - min <= 0xff ? 1 : 2;
}

/**
 * Encode erase counts into wearSize(counts.length, width) bytes. `width`
 * defaults to what they need; 1 where they need 2 saturates each delta at
 * 255 (counts then read low, so the caller must flag them `estimated`).
 */
export function encodeWear(counts: ArrayLike<number>, into: Uint8Array, at = 0, estimated = false, width: 1 | 2 = wearWidth(counts)): void {
  let base = Infinity;
  for (let i = 0; i < counts.length; i++) base = Math.min(base, counts[i]);
  if (counts.length === 0) base = 0;
  writeU32LE(into, at, ((width === 1 ? WEAR_VERSION : WEAR_VERSION_WIDE) | (estimated ? 0x80000000 : 0)) >>> 0);
  writeU32LE(into, at + 4, base);
  for (let i = 0; i < counts.length; i++) {
    if (width === 1) into[at + 8 + i] = Math.min(0xff, counts[i] - base);
    else writeU16LE(into, at + 8 + 2 * i, counts[i] - base);
  }
}

/** Decode a WEAR value of `length` bytes (its record's CRC was checked by the caller), or null. */
export function decodeWear(bytes: Uint8Array, length: number, at = 0): number[] | null {
  if (length < 8) return null;
  const version = readU32LE(bytes, at) & 0x7fffffff;
  const width = version === WEAR_VERSION ? 1 : version === WEAR_VERSION_WIDE ? 2 : 0;
  if (width === 0 || (length - 8) % width !== 0) return null;
  const base = readU32LE(bytes, at + 4);
  const out: number[] = [];
  for (let i = 8; i < length; i += width) out.push(base + (width === 1 ? bytes[at + i] : readU16LE(bytes, at + i)));
  return out;
}

/** The WEAR value's counts are an estimate (bit 31 of its version word). */
export function wearIsEstimate(bytes: Uint8Array, at = 0): boolean {
  return (readU32LE(bytes, at) & 0x80000000) !== 0;
}

// ---- CLOSE value, v3 (§4): a clean unmount's last record ----------------------------
//
// v2's CLOSE record (format.ts: kind 0x04, in the head's last program units)
// with a 28-byte value: u32 checkpoint offset, u32 WEAR record offset (or
// NONE), u32 token sector (or NONE), u32 tokenCheck (CRC-32 of the token
// sector's first 32 bytes, which are not blank), u16 anchor sector and u16
// anchor slot where the next anchor record may go without an erase (0xFFFF
// 0xFFFF: none), u32 pack head sector and u32 offset where the next GC copy
// may go without an erase (NONE NONE: none). The anchor slot and the pack
// head are trusted only while the token's first 32 bytes are intact
// (DESIGN.md §4, token trick).

export const CLOSE_V3_VALUE_SIZE = 28;
/** Bytes at the start of the token sector the CLOSE's tokenCheck covers. */
export const TOKEN_BYTES = 32;
export const CLOSE_V3_RECORD_SIZE = RECORD_HEADER_SIZE + CLOSE_V3_VALUE_SIZE + RECORD_TRAILER_SIZE;

export interface CloseV3 {
  checkpoint: number;
  wear: number;
  token: number;
  /** CRC-32 of the token sector's first TOKEN_BYTES bytes at the unmount. */
  tokenCheck: number;
  /** Anchor sector and slot the next anchor record may use without an erase, or null. */
  anchor: { sector: number; slot: number } | null;
  /** Pack head sector and offset the next GC copy may use without an erase, or null. */
  pack: { sector: number; offset: number } | null;
}

/** Bytes at the end of the head a v3 CLOSE takes: its size rounded up to the program unit. */
export function closeV3Span(programUnit: number): number {
  return Math.ceil(CLOSE_V3_RECORD_SIZE / programUnit) * programUnit;
}

export function encodeCloseV3(c: CloseV3, into: Uint8Array, at = 0): void {
  if (c.anchor && (c.anchor.sector >= 0xffff || c.anchor.slot >= 0xffff)) throw new RangeError('anchor place does not fit 16 bits');
  encodeRecordHeader({ kind: RecordKind.Close, keyLength: 0, encoding: 0, valueLength: CLOSE_V3_VALUE_SIZE, writtenAt: 0 }, into, at);
  const v = at + RECORD_HEADER_SIZE;
  writeU32LE(into, v, c.checkpoint);
  writeU32LE(into, v + 4, c.wear);
  writeU32LE(into, v + 8, c.token);
  writeU32LE(into, v + 12, c.tokenCheck);
  writeU16LE(into, v + 16, c.anchor ? c.anchor.sector : 0xffff);
  writeU16LE(into, v + 18, c.anchor ? c.anchor.slot : 0xffff);
  writeU32LE(into, v + 20, c.pack ? c.pack.sector : NONE);
  writeU32LE(into, v + 24, c.pack ? c.pack.offset : NONE);
  writeU32LE(into, v + CLOSE_V3_VALUE_SIZE, storedCrc(into, v, v + CLOSE_V3_VALUE_SIZE));
}

/** A v3 CLOSE record at `at` (CLOSE_V3_RECORD_SIZE bytes), or null if it does not check. */
export function decodeCloseV3(bytes: Uint8Array, at = 0): CloseV3 | null {
  const h = decodeRecordHeader(bytes, at);
  if (!h || h.kind !== RecordKind.Close || h.keyLength !== 0 || h.valueLength !== CLOSE_V3_VALUE_SIZE) return null;
  const v = at + RECORD_HEADER_SIZE;
  if (readU32LE(bytes, v + CLOSE_V3_VALUE_SIZE) !== storedCrc(bytes, v, v + CLOSE_V3_VALUE_SIZE)) return null;
  const sector = readU16LE(bytes, v + 16);
  const slot = readU16LE(bytes, v + 18);
  const packSector = readU32LE(bytes, v + 20);
  const packOffset = readU32LE(bytes, v + 24);
  return {
    checkpoint: readU32LE(bytes, v),
    wear: readU32LE(bytes, v + 4),
    token: readU32LE(bytes, v + 8),
    tokenCheck: readU32LE(bytes, v + 12),
    anchor: sector === 0xffff && slot === 0xffff ? null : { sector, slot },
    pack: packSector === NONE && packOffset === NONE ? null : { sector: packSector, offset: packOffset },
  };
}

export { NONE as NO_OFFSET };
