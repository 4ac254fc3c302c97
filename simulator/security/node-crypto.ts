// hal/crypto.ts on the host, with Node's crypto. Flash hashing reads through
// the partition (so the simulated flash counts the bytes) in 64 KiB blocks.

import { createHash, createPublicKey, verify } from 'node:crypto';
import type { Crypto } from '../../hal/crypto.ts';
import type { FlashPartition } from '../../hal/flash.ts';

const BLOCK = 64 * 1024;

export class NodeCrypto implements Crypto {
  /** Bytes hashed from flash, for the time model (hardware SHA-256 rate is the caller's to state). */
  flashBytesHashed = 0;

  sha256(data: Uint8Array): Uint8Array {
    return new Uint8Array(createHash('sha256').update(data).digest());
  }

  sha256Flash(flash: FlashPartition, offset: number, length: number): Uint8Array {
    const hash = createHash('sha256');
    const block = new Uint8Array(Math.min(BLOCK, Math.max(1, length)));
    for (let at = offset, left = length; left > 0; ) {
      const n = Math.min(left, block.length);
      const view = block.subarray(0, n);
      flash.read(at, view);
      hash.update(view);
      at += n;
      left -= n;
    }
    this.flashBytesHashed += length;
    return new Uint8Array(hash.digest());
  }

  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  }
}
