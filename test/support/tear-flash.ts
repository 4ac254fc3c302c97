// A flash whose next program (once armed) is torn exactly as a test says, then
// loses power: the torn pages the runtime-store tests need, built on purpose
// instead of hoped for from random tears.

import type { FlashPartition } from '../../hal/flash.ts';
import type { SimFlash } from '../../simulator/flash/sim-flash.ts';

/**
 * `tear(offset, data)` returns what reaches the cells of the next program: a
 * byte left 0xFF was not programmed. Only bits the write clears can be cleared
 * (enforced), as in a real torn program, whose page clears its bits in any
 * order. Then the power is cut: the operation after it never happens.
 */
export class TearFlash implements FlashPartition {
  readonly size: number;
  readonly sectorSize: number;
  readonly programUnit: number;
  readonly pageSize: number;
  tear: ((offset: number, data: Uint8Array) => Uint8Array) | null = null;
  constructor(readonly inner: SimFlash) {
    this.size = inner.size;
    this.sectorSize = inner.sectorSize;
    this.programUnit = inner.programUnit;
    this.pageSize = inner.pageSize;
  }
  read(offset: number, into: Uint8Array): void {
    this.inner.read(offset, into);
  }
  program(offset: number, data: Uint8Array): void {
    if (this.tear) {
      const partial = this.tear(offset, data);
      this.tear = null;
      for (let i = 0; i < partial.length; i++) partial[i] |= data[i];
      this.inner.program(offset, partial);
      this.inner.armPowerCut({ atOp: this.inner.opCount, effect: 'clean' });
      this.inner.erase(0); // the next operation never happens: power is gone
    }
    this.inner.program(offset, data);
  }
  erase(index: number): void {
    this.inner.erase(index);
  }
}

