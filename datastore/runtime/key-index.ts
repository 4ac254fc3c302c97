// The in-RAM index: key hash -> partition offset of the key's newest record.
// Open addressing with linear probing in two typed arrays, so a key costs
// 8 bytes per slot and no JS object (the engine heap is small). Keys
// themselves stay on flash; hash collisions are resolved by the caller
// comparing the key bytes of the record at each candidate offset.

const EMPTY = 0xffffffff;
const MIN_CAPACITY = 64;
const MAX_LOAD = 0.8;

export class KeyIndex {
  private hashes: Uint32Array;
  private offsets: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 0) {
    let cap = MIN_CAPACITY;
    while (cap * MAX_LOAD < expected) cap *= 2;
    this.hashes = new Uint32Array(cap);
    this.offsets = new Uint32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Exact bytes held by the index's arrays (the per-key heap cost). */
  get heapBytes(): number {
    return this.hashes.byteLength + this.offsets.byteLength;
  }

  /** Slot of the entry with this hash whose record `isKey` confirms, or -1. */
  find(hash: number, isKey: (offset: number) => boolean): number {
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const off = this.offsets[i];
      if (off === EMPTY) return -1;
      if (this.hashes[i] === hash && isKey(off)) return i;
    }
  }

  /** Slot holding exactly (hash, offset), or -1: a record is live iff this finds it. */
  findOffset(hash: number, offset: number): number {
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const off = this.offsets[i];
      if (off === EMPTY) return -1;
      if (off === offset && this.hashes[i] === hash) return i;
    }
  }

  offsetAt(slot: number): number {
    return this.offsets[slot];
  }

  hashAt(slot: number): number {
    return this.hashes[slot];
  }

  setOffset(slot: number, offset: number): void {
    this.offsets[slot] = offset;
  }

  insert(hash: number, offset: number): void {
    if ((this.count + 1) > (this.mask + 1) * MAX_LOAD) this.grow();
    let i = hash & this.mask;
    while (this.offsets[i] !== EMPTY) i = (i + 1) & this.mask;
    this.hashes[i] = hash;
    this.offsets[i] = offset;
    this.count++;
  }

  /** Remove a slot, shifting later probe-chain members back (no tombstones). */
  removeAt(slot: number): void {
    const mask = this.mask;
    let hole = slot;
    let i = slot;
    for (;;) {
      i = (i + 1) & mask;
      const off = this.offsets[i];
      if (off === EMPTY) break;
      const home = this.hashes[i] & mask;
      // Move i into the hole unless its home lies cyclically in (hole, i].
      const inRange = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (!inRange) {
        this.hashes[hole] = this.hashes[i];
        this.offsets[hole] = off;
        hole = i;
      }
    }
    this.offsets[hole] = EMPTY;
    this.count--;
  }

  /** Visit every entry; the callback must not insert or remove. */
  forEach(visit: (hash: number, offset: number, slot: number) => void): void {
    for (let i = 0; i <= this.mask; i++) {
      if (this.offsets[i] !== EMPTY) visit(this.hashes[i], this.offsets[i], i);
    }
  }

  clear(): void {
    this.offsets.fill(EMPTY);
    this.count = 0;
  }

  private grow(): void {
    const oldH = this.hashes;
    const oldO = this.offsets;
    const cap = (this.mask + 1) * 2;
    this.hashes = new Uint32Array(cap);
    this.offsets = new Uint32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < oldO.length; i++) if (oldO[i] !== EMPTY) this.insert(oldH[i], oldO[i]);
  }
}
