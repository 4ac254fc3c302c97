// Format v3: the pack, where GC puts the records it copies (DESIGN.md §1,
// §4 "GC of victim V"). Pack sectors are headerless: records start at offset
// 0, never cross a sector, and a PAD byte ends a GC step's units. Nothing
// but a MOVE record written after the copies are programmed names them.
// After a mount the pack head is never appended to (rule E): the first copy
// takes a fresh sector. The exception is a clean mount whose token is intact
// (DESIGN.md §4, token trick): nothing was programmed since the unmount, so
// the head goes on where its CLOSE record says it stopped (resume).

import type { FlashPartition } from '../../../hal/flash.ts';
import { RecordKind } from '../format.ts';

export class PackWriter {
  head = -1;
  private readonly buf: Uint8Array;
  private progPos = 0;
  private bufPos = 0;

  constructor(
    private readonly flash: FlashPartition,
    /** An erased sector for the pack (the store's allocator). */
    private readonly take: () => number,
    private readonly program: (offset: number, data: Uint8Array) => void,
  ) {
    this.buf = new Uint8Array(flash.sectorSize);
  }

  /** Where a record of `size` bytes will go (opening a pack sector if the head has no room). */
  place(size: number): number {
    const S = this.flash.sectorSize;
    if (this.head < 0 || this.bufPos + size > S) {
      this.flush();
      this.head = this.take();
      this.buf.fill(0xff);
      this.progPos = this.bufPos = 0;
    }
    return this.head * S + this.bufPos;
  }

  append(record: Uint8Array): number {
    const at = this.place(record.length);
    this.buf.set(record, this.bufPos);
    this.bufPos += record.length;
    return at;
  }

  /** Program what is pending, padded to the unit: the copies are then on flash. */
  flush(): void {
    if (this.head < 0 || this.bufPos === this.progPos) return;
    const u = this.flash.programUnit;
    const S = this.flash.sectorSize;
    const end = Math.min(S, Math.ceil(this.bufPos / u) * u);
    if (this.bufPos < end) this.buf[this.bufPos] = RecordKind.Pad;
    this.program(this.head * S + this.progPos, this.buf.subarray(this.progPos, end));
    this.progPos = this.bufPos = end;
  }

  /** Where the next copy would go without an erase (for the CLOSE record), or null. */
  continuation(): { sector: number; offset: number } | null {
    this.flush();
    return this.head >= 0 && this.progPos < this.flash.sectorSize ? { sector: this.head, offset: this.progPos } : null;
  }

  /** Go on appending at `offset` of `sector`: the caller knows its units from there on are unprogrammed since its erase. */
  resume(sector: number, offset: number): void {
    this.head = sector;
    this.buf.fill(0xff);
    this.progPos = this.bufPos = offset;
  }

  /** Forget the head (after a mount, or a reformat): the next copy opens a fresh sector. */
  reset(): void {
    this.head = -1;
    this.progPos = this.bufPos = 0;
  }
}
