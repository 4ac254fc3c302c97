import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkImage, headDimensions, ImageInvalidError, sniffImageType } from '../images/image-check.ts';
import { BMP, JPEG, NONE, PNG, imageTypeFromName, type ImageType } from '../images/image-type.ts';
import { crc32 } from '../bytes/crc32.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { makeBmp, makeJpeg, makePng } from './support/image-files.ts';

const samples = resolve(import.meta.dirname, '..', '..', 'shared', 'samples', 'vendor-rom-store');

function reason(bytes: Uint8Array, type: ImageType, name = 'x'): string {
  try {
    checkImage(bytes, type, name);
  } catch (e) {
    if (e instanceof ImageInvalidError) return e.message;
    throw e;
  }
  return 'accepted';
}

const valid = suite('image check: valid files');

valid("the vendor's 1080p PNG backgrounds are PNGs of 1920x1080", () => {
  for (const file of ['NavarroBackground1080p.png', 'NavarroBackground+LogoProg.png', 'NavarroBackgroundBrighton.png']) {
    const info = checkImage(new Uint8Array(readFileSync(join(samples, file))), PNG, file);
    assert.is(info.type, PNG);
    assert.is(`${info.width}x${info.height}`, '1920x1080', file);
    assert.ok(info.bitDepth === 8 || info.bitDepth === 16, file);
  }
});

valid('generated PNG, BMP and JPEG files report their dimensions and depth', () => {
  assert.equal(checkImage(makePng(37, 21), PNG), { type: PNG, width: 37, height: 21, bitDepth: 8, bitsPerPixel: 24 });
  assert.equal(checkImage(makeBmp(33, 17), BMP), { type: BMP, width: 33, height: 17, bitDepth: 8, bitsPerPixel: 24 });
  assert.equal(checkImage(makeJpeg(40, 24), JPEG), { type: JPEG, width: 40, height: 24, bitDepth: 8, bitsPerPixel: 24 });
});

valid('type names from the ROM-store YAML', () => {
  assert.equal(['png', 'BMP', 'jpeg', 'jpg', 'gif'].map(imageTypeFromName), [PNG, BMP, JPEG, JPEG, undefined]);
  assert.is(sniffImageType(makeJpeg(8, 8)), JPEG);
  assert.is(sniffImageType(new Uint8Array([1, 2, 3])), NONE);
});

const invalid = suite('image check: files that are not what they claim');

invalid('a JPEG labelled png is refused, naming the file and what it really is', () => {
  const msg = reason(makeJpeg(16, 16), PNG, 'logo.png');
  assert.match(msg, /^logo\.png: not a valid PNG image: its bytes are a JPEG file; declare it as jpeg/);
  assert.match(reason(makePng(4, 4), BMP), /its bytes are a PNG file/);
  assert.match(reason(new TextEncoder().encode('print("hello")'), PNG), /PNG signature/);
  assert.match(reason(new Uint8Array(0), JPEG), /empty/);
  assert.match(reason(makePng(4, 4), NONE), /NONE cannot be stored/);
});

invalid('a truncated file of each type is refused', () => {
  const png = makePng(30, 30);
  const bmp = makeBmp(30, 30);
  const jpg = makeJpeg(30, 30);
  for (const cut of [9, 30, png.length - 1, png.length - 12]) assert.match(reason(png.subarray(0, cut), PNG), /truncated/, `png cut at ${cut}`);
  for (const cut of [10, 40, bmp.length - 1]) assert.match(reason(bmp.subarray(0, cut), BMP), /truncated|says \d+ bytes/, `bmp cut at ${cut}`);
  for (const cut of [3, 20, jpg.length - 2, jpg.length - 1]) assert.match(reason(jpg.subarray(0, cut), JPEG), /truncated|missing/, `jpeg cut at ${cut}`);
});

invalid('a PNG with a damaged byte fails its chunk CRC; trailing bytes and bad headers are named', () => {
  const png = makePng(20, 20);
  const bad = png.slice();
  bad[60] ^= 0x10; // inside the compressed data
  assert.match(reason(bad, PNG), /fails its CRC/);
  const trailing = new Uint8Array(png.length + 3);
  trailing.set(png);
  assert.match(reason(trailing, PNG), /3 bytes follow the IEND chunk/);
  const depth = png.slice();
  depth[24] = 3; // bit depth 3, then fix the IHDR CRC so only the rule fails
  new DataView(depth.buffer).setUint32(29, crc32(depth, 0, 12, 29));
  assert.match(reason(depth, PNG), /bit depth 3 is not allowed/);
});

invalid('a BMP whose sizes disagree with the file is refused', () => {
  const bmp = makeBmp(10, 10);
  const grown = new Uint8Array(bmp.length + 10);
  grown.set(bmp);
  assert.match(reason(grown, BMP), /header says \d+ bytes, the file has \d+/);
  const wide = bmp.slice();
  new DataView(wide.buffer).setInt32(18, 1000, true);
  assert.match(reason(wide, BMP), /needs \d+ bytes of pixels/);
  const depth = bmp.slice();
  new DataView(depth.buffer).setUint16(28, 7, true);
  assert.match(reason(depth, BMP), /7 bits per pixel/);
});

invalid('a JPEG without a frame, without data, or with bytes after the end is refused', () => {
  assert.match(reason(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), JPEG), /no frame header/);
  const jpg = makeJpeg(16, 16);
  const trailing = new Uint8Array(jpg.length + 2);
  trailing.set(jpg);
  assert.match(reason(trailing, JPEG), /2 bytes follow the end-of-image marker/);
});

invalid('mutated files never crash the checker: every outcome is a result or an ImageInvalidError', () => {
  const random = seededRandom(3);
  const seeds: [Uint8Array, ImageType][] = [[makePng(24, 16), PNG], [makeBmp(24, 16), BMP], [makeJpeg(24, 16), JPEG]];
  let refused = 0;
  let cases = 0;
  for (let i = 0; i < 3000; i++) {
    const [seed, type] = seeds[i % 3];
    const m = seed.slice(0, random() < 0.2 ? Math.floor(random() * seed.length) : seed.length);
    const flips = 1 + Math.floor(random() * 4);
    for (let k = 0; k < flips && m.length > 0; k++) m[Math.floor(random() * m.length)] = Math.floor(random() * 256);
    cases++;
    try {
      const info = checkImage(m, type, `case-${i}`);
      assert.ok(info.width > 0 && info.height > 0);
    } catch (e) {
      if (!(e instanceof ImageInvalidError)) throw new Error(`case ${i}: ${(e as Error).stack}`);
      refused++;
    }
  }
  assert.ok(refused > cases / 3, `${refused} of ${cases} mutated files refused`);
});

valid('headDimensions reads the size from the first bytes as checkImage finds it: PNG, both BMP header layouts, JPEG', () => {
  const core = makeBmp(5, 3);
  // The same picture with the 12-byte OS/2 core header: 16-bit sizes at 18 and 20.
  const os2 = new Uint8Array(26 + (core.length - 54));
  const v = new DataView(os2.buffer);
  os2.set([0x42, 0x4d]);
  v.setUint32(2, os2.length, true);
  v.setUint32(10, 26, true);
  v.setUint32(14, 12, true);
  v.setUint16(18, 5, true);
  v.setUint16(20, 3, true);
  v.setUint16(22, 1, true);
  v.setUint16(24, 24, true);
  os2.set(core.subarray(54), 26);
  // Each file's real size, as its maker wrote it, pinned for both readers (not one reader compared with the other).
  for (const [bytes, type, width, height] of [[makePng(64, 48), PNG, 64, 48], [core, BMP, 5, 3], [os2, BMP, 5, 3], [makeJpeg(40, 24), JPEG, 40, 24]] as [Uint8Array, ImageType, number, number][]) {
    const full = checkImage(bytes, type);
    assert.equal({ width: full.width, height: full.height }, { width, height }, `checkImage, type ${type}`);
    assert.equal(headDimensions(bytes.subarray(0, 1024), type), { width, height }, `headDimensions, type ${type}`);
  }
  assert.is(checkImage(os2, BMP).bitsPerPixel, 24, 'the core header\'s bit count is at offset 24');
  assert.is(headDimensions(makePng(4, 4).subarray(0, 10), PNG), undefined);
});

valid.run();
invalid.run();
