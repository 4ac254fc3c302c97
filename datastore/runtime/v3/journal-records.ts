// Format v3: reading records at partition offsets (journal and pack sectors
// alike) and the index-entry flag that marks a key whose value lives in
// whole sectors. One reader for mount, get and GC.

import type { FlashPartition } from '../../../hal/flash.ts';
import { crc32 } from '../../../bytes/crc32.ts';
import { decodeRecordHeader, RECORD_HEADER_SIZE, RECORD_TRAILER_SIZE, RecordKind, recordSize, trailerCrc, type RecordHeader } from '../format.ts';
import { readU32LE } from '../../../bytes/byte-order.ts';
import { decodePutS, type SectorValueRef } from './format-v3.ts';

/** Bit 31 of an index offset: the record is a PUT-S (DESIGN.md §1.3). Partitions stay under 2 GiB. */
export const SECTOR_VALUE_FLAG = 0x80000000;

export function entryOffset(entry: number): number {
  return (entry & 0x7fffffff) >>> 0;
}

export function isSectorValue(entry: number): boolean {
  return (entry & SECTOR_VALUE_FLAG) !== 0;
}

/**
 * PUT, PUT-S and DELETE records of format v3 start their value with a u32:
 * the index entry (offset and flag) of the record they replace, or NONE for
 * a key not in the index. Replay applies them by that offset (as MOVE does),
 * never by reading the old record: its sector may have been collected and
 * reused since the snapshot the replay started from was written.
 */
export const REPLACES_SIZE = 4;

export function isKeyed(kind: RecordKind): boolean {
  return kind === RecordKind.Put || kind === RecordKind.PutS || kind === RecordKind.Delete;
}

/** Length of the application's value (or the PUT-S reference) in a record. */
export function payloadLength(h: RecordHeader): number {
  return isKeyed(h.kind) ? h.valueLength - REPLACES_SIZE : h.valueLength;
}

export class RecordAt {
  private readonly hdr = new Uint8Array(RECORD_HEADER_SIZE);
  private readonly trailer = new Uint8Array(RECORD_TRAILER_SIZE);

  constructor(private readonly flash: Pick<FlashPartition, 'read' | 'size'>) {}

  /** The record header at `offset`, or null (blank, PAD or damaged), retried once for a read error. */
  header(offset: number): RecordHeader | null {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (offset + RECORD_HEADER_SIZE > this.flash.size) return null;
      this.flash.read(offset, this.hdr);
      const h = decodeRecordHeader(this.hdr);
      if (h) return h;
    }
    return null;
  }

  key(offset: number, h: RecordHeader): Uint8Array {
    const k = new Uint8Array(h.keyLength);
    this.flash.read(offset + RECORD_HEADER_SIZE, k);
    return k;
  }

  /** Partition offset of the record's payload (after the key, and after `replaces` in keyed records). */
  payloadAt(offset: number, h: RecordHeader): number {
    return offset + RECORD_HEADER_SIZE + h.keyLength + (isKeyed(h.kind) ? REPLACES_SIZE : 0);
  }

  /** The payload: the application's value, a PUT-S reference, or a MOVE, INDEX or CHECKPOINT value. */
  value(offset: number, h: RecordHeader): Uint8Array {
    const v = new Uint8Array(payloadLength(h));
    this.flash.read(this.payloadAt(offset, h), v);
    return v;
  }

  /** A keyed record's `replaces` entry (unchecked: the caller decides whether to trust it). */
  replaces(offset: number, h: RecordHeader): number {
    this.flash.read(offset + RECORD_HEADER_SIZE + h.keyLength, this.trailer);
    return readU32LE(this.trailer, 0);
  }

  /** The record's data CRC as stored. */
  storedCrc(offset: number, h: RecordHeader): number {
    this.flash.read(offset + recordSize(h.keyLength, h.valueLength) - RECORD_TRAILER_SIZE, this.trailer);
    return readU32LE(this.trailer, 0);
  }

  /** Key and value check against the trailer (read twice before calling it damaged). */
  dataChecks(offset: number, h: RecordHeader): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      const body = new Uint8Array(h.keyLength + h.valueLength);
      this.flash.read(offset + RECORD_HEADER_SIZE, body);
      if (trailerCrc(crc32(body)) === this.storedCrc(offset, h)) return true;
    }
    return false;
  }

  /** The payload, read once with the key and trailer and checked against the data CRC (read twice), or null. */
  checkedPayload(offset: number, h: RecordHeader): Uint8Array | null {
    const size = recordSize(h.keyLength, h.valueLength);
    for (let attempt = 0; attempt < 2; attempt++) {
      const all = new Uint8Array(size - RECORD_HEADER_SIZE);
      this.flash.read(offset + RECORD_HEADER_SIZE, all);
      const dataEnd = all.length - RECORD_TRAILER_SIZE;
      if (trailerCrc(crc32(all, 0, 0, dataEnd)) === readU32LE(all, dataEnd)) {
        return all.subarray(h.keyLength + (isKeyed(h.kind) ? REPLACES_SIZE : 0), dataEnd);
      }
    }
    return null;
  }

  /** A PUT-S record's sector reference (its data CRC checked), or null. */
  sectorRef(offset: number, h: RecordHeader): SectorValueRef | null {
    if (!this.dataChecks(offset, h)) return null;
    return decodePutS(this.value(offset, h), payloadLength(h));
  }

  /** The record's key equals `key`. */
  keyIs(offset: number, key: Uint8Array): boolean {
    const h = this.header(offset);
    if (!h || h.keyLength !== key.length) return false;
    const k = this.key(offset, h);
    for (let i = 0; i < k.length; i++) if (k[i] !== key[i]) return false;
    return true;
  }
}
