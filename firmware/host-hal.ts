// The HAL as the engine sees it: host functions installed on globalThis.__hal
// by the engine host (simulator/engine/). Bytes cross as ArrayBuffers. A host
// error arrives as an Error whose message starts "FLASH:<code>:<at>:".

import { FlashError, type FlashErrorCode, type FlashPartition } from '../hal/flash.ts';
import type { Clock } from '../hal/clock.ts';

export interface HostHal {
  flashGeometry(partition: string): number[];
  flashRead(partition: string, offset: number, length: number): ArrayBuffer;
  flashProgram(partition: string, offset: number, data: ArrayBuffer): void;
  flashErase(partition: string, sector: number): void;
  clockNow(): number;
  log(message: string): void;
}

export function hostHal(): HostHal {
  const hal = (globalThis as { __hal?: HostHal }).__hal;
  if (!hal) throw new Error('no host HAL: this bundle runs inside the dock engine (simulator/engine/engine-host.ts installs __hal)');
  return hal;
}

function rethrow(e: unknown): never {
  const m = /^FLASH:([a-z-]+):(\d+):(.*)$/.exec(e instanceof Error ? e.message : String(e));
  if (m) throw new FlashError(m[1] as FlashErrorCode, Number(m[2]), m[3]);
  throw e;
}

/** A flash partition reached through host functions. */
export class HostFlash implements FlashPartition {
  readonly size: number;
  readonly sectorSize: number;
  readonly programUnit: number;
  readonly pageSize: number;
  private readonly hal: HostHal;

  constructor(readonly partition: string) {
    this.hal = hostHal();
    const g = this.hal.flashGeometry(partition);
    this.size = g[0];
    this.sectorSize = g[1];
    this.programUnit = g[2];
    this.pageSize = g[3];
  }

  read(offset: number, into: Uint8Array): void {
    try {
      into.set(new Uint8Array(this.hal.flashRead(this.partition, offset, into.length)));
    } catch (e) {
      rethrow(e);
    }
  }

  program(offset: number, data: Uint8Array): void {
    // The host takes an ArrayBuffer, not a view: pass exactly the view's bytes.
    const bytes = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer : data.slice().buffer;
    try {
      this.hal.flashProgram(this.partition, offset, bytes as ArrayBuffer);
    } catch (e) {
      rethrow(e);
    }
  }

  erase(index: number): void {
    try {
      this.hal.flashErase(this.partition, index);
    } catch (e) {
      rethrow(e);
    }
  }
}

export const hostClock: Clock = { now: () => hostHal().clockNow() };
