// Reading this dock's per-dock section (FORMAT.md §8) from the served factory
// slot: signed by the manufacturer, issued for this dock and this common
// image, its secrets sealed to this dock's key. Anything else is refused with
// the reason; the secrets are opened only when asked for.

import type { Crypto } from '../../hal/crypto.ts';
import type { FlashPartition } from '../../hal/flash.ts';
import type { Otp } from '../../hal/otp.ts';
import type { DockKeystore } from '../../hal/keystore.ts';
import { equalBytes } from '../../bytes/byte-order.ts';
import { type FactoryPartition } from './factory-partition.ts';
import { decodeHeader, HEADER_SIZE } from './partition-format.ts';
import {
  decodePerDockBody,
  decodePerDockHeader,
  decodePerDockSecrets,
  PER_DOCK_HEADER_SIZE,
  PER_DOCK_SIGNATURE_SIZE,
  PerDockFormatError,
  sealAad,
  type PerDockPublic,
  type PerDockSecrets,
} from './per-dock-format.ts';

export type PerDockProblem = 'format' | 'signature' | 'other-dock' | 'other-image' | 'sealed';

export class PerDockError extends Error {
  readonly code = 'per-dock';
  constructor(
    readonly problem: PerDockProblem,
    detail: string,
  ) {
    super(`the per-dock section is refused (${problem}): ${detail}`);
    this.name = 'PerDockError';
  }
}

export interface PerDockSection extends PerDockPublic {
  /** Bytes the section takes from the start of the region: header, body and signature. */
  length: number;
  /** Decrypt the secrets (in the heap only while the caller holds them). */
  open(): PerDockSecrets;
}

/**
 * The token id of this dock's section in a slot that is not (or not yet)
 * served: the factory header says where the region is, the manufacturer's
 * signature and the dock id are checked, the image is not re-hashed. For
 * telling the factory station which tokens the dock holds in any committed
 * slot. null when there is none or it does not check.
 */
export function peekPerDockToken(flash: FlashPartition, crypto: Crypto, otp: Otp): string | null {
  try {
    const head = new Uint8Array(HEADER_SIZE);
    flash.read(0, head);
    const h = decodeHeader(head, flash.size);
    if (!h) return null;
    const sectionHead = new Uint8Array(PER_DOCK_HEADER_SIZE);
    flash.read(h.perDockOffset, sectionHead);
    const length = decodePerDockHeader(sectionHead, h.perDockCapacity);
    if (length === null) return null;
    const signed = new Uint8Array(PER_DOCK_HEADER_SIZE + length);
    flash.read(h.perDockOffset, signed);
    const signature = new Uint8Array(PER_DOCK_SIGNATURE_SIZE);
    flash.read(h.perDockOffset + signed.length, signature);
    if (!crypto.verifyEd25519(otp.manufacturerPublicKey(), crypto.sha256(signed), signature)) return null;
    const pub = decodePerDockBody(signed.subarray(PER_DOCK_HEADER_SIZE));
    return pub.dockId === otp.dockId() ? pub.tokenId : null;
  } catch {
    return null; // an unreadable or foreign region holds no token of ours
  }
}

/** The section in `partition`'s per-dock region on `flash`; null when the region is erased (not provisioned). */
export function readPerDockSection(flash: FlashPartition, partition: FactoryPartition, crypto: Crypto, otp: Otp, keystore: DockKeystore): PerDockSection | null {
  const region = partition.perDockRegion();
  const head = new Uint8Array(PER_DOCK_HEADER_SIZE);
  flash.read(region.offset, head);
  let length: number | null;
  try {
    length = decodePerDockHeader(head, region.capacity);
  } catch (e) {
    throw new PerDockError('format', (e as Error).message);
  }
  if (length === null) return null;
  const signed = new Uint8Array(PER_DOCK_HEADER_SIZE + length);
  flash.read(region.offset, signed);
  const signature = new Uint8Array(PER_DOCK_SIGNATURE_SIZE);
  flash.read(region.offset + signed.length, signature);
  if (!crypto.verifyEd25519(otp.manufacturerPublicKey(), crypto.sha256(signed), signature)) {
    throw new PerDockError('signature', "not signed by the manufacturer's key (damaged, or forged)");
  }
  let pub: PerDockPublic;
  try {
    pub = decodePerDockBody(signed.subarray(PER_DOCK_HEADER_SIZE));
  } catch (e) {
    if (e instanceof PerDockFormatError) throw new PerDockError('format', e.message);
    throw e;
  }
  if (pub.dockId !== otp.dockId()) throw new PerDockError('other-dock', `issued for dock ${pub.dockId.slice(0, 12)}…, not this one (${otp.dockId().slice(0, 12)}…)`);
  if (!equalBytes(pub.imageDigest, partition.digest)) throw new PerDockError('other-image', 'issued with another common factory image');
  return {
    ...pub,
    length: signed.length + PER_DOCK_SIGNATURE_SIZE,
    open(): PerDockSecrets {
      const plain = keystore.openSealed(pub.sealed, sealAad(pub.dockId, pub.imageDigest, pub.tokenId));
      if (!plain) throw new PerDockError('sealed', 'the secrets do not open with this dock\'s key');
      try {
        return decodePerDockSecrets(plain);
      } catch (e) {
        // Whatever is wrong inside the sealed part, the caller gets the one typed refusal.
        throw new PerDockError('format', e instanceof Error ? e.message : String(e));
      } finally {
        plain.fill(0);
      }
    },
  };
}
