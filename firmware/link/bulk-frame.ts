// The bulk lane's frame (FORMAT.md): binary frames sharing the serial line
// with SMP console lines, for transfers too large for base64 over SMP.
//   body = type:u8 | 0x00 | session:u16be | seq:u32be | length:u16be | payload | crc32(all before):u32be
//   wire = COBS(body) | 0x00
// Byte 1 is always zero, so COBS always starts the wire frame with 0x02,
// which an SMP line (0x06 / 0x04) never does.

import { CobsWriter, cobsDecode, cobsMaxEncodedLength } from './cobs.ts';
// The same CRC-32 as the runtime store's records: one implementation on the dock.
import { crc32 } from '../../bytes/crc32.ts';
import { readU32BE, writeU32BE } from '../../bytes/byte-order.ts';

export const BULK_DATA = 1;
export const BULK_ACK = 2;
export const BULK_ABORT = 3;
export type BulkFrameType = typeof BULK_DATA | typeof BULK_ACK | typeof BULK_ABORT;

/** ABORT reasons. */
export const ABORT_SINK_FAILED = 1;
export const ABORT_UNKNOWN_SESSION = 2;
export const ABORT_PROTOCOL = 3;

export const BULK_START = 0x02;
export const HEADER_SIZE = 10;
export const CRC_SIZE = 4;
export const MAX_PAYLOAD = 4096;
export const MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE;
/** Longest wire frame, delimiter included. */
export const MAX_WIRE = cobsMaxEncodedLength(MAX_BODY) + 1;
/** Largest window: the ACK bitmap then fits 32 bytes. */
export const MAX_WINDOW = 256;

export interface BulkFrame {
  type: BulkFrameType;
  session: number;
  seq: number;
  payload: Uint8Array;
}

export type BulkDecodeError = 'cobs' | 'short' | 'marker' | 'length' | 'crc' | 'type';
export type BulkDecodeResult = { ok: true; frame: BulkFrame } | { ok: false; error: BulkDecodeError; reason: string };

export function isBulkFrameType(t: number): t is BulkFrameType {
  return t === BULK_DATA || t === BULK_ACK || t === BULK_ABORT;
}

/** The wire bytes of a frame, the trailing 0x00 included. */
export function encodeBulkFrame(frame: BulkFrame): Uint8Array {
  const { type, session, seq, payload } = frame;
  if (!isBulkFrameType(type)) throw new RangeError(`bulk frame type ${type} is not 1, 2 or 3`);
  if (!(session >= 0 && session <= 0xffff && session % 1 === 0)) throw new RangeError(`bulk session ${session} is not a u16`);
  if (!(seq >= 0 && seq <= 0xffffffff && seq % 1 === 0)) throw new RangeError(`bulk seq ${seq} is not a u32`);
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`bulk payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const header = new Uint8Array(HEADER_SIZE);
  header[0] = type;
  header[2] = session >>> 8;
  header[3] = session & 0xff;
  writeU32BE(header, 4, seq);
  header[8] = payload.length >>> 8;
  header[9] = payload.length & 0xff;
  const crc = crc32(payload, crc32(header)); // header then payload, without joining them
  const w = new CobsWriter(new Uint8Array(cobsMaxEncodedLength(HEADER_SIZE + payload.length + CRC_SIZE) + 1));
  w.bytes(header);
  w.bytes(payload);
  w.byte(crc >>> 24);
  w.byte((crc >>> 16) & 0xff);
  w.byte((crc >>> 8) & 0xff);
  w.byte(crc & 0xff);
  const end = w.finish();
  w.out[end] = 0;
  return w.out.subarray(0, end + 1);
}

/** Decode one wire frame given without its 0x00 delimiter. */
export function decodeBulkFrame(wire: Uint8Array): BulkDecodeResult {
  const body = cobsDecode(wire);
  if (!body) return { ok: false, error: 'cobs', reason: 'the bulk frame is not valid COBS (line noise?)' };
  return decodeBulkBody(body);
}

/** Check and split a COBS-decoded body; the frame's payload is a view into `body`. */
export function decodeBulkBody(body: Uint8Array): BulkDecodeResult {
  if (body.length < HEADER_SIZE + CRC_SIZE) return { ok: false, error: 'short', reason: `the bulk frame has ${body.length} bytes, fewer than a header and CRC` };
  if (body[1] !== 0) return { ok: false, error: 'marker', reason: 'byte 1 of the bulk frame is not 0x00' };
  const length = (body[8] << 8) | body[9];
  if (length > MAX_PAYLOAD || body.length !== HEADER_SIZE + length + CRC_SIZE) {
    return { ok: false, error: 'length', reason: `the bulk frame says ${length} payload bytes but carries ${body.length - HEADER_SIZE - CRC_SIZE}` };
  }
  const end = HEADER_SIZE + length;
  if (crc32(body, 0, 0, end) !== readU32BE(body, end)) return { ok: false, error: 'crc', reason: 'the bulk frame fails its CRC-32 (line noise?)' };
  const type = body[0];
  if (!isBulkFrameType(type)) return { ok: false, error: 'type', reason: `bulk frame type ${type} is unknown (a newer protocol?)` };
  return { ok: true, frame: { type, session: (body[2] << 8) | body[3], seq: readU32BE(body, 4), payload: body.subarray(HEADER_SIZE, end) } };
}

// ACK payload: next:u32be, then bit i (byte i>>3, LSB first) = seq next+1+i is buffered.

export interface BulkAck {
  /** Every seq below this has been received and handed on. */
  next: number;
  bitmap: Uint8Array;
}

/** Write an ACK payload into `out` (4 + bitmap bytes); returns its length with trailing zero bitmap bytes left off. */
export function writeAckPayload(out: Uint8Array, next: number, bitmap: Uint8Array): number {
  writeU32BE(out, 0, next);
  let n = bitmap.length;
  while (n > 0 && bitmap[n - 1] === 0) n--;
  out.set(bitmap.subarray(0, n), 4);
  return 4 + n;
}

export function parseAck(payload: Uint8Array): BulkAck | null {
  if (payload.length < 4) return null;
  return { next: readU32BE(payload, 0), bitmap: payload.subarray(4) };
}

/** Whether an ACK reports `seq` received (cumulatively or in its bitmap). */
export function ackCovers(ack: BulkAck, seq: number): boolean {
  if (seq < ack.next) return true;
  const i = seq - ack.next - 1;
  if (i < 0 || i >> 3 >= ack.bitmap.length) return false;
  return (ack.bitmap[i >> 3] & (1 << (i & 7))) !== 0;
}

// ABORT payload: reason:u8, then why as text (ASCII; the engine has no TextEncoder).

const MAX_ABORT_TEXT = 240;

export function abortPayload(reason: number, text: string): Uint8Array {
  const n = Math.min(text.length, MAX_ABORT_TEXT);
  const out = new Uint8Array(1 + n);
  out[0] = reason;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    out[1 + i] = c >= 0x20 && c < 0x7f ? c : 0x3f; // '?' for what ASCII cannot say
  }
  return out;
}

export function parseAbort(payload: Uint8Array): { reason: number; text: string } | null {
  if (payload.length < 1) return null;
  let text = '';
  for (let i = 1; i < payload.length; i++) text += String.fromCharCode(payload[i] < 0x80 ? payload[i] : 0x3f);
  return { reason: payload[0], text };
}
