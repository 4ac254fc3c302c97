// Real image files built by the tests: PNG through zlib with proper chunk
// CRCs, BMP by hand, JPEG with jpeg-js's encoder. Host side only.

import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { crc32 } from '../../bytes/crc32.ts';
import { seededRandom } from '../../simulator/seeded-random.ts';

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out, 0, 4, 8 + data.length));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An RGB (colour type 2, 8-bit) PNG from filtered scanlines (`raw`), deflated at `level`. */
function rgbPng(width: number, height: number, raw: Uint8Array, level: number, comment?: string): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(comment ? [chunk('tEXt', new TextEncoder().encode(`Comment\0${comment}`))] : []),
    chunk('IDAT', new Uint8Array(deflateSync(raw, { level }))),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** An RGB PNG of a gradient, with a text chunk. */
export function makePng(width: number, height: number): Uint8Array {
  const raw = new Uint8Array(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 255) / width;
      raw[row + 2 + x * 3] = (y * 255) / height;
      raw[row + 3 + x * 3] = 128;
    }
  }
  return rgbPng(width, height, raw, 6, 'dl7450 test');
}

/** An RGB PNG of noise stored without compression: about 3 bytes a pixel on disk. */
export function makeNoisePng(width: number, height: number, seed: number): Uint8Array {
  const random = seededRandom(seed + 1);
  const stride = 1 + width * 3;
  const raw = new Uint8Array(height * stride);
  for (let i = 0; i < raw.length; i++) raw[i] = i % stride === 0 ? 0 : (random() * 256) | 0;
  return rgbPng(width, height, raw, 0);
}

/** A 24-bit bottom-up BI_RGB BMP. */
export function makeBmp(width: number, height: number): Uint8Array {
  const rowBytes = Math.floor((24 * width + 31) / 32) * 4;
  const size = 54 + rowBytes * height;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  v.setUint32(2, size, true);
  v.setUint32(10, 54, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, width, true);
  v.setInt32(22, height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, 24, true);
  v.setUint32(34, rowBytes * height, true);
  for (let i = 54; i < size; i++) out[i] = i & 0xff;
  return out;
}

export function makeJpeg(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  return new Uint8Array(jpeg.encode({ data, width, height }, 80).data);
}
