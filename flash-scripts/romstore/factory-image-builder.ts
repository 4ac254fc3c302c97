// Lays out, hashes and signs a factory partition image from a checked
// ROM-store config. The bytes follow datastore/factory/FORMAT.md through the
// shared format code, so the dock's reader and this builder cannot drift.

import { SLOT_RESERVED_BYTES } from '../../datastore/factory/slot-record.ts';
import { createHash, type KeyObject } from 'node:crypto';
import {
  alignUp,
  DATA_ALIGN,
  DEFAULT_PER_DOCK_CAPACITY,
  encodeHeader,
  encodeManifest,
  encodeTrailer,
  FACTORY_PARTITION_SIZE,
  FACTORY_VERSION,
  HEADER_SIZE,
  SECTOR,
  TRAILER_SIZE,
  type FactoryHeader,
  type ManifestItem,
} from '../../datastore/factory/partition-format.ts';
import { signDigest } from '../signing-keys.ts';
import type { RomStoreConfig } from './romstore-config.ts';

export interface BuildOptions {
  partitionSize?: number;
  perDockCapacity?: number;
  /**
   * Seconds since 1970, signed into the header. Default: SOURCE_DATE_EPOCH
   * when set (the reproducible-builds convention), else 0, so that the same
   * config, images and key always give the same bytes and the image's digest
   * names its content, not the moment it was built.
   */
  builtAt?: number;
}

export interface BuildResult {
  /** The partition's bytes from offset 0 up to the per-dock region (the rest stays erased). */
  image: Uint8Array;
  header: FactoryHeader;
  items: ManifestItem[];
  digest: Uint8Array;
  freeBytes: number;
}

export class FactoryImageTooLargeError extends Error {
  readonly code = 'factory-too-large';
  constructor(
    readonly needed: number,
    readonly partitionSize: number,
    readonly itemCount?: number,
  ) {
    super(
      `the factory image needs ${itemCount !== undefined ? 'at least ' : ''}${needed} bytes but a factory slot holds ${partitionSize} (its last sector keeps the commit record): ${needed - partitionSize} bytes too many. ` +
        `Drop or shrink images and values${itemCount ? ` (${itemCount} items; each takes at least ${DATA_ALIGN} bytes)` : ''}.`,
    );
    this.name = 'FactoryImageTooLargeError';
  }
}

export class BuildTimeError extends Error {
  readonly code = 'build-time';
  constructor(message: string) {
    super(message);
    this.name = 'BuildTimeError';
  }
}

/** SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/), when set to whole seconds. */
function sourceDateEpoch(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) throw new BuildTimeError(`SOURCE_DATE_EPOCH=${v} is not a time in whole seconds since 1970 (unset it, or give e.g. $(git log -1 --format=%ct))`);
  return Number(v);
}

const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

export function buildFactoryImage(config: RomStoreConfig, key: KeyObject, options: BuildOptions = {}): BuildResult {
  const partitionSize = options.partitionSize ?? FACTORY_PARTITION_SIZE;
  const perDockCapacity = options.perDockCapacity ?? DEFAULT_PER_DOCK_CAPACITY;
  const builtAt = options.builtAt ?? sourceDateEpoch() ?? 0;

  const sources: { item: Omit<ManifestItem, 'offset'>; bytes: Uint8Array }[] = [
    ...config.kv.map((k) => ({ item: { kind: 'kv' as const, name: k.key, type: k.encoding, length: k.bytes.length, sha256: sha256(k.bytes) }, bytes: k.bytes })),
    ...config.images.map((i) => ({
      item: { kind: 'image' as const, name: i.tag, type: i.type, length: i.bytes.length, sha256: sha256(i.bytes), width: i.info.width, height: i.info.height, bitDepth: i.info.bitDepth },
      bytes: i.bytes,
    })),
    ...(config.code ? [{ item: { kind: 'code' as const, name: 'app', type: 0, length: config.code.bytes.length, sha256: sha256(config.code.bytes) }, bytes: config.code.bytes }] : []),
  ];

  // Too big whatever the manifest: refuse before encoding one (a 300,000-key config would need 100 MB).
  const dataAtLeast = sources.reduce((n, s) => n + alignUp(s.item.length, DATA_ALIGN), 0);
  if (HEADER_SIZE + dataAtLeast + perDockCapacity > partitionSize - SLOT_RESERVED_BYTES) throw new FactoryImageTooLargeError(HEADER_SIZE + dataAtLeast + perDockCapacity, partitionSize - SLOT_RESERVED_BYTES, sources.length);

  // The manifest holds the offsets, and its length decides where data starts: iterate to a fixed point.
  let manifestRoom = 0;
  let items: ManifestItem[] = [];
  let manifest: Uint8Array = new Uint8Array(0);
  let dataOffset = 0;
  let dataEnd = 0;
  let trailerOffset = 0;
  let perDockOffset = 0;
  for (;;) {
    dataOffset = alignUp(HEADER_SIZE + manifestRoom, DATA_ALIGN);
    let at = dataOffset;
    dataEnd = dataOffset;
    items = sources.map((s) => {
      const item = { ...s.item, offset: at } as ManifestItem;
      dataEnd = at + s.item.length;
      at = alignUp(at + s.item.length, DATA_ALIGN);
      return item;
    });
    trailerOffset = alignUp(dataEnd, 16);
    perDockOffset = alignUp(trailerOffset + TRAILER_SIZE, SECTOR);
    items.push({ kind: 'per-dock', name: 'per-dock', type: 0, offset: perDockOffset, length: perDockCapacity, sha256: new Uint8Array(32) });
    manifest = encodeManifest({ version: 1, items });
    if (HEADER_SIZE + manifest.length <= dataOffset) break;
    manifestRoom = manifest.length;
  }

  const needed = perDockOffset + perDockCapacity;
  // The slot's last sector holds its commit record (datastore/factory/FORMAT.md §6).
  if (needed > partitionSize - SLOT_RESERVED_BYTES) throw new FactoryImageTooLargeError(needed, partitionSize - SLOT_RESERVED_BYTES);

  const header: FactoryHeader = {
    version: FACTORY_VERSION,
    partitionSize,
    manifestOffset: HEADER_SIZE,
    manifestLength: manifest.length,
    dataOffset,
    dataLength: dataEnd - dataOffset,
    trailerOffset,
    perDockOffset,
    perDockCapacity,
    itemCount: items.length,
    builtAt,
  };
  const image = new Uint8Array(perDockOffset).fill(0xff);
  image.set(encodeHeader(header), 0);
  image.set(manifest, HEADER_SIZE);
  sources.forEach((s, i) => image.set(s.bytes, items[i].offset));
  const digest = sha256(image.subarray(0, trailerOffset));
  image.set(encodeTrailer({ sha256: digest, signature: signDigest(key, digest) }), trailerOffset);
  return { image, header, items, digest, freeBytes: partitionSize - SLOT_RESERVED_BYTES - needed };
}
