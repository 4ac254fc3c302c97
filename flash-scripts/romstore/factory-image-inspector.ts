// `dl7450 romstore inspect`: what is in a factory image and whether a dock
// would accept it. Verification is the dock's own reader, run over the file.

import type { FlashPartition } from '../../hal/flash.ts';
import type { Crypto } from '../../hal/crypto.ts';
import type { Otp } from '../../hal/otp.ts';
import { FactoryPartition, FactoryVerificationError } from '../../datastore/factory/factory-partition.ts';
import { decodeHeader, decodeManifest, FACTORY_PARTITION_SIZE, HEADER_SIZE } from '../../datastore/factory/partition-format.ts';
import { NodeCrypto } from '../../simulator/security/node-crypto.ts';
import { imageTypeName, type ImageType } from '../../images/image-type.ts';

export interface InspectReport {
  accepted: boolean;
  /** Which check failed, or 'unsigned-check' when no public key was given. */
  failedCheck: string | null;
  verdict: string;
  partitionSize: number;
  items: { kind: string; name: string; length: number; checksum: 'ok' | 'BAD' | 'per-dock'; type?: string; width?: number; height?: number }[];
}

/** A read-only partition over a file's bytes; beyond the file it reads erased. */
class ImagePartition implements FlashPartition {
  readonly sectorSize = 4096;
  readonly programUnit = 256;
  constructor(
    private readonly bytes: Uint8Array,
    readonly size: number,
  ) {}
  read(offset: number, into: Uint8Array): void {
    into.fill(0xff);
    if (offset < this.bytes.length) into.set(this.bytes.subarray(offset, Math.min(this.bytes.length, offset + into.length)));
  }
  program(): void {
    throw new Error('read-only');
  }
  erase(): void {
    throw new Error('read-only');
  }
}

export function inspectFactoryImage(bytes: Uint8Array, publicKey: Uint8Array | null): InspectReport {
  const crypto = new NodeCrypto();
  const size = Math.max(FACTORY_PARTITION_SIZE, Math.ceil(bytes.length / 4096) * 4096);
  const flash = new ImagePartition(bytes, size);
  const otp: Otp = { dockId: () => '', deviceSecret: () => new Uint8Array(32), manufacturerPublicKey: () => publicKey ?? new Uint8Array(32), factoryLocked: () => true, lockFactory: () => {} };
  // Without the key, check everything but the signature (and say so in the verdict).
  const verifier: Crypto = publicKey
    ? crypto
    : { sha256: (d) => crypto.sha256(d), sha256Flash: (f, o, l) => crypto.sha256Flash(f, o, l), verifyEd25519: () => true };
  try {
    const factory = FactoryPartition.mount(flash, verifier, otp);
    const items = factory.items().map((i) => {
      let checksum: 'ok' | 'BAD' | 'per-dock' = i.kind === 'per-dock' ? 'per-dock' : 'ok';
      if (i.kind !== 'per-dock') {
        try {
          factory.read(i.kind, i.name);
        } catch {
          checksum = 'BAD';
        }
      }
      return { kind: i.kind, name: i.name, length: i.length, checksum, ...(i.kind === 'image' ? { type: imageTypeName(i.type as ImageType), width: i.width, height: i.height } : {}) };
    });
    const accepted = publicKey !== null;
    return {
      accepted,
      failedCheck: accepted ? null : 'unsigned-check',
      verdict: accepted ? 'ACCEPTED: intact and signed by this key; a dock with it in OTP will use this image' : 'INTACT, signature NOT checked: give --pubkey <factory.pub> to say whether a dock would accept it',
      partitionSize: factory.header.partitionSize,
      items,
    };
  } catch (e) {
    if (!(e instanceof FactoryVerificationError)) throw e;
    // Still list what the manifest claims, if it can be read, so the engineer sees what was meant.
    const items: InspectReport['items'] = [];
    try {
      const header = decodeHeader(bytes.subarray(0, HEADER_SIZE), size);
      if (header) for (const i of decodeManifest(bytes.subarray(header.manifestOffset, header.manifestOffset + header.manifestLength), header).items) items.push({ kind: i.kind, name: i.name, length: i.length, checksum: 'BAD' });
    } catch {
      // nothing readable
    }
    return { accepted: false, failedCheck: e.check, verdict: `REFUSED: ${e.message}`, partitionSize: size, items };
  }
}
