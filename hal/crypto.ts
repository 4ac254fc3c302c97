// Cryptography the dock's hardware provides. Hashing runs over flash ranges
// so a 13 MiB factory image is verified without passing through the script
// heap (pure-JS SHA-256 runs near 0.5 MB/s in the engine; the chip's engine
// is far faster).

import type { FlashPartition } from './flash.ts';

export interface Crypto {
  /** SHA-256 of bytes in the heap (small things: a manifest, a record). */
  sha256(data: Uint8Array): Uint8Array;
  /** SHA-256 of `length` bytes of a partition from `offset`, read by the hash engine. */
  sha256Flash(flash: FlashPartition, offset: number, length: number): Uint8Array;
  /** Ed25519 verification of `signature` (64 bytes) over `message` with a raw 32-byte public key. */
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}
