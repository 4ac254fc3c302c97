// The in-RAM index: key hash -> partition offset of the key's newest record.
// Open addressing in two typed arrays, so a key costs 8 bytes per slot and
// no JS object (the engine heap is small). Keys themselves stay on flash;
// hash collisions are resolved by the caller comparing the key bytes of the
// record at each candidate offset.
//
// A key's home slot is the top bits of its hash and probing is Robin Hood
// (an entry never sits behind one displaced less than itself), so slot order
// is hash order: the rolling index snapshot (index-cycle.ts) walks the index
// a hash range at a time without sorting anything.

const EMPTY = 0xffffffff;
const MIN_CAPACITY = 64;
const MAX_LOAD = 0.8;

export class KeyIndex {
  private hashes: Uint32Array;
  private offsets: Uint32Array;
  private mask: number;
  /** home(hash) = hash >>> shift: the top log2(capacity) bits. */
  private shift: number;
  private count = 0;

  constructor(expected = 0) {
    let cap = MIN_CAPACITY;
    while (cap * MAX_LOAD < expected) cap *= 2;
    this.hashes = new Uint32Array(cap);
    this.offsets = new Uint32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.shift = 32 - Math.round(Math.log2(cap));
  }

  private home(hash: number): number {
    return hash >>> this.shift;
  }

  /** How far the entry in `slot` sits past its home. */
  private displacement(slot: number): number {
    return (slot - this.home(this.hashes[slot])) & this.mask;
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
    for (let i = this.home(hash), d = 0; ; i = (i + 1) & this.mask, d++) {
      const off = this.offsets[i];
      // An entry displaced less than the probe so far: the key would have taken its place.
      if (off === EMPTY || this.displacement(i) < d) return -1;
      if (this.hashes[i] === hash && isKey(off)) return i;
    }
  }

  /** Slot holding exactly (hash, offset), or -1: a record is live iff this finds it. */
  findOffset(hash: number, offset: number): number {
    for (let i = this.home(hash), d = 0; ; i = (i + 1) & this.mask, d++) {
      const off = this.offsets[i];
      if (off === EMPTY || this.displacement(i) < d) return -1;
      if (off === offset && this.hashes[i] === hash) return i;
    }
  }

  /** Slot whose entry points at `offset`, or -1, by a scan: for a record whose key (so hash) is damaged. */
  slotOfOffset(offset: number): number {
    const offsets = this.offsets;
    for (let i = 0; i < offsets.length; i++) if (offsets[i] === offset) return i;
    return -1;
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
    let h = hash;
    let o = offset;
    for (let i = this.home(h), d = 0; ; i = (i + 1) & this.mask, d++) {
      if (this.offsets[i] === EMPTY) {
        this.hashes[i] = h;
        this.offsets[i] = o;
        this.count++;
        return;
      }
      const di = this.displacement(i);
      if (di < d) {
        // Robin Hood: the entry carried so far takes this slot; the one displaced less moves on.
        const th = this.hashes[i];
        const to = this.offsets[i];
        this.hashes[i] = h;
        this.offsets[i] = o;
        h = th;
        o = to;
        d = di;
      }
    }
  }

  /** Remove a slot, shifting the rest of its cluster back by one (no tombstones; order kept). */
  removeAt(slot: number): void {
    const mask = this.mask;
    let hole = slot;
    for (;;) {
      const next = (hole + 1) & mask;
      if (this.offsets[next] === EMPTY || this.displacement(next) === 0) break;
      this.hashes[hole] = this.hashes[next];
      this.offsets[hole] = this.offsets[next];
      hole = next;
    }
    this.offsets[hole] = EMPTY;
    this.count--;
  }

  /** The first boundary between home slots at or after `hash` (2^32 at most). */
  alignUp(hash: number): number {
    const unit = 2 ** this.shift;
    return Math.min(0x100000000, Math.ceil(hash / unit) * unit);
  }

  /**
   * Visit entries in hash order (ties in any order), starting with the first
   * whose hash is at least `start`, until `visit` returns false.
   */
  walkFrom(start: number, visit: (hash: number, offset: number) => boolean): void {
    const cap = this.mask + 1;
    const sa = Math.min(cap, Math.floor(start / 2 ** this.shift));
    // Slots from the start's home on, minus entries displaced there from earlier homes and
    // entries that wrapped round from the end of the table (taken last, below).
    for (let i = sa; i < cap; i++) {
      const off = this.offsets[i];
      if (off === EMPTY) continue;
      const h = this.hashes[i];
      const home = this.home(h);
      if (home > i || h < start) continue;
      if (!visit(h, off)) return;
    }
    // The last cluster may run on past the end of the table into slots 0, 1, …
    for (let i = 0; i < cap; i++) {
      const off = this.offsets[i];
      if (off === EMPTY) return;
      const h = this.hashes[i];
      if (this.home(h) <= i) return;
      if (h >= start && !visit(h, off)) return;
    }
  }

  /**
   * The end of a hash range from `start` holding at most `max` entries and
   * at or before `limit` (which must be alignUp of some hash): the largest
   * boundary between home slots (so keys of equal hash are never split) that
   * satisfies both. Returns the end (up to
   * 2^32, meaning "to the end") and the entries in [start, end); an end equal
   * to `start` means the first home's entries alone exceed `max`.
   */
  rangeFrom(start: number, max: number, limit = 0x100000000): { end: number; entries: number } {
    const unit = 2 ** this.shift;
    let taken = 0;
    let lastHome = -1;
    let beforeGroup = 0;
    let end = limit;
    this.walkFrom(start, (h) => {
      const home = this.home(h);
      if (home !== lastHome) {
        if (home * unit >= limit) return false;
        if (taken >= max) {
          end = home * unit;
          return false;
        }
        beforeGroup = taken;
        lastHome = home;
      }
      taken++;
      if (taken > max) {
        end = lastHome * unit;
        taken = beforeGroup;
        return false;
      }
      return true;
    });
    return { end: Math.max(end, start), entries: taken };
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
    this.shift = 32 - Math.round(Math.log2(cap));
    this.count = 0;
    for (let i = 0; i < oldO.length; i++) if (oldO[i] !== EMPTY) this.insert(oldH[i], oldO[i]);
  }
}
