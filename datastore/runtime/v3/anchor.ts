// Format v3 groundwork: the anchor area, the fixed place a v3 mount starts
// from (DESIGN.md §1.1). The first `count` sectors of the partition hold
// 16-byte anchor records, one per slot of max(16, program unit) bytes,
// written slot after slot; the newest valid record (highest gen) names the
// journal sector the mount's walk starts at.
//
// Rule for power cuts, stricter than the design's first draft ("skip one
// slot after a mount"): a writer's first record goes to slot 0 of a freshly
// erased anchor sector, never after records on flash. Two sessions in a row
// that die in their first anchor program could otherwise mark two slots
// (parts with ECC count an interrupted program's units as programmed though
// they read blank), and the second's skip would land on the first's. It
// costs one erase per session that writes an anchor, and anchors are written
// once every several journal opens. So within an anchor sector the slots
// programmed form a prefix, and a mount finds its end by binary search.
// (A session that dies in its first anchor program leaves a sector whose
// slot 0 is torn or marked: the next session erases that sector again.)
//
// The exception, after a clean unmount: its CLOSE record names the slot the
// next record may take (continuation()), and a mount that finds the CLOSE's
// token intact knows no session programmed anything since (the token trick,
// DESIGN.md §4), so it goes on there without an erase (resume()).

import type { FlashPartition } from '../../../hal/flash.ts';
import { ANCHOR_RECORD_SIZE, decodeAnchorRecord, encodeAnchorRecord, type AnchorRecord } from './format-v3.ts';

/** Anchor sectors for a partition of `sectors`: 2 below 512 sectors, else 8 (they wear more slowly). */
export function anchorSectorCount(sectors: number): number {
  return sectors < 512 ? 2 : 8;
}

export interface AnchorPlace {
  record: AnchorRecord;
  sector: number;
  slot: number;
}

/** gen a is newer than gen b (serial-number arithmetic: gen may wrap). */
function newer(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export class AnchorArea {
  readonly slotSize: number;
  readonly slotsPerSector: number;
  /** The first bytes of a slot: room for two copies of a record when the slot is 32 bytes or more. */
  private readonly probe: Uint8Array;
  private readonly slot: Uint8Array;
  /** The newest record on flash, as far as this writer knows. */
  private newest: AnchorPlace | null = null;
  /** The anchor sector this writer erased and is filling, or -1 before its first write. */
  private filling = -1;
  private nextSlot = 0;
  /** Called after each anchor sector erase completed (the store counts erases). */
  onErase: ((sector: number) => void) | null = null;

  constructor(
    private readonly flash: FlashPartition,
    readonly count: number,
  ) {
    this.slotSize = Math.max(ANCHOR_RECORD_SIZE, flash.programUnit);
    this.slotsPerSector = Math.floor(flash.sectorSize / this.slotSize);
    this.slot = new Uint8Array(this.slotSize);
    this.probe = new Uint8Array(Math.min(2 * ANCHOR_RECORD_SIZE, this.slotSize));
  }

  /**
   * The newest valid anchor record, or null (an unformatted partition). In
   * each anchor sector that is not blank, a binary search finds the end of
   * the programmed prefix, and the newest valid record is the last one at or
   * before it (the last may be torn, any may be damaged since). About
   * count x (2 + log2(slots per sector)) reads of 16 bytes.
   */
  find(): AnchorPlace | null {
    let best: AnchorPlace | null = null;
    for (let s = 0; s < this.count; s++) {
      if (this.blank(s, 0)) continue;
      let lo = 0;
      let hi = this.slotsPerSector - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (this.blank(s, mid)) hi = mid - 1;
        else lo = mid;
      }
      for (let i = lo; i >= 0; i--) {
        const r = this.read(s, i);
        if (!r) continue;
        if (!best || newer(r.gen, best.record.gen)) best = { record: r, sector: s, slot: i };
        break;
      }
    }
    this.newest = best;
    return best;
  }

  /**
   * Program the next anchor record (gen one past the newest) and return it.
   * When it returns, the record is on flash. The writer's first record, and
   * each one after an anchor sector fills, erases the next anchor sector
   * first (never the one holding the newest record).
   */
  write(chainStart: number, chainSeq: number, copies = 1): AnchorRecord {
    const record: AnchorRecord = { gen: this.newest ? (this.newest.record.gen + 1) >>> 0 : 1, chainStart, chainSeq: chainSeq & 0xffff };
    const slots = this.slotsFor(copies);
    if (this.filling < 0 || this.nextSlot + slots > this.slotsPerSector) {
      const after = this.filling >= 0 ? this.filling : this.newest ? this.newest.sector : this.count - 1;
      const sector = (after + 1) % this.count;
      this.flash.erase(sector);
      this.onErase?.(sector);
      this.filling = sector;
      this.nextSlot = 0;
    }
    this.slot.fill(0xff);
    encodeAnchorRecord(record, this.slot);
    // Two copies share a slot of 32 bytes or more (one program: 256-byte units hold 16 records a sector, not 8);
    // with 16-byte slots they go to consecutive slots. Either way damage to one later leaves its twin, and the
    // newest valid record is then still this one (a mount takes the last valid slot of the prefix).
    if (copies > 1 && this.probe.length >= 2 * ANCHOR_RECORD_SIZE) encodeAnchorRecord(record, this.slot, ANCHOR_RECORD_SIZE);
    let slot = this.nextSlot;
    for (let i = 0; i < slots; i++) {
      slot = this.nextSlot++;
      this.flash.program(this.filling * this.flash.sectorSize + slot * this.slotSize, this.slot);
    }
    this.newest = { record, sector: this.filling, slot };
    return record;
  }

  /** Where this writer's next record would go without an erase (for the CLOSE record), or null. */
  continuation(): { sector: number; slot: number } | null {
    return this.filling >= 0 && this.nextSlot < this.slotsPerSector ? { sector: this.filling, slot: this.nextSlot } : null;
  }

  /**
   * Go on at `slot` of `sector` without an erase: the caller knows nothing was
   * programmed there since the newest record (the token trick). Refused
   * (false) unless the newest record find() saw sits just before it.
   */
  resume(sector: number, slot: number): boolean {
    const n = this.newest;
    if (!n || n.sector !== sector || n.slot + 1 !== slot || slot >= this.slotsPerSector) return false;
    this.filling = sector;
    this.nextSlot = slot;
    return true;
  }

  /** Slots a record written `copies` times takes. */
  slotsFor(copies: number): number {
    return copies > 1 && this.probe.length >= 2 * ANCHOR_RECORD_SIZE ? Math.ceil(copies / 2) : copies;
  }

  private read(sector: number, slot: number): AnchorRecord | null {
    this.flash.read(sector * this.flash.sectorSize + slot * this.slotSize, this.probe);
    const first = decodeAnchorRecord(this.probe);
    return first ?? (this.probe.length >= 2 * ANCHOR_RECORD_SIZE ? decodeAnchorRecord(this.probe, ANCHOR_RECORD_SIZE) : null);
  }

  /** Nothing programmed in the slot's record bytes (both copies' places). */
  private blank(sector: number, slot: number): boolean {
    this.flash.read(sector * this.flash.sectorSize + slot * this.slotSize, this.probe);
    for (let i = 0; i < this.probe.length; i++) if (this.probe[i] !== 0xff) return false;
    return true;
  }
}
