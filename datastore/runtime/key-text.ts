// The key index hash. UTF-8 itself is in bytes/utf8.ts.

/** FNV-1a, 32 bits: the index hash of a key's UTF-8 bytes. */
export function keyHash(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
