// The manufacturer's Ed25519 factory-signing keys: generated once, the
// private half kept in a 0600 file, the public half burnt into every dock's OTP.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class KeyFileError extends Error {
  readonly code = 'key-file';
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

export function generateSigningKeys(dir: string): { privatePath: string; publicPath: string } {
  const privatePath = join(dir, 'factory.key');
  const publicPath = join(dir, 'factory.pub');
  for (const p of [privatePath, publicPath]) {
    if (existsSync(p)) throw new KeyFileError(`${p} already exists; refusing to overwrite a signing key (move it away first if you really mean to replace it)`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(privatePath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicPath, publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644, flag: 'wx' });
  return { privatePath, publicPath };
}

export function loadPrivateKey(path: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KeyFileError(`cannot read the signing key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const key = createPrivateKey(text);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
    return key;
  } catch (e) {
    throw new KeyFileError(`${path} is not an Ed25519 private key in PEM (${(e as Error).message}); make one with: dl7450 keys generate --out <dir>`);
  }
}

/** A public key file (PEM) as the 32 raw bytes OTP holds. */
export function loadPublicKeyRaw(path: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KeyFileError(`cannot read the public key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return rawPublicKey(createPublicKey(text));
  } catch (e) {
    throw new KeyFileError(`${path} is not an Ed25519 public key in PEM (${(e as Error).message})`);
  }
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not Ed25519');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

export function signDigest(key: KeyObject, digest: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, digest, key));
}
