// Format v3: a value in whole sectors (DESIGN.md §1.3, §1.4). Headerless:
// the bytes start at offset 0 of the first sector and run on through the
// next; the unused end of the last sector stays erased. Nothing but the
// PUT-S (or CHECKPOINT) record written after the sectors are programmed
// names them (rules N and D), so they may hold any bytes. Values of more
// than PUT_S_DIRECT_MAX sectors are named through LIST sectors.

import type { FlashPartition } from '../../../hal/flash.ts';
import { crc32 } from '../../../bytes/crc32.ts';
import { trailerCrc } from '../format.ts';
import { decodeListSector, encodeListSector, listCapacity, PUT_S_DIRECT_MAX, type SectorValueRef } from './format-v3.ts';

export function sectorsFor(length: number, sectorSize: number): number {
  return Math.max(1, Math.ceil(length / sectorSize));
}

/** Sectors a value of `length` takes in all: its own, plus list sectors when it has more than PUT_S_DIRECT_MAX. */
export function sectorFootprint(length: number, sectorSize: number): number {
  const n = sectorsFor(length, sectorSize);
  return n <= PUT_S_DIRECT_MAX ? n : n + Math.ceil(n / listCapacity(sectorSize));
}

/** Streams a value of known length into sectors taken one at a time (each erased by `take`). */
export class SectorValueWriter {
  readonly length: number;
  /** Every sector taken so far (value sectors, then list sectors): released if the write is abandoned. */
  readonly taken: number[] = [];
  private readonly valueSectors: number[] = [];
  private readonly unitBuf: Uint8Array;
  private unitFill = 0;
  private written = 0;
  private crc = 0;
  private sectorPos = 0;

  constructor(
    private readonly flash: FlashPartition,
    length: number,
    private readonly take: () => number,
    private readonly program: (offset: number, data: Uint8Array) => void,
  ) {
    this.length = length;
    this.unitBuf = new Uint8Array(flash.programUnit).fill(0xff);
  }

  get done(): number {
    return this.written;
  }

  append(chunk: Uint8Array): void {
    if (this.written + chunk.length > this.length) throw new RangeError(`value overruns its declared ${this.length} bytes`);
    this.crc = crc32(chunk, this.crc);
    let i = 0;
    const unit = this.unitBuf.length;
    while (i < chunk.length) {
      const n = Math.min(unit - this.unitFill, chunk.length - i);
      this.unitBuf.set(chunk.subarray(i, i + n), this.unitFill);
      this.unitFill += n;
      i += n;
      if (this.unitFill === unit) this.flushUnit();
    }
    this.written += chunk.length;
  }

  /** Program the last unit and any list sectors; the reference a PUT-S record carries. */
  finish(): SectorValueRef {
    if (this.written !== this.length) throw new RangeError(`value has ${this.written} of its ${this.length} bytes`);
    if (this.unitFill > 0 || this.valueSectors.length === 0) this.flushUnit();
    const S = this.flash.sectorSize;
    let sectors = this.valueSectors;
    let lists = false;
    if (sectors.length > PUT_S_DIRECT_MAX) {
      const per = listCapacity(S);
      const listSectors: number[] = [];
      const page = new Uint8Array(S);
      for (let i = 0; i < sectors.length; i += per) {
        const s = this.take();
        this.taken.push(s);
        encodeListSector(sectors.slice(i, i + per), page);
        this.program(s * S, page);
        listSectors.push(s);
      }
      sectors = listSectors;
      lists = true;
    }
    return { valueLength: this.length, valueCrc: trailerCrc(this.crc), lists, relocation: false, sectors: sectors.slice() };
  }

  private flushUnit(): void {
    const S = this.flash.sectorSize;
    if (this.valueSectors.length === 0 || this.sectorPos === S) {
      const s = this.take();
      this.taken.push(s);
      this.valueSectors.push(s);
      this.sectorPos = 0;
    }
    const sector = this.valueSectors[this.valueSectors.length - 1];
    this.program(sector * S + this.sectorPos, this.unitBuf);
    this.sectorPos += this.unitBuf.length;
    this.unitBuf.fill(0xff);
    this.unitFill = 0;
  }
}

/** The value sectors a reference names, in order (reading its list sectors), or null if a list is damaged. */
export function valueSectorsOf(flash: FlashPartition, ref: SectorValueRef): number[] | null {
  if (!ref.lists) return ref.sectors;
  const S = flash.sectorSize;
  const page = new Uint8Array(S);
  const out: number[] = [];
  for (const l of ref.sectors) {
    flash.read(l * S, page);
    const entries = decodeListSector(page);
    if (!entries) return null;
    for (const e of entries) out.push(e);
  }
  return out.length === sectorsFor(ref.valueLength, S) ? out : null;
}

/** Every sector a reference holds (list sectors and value sectors), or null if a list is damaged. */
export function sectorsHeldBy(flash: FlashPartition, ref: SectorValueRef): number[] | null {
  const values = valueSectorsOf(flash, ref);
  if (!values) return null;
  return ref.lists ? ref.sectors.concat(values) : values;
}

/** Read value bytes [offset, offset + into.length) through the sector list; returns bytes read. */
export function readSectorValue(flash: FlashPartition, sectors: number[], length: number, offset: number, into: Uint8Array): number {
  const S = flash.sectorSize;
  const n = Math.max(0, Math.min(into.length, length - offset));
  let done = 0;
  while (done < n) {
    const at = offset + done;
    const i = Math.floor(at / S);
    const within = at - i * S;
    const take = Math.min(S - within, n - done);
    flash.read(sectors[i] * S + within, into.subarray(done, done + take));
    done += take;
  }
  return n;
}

/** The whole value, checked against its CRC; null when it does not check. */
export function readWholeSectorValue(flash: FlashPartition, sectors: number[], ref: SectorValueRef): Uint8Array | null {
  const out = new Uint8Array(ref.valueLength);
  readSectorValue(flash, sectors, ref.valueLength, 0, out);
  return trailerCrc(crc32(out)) === ref.valueCrc ? out : null;
}
