// UTF-8, written by hand: the dock's engine has no TextEncoder or TextDecoder.

export function utf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

export function utf8Decode(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  let i = start;
  while (i < end) {
    const b = bytes[i++];
    let c: number;
    if (b < 0x80) c = b;
    else if (b >= 0xc0 && b < 0xe0 && i < end) c = ((b & 31) << 6) | (bytes[i++] & 63);
    else if (b >= 0xe0 && b < 0xf0 && i + 1 < end) {
      c = ((b & 15) << 12) | ((bytes[i] & 63) << 6) | (bytes[i + 1] & 63);
      i += 2;
    } else if (b >= 0xf0 && i + 2 < end) {
      c = ((b & 7) << 18) | ((bytes[i] & 63) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63);
      i += 3;
    } else c = 0xfffd;
    if (c >= 0x10000) {
      c -= 0x10000;
      s += String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
    } else s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Checks that bytes arriving in pieces are well-formed UTF-8 (Unicode table
 * 3-7: no overlong forms, no surrogates, nothing past U+10FFFF), across
 * piece boundaries, without holding them: for text streamed to flash.
 */
export class Utf8Checker {
  /** Continuation bytes still due, and the range the next one must fall in. */
  private due = 0;
  private low = 0x80;
  private high = 0xbf;

  /** False at the first byte that cannot be UTF-8 (the checker is then spent). */
  push(data: Uint8Array): boolean {
    for (let i = 0; i < data.length; i++) {
      const b = data[i];
      if (this.due > 0) {
        if (b < this.low || b > this.high) return false;
        this.due--;
        this.low = 0x80;
        this.high = 0xbf;
      } else if (b >= 0x80) {
        if (b >= 0xc2 && b <= 0xdf) this.due = 1;
        else if (b >= 0xe0 && b <= 0xef) {
          this.due = 2;
          if (b === 0xe0) this.low = 0xa0;
          if (b === 0xed) this.high = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          this.due = 3;
          if (b === 0xf0) this.low = 0x90;
          if (b === 0xf4) this.high = 0x8f;
        } else return false;
      }
    }
    return true;
  }

  /** The bytes so far end on a character boundary. */
  get complete(): boolean {
    return this.due === 0;
  }
}
