// The partition's sectors as a ring in physical order, minus retired sectors,
// and the search that finds the head (newest sector) at mount.
//
// Sectors are opened in ring order and each open takes the next sequence
// number, so seq rises along the ring from just after the head round to the
// head: a rotated sorted array. Mount finds the head by binary search
// (about log2(sectors) header reads) instead of reading every header.

import type { FlashPartition } from '../../hal/flash.ts';
import { decodeSectorHeader, SECTOR_HEADER_SIZE, type SectorHeaderState } from './format.ts';

const ASCENT_WINDOW = 8;

export class SectorRing {
  readonly flash: FlashPartition;
  readonly sectorCount: number;
  readonly sectorSize: number;
  readonly payloadSize: number;
  /** 1 = retired (worn): never opened, skipped by every walk. */
  readonly retired: Uint8Array;
  retiredCount = 0;
  private readonly headerBuf = new Uint8Array(SECTOR_HEADER_SIZE);

  constructor(flash: FlashPartition) {
    this.flash = flash;
    this.sectorSize = flash.sectorSize;
    this.sectorCount = flash.size / flash.sectorSize;
    this.payloadSize = flash.sectorSize - SECTOR_HEADER_SIZE;
    this.retired = new Uint8Array(this.sectorCount);
  }

  retire(sector: number): void {
    if (!this.retired[sector]) {
      this.retired[sector] = 1;
      this.retiredCount++;
    }
  }

  retiredList(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.sectorCount; i++) if (this.retired[i]) out.push(i);
    return out;
  }

  /** Next usable sector after `sector` in ring order. */
  next(sector: number): number {
    let s = sector;
    for (let i = 0; i < this.sectorCount; i++) {
      s = s + 1 === this.sectorCount ? 0 : s + 1;
      if (!this.retired[s]) return s;
    }
    return sector;
  }

  /** Usable sectors strictly between `from` and `to` going forward round the ring. */
  between(from: number, to: number): number {
    let span = to - from - 1;
    if (span < 0) span += this.sectorCount;
    if (this.retiredCount === 0) return span;
    let n = 0;
    for (let s = this.next(from), i = 0; s !== to && i < this.sectorCount; s = this.next(s), i++) n++;
    return n;
  }

  usableSectors(): number {
    return this.sectorCount - this.retiredCount;
  }

  sectorOf(offset: number): number {
    return Math.floor(offset / this.sectorSize);
  }

  payloadStart(sector: number): number {
    return sector * this.sectorSize + SECTOR_HEADER_SIZE;
  }

  /**
   * Read and decode a sector header. A header that fails its check is read
   * again (up to 2 more times) so a transient read error is not taken for
   * a torn or worn sector.
   */
  readHeader(sector: number): SectorHeaderState {
    let state: SectorHeaderState = { kind: 'blank' };
    for (let attempt = 0; attempt < 3; attempt++) {
      this.flash.read(sector * this.sectorSize, this.headerBuf);
      state = decodeSectorHeader(this.headerBuf);
      if (state.kind !== 'invalid') return state;
    }
    return state;
  }

  /**
   * Find the head: the valid sector with the highest seq. Binary search over
   * the rotated order; blank sectors count as "after the head"; invalid ones
   * (torn, worn) are stepped over. Returns -1 if no sector is valid.
   */
  findHead(): { sector: number; seq: number } | null {
    const n = this.sectorCount;
    // Reference: the first valid sector in physical order.
    let ref = -1;
    let refSeq = 0;
    for (let s = 0; s < n; s++) {
      if (this.retired[s]) continue;
      const h = this.readHeader(s);
      if (h.kind === 'valid') {
        ref = s;
        refSeq = h.header.seq;
        break;
      }
    }
    if (ref < 0) return null;
    // Positions are physical indices ref..n-1. Invariant: lo is valid with seq >= refSeq.
    let lo = ref;
    let loSeq = refSeq;
    let hi = n - 1;
    while (lo < hi) {
      const mid = lo + Math.ceil((hi - lo) / 2);
      // Step forward over invalid sectors to the first decisive one in [mid, hi].
      let probe = mid;
      let decided = false;
      for (; probe <= hi; probe++) {
        if (this.retired[probe]) continue;
        const h = this.readHeader(probe);
        if (h.kind === 'invalid') continue;
        if (h.kind === 'valid' && seqAtLeast(h.header.seq, refSeq)) {
          lo = probe;
          loSeq = h.header.seq;
        } else {
          hi = mid - 1;
        }
        decided = true;
        break;
      }
      if (!decided) hi = mid - 1;
    }
    return this.ascend(lo, loSeq);
  }

  /**
   * The binary search assumes seq rises along the ring. A worn sector that the
   * writer skipped may still read as blank or carry a stale header, and can
   * steer the search short of the head. So walk on from the candidate: while a
   * newer sector lies within ASCENT_WINDOW sectors ahead, move to it. Costs
   * ASCENT_WINDOW header reads on a healthy ring; tolerates runs of up to
   * ASCENT_WINDOW - 1 such sectors.
   */
  private ascend(sector: number, seq: number): { sector: number; seq: number } {
    const n = this.sectorCount;
    let best = sector;
    let bestSeq = seq;
    let s = sector;
    for (let ahead = 1, walked = 0; ahead <= ASCENT_WINDOW && walked < n; ahead++, walked++) {
      s = s + 1 === n ? 0 : s + 1;
      if (this.retired[s]) continue;
      const h = this.readHeader(s);
      if (h.kind === 'valid' && seqAtLeast(h.header.seq, bestSeq + 1)) {
        best = s;
        bestSeq = h.header.seq;
        ahead = 0;
      }
    }
    return { sector: best, seq: bestSeq };
  }

  /** The slow, certain way: read every header and take the highest seq. */
  scanHead(): { sector: number; seq: number } | null {
    let best: { sector: number; seq: number } | null = null;
    for (let s = 0; s < this.sectorCount; s++) {
      if (this.retired[s]) continue;
      const h = this.readHeader(s);
      if (h.kind === 'valid' && (best === null || seqAtLeast(h.header.seq, best.seq + 1))) {
        best = { sector: s, seq: h.header.seq };
      }
    }
    return best;
  }
}

/** Serial-number comparison, so seq may wrap past 2^32 one day. */
export function seqAtLeast(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
