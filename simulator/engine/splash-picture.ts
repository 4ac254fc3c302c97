// What the simulated dock's screen shows, as a PNG for people to look at:
// the background image decoded (PNG, BMP or JPEG) at the panel's resolution,
// and every text box drawn at its position in a real font. The dock's SDK
// names no panel size; the simulator's panel is 480 x 272 (a common 4.3"
// module): a larger background is cropped, a smaller one sits top-left on
// black, as the firmware draws it.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PNG as PngCodec } from 'pngjs';
import jpeg from 'jpeg-js';
import * as PImage from 'pureimage';
import { BMP, JPEG, PNG } from '../../images/image-type.ts';

export const PANEL = { width: 480, height: 272 };
const FONT_FAMILY = 'DL7450 Sim';
const FONT_PX = 20;

export interface SplashText {
  text: string;
  x: number;
  y: number;
}

let fontLoaded = false;
function loadFont(): void {
  if (fontLoaded) return;
  const require = createRequire(import.meta.url);
  const ttf = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSans.ttf');
  PImage.registerFont(ttf, FONT_FAMILY).loadSync();
  fontLoaded = true;
}

/** RGBA pixels of an image, or null when its bytes do not decode (the screen then shows black). */
function decode(bytes: Uint8Array, type: number): { width: number; height: number; rgba: Uint8Array } | null {
  try {
    if (type === PNG) {
      const p = PngCodec.sync.read(Buffer.from(bytes));
      return { width: p.width, height: p.height, rgba: new Uint8Array(p.data) };
    }
    if (type === JPEG) {
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 256 });
      return { width: j.width, height: j.height, rgba: j.data };
    }
    if (type === BMP) {
      const bmp = createRequire(import.meta.url)('bmp-js') as { decode(b: Buffer): { width: number; height: number; data: Buffer } };
      const b = bmp.decode(Buffer.from(bytes));
      // bmp-js gives ABGR: reorder to RGBA.
      const rgba = new Uint8Array(b.width * b.height * 4);
      for (let i = 0; i < rgba.length; i += 4) {
        rgba[i] = b.data[i + 3];
        rgba[i + 1] = b.data[i + 2];
        rgba[i + 2] = b.data[i + 1];
        rgba[i + 3] = 255;
      }
      return { width: b.width, height: b.height, rgba };
    }
  } catch {
    return null;
  }
  return null;
}

/** The panel as a PNG file's bytes. */
export function renderSplash(background: { bytes: Uint8Array; type: number } | null, texts: SplashText[]): Uint8Array {
  const { width, height } = PANEL;
  const canvas = PImage.make(width, height);
  const pixels = canvas.data as unknown as Uint8Array;
  for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255; // opaque black
  const image = background ? decode(background.bytes, background.type) : null;
  if (image) {
    const w = Math.min(width, image.width);
    const h = Math.min(height, image.height);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = (y * image.width + x) * 4;
        const d = (y * width + x) * 4;
        const a = image.rgba[s + 3] / 255;
        pixels[d] = image.rgba[s] * a;
        pixels[d + 1] = image.rgba[s + 1] * a;
        pixels[d + 2] = image.rgba[s + 2] * a;
      }
    }
  }
  if (texts.length) {
    loadFont();
    const ctx = canvas.getContext('2d');
    ctx.font = `${FONT_PX}px '${FONT_FAMILY}'`;
    ctx.fillStyle = '#ffffff';
    // A text box's (x, y) is its top-left corner; fillText takes the baseline.
    for (const t of texts) ctx.fillText(t.text, t.x, t.y + FONT_PX);
  }
  const png = new PngCodec({ width, height });
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  return new Uint8Array(PngCodec.sync.write(png));
}
