// A key as the store takes it: checked, as UTF-8 bytes, and its index hash.
// UTF-8 itself is in bytes/utf8.ts.

import { utf8Encode } from '../../bytes/utf8.ts';
import { MAX_KEY_BYTES } from './format.ts';
import { KeyInvalidError, KeyTooLongError } from './errors.ts';

/** The key's UTF-8 bytes; a typed error (nothing changed) for what no format stores. */
export function checkedKey(key: string): Uint8Array {
  if (typeof key !== 'string' || key.length === 0) throw new KeyInvalidError(typeof key !== 'string' ? `expected a string, got ${typeof key}` : 'empty');
  const bytes = utf8Encode(key);
  if (bytes.length > MAX_KEY_BYTES) throw new KeyTooLongError(key, bytes.length, MAX_KEY_BYTES);
  return bytes;
}

/** FNV-1a, 32 bits: the index hash of a key's UTF-8 bytes. */
export function keyHash(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
