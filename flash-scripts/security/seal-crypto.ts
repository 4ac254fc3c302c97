// The per-dock sealing scheme on Node's crypto, used by the simulated dock's
// key store (opening) and the factory station (sealing): one implementation
// of the KDF and cipher parameters, spelled out in datastore/factory/FORMAT.md §8.

import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import type { SealedBox } from '../../hal/keystore.ts';

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const KEY_INFO = 'dl7450 per-dock x25519 v1';
const SEAL_INFO = 'dl7450 per-dock seal v1';

/** The dock's X25519 private key: HKDF-SHA256 of the OTP device secret (what the crypto engine derives). */
export function dockPrivateKey(deviceSecret: Uint8Array): KeyObject {
  const d = Buffer.from(hkdfSync('sha256', deviceSecret, Buffer.alloc(0), KEY_INFO, 32));
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, d]), format: 'der', type: 'pkcs8' });
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const der = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, Buffer.from(raw)]), format: 'der', type: 'spki' });
}

/** AES-256 key for one box: HKDF-SHA256(shared secret, salt = ephemeral public | dock public). */
function boxKey(shared: Buffer, ephemeralPublic: Uint8Array, dockPublic: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeralPublic, dockPublic]), SEAL_INFO, 32));
}

/** Seal `plaintext` to the dock whose X25519 public key is `dockPublic`. */
export function seal(dockPublic: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): SealedBox {
  if (dockPublic.length !== 32) throw new RangeError('a dock public key is 32 bytes');
  const eph = generateKeyPairSync('x25519');
  const ephemeralPublicKey = rawPublicKey(eph.publicKey);
  const key = boxKey(diffieHellman({ privateKey: eph.privateKey, publicKey: publicKeyFromRaw(dockPublic) }), ephemeralPublicKey, dockPublic);
  const nonce = new Uint8Array(randomBytes(12));
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const ciphertext = new Uint8Array(Buffer.concat([c.update(plaintext), c.final()]));
  return { ephemeralPublicKey, nonce, ciphertext, tag: new Uint8Array(c.getAuthTag()) };
}

/** Open a box with the dock's private key; null when it does not open. */
export function open(dockPrivate: KeyObject, box: SealedBox, aad: Uint8Array): Uint8Array | null {
  try {
    if (box.ephemeralPublicKey.length !== 32 || box.nonce.length !== 12 || box.tag.length !== 16) return null;
    const dockPublic = rawPublicKey(dockPrivate);
    const key = boxKey(diffieHellman({ privateKey: dockPrivate, publicKey: publicKeyFromRaw(box.ephemeralPublicKey) }), box.ephemeralPublicKey, dockPublic);
    const d = createDecipheriv('aes-256-gcm', key, box.nonce);
    d.setAAD(aad);
    d.setAuthTag(box.tag);
    return new Uint8Array(Buffer.concat([d.update(box.ciphertext), d.final()]));
  } catch {
    return null;
  }
}
