// The factory tier on the dock: a read-only partition that is verified in
// full (SHA-256 by the hash engine, Ed25519 against the manufacturer's key in
// OTP) before any item in it is served. A partition that fails is never
// served; the dock boots on its other tiers and says which check failed.

import { equalBytes } from '../../bytes/byte-order.ts';
import type { Crypto } from '../../hal/crypto.ts';
import type { FlashPartition } from '../../hal/flash.ts';
import type { Otp } from '../../hal/otp.ts';
import {
  decodeHeader,
  decodeManifest,
  decodeTrailer,
  FactoryFormatError,
  HEADER_SIZE,
  TRAILER_SIZE,
  type FactoryHeader,
  type ItemKind,
  type ManifestItem,
} from './partition-format.ts';

export type FactoryCheck = 'blank' | 'header' | 'trailer' | 'digest' | 'signature' | 'manifest';

export class FactoryVerificationError extends Error {
  readonly code = 'factory-unverified';
  constructor(
    readonly check: FactoryCheck,
    detail: string,
  ) {
    super(`the factory partition is not trusted (${check} check failed): ${detail}`);
    this.name = 'FactoryVerificationError';
  }
}

export class FactoryItemError extends Error {
  readonly code = 'factory-item';
  constructor(
    readonly item: string,
    detail: string,
  ) {
    super(`factory item ${item}: ${detail}`);
    this.name = 'FactoryItemError';
  }
}


export class FactoryPartition {
  readonly header: FactoryHeader;
  private readonly byKey: Map<string, ManifestItem>;

  private constructor(
    private readonly flash: FlashPartition,
    private readonly crypto: Crypto,
    header: FactoryHeader,
    items: ManifestItem[],
    /** SHA-256 of the signed bytes [0, trailerOffset): the common image's identity. */
    readonly digest: Uint8Array,
  ) {
    this.header = header;
    this.byKey = new Map(items.map((i) => [`${i.kind}:${i.name}`, i]));
  }

  /** Verify the whole partition, then index its manifest. Throws FactoryVerificationError. */
  static mount(flash: FlashPartition, crypto: Crypto, otp: Otp): FactoryPartition {
    const head = new Uint8Array(HEADER_SIZE);
    flash.read(0, head);
    let header: FactoryHeader | null;
    try {
      header = decodeHeader(head, flash.size);
    } catch (e) {
      throw new FactoryVerificationError('header', (e as Error).message);
    }
    if (!header) throw new FactoryVerificationError('blank', 'the partition is erased: no factory image was written');
    const trailerBytes = new Uint8Array(TRAILER_SIZE);
    flash.read(header.trailerOffset, trailerBytes);
    let trailer;
    try {
      trailer = decodeTrailer(trailerBytes);
    } catch (e) {
      throw new FactoryVerificationError('trailer', (e as Error).message);
    }
    const digest = crypto.sha256Flash(flash, 0, header.trailerOffset);
    if (!equalBytes(digest, trailer.sha256)) throw new FactoryVerificationError('digest', 'the SHA-256 of the image does not match its trailer: the image is damaged or was changed');
    if (!crypto.verifyEd25519(otp.manufacturerPublicKey(), digest, trailer.signature)) {
      throw new FactoryVerificationError('signature', "the signature is not the manufacturer's (signed with another key, or forged)");
    }
    // Verified: from here on the bytes are the manufacturer's. Still parse defensively.
    const manifestBytes = new Uint8Array(header.manifestLength);
    flash.read(header.manifestOffset, manifestBytes);
    try {
      return new FactoryPartition(flash, crypto, header, decodeManifest(manifestBytes, header).items, digest);
    } catch (e) {
      if (e instanceof FactoryFormatError) throw new FactoryVerificationError('manifest', e.message);
      throw e;
    }
  }

  /** Copy part of an item (image tokens): verified at mount, not re-hashed here. */
  readRange(kind: ItemKind, name: string, offset: number, into: Uint8Array): number {
    const item = this.info(kind, name);
    if (!item || kind === 'per-dock') return 0;
    const n = Math.max(0, Math.min(into.length, item.length - offset));
    if (n > 0) this.flash.read(item.offset + offset, into.subarray(0, n));
    return n;
  }

  /** The region provisioning fills per dock (not covered by the common signature). */
  perDockRegion(): { offset: number; capacity: number } {
    return { offset: this.header.perDockOffset, capacity: this.header.perDockCapacity };
  }

  items(kind?: ItemKind): ManifestItem[] {
    const all = [...this.byKey.values()];
    return kind ? all.filter((i) => i.kind === kind) : all;
  }

  info(kind: ItemKind, name: string): ManifestItem | undefined {
    return this.byKey.get(`${kind}:${name}`);
  }

  /**
   * The item's bytes, copied into the heap with one flash read and checked
   * by the hash engine against the manifest (flash can rot after mount):
   * wrong bytes are never returned.
   */
  read(kind: ItemKind, name: string): Uint8Array | undefined {
    const item = this.info(kind, name);
    if (!item) return undefined;
    if (kind === 'per-dock') throw new FactoryItemError('per-dock', 'per-dock data is read through its own, separately signed format, not as a common item');
    const out = new Uint8Array(item.length);
    this.flash.read(item.offset, out);
    if (!equalBytes(this.crypto.sha256(out), item.sha256)) {
      throw new FactoryItemError(`${kind} "${name}"`, 'its bytes no longer match the manifest checksum (flash damage); a factory re-flash is needed');
    }
    return out;
  }
}
