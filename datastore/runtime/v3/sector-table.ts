// Format v3 groundwork (issue 18; design in datastore/runtime/v3/DESIGN.md):
// what the writer keeps in RAM about every sector, so that allocation, victim
// choice and wear levelling never read flash to decide. About 9 bytes a
// sector: 30 KB for a 13 MiB partition of 4 KiB sectors.

export const SectorKind = {
  Free: 0,
  /** Journal: the application's records, replayed at mount (hot head). */
  Journal: 1,
  /** Pack: GC's copies, headerless (cold head). */
  Pack: 2,
  /** A whole-sector value, headerless. */
  Value: 3,
  Anchor: 4,
  Retired: 5,
} as const;
export type SectorKind = (typeof SectorKind)[keyof typeof SectorKind];

const WEAR_SPAN = 0xffff;

export class SectorTable {
  readonly count: number;
  readonly sectorSize: number;
  private readonly kinds: Uint8Array;
  /** Live bytes in the sector (records the index points at, or a value's bytes). */
  private readonly liveBytes: Uint16Array | Uint32Array;
  /** When the sector was last appended to, in the writer's clock (puts since mount). */
  private readonly stamps: Uint32Array;
  /** Erase count less `wearBase`: 16 bits each, rebased when one would overflow. */
  private readonly wearDelta: Uint16Array;
  private wearBase = 0;
  /** Sum of wearDelta: the mean without a pass over the table. */
  private deltaSum = 0;
  private free = 0;

  constructor(count: number, sectorSize: number, eraseCounts?: ArrayLike<number>) {
    this.count = count;
    this.sectorSize = sectorSize;
    this.kinds = new Uint8Array(count); // all Free
    this.free = count;
    this.liveBytes = sectorSize <= 0xffff ? new Uint16Array(count) : new Uint32Array(count);
    this.stamps = new Uint32Array(count);
    this.wearDelta = new Uint16Array(count);
    if (eraseCounts) {
      let min = Infinity;
      for (let s = 0; s < count; s++) min = Math.min(min, eraseCounts[s]);
      this.wearBase = count > 0 ? min : 0;
      for (let s = 0; s < count; s++) this.setWear(s, eraseCounts[s]);
    }
  }

  kind(sector: number): SectorKind {
    return this.kinds[sector] as SectorKind;
  }

  setKind(sector: number, kind: SectorKind): void {
    const was = this.kinds[sector];
    if (was === SectorKind.Free) this.free--;
    if (kind === SectorKind.Free) this.free++;
    this.kinds[sector] = kind;
    if (kind === SectorKind.Free) this.liveBytes[sector] = 0;
  }

  get freeCount(): number {
    return this.free;
  }

  live(sector: number): number {
    return this.liveBytes[sector];
  }

  /** Live bytes gained (positive) or lost (negative); never below 0 or above the sector size. */
  addLive(sector: number, bytes: number): void {
    const next = this.liveBytes[sector] + bytes;
    if (next < 0 || next > this.sectorSize) throw new RangeError(`sector ${sector}: live bytes would be ${next}`);
    this.liveBytes[sector] = next;
  }

  stamp(sector: number): number {
    return this.stamps[sector];
  }

  touch(sector: number, now: number): void {
    this.stamps[sector] = now >>> 0;
  }

  wear(sector: number): number {
    return this.wearBase + this.wearDelta[sector];
  }

  /** The sector was erased once more. */
  noteErase(sector: number): void {
    if (this.wearDelta[sector] === WEAR_SPAN) this.rebase();
    if (this.wearDelta[sector] === WEAR_SPAN) throw new RangeError(`sector ${sector}: erase counts more than ${WEAR_SPAN} apart`);
    this.wearDelta[sector]++;
    this.deltaSum++;
  }

  /** Set a sector's erase count (read from flash at mount). */
  setWear(sector: number, erases: number): void {
    if (erases < this.wearBase) {
      // Lower the base; every delta grows by the difference.
      const by = this.wearBase - erases;
      for (let s = 0; s < this.count; s++) {
        if (this.wearDelta[s] + by > WEAR_SPAN) throw new RangeError(`erase counts more than ${WEAR_SPAN} apart`);
      }
      for (let s = 0; s < this.count; s++) this.wearDelta[s] += by;
      this.deltaSum += by * this.count;
      this.wearBase = erases;
    }
    if (erases - this.wearBase > WEAR_SPAN) this.rebase();
    if (erases - this.wearBase > WEAR_SPAN) throw new RangeError(`erase counts more than ${WEAR_SPAN} apart`);
    this.deltaSum += erases - this.wearBase - this.wearDelta[sector];
    this.wearDelta[sector] = erases - this.wearBase;
  }

  meanWear(): number {
    return this.count === 0 ? 0 : this.wearBase + this.deltaSum / this.count;
  }

  private rebase(): void {
    let min = WEAR_SPAN;
    for (let s = 0; s < this.count; s++) min = Math.min(min, this.wearDelta[s]);
    if (min === 0) return;
    for (let s = 0; s < this.count; s++) this.wearDelta[s] -= min;
    this.deltaSum -= min * this.count;
    this.wearBase += min;
  }
}
