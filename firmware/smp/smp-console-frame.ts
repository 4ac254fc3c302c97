// SMP over a serial console (mcumgr's framing): each packet becomes
//   base64( length:u16be | packet | crc16-xmodem(packet):u16be )
// split into lines of at most 127 bytes: the first starts 0x06 0x09, the
// following ones 0x04 0x14, each ends with '\n'. The line may also carry
// ordinary console text, which the decoder passes over.

import { base64Decode, base64Encode } from './base64.ts';
import { crc16Xmodem } from './crc16.ts';

export const MAX_LINE = 127;
const START = [0x06, 0x09];
const CONTINUE = [0x04, 0x14];
const NEWLINE = 0x0a;

export function encodeConsoleFrames(packet: Uint8Array): Uint8Array {
  const body = new Uint8Array(2 + packet.length + 2);
  const total = packet.length + 2;
  body[0] = (total >> 8) & 0xff;
  body[1] = total & 0xff;
  body.set(packet, 2);
  const crc = crc16Xmodem(packet);
  body[2 + packet.length] = (crc >> 8) & 0xff;
  body[3 + packet.length] = crc & 0xff;
  const text = base64Encode(body);
  const perLine = MAX_LINE - 3; // marker (2) + newline (1); a multiple of 4 keeps each line whole base64
  const lines: number[] = [];
  for (let at = 0, first = true; at < text.length; at += perLine, first = false) {
    lines.push(...(first ? START : CONTINUE));
    const part = text.slice(at, at + perLine);
    for (let i = 0; i < part.length; i++) lines.push(part.charCodeAt(i));
    lines.push(NEWLINE);
  }
  return new Uint8Array(lines);
}

export type FrameEvent =
  | { kind: 'packet'; packet: Uint8Array }
  | { kind: 'error'; reason: string }
  | { kind: 'console'; text: string }
  /** A frame longer than the buffer: its SMP header (when the first line held it), so the receiver can answer it. */
  | { kind: 'oversize'; reason: string; header: Uint8Array | null; announced: number };

/**
 * Byte-stream decoder: feed it whatever the line delivers, in any pieces.
 * Complete packets come out; damaged frames come out as errors (with why)
 * and are dropped; other text comes out as console lines.
 */
export class ConsoleFrameDecoder {
  private line: number[] = [];
  private pending = '';
  private collecting = false;
  /** Continuation lines of an oversize frame are skipped quietly until the next frame start. */
  private skipping = false;

  /** `maxPacket`: longer frames are dropped as they start (the dock's buffer is bounded; the host's need not be). */
  constructor(private readonly maxPacket = 0xffff) {}

  push(bytes: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b !== NEWLINE) {
        if (this.line.length < 4096) this.line.push(b);
        continue;
      }
      const line = this.line;
      this.line = [];
      if (line.length >= 2 && line[0] === START[0] && line[1] === START[1]) {
        if (this.collecting) events.push({ kind: 'error', reason: 'a new frame started before the previous one was complete' });
        this.pending = ascii(line, 2);
        this.collecting = true;
        this.skipping = false;
      } else if (line.length >= 2 && line[0] === CONTINUE[0] && line[1] === CONTINUE[1]) {
        if (this.skipping) continue;
        if (!this.collecting) {
          events.push({ kind: 'error', reason: 'a continuation line without a frame start' });
          continue;
        }
        this.pending += ascii(line, 2);
      } else {
        if (line.length > 0) events.push({ kind: 'console', text: ascii(line, 0) });
        continue;
      }
      const done = this.tryComplete();
      if (done) events.push(done);
    }
    return events;
  }

  private tryComplete(): FrameEvent | null {
    if (this.pending.length % 4 !== 0) return null; // a line cut mid-group cannot be a whole frame yet
    // The first group holds the length: decode the whole frame once, when all of it is in.
    const head = base64Decode(this.pending.slice(0, 4));
    if (head && head.length >= 2) {
      const announced = (head[0] << 8) | head[1];
      if (announced - 2 > this.maxPacket) {
        // length (2) + SMP header (8) are the first 10 bytes: 16 base64 characters, on the first line.
        const first = this.pending.length >= 16 ? base64Decode(this.pending.slice(0, 16)) : null;
        this.collecting = false;
        this.skipping = true;
        this.pending = '';
        return { kind: 'oversize', reason: `the frame announces a ${announced - 2}-byte packet; at most ${this.maxPacket} are taken`, header: first ? first.slice(2, 10) : null, announced: announced - 2 };
      }
      const wanted = Math.ceil((announced + 2) / 3) * 4;
      if (this.pending.length < wanted) return null;
    }
    const body = base64Decode(this.pending);
    if (!body) {
      this.collecting = false;
      return { kind: 'error', reason: 'the frame is not valid base64 (line noise?)' };
    }
    if (body.length < 2) return null;
    const total = (body[0] << 8) | body[1];
    if (body.length - 2 < total) return null; // more lines to come
    this.collecting = false;
    if (body.length - 2 > total || total < 2) return { kind: 'error', reason: `the frame says ${total} bytes but carries ${body.length - 2}` };
    const packet = body.subarray(2, 2 + total - 2);
    const crc = (body[total] << 8) | body[total + 1];
    if (crc16Xmodem(packet) !== crc) return { kind: 'error', reason: 'the frame fails its CRC-16 (line noise?)' };
    return { kind: 'packet', packet: packet.slice() };
  }
}

function ascii(line: number[], from: number): string {
  let s = '';
  for (let i = from; i < line.length; i++) s += String.fromCharCode(line[i]);
  return s;
}
