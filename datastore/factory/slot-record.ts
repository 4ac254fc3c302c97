// The commit record of a factory slot: 64 bytes at the start of the slot's
// last sector. A slot's image counts only once its record is there and
// intact; the record is written last, in one program, so a staged image
// becomes the factory image atomically. See FORMAT.md §6.

import { crc32 } from '../../bytes/crc32.ts';

export const SLOT_MAGIC = 0x53464c44; // "DLFS"
export const SLOT_RECORD_VERSION = 1;
export const SLOT_RECORD_SIZE = 64;
/** The last sector of every slot is kept for the record: images must end before it. */
export const SLOT_RESERVED_BYTES = 4096;

/** Record modes (byte 5): a permanent commit, or an image that boots only once tested or confirmed (MCUboot's test/confirm). */
export const MODE_PERMANENT = 0;
export const MODE_ON_APPROVAL = 1;

export interface SlotRecord {
  /** Higher wins; a slot flashed on the line without a record counts as 0 (slot 0 only). */
  generation: number;
  /** MODE_PERMANENT (records written before modes existed read as this) or MODE_ON_APPROVAL. */
  mode: number;
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
  out[5] = r.mode & 0xff;
  out[6] = out[7] = 0;
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
  if (b[5] !== MODE_PERMANENT && b[5] !== MODE_ON_APPROVAL) return null;
  return { generation: v.getUint32(8), mode: b[5], imageLength: v.getUint32(12), sha256: b.slice(16, 48) };
}

/**
 * Marks beside an on-approval record, each programmed once into the erased
 * record sector (FORMAT.md §7): test (boot it once), booted (the trial boot
 * began), confirm (keep it for good).
 */
export const MARK_TEST = 1;
export const MARK_BOOTED = 2;
export const MARK_CONFIRM = 3;
const MARK_BYTES = [0x44, 0x4c, 0x4d, 0x4b]; // "DLMK"

/** A mark's slot-relative offset: one program unit (at least 64 bytes) per mark after the record. */
export function markOffset(flash: { size: number; sectorSize: number; programUnit: number }, mark: number): number {
  return slotRecordOffset(flash) + Math.max(flash.programUnit, SLOT_RECORD_SIZE) * mark;
}

export function encodeMark(mark: number, programUnit: number): Uint8Array {
  const out = new Uint8Array(Math.max(programUnit, 8)).fill(0xff);
  out.set(MARK_BYTES, 0);
  out[4] = mark;
  out[5] = ~mark & 0xff;
  out[6] = out[7] = 0;
  return out;
}

/** 'set': the exact mark; 'erased': all 0xFF; 'torn': anything else (a program that was cut). */
export function decodeMark(b: Uint8Array, mark: number): 'set' | 'erased' | 'torn' {
  let erased = true;
  for (let i = 0; i < 8; i++) if (b[i] !== 0xff) erased = false;
  if (erased) return 'erased';
  const ok = b[0] === MARK_BYTES[0] && b[1] === MARK_BYTES[1] && b[2] === MARK_BYTES[2] && b[3] === MARK_BYTES[3] && b[4] === mark && b[5] === (~mark & 0xff) && b[6] === 0 && b[7] === 0;
  return ok ? 'set' : 'torn';
}

/** Where a slot's record lives: the start of its last sector. */
export function slotRecordOffset(flash: { size: number; sectorSize: number }): number {
  return flash.size - Math.max(flash.sectorSize, SLOT_RESERVED_BYTES);
}
