// The HAL as the engine sees it: host functions installed on globalThis.__hal
// by the engine host (simulator/engine/). Bytes cross as ArrayBuffers. A host
// error arrives as an Error whose message starts "FLASH:<code>:<at>:".

import { FlashError, type FlashErrorCode, type FlashPartition } from '../hal/flash.ts';
import type { Clock } from '../hal/clock.ts';
import type { Crypto } from '../hal/crypto.ts';
import type { Otp } from '../hal/otp.ts';
import type { DockKeystore, SealedBox } from '../hal/keystore.ts';
import type { EphemeralArea, EphemeralItemInfo } from '../hal/ephemeral.ts';
import { EphemeralFullError } from '../datastore/tiers/tier-errors.ts';

export interface HostHal {
  flashGeometry(partition: string): number[];
  flashRead(partition: string, offset: number, length: number): ArrayBuffer;
  flashProgram(partition: string, offset: number, data: ArrayBuffer): void;
  flashErase(partition: string, sector: number): void;
  clockNow(): number;
  log(message: string): void;
  sha256(data: ArrayBuffer): ArrayBuffer;
  sha256Flash(partition: string, offset: number, length: number): ArrayBuffer;
  verifyEd25519(publicKey: ArrayBuffer, message: ArrayBuffer, signature: ArrayBuffer): boolean;
  otpDockId(): string;
  otpManufacturerPublicKey(): ArrayBuffer;
  otpDeviceSecret(): ArrayBuffer;
  otpFactoryLocked(): boolean;
  /** Reset the chip once the UART has sent what it holds (the answer to the reset request). Absent: no reset line. */
  systemReset?(): void;
  /** The key store; absent on a host without one. */
  perDockPublicKey?(): ArrayBuffer;
  openSealed?(epk: ArrayBuffer, nonce: ArrayBuffer, ciphertext: ArrayBuffer, tag: ArrayBuffer, aad: ArrayBuffer): ArrayBuffer | undefined;
  otpLockFactory(): void;
  /** Ephemeral area; absent when the host has none. Errors arrive as "EPH:<code>:<needed>:<free>:". */
  ephCapacity?(): number;
  ephUsed?(): number;
  ephGet?(key: string): ArrayBuffer | undefined;
  ephInfo?(key: string): number[] | undefined;
  ephReadRange?(key: string, offset: number, length: number): ArrayBuffer;
  ephPut?(key: string, value: ArrayBuffer, encoding: number, writtenAt: number): number;
  ephDelete?(key: string): boolean;
  ephKeys?(prefix: string): string[];
  /** A page of storage keys under the prefix after `after`, in listing order (datastore/tiers/name-pages.ts). */
  ephKeysPage?(prefix: string, after: string | undefined, limit: number): string[];
  ephClear?(): void;
  /** The display streams a background in chunks (the image never sits whole in the heap). */
  displayBegin(size: number, type: number): void;
  displayChunk(data: ArrayBuffer): void;
  displayEnd(): void;
  displayText(id: number, text: string, x: number, y: number): void;
  displayRemoveText(id: number): void;
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

/** Set over SMP (OS datetime): kept in RAM as an offset from the HAL clock, as a dock without a backed-up RTC. */
let clockOffset = 0;
export const hostClock: Clock & { set(ms: number): void } = {
  now: () => hostHal().clockNow() + clockOffset,
  set: (ms: number) => {
    clockOffset = ms - hostHal().clockNow();
  },
};

/** An ArrayBuffer holding exactly a view's bytes. */
function bufferOf(view: Uint8Array): ArrayBuffer {
  return (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view.buffer : view.slice().buffer) as ArrayBuffer;
}

export class HostCrypto implements Crypto {
  private readonly hal = hostHal();
  sha256(data: Uint8Array): Uint8Array {
    return new Uint8Array(this.hal.sha256(bufferOf(data)));
  }
  /** The hash engine reads the flash itself: nothing passes through the heap. */
  sha256Flash(flash: FlashPartition, offset: number, length: number): Uint8Array {
    if (!(flash instanceof HostFlash)) throw new Error('sha256Flash needs a host flash partition');
    return new Uint8Array(this.hal.sha256Flash(flash.partition, offset, length));
  }
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    return this.hal.verifyEd25519(bufferOf(publicKey), bufferOf(message), bufferOf(signature));
  }
}

export class HostOtp implements Otp {
  private readonly hal = hostHal();
  dockId(): string {
    return this.hal.otpDockId();
  }
  manufacturerPublicKey(): Uint8Array {
    return new Uint8Array(this.hal.otpManufacturerPublicKey());
  }
  deviceSecret(): Uint8Array {
    return new Uint8Array(this.hal.otpDeviceSecret());
  }
  factoryLocked(): boolean {
    return this.hal.otpFactoryLocked();
  }
  lockFactory(): void {
    this.hal.otpLockFactory();
  }
}

export class HostKeystore implements DockKeystore {
  private readonly hal = hostHal();
  constructor() {
    if (!this.hal.perDockPublicKey) throw new Error('the host has no key store');
  }
  perDockPublicKey(): Uint8Array {
    return new Uint8Array(this.hal.perDockPublicKey!());
  }
  openSealed(box: SealedBox, aad: Uint8Array): Uint8Array | null {
    const plain = this.hal.openSealed!(bufferOf(box.ephemeralPublicKey), bufferOf(box.nonce), bufferOf(box.ciphertext), bufferOf(box.tag), bufferOf(aad));
    return plain === undefined ? null : new Uint8Array(plain);
  }
}

export class HostEphemeral implements EphemeralArea {
  private readonly hal = hostHal();
  readonly capacityBytes: number;
  constructor() {
    if (!this.hal.ephCapacity) throw new Error('the host has no ephemeral area');
    this.capacityBytes = this.hal.ephCapacity();
  }
  usedBytes(): number {
    return this.hal.ephUsed!();
  }
  get(key: string): Uint8Array | undefined {
    const b = this.hal.ephGet!(key);
    return b === undefined ? undefined : new Uint8Array(b);
  }
  info(key: string): EphemeralItemInfo | undefined {
    const i = this.hal.ephInfo!(key);
    return i && { size: i[0], encoding: i[1], writtenAt: i[2], version: i[3] };
  }
  readRange(key: string, offset: number, into: Uint8Array): number {
    const b = new Uint8Array(this.hal.ephReadRange!(key, offset, into.length));
    into.set(b);
    return b.length;
  }
  put(key: string, value: Uint8Array, encoding: number, writtenAt: number): number {
    try {
      return this.hal.ephPut!(key, bufferOf(value), encoding, writtenAt);
    } catch (e) {
      const m = /^EPH:full:(\d+):(\d+):/.exec(e instanceof Error ? e.message : '');
      if (m) throw new EphemeralFullError(key, Number(m[1]), Number(m[2]));
      throw e;
    }
  }
  delete(key: string): boolean {
    return this.hal.ephDelete!(key);
  }
  keys(prefix = ''): string[] {
    return this.hal.ephKeys!(prefix);
  }
  /** A page of keys (the area may hold more than the engine heap could list). */
  keysPage(prefix: string, after: string | undefined, limit: number): string[] {
    return this.hal.ephKeysPage!(prefix, after, limit);
  }
  clear(): void {
    this.hal.ephClear!();
  }
}
