// The per-dock section: what a factory station writes for one dock at the
// factory image's per-dock region (FORMAT.md §8). Plain fields (which dock,
// which common image, which token id) are signed by the manufacturer's key;
// the secrets (the enrolment token, the dock's name, per-dock values) are
// sealed to the dock's own X25519 key. One implementation: the station
// encodes, the dock decodes.

import { plainCbor } from '../value-codec.ts';
import type { SealedBox } from '../../hal/keystore.ts';

export const PER_DOCK_MAGIC = 0x444c5044; // the bytes 'DLPD'
export const PER_DOCK_VERSION = 1;
export const PER_DOCK_HEADER_SIZE = 12;
export const PER_DOCK_SIGNATURE_SIZE = 64;

const cbor = plainCbor;

export interface PerDockPublic {
  /** The dock this section is for (64 hex digits, its OTP id). */
  dockId: string;
  /** SHA-256 of the common image it was issued with (the trailer digest). */
  imageDigest: Uint8Array;
  tokenId: string;
  /** Seconds since 1970. */
  issuedAt: number;
  station: string;
  sealed: SealedBox;
}

export interface PerDockSecrets {
  token: string;
  name: string;
  values: Record<string, string>;
}

export class PerDockFormatError extends Error {
  readonly code = 'per-dock-format';
  constructor(detail: string) {
    super(`the per-dock section is malformed: ${detail}`);
    this.name = 'PerDockFormatError';
  }
}

/** What the seal's additional data binds: this dock, this image, this token id. */
export function sealAad(dockId: string, imageDigest: Uint8Array, tokenId: string): Uint8Array {
  const text = `${dockId}|${tokenId}|`;
  const out = new Uint8Array(text.length + imageDigest.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  out.set(imageDigest, text.length);
  return out;
}

/** Header and body; the caller appends the signature over SHA-256 of these bytes. */
export function encodePerDockUnsigned(p: PerDockPublic): Uint8Array {
  // Fixed key order: the bytes are signed.
  const body = cbor.encode({
    v: PER_DOCK_VERSION,
    dock: p.dockId,
    image: p.imageDigest,
    token: p.tokenId,
    issued: p.issuedAt,
    station: p.station,
    sealed: { epk: p.sealed.ephemeralPublicKey, nonce: p.sealed.nonce, ct: p.sealed.ciphertext, tag: p.sealed.tag },
  }) as Uint8Array;
  const out = new Uint8Array(PER_DOCK_HEADER_SIZE + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, PER_DOCK_MAGIC);
  out[4] = PER_DOCK_VERSION;
  v.setUint32(8, body.length);
  out.set(body, PER_DOCK_HEADER_SIZE);
  return out;
}

/** Body length from a header; null for an erased region (no section). */
export function decodePerDockHeader(h: Uint8Array, capacity: number): number | null {
  let erased = true;
  for (let i = 0; i < PER_DOCK_HEADER_SIZE; i++) if (h[i] !== 0xff) erased = false;
  if (erased) return null;
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  if (v.getUint32(0) !== PER_DOCK_MAGIC) throw new PerDockFormatError('bad magic');
  if (h[4] !== PER_DOCK_VERSION) throw new PerDockFormatError(`version ${h[4]}; this firmware reads version ${PER_DOCK_VERSION}`);
  const length = v.getUint32(8);
  if (PER_DOCK_HEADER_SIZE + length + PER_DOCK_SIGNATURE_SIZE > capacity) throw new PerDockFormatError(`${length} body bytes do not fit the ${capacity}-byte region`);
  return length;
}

const bytes = (x: unknown, n: number | null, what: string): Uint8Array => {
  if (!(x instanceof Uint8Array) || (n !== null && x.length !== n)) throw new PerDockFormatError(`${what} missing or of the wrong size`);
  return x;
};

/** Decode a body whose signature has been verified. */
export function decodePerDockBody(body: Uint8Array): PerDockPublic {
  let raw: Record<string, unknown>;
  try {
    raw = cbor.decode(body) as Record<string, unknown>;
  } catch (e) {
    throw new PerDockFormatError(`not CBOR (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || raw.v !== PER_DOCK_VERSION) throw new PerDockFormatError('not a version 1 body');
  if (typeof raw.dock !== 'string' || typeof raw.token !== 'string' || typeof raw.station !== 'string' || typeof raw.issued !== 'number') throw new PerDockFormatError('dock, token, station or issued missing');
  const s = raw.sealed as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object') throw new PerDockFormatError('no sealed part');
  return {
    dockId: raw.dock,
    imageDigest: bytes(raw.image, 32, 'image digest'),
    tokenId: raw.token,
    issuedAt: raw.issued,
    station: raw.station,
    sealed: { ephemeralPublicKey: bytes(s.epk, 32, 'sealed epk'), nonce: bytes(s.nonce, 12, 'sealed nonce'), ciphertext: bytes(s.ct, null, 'sealed ciphertext'), tag: bytes(s.tag, 16, 'sealed tag') },
  };
}

export function encodePerDockSecrets(s: PerDockSecrets): Uint8Array {
  const keys = Object.keys(s.values).sort();
  const values: Record<string, string> = {};
  for (const k of keys) values[k] = s.values[k];
  return cbor.encode({ token: s.token, name: s.name, values }) as Uint8Array;
}

export function decodePerDockSecrets(b: Uint8Array): PerDockSecrets {
  let raw: Record<string, unknown>;
  try {
    raw = cbor.decode(b) as Record<string, unknown>;
  } catch (e) {
    throw new PerDockFormatError(`sealed part is not CBOR (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || typeof raw.token !== 'string' || typeof raw.name !== 'string' || !raw.values || typeof raw.values !== 'object') throw new PerDockFormatError('sealed part lacks token, name or values');
  return { token: raw.token, name: raw.name, values: raw.values as Record<string, string> };
}
