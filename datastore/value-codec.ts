// How a dock value becomes record bytes. Byte arrays and strings are stored
// raw (host tools read them without a decoder); everything else JSON-like is
// plain CBOR (RFC 8949) without cbor-x's own tags, so any CBOR reader can
// decode it and the bytes are the same in Node and in the engine. A Date is
// CBOR tag 1 (epoch seconds) and reads back as a Date. What CBOR would not
// give back as written (undefined, functions, cycles, -0, other objects) is
// refused before anything is stored, with an error naming the value's path.

import { Encoder } from 'cbor-x';
import { utf8Encode as utf8, utf8Decode as utf8Text } from '../bytes/utf8.ts';
import { TierError } from './tiers/tier-errors.ts';

export enum ValueEncoding {
  Bytes = 0,
  Utf8 = 1,
  Cbor = 2,
}

export type DockValue = string | number | boolean | null | Date | Uint8Array | DockValue[] | { [key: string]: DockValue };

/** A value the datastore cannot keep exactly as written; `path` says where in it (`value`, `value.list[2]`, …). */
export class ValueNotStorableError extends TierError {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super('value-not-storable', `cannot store ${path}: it is ${what}. Values are strings, numbers, booleans, null, Dates, Uint8Arrays, lists and plain objects (no cycles).`);
    this.name = 'ValueNotStorableError';
  }
}

/**
 * Plain CBOR (RFC 8949) without cbor-x's extension tags: the one encoder for
 * every byte another implementation reads, hashes or signs (values, the
 * factory manifest, per-dock sections, SMP payloads). Keys are written in
 * the order the object has them, so callers that sign fix that order.
 */
export const plainCbor = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true, mapsAsObjects: true });
const cbor = plainCbor;

/** Refuse what would not read back as written; `open` holds the containers being walked (a cycle revisits one). */
function check(value: unknown, path: string, open: object[]): void {
  const t = typeof value;
  if (t === 'string' || t === 'boolean' || value === null) return;
  if (t === 'number') {
    if (value === 0 && 1 / (value as number) < 0) throw new ValueNotStorableError(path, '-0 (CBOR keeps it as 0)');
    return;
  }
  if (t !== 'object') throw new ValueNotStorableError(path, t === 'undefined' ? 'undefined (delete the key instead, or store null)' : `a ${t}`);
  if (value instanceof Uint8Array) return;
  if (value instanceof Date) {
    if (isNaN(value.getTime())) throw new ValueNotStorableError(path, 'an invalid Date');
    return;
  }
  if (open.indexOf(value as object) >= 0) throw new ValueNotStorableError(path, 'a reference back to a list or object that contains it (a cycle)');
  open.push(value as object);
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) check(value[i], `${path}[${i}]`, open);
  else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new ValueNotStorableError(path, `a ${(value as object).constructor?.name ?? 'non-plain'} object`);
    for (const k of Object.keys(value as object)) {
      // Decoders guard against prototype pollution by renaming this key: it would not read back as written.
      if (k === '__proto__') throw new ValueNotStorableError(`${path}.__proto__`, 'a key named __proto__ (it cannot be read back as an ordinary key)');
      check((value as Record<string, unknown>)[k], `${path}.${k}`, open);
    }
  }
  open.pop();
}

export function encodeValue(value: DockValue, name = 'value'): { encoding: ValueEncoding; bytes: Uint8Array } {
  if (value instanceof Uint8Array) return { encoding: ValueEncoding.Bytes, bytes: value };
  if (typeof value === 'string') return { encoding: ValueEncoding.Utf8, bytes: utf8(value) };
  check(value, name, []);
  const bytes = cbor.encode(value) as Uint8Array;
  return { encoding: ValueEncoding.Cbor, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

export function decodeValue(encoding: number, bytes: Uint8Array): DockValue {
  switch (encoding) {
    case ValueEncoding.Bytes:
      return bytes.slice();
    case ValueEncoding.Utf8:
      return utf8Text(bytes);
    case ValueEncoding.Cbor:
      return cbor.decode(bytes) as DockValue;
    default:
      throw new TypeError(`unknown value encoding ${encoding}: written by a newer firmware?`);
  }
}
