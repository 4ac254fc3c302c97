// The commit record of a factory slot: 64 bytes at the start of the slot's
// last sector. A slot's image counts only once its record is there and
// intact; the record is written last, in one program, so a staged image
// becomes the factory image atomically. See FORMAT.md §6.

import { crc32 } from '../runtime/crc32.ts';

export const SLOT_MAGIC = 0x53464c44; // "DLFS"
export const SLOT_RECORD_VERSION = 1;
export const SLOT_RECORD_SIZE = 64;
/** The last sector of every slot is kept for the record: images must end before it. */
export const SLOT_RESERVED_BYTES = 4096;

export interface SlotRecord {
  /** Higher wins; a slot flashed on the line without a record counts as 0 (slot 0 only). */
  generation: number;
  /** Bytes staged from offset 0: the image file exactly as sent. */
  imageLength: number;
  /** SHA-256 of those bytes, as computed by the dock's hash engine at verification. */
  sha256: Uint8Array;
}

export function encodeSlotRecord(r: SlotRecord, programUnit: number): Uint8Array {
  const out = new Uint8Array(Math.max(programUnit, SLOT_RECORD_SIZE)).fill(0xff);
  const v = new DataView(out.buffer);
  v.setUint32(0, SLOT_MAGIC);
  out[4] = SLOT_RECORD_VERSION;
  out[5] = out[6] = out[7] = 0;
  v.setUint32(8, r.generation);
  v.setUint32(12, r.imageLength);
  out.set(r.sha256, 16);
  v.setUint32(48, crc32(out, 0, 0, 48));
  return out;
}

/** null for an erased or damaged record (a torn commit is no commit). */
export function decodeSlotRecord(b: Uint8Array): SlotRecord | null {
  if (b.length < SLOT_RECORD_SIZE) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0) !== SLOT_MAGIC || b[4] !== SLOT_RECORD_VERSION) return null;
  if (v.getUint32(48) !== crc32(b, 0, 0, 48)) return null;
  return { generation: v.getUint32(8), imageLength: v.getUint32(12), sha256: b.slice(16, 48) };
}

/** Where a slot's record lives: the start of its last sector. */
export function slotRecordOffset(flash: { size: number; sectorSize: number }): number {
  return flash.size - Math.max(flash.sectorSize, SLOT_RESERVED_BYTES);
}
