// Factory-tier benchmarks: build time of a large config (wall clock, median
// of runs), mount-and-verify cost (flash bytes read, modelled time with a
// stated hardware SHA-256 rate), index heap per item, and a 100,000-case fuzz
// of the reader and the image checker.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { FactoryPartition, FactoryVerificationError } from '../datastore/factory/factory-partition.ts';
import { TRAILER_SIZE } from '../datastore/factory/partition-format.ts';
import { checkImage, ImageInvalidError } from '../images/image-check.ts';
import { BMP, JPEG, PNG, type ImageType } from '../images/image-type.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { makeBmp, makeJpeg, makeNoisePng, makePng } from '../test/support/image-files.ts';
import type { BenchLine } from './runtime.ts';
import { median } from './median.ts';

const KiB = 1024;
/** Hardware SHA-256 throughput assumed for the dock's hash engine (a typical MCU crypto block). */
const HW_SHA256_BYTES_PER_SECOND = 100e6;

function fixture(): { dir: string; config: string; key: string; pub: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-bench-'));
  const keys = generateSigningKeys(join(dir, 'keys'));
  // About 12 MiB: six ~2 MiB PNGs (noise, so they do not compress), plus kv and code.
  const lines = ['images:'];
  for (let i = 0; i < 6; i++) {
    writeFileSync(join(dir, `bg${i}.png`), makeNoisePng(1000, 690, i));
    lines.push(`  bg${i}:`, `    path: \${CONFIG_PATH}/bg${i}.png`, '    type: png');
  }
  lines.push('kv_store:');
  for (let i = 0; i < 200; i++) lines.push(`  setting_${i}: "value ${i}"`);
  writeFileSync(join(dir, 'app.js'), 'x();\n'.repeat(20_000));
  lines.push('code:', '  path: ${CONFIG_PATH}/app.js');
  const config = join(dir, 'config.yaml');
  writeFileSync(config, lines.join('\n') + '\n');
  return { dir, config, key: keys.privatePath, pub: loadPublicKeyRaw(keys.publicPath) };
}

export function factoryBuild(): BenchLine[] {
  const fx = fixture();
  try {
    const key = loadPrivateKey(fx.key);
    const times: number[] = [];
    let built = null as ReturnType<typeof buildFactoryImage> | null;
    for (let run = 0; run < 5; run++) {
      const t0 = performance.now();
      built = buildFactoryImage(loadRomStoreConfig(fx.config), key);
      times.push(performance.now() - t0);
    }
    return [{ bench: 'factory.build', items: built!.items.length, imageBytes: built!.image.length, freeBytes: built!.freeBytes, runs: times.length, medianMs: Math.round(median(times)), note: 'wall clock: load and check the YAML and every image, lay out, SHA-256, sign' }];
  } finally {
    rmSync(fx.dir, { recursive: true, force: true });
  }
}

export function factoryMount(): BenchLine[] {
  const fx = fixture();
  try {
    const built = buildFactoryImage(loadRomStoreConfig(fx.config), loadPrivateKey(fx.key));
    const flash = new SimFlash({ size: 13 * 1024 * KiB, sectorSize: 4 * KiB, programUnit: 256 });
    const padded = new Uint8Array(Math.ceil(built.image.length / 256) * 256).fill(0xff);
    padded.set(built.image);
    flash.program(0, padded);
    const crypto = new NodeCrypto();
    const otp = SimOtp.burn(fx.pub, 'bench');
    flash.resetStats();
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const factory = FactoryPartition.mount(flash, crypto, otp);
    gc?.();
    const heapAfter = process.memoryUsage().heapUsed;
    const readUs = flash.stats.timeUs;
    const hashUs = (crypto.flashBytesHashed / HW_SHA256_BYTES_PER_SECOND) * 1e6;
    const items = factory.items().length;
    return [
      {
        bench: 'factory.mount',
        items,
        signedBytes: built.header.trailerOffset,
        bytesRead: flash.stats.bytesRead,
        modelledMs: Math.round(((readUs + hashUs) / 1000) * 10) / 10,
        hwSha256MBps: HW_SHA256_BYTES_PER_SECOND / 1e6,
        indexHeapBytesPerItem: gc ? Math.round((heapAfter - heapBefore) / items) : null,
        heapMethod: gc ? 'V8 heapUsed delta around mount (after gc), divided by items; includes the manifest decode garbage that survives, so an upper bound' : 'run with node --expose-gc for the heap figure',
      },
    ];
  } finally {
    rmSync(fx.dir, { recursive: true, force: true });
  }
}

/** 100,000 mutated factory images (bit flips, truncation-like zeroing) and 100,000 mutated image files. */
export function factoryFuzz(): BenchLine[] {
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-fuzz-'));
  try {
    const keys = generateSigningKeys(join(dir, 'keys'));
    mkdirSync(join(dir, 'c'));
    writeFileSync(join(dir, 'c', 'i.png'), makePng(8, 8));
    writeFileSync(join(dir, 'c', 'a.js'), 'x();');
    writeFileSync(join(dir, 'c', 'config.yaml'), 'images:\n  i:\n    path: ${CONFIG_PATH}/i.png\n    type: png\nkv_store:\n  k: "v"\ncode:\n  path: ${CONFIG_PATH}/a.js\n');
    const built = buildFactoryImage(loadRomStoreConfig(join(dir, 'c', 'config.yaml')), loadPrivateKey(keys.privatePath), { partitionSize: 64 * KiB, perDockCapacity: 4 * KiB });
    const end = built.header.trailerOffset + TRAILER_SIZE;
    const crypto = new NodeCrypto();
    const otp = SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'fuzz');
    const random = seededRandom(2024);
    const base = built.image;
    let served = 0;
    let refused = 0;
    let readerOther = 0;
    let readerFirstOther: string | undefined;
    const t0 = performance.now();
    for (let i = 0; i < 100_000; i++) {
      const bytes = base.slice();
      const n = 1 + Math.floor(random() * 6);
      // XOR with a non-zero byte: every case really changes the signed bytes.
      for (let k = 0; k < n; k++) bytes[Math.floor(random() * end)] ^= 1 + Math.floor(random() * 255);
      let changed = false;
      for (let k = 0; k < end && !changed; k++) changed = bytes[k] !== base[k];
      if (!changed) bytes[Math.floor(random() * end)] ^= 0x01; // two flips cancelled out
      const flash = { size: 64 * KiB, sectorSize: 4096, programUnit: 256, read: (o: number, into: Uint8Array) => { into.fill(0xff); if (o < bytes.length) into.set(bytes.subarray(o, Math.min(bytes.length, o + into.length))); }, program: () => {}, erase: () => {} };
      try {
        FactoryPartition.mount(flash, crypto, otp);
        served++;
      } catch (e) {
        if (e instanceof FactoryVerificationError) refused++;
        else {
          readerOther++; // counted and reported, not assumed zero
          readerFirstOther ??= `case ${i}: ${(e as Error).message}`;
        }
      }
    }
    const readerMs = performance.now() - t0;
    const seeds: [Uint8Array, ImageType][] = [[makePng(24, 16), PNG], [makeBmp(24, 16), BMP], [makeJpeg(24, 16), JPEG]];
    let imgAccepted = 0;
    let imgOther = 0;
    let imgFirstOther: string | undefined;
    let imgRefused = 0;
    for (let i = 0; i < 100_000; i++) {
      const [seed, type] = seeds[i % 3];
      const m = seed.slice(0, random() < 0.2 ? Math.floor(random() * seed.length) : seed.length);
      const n = 1 + Math.floor(random() * 4);
      for (let k = 0; k < n && m.length > 0; k++) m[Math.floor(random() * m.length)] = (random() * 256) | 0;
      try {
        checkImage(m, type);
        imgAccepted++;
      } catch (e) {
        if (e instanceof ImageInvalidError) imgRefused++;
        else {
          imgOther++;
          imgFirstOther ??= `case ${i}: ${(e as Error).message}`;
        }
      }
    }
    return [
      { bench: 'factory.fuzz', target: 'reader', cases: 100_000, unverifiedServed: served, refused, otherErrors: readerOther, ...(readerFirstOther ? { firstOtherError: readerFirstOther } : {}), ms: Math.round(readerMs) },
      { bench: 'factory.fuzz', target: 'image-check', cases: 100_000, accepted: imgAccepted, refused: imgRefused, otherErrors: imgOther, ...(imgFirstOther ? { firstOtherError: imgFirstOther } : {}), note: 'accepted = mutations in pixel data or ancillary bytes the checker does not decode (JPEG entropy data, BMP pixels)' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const factoryBenches: Record<string, () => BenchLine[]> = {
  'factory.build': factoryBuild,
  'factory.mount': factoryMount,
  'factory.fuzz': factoryFuzz,
};
