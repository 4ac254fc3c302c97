// A NOR-flash partition, as the datastore sees it. Interfaces and tiny shared
// types only: the simulator implements this in Node, a real dock port in C.
//
// The rules every implementation promises (and the simulator enforces):
// - `erase(sector)` sets every byte of that sector to 0xFF.
// - `program` can only clear bits (1 -> 0). Programming a 0 bit back to 1 is
//   an error, never silently ignored.
// - `program` takes whole program units: `offset` and `data.length` are
//   multiples of `programUnit`. A unit is programmed at most once between
//   two erases of its sector (some parts, e.g. with ECC, forbid a second
//   program; stores written against this interface must not need one).
// - Every operation can fail (worn sector, power loss, bus error) and then
//   throws a `FlashError`; after a failed program or erase the affected bytes
//   are in an unknown state. An interrupted program's units may count as
//   programmed even where every bit still reads 1 (ECC parts), and an
//   interrupted erase may read erased yet have weak bits that read 0 later:
//   only a completed erase makes a sector safe to program.
// - Operations are synchronous and complete when they return: there is no
//   write cache between this interface and the cells.

export interface FlashGeometry {
  /** Partition size in bytes; a whole number of sectors. */
  readonly size: number;
  /** Erase granularity in bytes (a power of two, e.g. 4096). */
  readonly sectorSize: number;
  /** Program granularity in bytes (a power of two dividing sectorSize, e.g. 16 or 256). */
  readonly programUnit: number;
  /**
   * The chip's program page (a power of two, a multiple of programUnit; 256 on
   * most SPI NOR). A program interrupted by a power cut leaves the pages
   * before the cut done, one page with any subset of its bit clears done (a
   * page clears its bits in no set order) and later pages untouched.
   * Optional: stores assume max(256, programUnit).
   */
  readonly pageSize?: number;
}

export interface FlashPartition extends FlashGeometry {
  /** Copy `into.length` bytes starting at `offset` into `into`. Any alignment. */
  read(offset: number, into: Uint8Array): void;
  /** Clear bits: cell &= data. Unit-aligned offset and length; each unit once per erase. */
  program(offset: number, data: Uint8Array): void;
  /** Set every byte of sector `index` to 0xFF. */
  erase(index: number): void;
}

export type FlashErrorCode =
  | 'out-of-range' // offset or length outside the partition
  | 'misaligned' // program not on program-unit boundaries
  | 'set-bit' // program would turn a 0 bit into 1
  | 'reprogram' // program of a unit already programmed since its last erase
  | 'worn' // the sector has exceeded its endurance: erase or program failed
  | 'power-loss'; // power was cut during this operation

export class FlashError extends Error {
  readonly code: FlashErrorCode;
  /** Byte offset (program/read) or sector index (erase) the failure concerns. */
  readonly at: number;
  constructor(code: FlashErrorCode, at: number, message: string) {
    super(message);
    this.name = 'FlashError';
    this.code = code;
    this.at = at;
  }
}
