// The factory partition's bytes: header, manifest, trailer. The one
// implementation, used by the dock's reader and by the host builder; the
// specification is FORMAT.md beside this file.

import { plainCbor } from '../value-codec.ts';
import { crc32 } from '../../bytes/crc32.ts';

export const FACTORY_MAGIC = 0x50464c44; // "DLFP"
export const FACTORY_VERSION = 1;
export const HEADER_SIZE = 64;
export const TRAILER_MAGIC = 0x54464c44; // "DLFT"
export const TRAILER_SIZE = 104;
/** Items start on flash-page boundaries, so a token can point straight at them. */
export const DATA_ALIGN = 256;
export const SECTOR = 4096;
export const FACTORY_PARTITION_SIZE = 13 * 1024 * 1024;
export const DEFAULT_PER_DOCK_CAPACITY = 64 * 1024;

export interface FactoryHeader {
  version: number;
  partitionSize: number;
  manifestOffset: number;
  manifestLength: number;
  dataOffset: number;
  dataLength: number;
  /** Signed bytes are [0, trailerOffset); the trailer follows. */
  trailerOffset: number;
  perDockOffset: number;
  perDockCapacity: number;
  itemCount: number;
  /** Seconds since 1970 when the image was built. */
  builtAt: number;
}

/** 'per-dock' names the region a provisioning step fills per dock (its checksum is all zero: that data carries its own). */
export type ItemKind = 'kv' | 'image' | 'code' | 'per-dock';

export interface ManifestItem {
  kind: ItemKind;
  name: string;
  /** kv: the value encoding (datastore/value-codec.ts); image: the image type; code: 0. */
  type: number;
  /** Partition offset of the item's bytes. */
  offset: number;
  length: number;
  sha256: Uint8Array;
  /** Images: dimensions and depth. */
  width?: number;
  height?: number;
  bitDepth?: number;
}

export interface Manifest {
  version: number;
  items: ManifestItem[];
}

export interface FactoryTrailer {
  sha256: Uint8Array;
  signature: Uint8Array;
}

export class FactoryFormatError extends Error {
  readonly code = 'factory-format';
  constructor(readonly part: 'header' | 'manifest' | 'trailer', detail: string) {
    super(`factory partition ${part}: ${detail}`);
    this.name = 'FactoryFormatError';
  }
}

// Plain CBOR, no cbor-x tags: the manifest is hashed and signed, and read by other tools.
const cbor = plainCbor;

export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export function encodeHeader(h: FactoryHeader): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE).fill(0xff);
  const v = new DataView(b.buffer);
  v.setUint32(0, FACTORY_MAGIC, true);
  v.setUint16(4, h.version, true);
  v.setUint16(6, HEADER_SIZE, true);
  v.setUint32(8, h.partitionSize, true);
  v.setUint32(12, h.manifestOffset, true);
  v.setUint32(16, h.manifestLength, true);
  v.setUint32(20, h.dataOffset, true);
  v.setUint32(24, h.dataLength, true);
  v.setUint32(28, h.trailerOffset, true);
  v.setUint32(32, h.perDockOffset, true);
  v.setUint32(36, h.perDockCapacity, true);
  v.setUint32(40, h.itemCount, true);
  v.setUint32(44, h.builtAt, true);
  v.setUint32(60, crc32(b, 0, 0, 60), true);
  return b;
}

/** Decode and sanity-check a header against the partition it sits in. Returns null for a blank partition. */
export function decodeHeader(b: Uint8Array, flashSize: number): FactoryHeader | null {
  if (b.length < HEADER_SIZE) throw new FactoryFormatError('header', 'too short');
  let blank = true;
  for (let i = 0; i < HEADER_SIZE; i++) if (b[i] !== 0xff) blank = false;
  if (blank) return null;
  const v = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  if (v.getUint32(0, true) !== FACTORY_MAGIC) throw new FactoryFormatError('header', 'no factory partition magic (foreign or damaged data)');
  if (v.getUint32(60, true) !== crc32(b, 0, 0, 60)) throw new FactoryFormatError('header', 'the header fails its CRC');
  const h: FactoryHeader = {
    version: v.getUint16(4, true),
    partitionSize: v.getUint32(8, true),
    manifestOffset: v.getUint32(12, true),
    manifestLength: v.getUint32(16, true),
    dataOffset: v.getUint32(20, true),
    dataLength: v.getUint32(24, true),
    trailerOffset: v.getUint32(28, true),
    perDockOffset: v.getUint32(32, true),
    perDockCapacity: v.getUint32(36, true),
    itemCount: v.getUint32(40, true),
    builtAt: v.getUint32(44, true),
  };
  if (h.version !== FACTORY_VERSION) throw new FactoryFormatError('header', `format version ${h.version}; this firmware reads version ${FACTORY_VERSION}`);
  if (v.getUint16(6, true) !== HEADER_SIZE) throw new FactoryFormatError('header', 'unexpected header size');
  const ordered =
    h.manifestOffset === HEADER_SIZE &&
    h.dataOffset >= h.manifestOffset + h.manifestLength &&
    h.trailerOffset >= h.dataOffset + h.dataLength &&
    h.perDockOffset >= h.trailerOffset + TRAILER_SIZE &&
    h.perDockOffset + h.perDockCapacity <= h.partitionSize &&
    h.partitionSize <= flashSize;
  if (!ordered) throw new FactoryFormatError('header', `regions out of order or beyond the ${flashSize}-byte partition`);
  return h;
}

export function encodeManifest(m: Manifest): Uint8Array {
  // Fixed key order: the bytes are signed.
  const items = m.items.map((i) => {
    const out: Record<string, unknown> = { kind: i.kind, name: i.name, type: i.type, offset: i.offset, length: i.length, sha256: i.sha256 };
    if (i.kind === 'image') {
      out.width = i.width;
      out.height = i.height;
      out.bitDepth = i.bitDepth;
    }
    return out;
  });
  const bytes = cbor.encode({ version: m.version, items }) as Uint8Array;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const KINDS: ItemKind[] = ['kv', 'image', 'code', 'per-dock'];

/** Decode and check a manifest whose bytes have been verified; every item must lie in the data region. */
export function decodeManifest(bytes: Uint8Array, h: FactoryHeader): Manifest {
  let raw: unknown;
  try {
    raw = cbor.decode(bytes);
  } catch (e) {
    throw new FactoryFormatError('manifest', `not CBOR (${(e as Error).message})`);
  }
  const bad = (what: string): never => {
    throw new FactoryFormatError('manifest', what);
  };
  if (!raw || typeof raw !== 'object') bad('not a map');
  const m = raw as { version?: unknown; items?: unknown };
  if (m.version !== 1) bad(`manifest version ${String(m.version)}`);
  if (!Array.isArray(m.items)) bad('no item list');
  const items = m.items as Record<string, unknown>[];
  if (items.length !== h.itemCount) bad(`${items.length} items, the header says ${h.itemCount}`);
  const seen = new Set<string>();
  const out: ManifestItem[] = [];
  for (const it of items) {
    const kind = it.kind as ItemKind;
    const name = it.name;
    if (KINDS.indexOf(kind) < 0) bad(`unknown item kind ${String(kind)}`);
    if (typeof name !== 'string' || name.length === 0) bad('an item without a name');
    const id = `${kind}:${name}`;
    if (seen.has(id)) bad(`duplicate ${kind} item "${name}"`);
    seen.add(id);
    const nums = ['type', 'offset', 'length'].map((k) => it[k]);
    if (!nums.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 0)) bad(`item "${name}" has bad numbers`);
    const [type, offset, length] = nums as number[];
    if (kind === 'per-dock') {
      if (offset !== h.perDockOffset || length !== h.perDockCapacity) bad('the per-dock item does not match the header\'s per-dock region');
    } else if (offset < h.dataOffset || offset + length > h.dataOffset + h.dataLength) bad(`item "${name}" lies outside the data region`);
    const sha = it.sha256;
    if (!(sha instanceof Uint8Array) || sha.length !== 32) bad(`item "${name}" has no SHA-256`);
    const item: ManifestItem = { kind, name: name as string, type, offset, length, sha256: sha as Uint8Array };
    if (kind === 'image') {
      item.width = it.width as number;
      item.height = it.height as number;
      item.bitDepth = it.bitDepth as number;
    }
    out.push(item);
  }
  return { version: 1, items: out };
}

export function encodeTrailer(t: FactoryTrailer): Uint8Array {
  const b = new Uint8Array(TRAILER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, TRAILER_MAGIC, true);
  v.setUint32(4, FACTORY_VERSION, true);
  b.set(t.sha256, 8);
  b.set(t.signature, 40);
  return b;
}

export function decodeTrailer(b: Uint8Array): FactoryTrailer {
  const v = new DataView(b.buffer, b.byteOffset, TRAILER_SIZE);
  if (v.getUint32(0, true) !== TRAILER_MAGIC) throw new FactoryFormatError('trailer', 'no trailer magic where the header puts it');
  if (v.getUint32(4, true) !== FACTORY_VERSION) throw new FactoryFormatError('trailer', 'unknown trailer version');
  return { sha256: b.slice(8, 40), signature: b.slice(40, 104) };
}
