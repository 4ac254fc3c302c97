// COBS, Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): rewrites a
// body so it holds no 0x00, leaving 0x00 free to end a frame on the wire.
// Each block is a code byte n followed by n-1 non-zero bytes; a block with
// n < 0xFF stands for those bytes plus one 0x00, except the last block of the
// body. A 0xFF block (254 bytes) implies no zero; when the body ends exactly
// after one, no empty block follows (the smaller of the two common forms;
// decoders accept both). The delimiter is never part of these bytes.

/** The most bytes COBS can turn `n` bytes into (no delimiter). */
export function cobsMaxEncodedLength(n: number): number {
  return n + Math.floor(n / 254) + 1;
}

/**
 * Streaming encoder into a caller-owned buffer, so a frame can be encoded
 * field by field without first building the body (one allocation per frame).
 */
export class CobsWriter {
  private codeAt: number;
  private code = 1;
  private afterFullBlock = false;
  /** Index just past the last byte written. */
  end: number;

  constructor(
    readonly out: Uint8Array,
    start = 0,
  ) {
    this.codeAt = start;
    this.end = start + 1;
  }

  byte(b: number): void {
    this.afterFullBlock = false;
    if (b !== 0) {
      this.out[this.end++] = b;
      if (++this.code !== 0xff) return;
      this.afterFullBlock = true;
    }
    this.out[this.codeAt] = this.code;
    this.code = 1;
    this.codeAt = this.end++;
  }

  bytes(src: Uint8Array, start = 0, end = src.length): void {
    for (let i = start; i < end; i++) this.byte(src[i]);
  }

  /** Close the last block; returns the end index. */
  finish(): number {
    if (this.afterFullBlock) this.end = this.codeAt; // the body ended with a full block: drop the empty one opened after it
    else this.out[this.codeAt] = this.code;
    return this.end;
  }
}

/**
 * Streaming decoder into a caller-owned buffer: feed it the non-zero wire
 * bytes one at a time. A demux uses it to judge a frame (type, length)
 * before its delimiter arrives.
 */
export class CobsReader {
  /** Decoded bytes so far. */
  length = 0;
  private code = 0; // 0: no block yet
  private left = 0;

  constructor(readonly out: Uint8Array) {}

  reset(): void {
    this.length = 0;
    this.code = 0;
    this.left = 0;
  }

  /** False when the byte is 0x00 or the body would overflow `out`: the frame is malformed. */
  push(b: number): boolean {
    if (b === 0) return false;
    if (this.left > 0) {
      if (this.length >= this.out.length) return false;
      this.out[this.length++] = b;
      this.left--;
      return true;
    }
    if (this.code !== 0 && this.code !== 0xff) {
      // a new block follows, so the previous one's implied zero is real
      if (this.length >= this.out.length) return false;
      this.out[this.length++] = 0;
    }
    this.code = b;
    this.left = b - 1;
    return true;
  }

  /** True at a block boundary: a delimiter here ends a well-formed body. */
  get complete(): boolean {
    return this.code !== 0 && this.left === 0;
  }
}

export function cobsEncode(body: Uint8Array, start = 0, end = body.length): Uint8Array {
  const w = new CobsWriter(new Uint8Array(cobsMaxEncodedLength(end - start)));
  w.bytes(body, start, end);
  return w.out.subarray(0, w.finish());
}

/** The body, or null when malformed (a 0x00 inside, a block running past the end, nothing at all). */
export function cobsDecode(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array | null {
  const r = new CobsReader(new Uint8Array(Math.max(0, end - start - 1)));
  for (let i = start; i < end; i++) if (!r.push(bytes[i])) return null;
  return r.complete ? r.out.subarray(0, r.length) : null;
}
