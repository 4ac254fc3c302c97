// How a dock value becomes record bytes. Byte arrays and strings are stored
// raw (host tools read them without a decoder); everything else JSON-like is
// plain CBOR (RFC 8949) without cbor-x's own tags, so any CBOR reader can
// decode it and the bytes are the same in Node and in the engine.

import { Encoder } from 'cbor-x';
import { utf8Encode as utf8, utf8Decode as utf8Text } from '../bytes/utf8.ts';

export enum ValueEncoding {
  Bytes = 0,
  Utf8 = 1,
  Cbor = 2,
}

export type DockValue = string | number | boolean | null | Uint8Array | DockValue[] | { [key: string]: DockValue };

/**
 * Plain CBOR (RFC 8949) without cbor-x's extension tags: the one encoder for
 * every byte another implementation reads, hashes or signs (values, the
 * factory manifest, per-dock sections, SMP payloads). Keys are written in
 * the order the object has them, so callers that sign fix that order.
 */
export const plainCbor = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true, mapsAsObjects: true });
const cbor = plainCbor;

export function encodeValue(value: DockValue): { encoding: ValueEncoding; bytes: Uint8Array } {
  if (value instanceof Uint8Array) return { encoding: ValueEncoding.Bytes, bytes: value };
  if (typeof value === 'string') return { encoding: ValueEncoding.Utf8, bytes: utf8(value) };
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    throw new TypeError(`cannot store a ${typeof value}: values are strings, numbers, booleans, null, byte arrays, lists and plain objects`);
  }
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
