// Checks that image bytes really are the type they claim, and reads their
// dimensions. Runs on the dock (no Node APIs) and in the host tools, so the
// factory builder and ImageStore.put refuse the same files for the same
// reasons. Structure is checked in full (PNG chunk CRCs, BMP sizes, JPEG
// marker segments); pixel data is not decoded.

import { crc32 } from '../bytes/crc32.ts';
import { readI32LE, readU16BE, readU16LE, readU32BE, readU32LE } from '../bytes/byte-order.ts';
import { BMP, imageTypeName, JPEG, NONE, PNG, type ImageType } from './image-type.ts';

export interface ImageInfo {
  type: ImageType;
  width: number;
  height: number;
  /** Bits per sample as the format states it (PNG IHDR depth, JPEG precision; BMP: per channel). */
  bitDepth: number;
  bitsPerPixel: number;
}

export class ImageInvalidError extends Error {
  readonly code = 'image-invalid';
  constructor(
    readonly image: string,
    readonly declared: ImageType,
    readonly reason: string,
  ) {
    super(`${image}: not a valid ${imageTypeName(declared).toUpperCase()} image: ${reason}`);
    this.name = 'ImageInvalidError';
  }
}

/** What the first bytes say the image is (NONE if no known signature). */
export function sniffImageType(bytes: Uint8Array): ImageType {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return PNG;
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return BMP;
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return JPEG;
  return NONE;
}

/**
 * Check `bytes` against the declared type and return what it is; throws
 * ImageInvalidError naming `name` and what is wrong. A file of another known
 * type says so ("this is a JPEG").
 */
export function checkImage(bytes: Uint8Array, declared: ImageType, name = 'image'): ImageInfo {
  const fail = (reason: string): never => {
    throw new ImageInvalidError(name, declared, reason);
  };
  const actual = sniffImageType(bytes);
  if (declared === NONE) fail('the type NONE cannot be stored; declare png, bmp or jpeg');
  if (actual !== declared) {
    if (actual !== NONE) fail(`its bytes are a ${imageTypeName(actual).toUpperCase()} file; declare it as ${imageTypeName(actual)}`);
    if (bytes.length === 0) fail('the file is empty');
  }
  if (declared === PNG) return checkPng(bytes, fail);
  if (declared === BMP) return checkBmp(bytes, fail);
  if (declared === JPEG) return checkJpeg(bytes, fail);
  return fail(`unknown image type ${declared}`);
}

type Fail = (reason: string) => never;

/**
 * Width and height from the first bytes of a stored image (one that passed
 * checkImage), without reading the rest: PNG's IHDR, BMP's DIB header (both
 * layouts), a JPEG's frame header if it lies within `head`. undefined when
 * `head` is too short to tell.
 */
export function headDimensions(head: Uint8Array, type: ImageType): { width: number; height: number } | undefined {
  if (type === PNG && head.length >= 24) return { width: readU32BE(head, 16), height: readU32BE(head, 20) };
  if (type === BMP && head.length >= 18) {
    const dib = readU32LE(head, 14);
    if (dib === 12 && head.length >= 22) return { width: readU16LE(head, 18), height: readU16LE(head, 20) };
    if (head.length >= 26) return { width: readI32LE(head, 18), height: Math.abs(readI32LE(head, 22)) };
  }
  if (type === JPEG) {
    for (let at = 2; at + 9 <= head.length && head[at] === 0xff; ) {
      const marker = head[at + 1];
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { width: readU16BE(head, at + 7), height: readU16BE(head, at + 5) };
      at += 2 + readU16BE(head, at + 2);
    }
  }
  return undefined;
}


// ---- PNG (ISO/IEC 15948) -----------------------------------------------------

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
// Allowed bit depths per colour type; samples per pixel.
const PNG_DEPTHS: Record<number, { depths: number[]; channels: number }> = {
  0: { depths: [1, 2, 4, 8, 16], channels: 1 },
  2: { depths: [8, 16], channels: 3 },
  3: { depths: [1, 2, 4, 8], channels: 1 },
  4: { depths: [8, 16], channels: 2 },
  6: { depths: [8, 16], channels: 4 },
};

function chunkName(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

function checkPng(b: Uint8Array, fail: Fail): ImageInfo {
  for (let i = 0; i < 8; i++) if (b[i] !== PNG_SIGNATURE[i]) fail('the PNG signature is missing or damaged');
  let at = 8;
  let info: ImageInfo | null = null;
  let colourType = -1;
  let sawPalette = false;
  let sawData = false;
  let index = 0;
  for (;;) {
    if (at + 12 > b.length) fail(`truncated: ${index === 0 ? 'no IHDR chunk' : 'the file ends before the IEND chunk'}`);
    const length = readU32BE(b, at);
    const type = chunkName(b, at + 4);
    if (!/^[A-Za-z]{4}$/.test(type)) fail(`chunk ${index} at byte ${at} has an invalid type code`);
    if (length > 0x7fffffff || at + 12 + length > b.length) fail(`truncated: chunk ${type} at byte ${at} claims ${length} bytes, the file has ${Math.max(0, b.length - at - 12)} left`);
    const stored = readU32BE(b, at + 8 + length);
    if (crc32(b, 0, at + 4, at + 8 + length) !== stored) fail(`chunk ${type} at byte ${at} fails its CRC (damaged file)`);
    const data = at + 8;
    if (index === 0 && type !== 'IHDR') fail(`the first chunk is ${type}, not IHDR`);
    if (type === 'IHDR') {
      if (index !== 0) fail('a second IHDR chunk');
      if (length !== 13) fail(`IHDR is ${length} bytes, not 13`);
      const width = readU32BE(b, data);
      const height = readU32BE(b, data + 4);
      const depth = b[data + 8];
      colourType = b[data + 9];
      if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) fail(`bad dimensions ${width}x${height}`);
      const rule = PNG_DEPTHS[colourType];
      if (!rule) fail(`colour type ${colourType} does not exist`);
      if (rule.depths.indexOf(depth) < 0) fail(`bit depth ${depth} is not allowed with colour type ${colourType}`);
      if (b[data + 10] !== 0 || b[data + 11] !== 0) fail('unknown compression or filter method');
      if (b[data + 12] > 1) fail(`unknown interlace method ${b[data + 12]}`);
      info = { type: PNG, width, height, bitDepth: depth, bitsPerPixel: depth * rule.channels };
    } else if (type === 'PLTE') {
      if (sawData) fail('PLTE after IDAT');
      if (length === 0 || length % 3 !== 0 || length > 768) fail(`PLTE of ${length} bytes`);
      sawPalette = true;
    } else if (type === 'IDAT') {
      sawData = true;
    } else if (type === 'IEND') {
      if (length !== 0) fail('IEND has data');
      if (at + 12 !== b.length) fail(`${b.length - at - 12} bytes follow the IEND chunk`);
      break;
    } else if ((b[at + 4] & 0x20) === 0) {
      fail(`unknown critical chunk ${type}`);
    }
    at += 12 + length;
    index++;
  }
  if (!sawData) fail('no IDAT chunk (no pixel data)');
  if (colourType === 3 && !sawPalette) fail('a palette image without a PLTE chunk');
  return info!;
}

// ---- BMP (Windows bitmap) ----------------------------------------------------

const DIB_HEADER_SIZES = [12, 40, 52, 56, 108, 124];

function checkBmp(b: Uint8Array, fail: Fail): ImageInfo {
  if (b.length < 26) fail(`truncated: ${b.length} bytes is shorter than a BMP header`);
  if (b[0] !== 0x42 || b[1] !== 0x4d) fail('the BMP signature "BM" is missing');
  const fileSize = readU32LE(b, 2);
  if (fileSize !== b.length) fail(`the header says ${fileSize} bytes, the file has ${b.length}${fileSize > b.length ? ' (truncated)' : ''}`);
  const pixelOffset = readU32LE(b, 10);
  const dibSize = readU32LE(b, 14);
  if (DIB_HEADER_SIZES.indexOf(dibSize) < 0) fail(`unknown DIB header size ${dibSize}`);
  if (14 + dibSize > b.length) fail('truncated inside the DIB header');
  let width: number;
  let height: number;
  let planes: number;
  let bitCount: number;
  let compression = 0;
  if (dibSize === 12) {
    width = readU16LE(b, 18);
    height = readU16LE(b, 20);
    planes = readU16LE(b, 22);
    bitCount = readU16LE(b, 24);
  } else {
    width = readI32LE(b, 18);
    height = readI32LE(b, 22);
    planes = readU16LE(b, 26);
    bitCount = readU16LE(b, 28);
    compression = readU32LE(b, 30);
  }
  if (planes !== 1) fail(`${planes} colour planes (must be 1)`);
  if ([1, 4, 8, 16, 24, 32].indexOf(bitCount) < 0) fail(`${bitCount} bits per pixel is not a BMP depth`);
  if (width <= 0 || height === 0) fail(`bad dimensions ${width}x${height}`);
  if ([0, 1, 2, 3, 6].indexOf(compression) < 0) fail(`unsupported compression ${compression}`);
  if (compression === 1 && bitCount !== 8) fail('RLE8 compression needs 8 bits per pixel');
  if (compression === 2 && bitCount !== 4) fail('RLE4 compression needs 4 bits per pixel');
  const rows = Math.abs(height);
  if (pixelOffset < 14 + dibSize || pixelOffset > b.length) fail(`the pixel data offset ${pixelOffset} lies outside the file`);
  if (compression === 0 || compression === 3 || compression === 6) {
    const rowBytes = Math.floor((bitCount * width + 31) / 32) * 4;
    const need = rowBytes * rows;
    if (pixelOffset + need > b.length) fail(`truncated: ${width}x${rows} at ${bitCount} bits needs ${need} bytes of pixels, the file has ${b.length - pixelOffset}`);
  }
  const bitDepth = bitCount <= 8 ? bitCount : bitCount === 16 ? 5 : 8;
  return { type: BMP, width, height: rows, bitDepth, bitsPerPixel: bitCount };
}

// ---- JPEG (ITU T.81 / JFIF) ----------------------------------------------------

function checkJpeg(b: Uint8Array, fail: Fail): ImageInfo {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) fail('the JPEG start-of-image marker is missing');
  let at = 2;
  let info: ImageInfo | null = null;
  let scans = 0;
  for (;;) {
    if (at >= b.length) fail('truncated: the file ends before the end-of-image marker');
    if (b[at] !== 0xff) fail(`expected a marker at byte ${at}`);
    while (at < b.length && b[at] === 0xff) at++; // fill bytes
    if (at >= b.length) fail('truncated: the file ends inside a marker');
    const marker = b[at++];
    if (marker === 0xd9) {
      if (!info) fail('no frame header (SOF)');
      if (scans === 0) fail('no scan (SOS): no image data');
      if (at !== b.length) fail(`${b.length - at} bytes follow the end-of-image marker`);
      return info!;
    }
    if (marker === 0xd8) fail(`a second start-of-image marker at byte ${at - 2}`);
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (marker === 0x00) fail(`a stray 0xFF00 at byte ${at - 2}`);
    if (at + 2 > b.length) fail('truncated inside a marker segment');
    const length = readU16BE(b, at);
    if (length < 2 || at + length > b.length) fail(`truncated: segment 0xFF${marker.toString(16).toUpperCase()} at byte ${at - 2} claims ${length} bytes`);
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (info) fail('a second frame header (SOF)');
      if (length < 8) fail('a frame header too short');
      const precision = b[at + 2];
      const height = readU16BE(b, at + 3);
      const width = readU16BE(b, at + 5);
      const components = b[at + 7];
      if ([8, 12, 16].indexOf(precision) < 0) fail(`sample precision ${precision}`);
      if (width === 0 || height === 0) fail(`bad dimensions ${width}x${height}`);
      if (components < 1 || components > 4 || length !== 8 + 3 * components) fail(`a frame header with ${components} components and length ${length}`);
      info = { type: JPEG, width, height, bitDepth: precision, bitsPerPixel: precision * components };
    }
    at += length;
    if (marker === 0xda) {
      if (!info) fail('a scan (SOS) before the frame header');
      scans++;
      // Entropy-coded data: runs to the next marker that is not a stuffed 0xFF00 or a restart.
      for (;;) {
        if (at + 1 >= b.length) fail('truncated: the file ends inside the image data');
        if (b[at] === 0xff) {
          const next = b[at + 1];
          if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) {
            at += 2;
            continue;
          }
          if (next === 0xff) {
            at++;
            continue;
          }
          break;
        }
        at++;
      }
    }
  }
}
