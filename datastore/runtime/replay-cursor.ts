// Mount-time reader of the record stream. Unlike the running log, it trusts
// nothing in RAM: it follows sector sequence numbers (seq + 1) from sector to
// sector, learns which sectors the writer skipped (retired), and stops at the
// head.

import { SECTOR_HEADER_SIZE, type SectorHeader } from './format.ts';
import type { SectorRing } from './sector-ring.ts';

export class ReplayCursor {
  private readonly ring: SectorRing;
  readonly headSector: number;
  sector: number;
  header: SectorHeader;
  pos: number;
  /** Set when the walk found a gap in seq: records crossing it are unreadable. */
  broken = false;
  /**
   * Bytes of the record being read that lie ahead of the cursor, or -1 when
   * unknown (inside its header) or not inside a record.
   */
  recordLeft = -1;
  inRecord = false;
  /**
   * Set when a record ran into a sector whose carry does not continue it: the
   * write was cut short and the writer resumed in a fresh sector after a
   * mount. The cursor is left at that sector's first record.
   */
  torn = false;

  constructor(ring: SectorRing, headSector: number, sector: number, header: SectorHeader, pos: number) {
    this.ring = ring;
    this.headSector = headSector;
    this.sector = sector;
    this.header = header;
    this.pos = pos;
  }

  get sectorEnd(): number {
    return (this.sector + 1) * this.ring.sectorSize;
  }

  get inHead(): boolean {
    return this.sector === this.headSector;
  }

  /**
   * Move to the sector written after this one. Sectors skipped on the way
   * with no valid header were retired by the writer (or were torn) and are
   * marked retired. Returns false at the head.
   */
  nextSector(): boolean {
    if (this.sector === this.headSector) return false;
    const ring = this.ring;
    const skipped: number[] = [];
    let s = this.sector;
    for (let i = 0; i < ring.sectorCount; i++) {
      s = s + 1 === ring.sectorCount ? 0 : s + 1;
      if (ring.retired[s]) continue;
      const h = ring.readHeader(s);
      if (h.kind !== 'valid') {
        skipped.push(s);
        continue;
      }
      if (((h.header.seq - this.header.seq) | 0) <= 0) {
        // Older: short of the head, a sector the writer skipped (retired: its erase failed and
        // its old header could not be spoiled, FORMAT.md §6.1); at the head's place, the end.
        if (s === this.headSector) return false;
        skipped.push(s);
        continue;
      }
      if (h.header.seq === this.header.seq + 1) {
        for (const k of skipped) ring.retire(k);
      } else {
        this.broken = true;
      }
      this.sector = s;
      this.header = h.header;
      this.pos = s * ring.sectorSize + SECTOR_HEADER_SIZE;
      return true;
    }
    return false;
  }

  /** Jump to the first record that starts in the next sector. */
  skipToNextSector(): boolean {
    if (!this.nextSector()) return false;
    this.pos += this.header.carry;
    this.broken = false;
    return true;
  }

  /** Start reading a record at the cursor; its length is told once its header is read. */
  beginRecord(): void {
    this.inRecord = true;
    this.recordLeft = -1;
    this.torn = false;
  }

  endRecord(): void {
    this.inRecord = false;
    this.recordLeft = -1;
  }

  /** Read stream bytes at the cursor and advance. False if the stream ends (head) or breaks first. */
  read(into: Uint8Array, start = 0, length = into.length - start): boolean {
    let i = start;
    let left = length;
    while (left > 0) {
      if (this.pos === this.sectorEnd && !this.crossInRecord()) return false;
      const n = Math.min(left, this.sectorEnd - this.pos);
      this.ring.flash.read(this.pos, into.subarray(i, i + n));
      this.pos += n;
      if (this.recordLeft > 0) this.recordLeft -= n;
      i += n;
      left -= n;
    }
    return true;
  }

  /** Step into the next sector mid-stream, checking that its carry continues the current record. */
  private crossInRecord(): boolean {
    this.broken = false;
    if (!this.nextSector() || this.broken) return false;
    if (!this.inRecord) return true;
    const carry = this.header.carry;
    const expected = this.recordLeft < 0 ? -1 : Math.min(this.recordLeft, this.ring.payloadSize);
    if (carry === 0 || (expected >= 0 && carry !== expected)) {
      this.torn = true;
      this.pos += Math.min(carry, this.ring.payloadSize);
      return false;
    }
    return true;
  }

  /** Advance without reading (the data is trusted, e.g. already verified). */
  skip(length: number): boolean {
    let left = length;
    while (left > 0) {
      if (this.pos === this.sectorEnd && !this.crossInRecord()) return false;
      const n = Math.min(left, this.sectorEnd - this.pos);
      this.pos += n;
      if (this.recordLeft > 0) this.recordLeft -= n;
      left -= n;
    }
    return true;
  }

  /** Between records: move a position sitting exactly at a sector end to the next record start. */
  settle(): boolean {
    while (this.pos === this.sectorEnd) {
      this.broken = false;
      if (!this.nextSector() || this.broken) return false;
      // Between records: the next record starts after whatever this sector carries on.
      this.pos += Math.min(this.header.carry, this.ring.payloadSize);
    }
    return true;
  }
}
