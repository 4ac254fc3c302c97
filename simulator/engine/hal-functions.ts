// The HAL entries the firmware finds on globalThis.__hal, as plain functions
// over plain values (strings, numbers, booleans, Uint8Array for bytes), for an
// engine host that carries values across itself (the JerryScript host sends
// them over its frames). Same semantics and error messages as the QuickJS
// host's installHal (engine-host.ts): a flash fault crosses as
// "FLASH:<code>:<at>:<message>", a full ephemeral area as "EPH:full:…".

import { FlashError, type FlashPartition } from '../../hal/flash.ts';
import { EphemeralFullError } from '../../datastore/tiers/tier-errors.ts';
import type { EngineOptions } from './engine-host.ts';
import { SimDisplay } from './sim-display.ts';
import { ephemeralPage } from '../../datastore/tiers/name-pages.ts';

export type HalValue = undefined | null | boolean | number | string | Uint8Array | HalValue[];
export type HalFunction = (...args: HalValue[]) => HalValue;

/** The message a host error crosses the boundary as (the bundle's host-hal.ts parses it back). */
export function halErrorMessage(e: unknown): string {
  if (e instanceof FlashError) return `FLASH:${e.code}:${e.at}:${e.message}`;
  if (e instanceof EphemeralFullError) return `EPH:full:${e.needed}:${e.free}:${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

export function halFunctions(o: EngineOptions, display: SimDisplay): Record<string, HalFunction> {
  const str = (v: HalValue) => String(v);
  const num = (v: HalValue) => Number(v);
  const bytes = (v: HalValue) => (v instanceof Uint8Array ? v : new Uint8Array(0));
  const partition = (v: HalValue): FlashPartition => {
    const p = o.partitions[str(v)];
    if (!p) throw new Error(`no flash partition "${str(v)}"`);
    return p;
  };
  const hal: Record<string, HalFunction> = {
    flashGeometry: (p) => {
      const f = partition(p);
      return [f.size, f.sectorSize, f.programUnit, f.pageSize ?? 256];
    },
    flashRead: (p, off, len) => {
      const out = new Uint8Array(num(len));
      partition(p).read(num(off), out);
      return out;
    },
    flashProgram: (p, off, data) => void partition(p).program(num(off), bytes(data)),
    flashErase: (p, sector) => void partition(p).erase(num(sector)),
    clockNow: () => (o.now ?? Date.now)(),
    log: (m) => void (o.log ?? console.log)(str(m)),
    displayBegin: (size, type) => void display.begin(num(size), num(type)),
    displayChunk: (d) => void display.chunk(bytes(d)),
    displayEnd: () => void display.end(),
    displayText: (id, text, x, y) => void display.text(num(id), str(text), num(x), num(y)),
    displayRemoveText: (id) => void display.removeText(num(id)),
  };
  const crypto = o.crypto;
  if (crypto) {
    hal.sha256 = (d) => crypto.sha256(bytes(d));
    hal.sha256Flash = (p, off, len) => crypto.sha256Flash(partition(p), num(off), num(len));
    hal.verifyEd25519 = (k, m, s) => crypto.verifyEd25519(bytes(k), bytes(m), bytes(s));
  }
  const otp = o.otp;
  if (otp) {
    hal.otpDockId = () => otp.dockId();
    hal.otpManufacturerPublicKey = () => otp.manufacturerPublicKey();
    hal.otpDeviceSecret = () => otp.deviceSecret();
    hal.otpFactoryLocked = () => otp.factoryLocked();
    hal.otpLockFactory = () => void otp.lockFactory();
  }
  const onReset = o.onReset;
  if (onReset) hal.systemReset = () => void onReset();
  const ks = o.keystore;
  if (ks) {
    hal.perDockPublicKey = () => ks.perDockPublicKey();
    hal.openSealed = (epk, nonce, ct, tag, aad) => ks.openSealed({ ephemeralPublicKey: bytes(epk), nonce: bytes(nonce), ciphertext: bytes(ct), tag: bytes(tag) }, bytes(aad)) ?? undefined;
  }
  const eph = o.ephemeral;
  if (eph) {
    hal.ephCapacity = () => eph.capacityBytes;
    hal.ephUsed = () => eph.usedBytes();
    hal.ephGet = (k) => eph.get(str(k));
    hal.ephInfo = (k) => {
      const i = eph.info(str(k));
      return i ? [i.size, i.encoding, i.writtenAt, i.version] : undefined;
    };
    hal.ephReadRange = (k, off, len) => {
      const into = new Uint8Array(num(len));
      return into.subarray(0, eph.readRange(str(k), num(off), into));
    };
    hal.ephPut = (k, v, enc, at) => eph.put(str(k), bytes(v), num(enc), num(at));
    hal.ephDelete = (k) => eph.delete(str(k));
    hal.ephKeys = (prefix) => eph.keys(str(prefix));
    // The area lives outside the engine: only a page of its keys crosses into the heap.
    hal.ephKeysPage = (prefix, after, limit) => ephemeralPage(eph.keys(str(prefix)), after === undefined || after === null ? undefined : str(after), num(limit));
    hal.ephClear = () => void eph.clear();
  }
  return hal;
}
