// Reading records back from the log by offset: a header (retried, so a
// transient read error is not taken for damage), a record's size and its
// footprint (size plus the PAD a commit left right after it), and the index
// slot of a key (the index holds hashes; the key itself is on flash). Shared
// by the running store and by mount recovery.

import { decodeRecordHeader, keyCheckOf, RECORD_HEADER_SIZE, RECORD_TRAILER_SIZE, RecordKind, recordSize, trailerCrc, type RecordHeader } from './format.ts';
import { crc32 } from '../../bytes/crc32.ts';
import { readU32LE } from '../../bytes/byte-order.ts';
import type { KeyIndex } from './key-index.ts';
import { keyHash } from './key-text.ts';
import type { RecordLog } from './record-log.ts';

export class RecordReader {
  private readonly log: RecordLog;
  private readonly hdr = new Uint8Array(RECORD_HEADER_SIZE);
  private readonly one = new Uint8Array(1);

  constructor(log: RecordLog) {
    this.log = log;
  }

  readHeader(offset: number): RecordHeader | null {
    for (let attempt = 0; attempt < 3; attempt++) {
      this.log.read(offset, this.hdr);
      const h = decodeRecordHeader(this.hdr);
      if (h) return h;
    }
    return null;
  }

  recordSizeAt(offset: number): number {
    const h = this.readHeader(offset);
    return h ? recordSize(h.keyLength, h.valueLength) : 0;
  }

  /** A record's size plus the PAD that follows it, if a commit padded right after it. */
  footprintAt(offset: number): number {
    const size = this.recordSizeAt(offset);
    if (size === 0) return 0;
    return size + this.padAfter(this.log.advance(offset, size));
  }

  padAfter(end: number): number {
    const unit = this.log.unit;
    if (end % unit === 0) return 0;
    this.log.readSector(end, this.one);
    return this.one[0] === RecordKind.Pad ? unit - (end % unit) : 0;
  }

  /**
   * The record of `size` bytes at `offset` reads with a matching data CRC.
   * Tried twice, so a transient read error is not taken for damage.
   */
  dataChecks(offset: number, size: number): boolean {
    const log = this.log;
    const chunk = new Uint8Array(512);
    for (let attempt = 0; attempt < 2; attempt++) {
      let left = size - RECORD_HEADER_SIZE - RECORD_TRAILER_SIZE;
      let pos = log.advance(offset, RECORD_HEADER_SIZE);
      let crc = 0;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        pos = log.read(pos, chunk, 0, n);
        crc = crc32(chunk, crc, 0, n);
        left -= n;
      }
      log.read(pos, chunk, 0, 4);
      if (readU32LE(chunk, 0) === trailerCrc(crc)) return true;
    }
    return false;
  }

  /**
   * The index slot whose record holds exactly this key, or -1. Also the slot
   * of a record written for this key whose key bytes were damaged on flash
   * since (its header's key check matches this key, and the bytes there fail it
   * or no longer hash to the entry):
   * get() then reports it corrupt, and set() or delete() supersede it.
   */
  findSlot(index: KeyIndex, keyBytes: Uint8Array, hash: number): number {
    const probe = new Uint8Array(RECORD_HEADER_SIZE + keyBytes.length);
    let check = -1;
    return index.find(hash, (offset) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        this.log.read(offset, probe);
        const h = decodeRecordHeader(probe);
        if (!h) continue;
        if (h.keyLength !== keyBytes.length) return false;
        let same = true;
        for (let i = 0; i < keyBytes.length; i++) if (probe[RECORD_HEADER_SIZE + i] !== keyBytes[i]) same = false;
        if (same || h.keyCheck === undefined) return same;
        if (check < 0) check = keyCheckOf(keyBytes);
        if (h.keyCheck !== check) return false;
        // Damaged: the bytes fail the check, or pass it (one byte misses some flips) but no longer
        // hash to the entry, whose hash was taken from the key as written. That second case is
        // only taken if the record fails its data CRC too: an intact record of another key there
        // (an entry GC left behind) must never be served as this key's.
        const onFlash = probe.subarray(RECORD_HEADER_SIZE);
        if (keyCheckOf(onFlash) !== h.keyCheck) return true;
        return keyHash(onFlash) !== hash && !this.dataChecks(offset, recordSize(h.keyLength, h.valueLength));
      }
      return false;
    });
  }
}
