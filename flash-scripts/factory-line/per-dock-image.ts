// A dock's whole factory image: the common image (built once, signed once)
// followed, at its per-dock region, by this dock's section: plain fields
// signed with the manufacturer's key, secrets sealed to the dock's X25519 key
// (datastore/factory/FORMAT.md §8). The dock checks it all before committing.

import { createHash, type KeyObject } from 'node:crypto';
import { encodePerDockSecrets, encodePerDockUnsigned, PER_DOCK_SIGNATURE_SIZE, sealAad } from '../../datastore/factory/per-dock-format.ts';
import { seal } from '../security/seal-crypto.ts';
import { signDigest } from '../signing-keys.ts';

export interface CommonImage {
  /** The built image: bytes [0, perDockOffset). */
  image: Uint8Array;
  /** SHA-256 of [0, trailerOffset) (the signed digest). */
  digest: Uint8Array;
  perDockOffset: number;
  perDockCapacity: number;
}

export interface PerDockData {
  dockId: string;
  /** The dock's X25519 public key, as the dock reports it. */
  dockPublicKey: Uint8Array;
  tokenId: string;
  token: string;
  name: string;
  values: Record<string, string>;
  station: string;
  issuedAt?: number;
}

export class PerDockTooLargeError extends Error {
  readonly code = 'per-dock-too-large';
}

export function perDockSection(common: CommonImage, d: PerDockData, key: KeyObject): Uint8Array {
  const aad = sealAad(d.dockId, common.digest, d.tokenId);
  const sealed = seal(d.dockPublicKey, encodePerDockSecrets({ token: d.token, name: d.name, values: d.values }), aad);
  const unsigned = encodePerDockUnsigned({ dockId: d.dockId, imageDigest: common.digest, tokenId: d.tokenId, issuedAt: d.issuedAt ?? Math.floor(Date.now() / 1000), station: d.station, sealed });
  const out = new Uint8Array(unsigned.length + PER_DOCK_SIGNATURE_SIZE);
  out.set(unsigned);
  out.set(signDigest(key, new Uint8Array(createHash('sha256').update(unsigned).digest())), unsigned.length);
  if (out.length > common.perDockCapacity) throw new PerDockTooLargeError(`dock ${d.dockId.slice(0, 12)}…: its per-dock data takes ${out.length} bytes; the image has room for ${common.perDockCapacity} (rebuild with a larger per-dock region, or send fewer per-dock values)`);
  return out;
}

/** The bytes flashed to one dock: the common image, then its section at perDockOffset. */
export function perDockImage(common: CommonImage, section: Uint8Array): Uint8Array {
  if (common.image.length !== common.perDockOffset) throw new RangeError('the common image must end where its per-dock region starts');
  const out = new Uint8Array(common.perDockOffset + section.length);
  out.set(common.image);
  out.set(section, common.perDockOffset);
  return out;
}
