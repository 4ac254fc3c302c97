// A simulated NOR-flash partition that enforces the hal/flash.ts rules,
// counts every operation, models time, and fails on demand: power cuts,
// transient read bit flips, stored bit rot, worn sectors.
// Deterministic: every random choice comes from a seeded PRNG.
//
// Power-cut effects (`PowerCut.effect`), each selectable on its own:
// - 'clean': the interrupted operation does nothing.
// - 'torn': a program completes the pages of the write before one page (any
//   page of it), clears an arbitrary subset of the bits that page should
//   clear, and leaves later pages untouched (a page is programmed as one
//   operation, in address order); every unit of the write counts as
//   programmed. An erase leaves a random prefix erased and each later byte
//   erased, old, or old with random extra zero bits.
// - 'interrupted': a program changes no bit, yet every unit of the write counts
//   as programmed (ECC parts: the unit's ECC was written or is indeterminate),
//   so with `strictReprogram` a second program before erase is refused.
// - 'weak': an erase completes and reads as erased, but a few bits of the
//   sector are weak: on later reads each may read 0 instead of 1 (randomly,
//   read to read) until the next erase.

import { FlashError, type FlashPartition } from '../../hal/flash.ts';
import { DEFAULT_TIMING, eraseTimeUs, programTimeUs, readTimeUs, type TimingModel } from './timing.ts';
import { seededRandom } from '../seeded-random.ts';

export interface SimFlashOptions {
  size: number;
  sectorSize: number;
  programUnit: number;
  /** Refuse a second program of a unit between erases (as parts with ECC do). Default true. */
  strictReprogram?: boolean;
  timing?: Partial<TimingModel>;
  seed?: number;
  /** Erases a sector survives; the next one fails. Default Infinity. */
  endurance?: number;
  /** Initial content (default: all 0xFF, as NOR ships). */
  image?: Uint8Array;
}

export interface SimFlashStats {
  reads: number;
  bytesRead: number;
  programs: number;
  bytesProgrammed: number;
  erases: number;
  /** Modelled microseconds spent in flash operations. */
  timeUs: number;
  /** Program and erase attempts, including interrupted ones: the power-cut operation index. */
  mutatingOps: number;
  bitFlips: number;
}

export interface PowerCut {
  /** Index (from 0) among counted operations of the operation to interrupt. */
  atOp: number;
  /** See the module comment. 'interrupted' applies to programs, 'weak' to erases; otherwise as 'clean'. */
  effect: PowerCutEffect;
  /** Count only programs or only erases towards atOp. Default 'any'. */
  kind?: 'any' | 'program' | 'erase';
}

export type PowerCutEffect = 'clean' | 'torn' | 'interrupted' | 'weak';

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export class SimFlash implements FlashPartition {
  readonly size: number;
  readonly sectorSize: number;
  readonly programUnit: number;
  /** Tear granularity: an interrupted program leaves at most one page partly written. */
  readonly pageSize: number;
  readonly strictReprogram: boolean;
  readonly timing: TimingModel;
  readonly stats: SimFlashStats;
  protected readonly cells: Uint8Array;
  /** 1 per program unit programmed since its sector's last erase. */
  protected readonly programmed: Uint8Array;
  protected readonly eraseCounts: Uint32Array;
  protected readonly endurance: Float64Array;
  private rand: () => number;
  private readonly seed: number;
  /** Clones made so far: each gets its own seed without drawing from this flash's generator. */
  private clones = 0;
  private cut: PowerCut | null = null;
  private cutCounter = 0;
  private off = false;
  private flipRate = 0;
  private nextFlipIn = Infinity;
  /** Weak bits left by a 'weak' erase: byte offset -> mask of bits that may read 0. */
  private weak = new Map<number, number>();
  /** Told of every change to the cells (an engine host running this partition in C mirrors them). */
  private changeListeners: ((offset: number, length: number) => void)[] = [];

  constructor(o: SimFlashOptions) {
    if (!isPow2(o.sectorSize)) throw new RangeError(`sectorSize ${o.sectorSize} must be a power of two`);
    if (!isPow2(o.programUnit) || o.programUnit > o.sectorSize) throw new RangeError(`programUnit ${o.programUnit} must be a power of two no larger than the sector`);
    if (!Number.isInteger(o.size) || o.size <= 0 || o.size % o.sectorSize !== 0) throw new RangeError(`size ${o.size} must be a positive multiple of sectorSize ${o.sectorSize}`);
    this.size = o.size;
    this.sectorSize = o.sectorSize;
    this.programUnit = o.programUnit;
    this.strictReprogram = o.strictReprogram ?? true;
    this.timing = { ...DEFAULT_TIMING, ...o.timing };
    this.pageSize = Math.max(this.timing.pageSize, o.programUnit);
    this.cells = new Uint8Array(o.size);
    if (o.image) {
      if (o.image.length !== o.size) throw new RangeError(`image is ${o.image.length} bytes, partition ${o.size}`);
      this.cells.set(o.image);
    } else this.cells.fill(0xff);
    this.programmed = new Uint8Array(o.size / o.programUnit);
    if (o.image) this.markProgrammedFromContent();
    const sectors = o.size / o.sectorSize;
    this.eraseCounts = new Uint32Array(sectors);
    this.endurance = new Float64Array(sectors).fill(o.endurance ?? Infinity);
    this.seed = o.seed ?? 1;
    this.rand = seededRandom(this.seed);
    this.stats = { reads: 0, bytesRead: 0, programs: 0, bytesProgrammed: 0, erases: 0, timeUs: 0, mutatingOps: 0, bitFlips: 0 };
  }

  get sectorCount(): number {
    return this.size / this.sectorSize;
  }

  get opCount(): number {
    return this.stats.mutatingOps;
  }

  get poweredOff(): boolean {
    return this.off;
  }

  // ---- the FlashPartition operations ----------------------------------------

  read(offset: number, into: Uint8Array): void {
    this.checkPower(offset);
    this.checkRange(offset, into.length);
    into.set(this.cells.subarray(offset, offset + into.length));
    if (this.weak.size > 0) this.weakOnRead(offset, into);
    this.stats.reads++;
    this.stats.bytesRead += into.length;
    this.stats.timeUs += readTimeUs(this.timing, into.length);
    if (this.flipRate > 0) this.flipOnRead(into);
  }

  program(offset: number, data: Uint8Array): void {
    this.checkPower(offset);
    this.checkRange(offset, data.length);
    const u = this.programUnit;
    if (offset % u !== 0 || data.length % u !== 0) {
      throw new FlashError('misaligned', offset, `program at ${offset} of ${data.length} bytes is not on ${u}-byte program units`);
    }
    const cells = this.cells;
    for (let i = 0; i < data.length; i++) {
      if ((cells[offset + i] & data[i]) !== data[i]) {
        throw new FlashError('set-bit', offset + i, `program would set a bit at ${offset + i} (cell 0x${cells[offset + i].toString(16)}, data 0x${data[i].toString(16)}): erase the sector first`);
      }
    }
    const firstUnit = offset / u;
    const units = data.length / u;
    if (this.strictReprogram) {
      for (let k = 0; k < units; k++) {
        if (this.programmed[firstUnit + k]) throw new FlashError('reprogram', offset + k * u, `unit at ${offset + k * u} was already programmed since its sector was erased`);
      }
    }
    const sector = Math.floor(offset / this.sectorSize);
    const lastSector = Math.floor((offset + data.length - 1) / this.sectorSize);
    const index = this.countOp('program');
    this.stats.timeUs += programTimeUs(this.timing, offset, data.length);
    for (let s = sector; s <= lastSector; s++) {
      if (this.eraseCounts[s] > this.endurance[s]) {
        this.garbleProgram(offset, data);
        this.programmed.fill(1, firstUnit, firstUnit + units);
        throw new FlashError('worn', offset, `sector ${s} is worn out (${this.eraseCounts[s]} erases): program failed`);
      }
    }
    if (this.isCut(index, 'program')) {
      if (this.cut!.effect === 'interrupted') this.programmed.fill(1, firstUnit, firstUnit + units);
      if (this.cut!.effect === 'torn') {
        this.tearProgram(offset, data);
        this.programmed.fill(1, firstUnit, firstUnit + units);
      }
      this.powerLoss(offset);
    }
    for (let i = 0; i < data.length; i++) cells[offset + i] &= data[i];
    this.programmed.fill(1, firstUnit, firstUnit + units);
    this.stats.programs++;
    this.stats.bytesProgrammed += data.length;
    this.changed(offset, data.length);
  }

  erase(index: number): void {
    this.checkPower(index);
    if (!Number.isInteger(index) || index < 0 || index >= this.sectorCount) {
      throw new FlashError('out-of-range', index, `sector ${index} is outside the partition (0..${this.sectorCount - 1})`);
    }
    const op = this.countOp('erase');
    this.stats.timeUs += eraseTimeUs(this.timing);
    const start = index * this.sectorSize;
    if (this.eraseCounts[index] >= this.endurance[index]) {
      this.eraseCounts[index]++;
      this.tearErase(index);
      this.changed(start, this.sectorSize);
      throw new FlashError('worn', index, `sector ${index} is worn out (${this.eraseCounts[index] - 1} erases): erase failed`);
    }
    if (this.isCut(op, 'erase')) {
      if (this.cut!.effect === 'weak') {
        this.eraseCells(index);
        this.makeWeak(index);
        this.powerLoss(index);
      }
      if (this.cut!.effect === 'torn') {
        this.eraseCounts[index]++;
        this.tearErase(index);
        this.changed(start, this.sectorSize);
      }
      this.powerLoss(index);
    }
    this.eraseCells(index);
    this.stats.erases++;
  }

  private eraseCells(index: number): void {
    const start = index * this.sectorSize;
    const u = this.programUnit;
    this.cells.fill(0xff, start, start + this.sectorSize);
    this.programmed.fill(0, start / u, (start + this.sectorSize) / u);
    this.eraseCounts[index]++;
    if (this.weak.size > 0) for (const at of [...this.weak.keys()]) if (Math.floor(at / this.sectorSize) === index) this.weak.delete(at);
    this.changed(start, this.sectorSize);
  }

  /** 1 to 8 random bits of the sector become weak: they may read 0 until the next erase. */
  private makeWeak(index: number): void {
    const count = 1 + Math.floor(this.rand() * 8);
    for (let k = 0; k < count; k++) {
      const at = index * this.sectorSize + Math.floor(this.rand() * this.sectorSize);
      this.weak.set(at, (this.weak.get(at) ?? 0) | (1 << Math.floor(this.rand() * 8)));
    }
  }

  private weakOnRead(offset: number, into: Uint8Array): void {
    for (const [at, mask] of this.weak) {
      if (at < offset || at >= offset + into.length) continue;
      for (let b = 0; b < 8; b++) if (mask & (1 << b) && this.rand() < 0.5) into[at - offset] &= ~(1 << b);
    }
  }

  /** Weak bits currently outstanding (for tests). */
  get weakBits(): number {
    let n = 0;
    for (const mask of this.weak.values()) for (let b = 0; b < 8; b++) if (mask & (1 << b)) n++;
    return n;
  }

  // ---- fault injection --------------------------------------------------------

  armPowerCut(cut: PowerCut): void {
    this.cut = { kind: 'any', ...cut };
    this.cutCounter = 0; // 'program'/'erase' cuts count from arming; 'any' uses mutatingOps
  }

  /** Restore power: operations work again and the armed cut is cleared. */
  powerOn(): void {
    this.off = false;
    this.cut = null;
  }

  resetOpCount(): void {
    this.stats.mutatingOps = 0;
    this.cutCounter = 0;
  }

  /** Each bit returned by read flips with this probability (not stored). */
  setReadBitFlipRate(ratePerBit: number): void {
    this.flipRate = ratePerBit;
    this.nextFlipIn = ratePerBit > 0 ? this.gap() : Infinity;
  }

  /** Bit rot: flip a stored bit, bypassing the rules. Not an operation. */
  flipStoredBit(offset: number, bit: number): void {
    this.checkRange(offset, 1);
    this.cells[offset] ^= 1 << bit;
    for (const l of this.changeListeners) l(offset, 1);
  }

  setSectorEndurance(index: number, erases: number): void {
    this.endurance[index] = erases;
  }

  // ---- inspection -------------------------------------------------------------

  resetStats(): void {
    const s = this.stats;
    s.reads = s.bytesRead = s.programs = s.bytesProgrammed = s.erases = s.timeUs = s.bitFlips = 0;
  }

  wear(): { counts: Uint32Array; max: number; mean: number; min: number } {
    let max = 0;
    let min = Infinity;
    let sum = 0;
    for (const c of this.eraseCounts) {
      if (c > max) max = c;
      if (c < min) min = c;
      sum += c;
    }
    return { counts: this.eraseCounts.slice(), max, min, mean: sum / this.eraseCounts.length };
  }

  sectorOf(offset: number): number {
    return Math.floor(offset / this.sectorSize);
  }

  snapshot(): Uint8Array {
    return this.cells.slice();
  }

  /** Same content, programmed-unit state, wear and endurance; fresh stats; no armed cut. */
  clone(): SimFlash {
    const c = new SimFlash({ size: this.size, sectorSize: this.sectorSize, programUnit: this.programUnit, strictReprogram: this.strictReprogram, timing: this.timing });
    c.cells.set(this.cells);
    c.programmed.set(this.programmed);
    c.eraseCounts.set(this.eraseCounts);
    c.endurance.set(this.endurance);
    c.stats.mutatingOps = this.stats.mutatingOps;
    c.weak = new Map(this.weak);
    // Cloning must not change this flash's own fault randomness (a test clones mid-run to try a cut).
    c.rand = seededRandom((this.seed ^ Math.imul(++this.clones, 0x9e3779b9)) >>> 0 || 1);
    return c;
  }

  /** Called after every change to the cells (file-backed flash persists here). */
  protected onWrite(_offset: number, _length: number): void {}

  private changed(offset: number, length: number): void {
    this.onWrite(offset, length);
    for (const l of this.changeListeners) l(offset, length);
  }

  // ---- a partition run by a native engine host (simulator/engine/jerryscript/native-flash.ts) ----

  /** Listen to every change made through this object (programs, erases, faults, bit rot); returns the unsubscribe. */
  onChange(listener: (offset: number, length: number) => void): () => void {
    this.changeListeners.push(listener);
    return () => (this.changeListeners = this.changeListeners.filter((l) => l !== listener));
  }

  /**
   * True when a fault is armed or present (a power cut armed or happened,
   * read bit flips, weak bits, a sector with limited endurance): only this
   * object can model it, so an engine host must call it rather than run the
   * partition itself.
   */
  get faultsInjected(): boolean {
    return this.cut !== null || this.off || this.flipRate > 0 || this.weak.size > 0 || this.endurance.some((e) => e !== Infinity);
  }

  /** The live cells, programmed-unit marks and erase counts, for a host that runs this partition's rules in C and mirrors its changes back. */
  liveState(): { cells: Uint8Array; programmed: Uint8Array; eraseCounts: Uint32Array } {
    return { cells: this.cells, programmed: this.programmed, eraseCounts: this.eraseCounts };
  }

  protected markProgrammedFromContent(): void {
    const u = this.programUnit;
    for (let k = 0; k < this.programmed.length; k++) {
      for (let i = k * u; i < (k + 1) * u; i++) {
        if (this.cells[i] !== 0xff) {
          this.programmed[k] = 1;
          break;
        }
      }
    }
  }

  // ---- internals ----------------------------------------------------------------

  private checkPower(at: number): void {
    if (this.off) throw new FlashError('power-loss', at, 'the flash has no power (call powerOn)');
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isInteger(offset) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new FlashError('out-of-range', offset, `range ${offset}+${length} is outside the ${this.size}-byte partition`);
    }
  }

  private countOp(kind: 'program' | 'erase'): number {
    const any = this.stats.mutatingOps++;
    if (!this.cut || this.cut.kind === 'any') return any;
    return this.cut.kind === kind ? this.cutCounter++ : -1;
  }

  private isCut(index: number, _kind: 'program' | 'erase'): boolean {
    return this.cut !== null && index === this.cut.atOp;
  }

  private powerLoss(at: number): never {
    this.off = true;
    throw new FlashError('power-loss', at, 'power was cut during this operation');
  }

  /** A random prefix of pages completes, one page gets a strict non-empty subset of its bit clears, the rest nothing. */
  private tearProgram(offset: number, data: Uint8Array): void {
    const page = this.pageSize;
    const pages: [number, number][] = [];
    for (let o = offset; o < offset + data.length; ) {
      const end = Math.min(offset + data.length, (Math.floor(o / page) + 1) * page);
      pages.push([o, end]);
      o = end;
    }
    const done = Math.floor(this.rand() * pages.length);
    for (let p = 0; p < done; p++) for (let i = pages[p][0]; i < pages[p][1]; i++) this.cells[i] &= data[i - offset];
    const [from, to] = pages[done];
    const clears: [number, number][] = []; // (cell index, bit mask) of bits this page would clear
    for (let i = from; i < to; i++) {
      const toClear = this.cells[i] & ~data[i - offset] & 0xff;
      for (let b = 0; b < 8; b++) if (toClear & (1 << b)) clears.push([i, 1 << b]);
    }
    if (clears.length >= 2) {
      const count = 1 + Math.floor(this.rand() * (clears.length - 1)); // 1 .. n-1
      for (let k = 0; k < count; k++) {
        const j = k + Math.floor(this.rand() * (clears.length - k));
        const t = clears[k];
        clears[k] = clears[j];
        clears[j] = t;
        this.cells[clears[k][0]] &= ~clears[k][1];
      }
    }
  }

  private garbleProgram(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.cells[offset + i] &= data[i] | (Math.floor(this.rand() * 256) & 0xff);
  }

  /** Neither old nor all 0xFF: a random prefix erased, the rest each byte 0xFF, old, or old with random zero bits. */
  private tearErase(index: number): void {
    const start = index * this.sectorSize;
    const end = start + this.sectorSize;
    const prefix = Math.floor(this.rand() * this.sectorSize);
    let changed = false;
    let notFF = -1;
    for (let i = start; i < end; i++) {
      const old = this.cells[i];
      const r = this.rand();
      // Erased, old, or old with extra random zero bits (cells that had started to change).
      const v = i < start + prefix || r < 1 / 3 ? 0xff : r < 2 / 3 ? old : old & Math.floor(this.rand() * 256);
      if (v !== old) changed = true;
      this.cells[i] = v;
      if (v !== 0xff) notFF = i;
    }
    if (notFF < 0) this.cells[start + Math.floor(this.rand() * this.sectorSize)] = 0x00; // never reads as erased
    else if (!changed) this.cells[notFF] = 0xff; // never reads as the old content either
    const u = this.programUnit;
    this.programmed.fill(1, start / u, end / u); // indeterminate cells: not safely programmable
  }

  private gap(): number {
    // Geometric gap to the next flipped bit.
    return Math.floor(Math.log(1 - this.rand()) / Math.log(1 - this.flipRate));
  }

  private flipOnRead(into: Uint8Array): void {
    const bits = into.length * 8;
    let at = this.nextFlipIn;
    while (at < bits) {
      into[at >> 3] ^= 1 << (at & 7);
      this.stats.bitFlips++;
      at += 1 + this.gap();
    }
    this.nextFlipIn = at - bits;
  }
}

