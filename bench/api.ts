// Device-API benchmarks in Node: operations per second per tier (median of
// runs, wall clock), heap bytes per operation (V8 heapUsed + ArrayBuffer
// bytes, after gc, averaged: an estimate in Node, not the dock's engine), and
// for tokens the bytes the HAL read to hand one out, which must not grow with
// the image.

import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EphemeralArea } from '../hal/ephemeral.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { LmdbEphemeral } from '../simulator/ephemeral/lmdb-ephemeral.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { FactoryPartition } from '../datastore/factory/factory-partition.ts';
import { TierSet, APPLICATION_DATA, EPHEMERAL_DATA, FACTORY_DATA, type Tier } from '../datastore/tiers/tier-set.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { PNG } from '../images/image-type.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { makeNoisePng } from '../test/support/image-files.ts';
import type { BenchLine } from './runtime.ts';
import { median } from './median.ts';

const MiB = 1024 * 1024;
const IMAGE_BYTES = 8 * MiB;

interface Rig {
  tiers: TierSet;
  factoryFlash: SimFlash;
  runtimeFlash: SimFlash;
  counted: CountingEphemeral;
  close(): void;
}

/** Counts the bytes the ephemeral HAL hands to the script side. */
class CountingEphemeral implements EphemeralArea {
  bytesRead = 0;
  constructor(private readonly inner: LmdbEphemeral) {}
  get capacityBytes() {
    return this.inner.capacityBytes;
  }
  usedBytes() {
    return this.inner.usedBytes();
  }
  get(key: string) {
    const v = this.inner.get(key);
    this.bytesRead += v?.length ?? 0;
    return v;
  }
  info(key: string) {
    const i = this.inner.info(key);
    if (i) this.bytesRead += 16;
    return i;
  }
  readRange(key: string, offset: number, into: Uint8Array) {
    const n = this.inner.readRange(key, offset, into);
    this.bytesRead += n;
    return n;
  }
  put(key: string, value: Uint8Array, encoding: number, writtenAt: number) {
    return this.inner.put(key, value, encoding, writtenAt);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  keys(prefix?: string) {
    return this.inner.keys(prefix);
  }
  clear() {
    this.inner.clear();
  }
}

function rig(): Rig {
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-apibench-'));
  const keys = generateSigningKeys(join(dir, 'keys'));
  mkdirSync(join(dir, 'rom'));
  const big = makeNoisePng(1672, 1672, 1); // ~8 MiB stored PNG
  writeFileSync(join(dir, 'rom', 'big.png'), big);
  writeFileSync(join(dir, 'rom', 'config.yaml'), 'images:\n  big:\n    path: ${CONFIG_PATH}/big.png\n    type: png\nkv_store:\n  dock_name: "Bench Dock"\n');
  const image = buildFactoryImage(loadRomStoreConfig(join(dir, 'rom', 'config.yaml')), loadPrivateKey(keys.privatePath)).image;
  const factoryFlash = new SimFlash({ size: 13 * MiB, sectorSize: 4096, programUnit: 256 });
  const padded = new Uint8Array(Math.ceil(image.length / 256) * 256).fill(0xff);
  padded.set(image);
  factoryFlash.program(0, padded);
  const factory = FactoryPartition.mount(factoryFlash, new NodeCrypto(), SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'bench'));
  const runtimeFlash = new SimFlash({ size: 13 * MiB, sectorSize: 4096, programUnit: 256 });
  const runtime = RuntimeStore.format(runtimeFlash);
  const ephPath = join('/dev/shm', `dl7450-bench-${process.pid}`);
  const eph = LmdbEphemeral.open(ephPath, { fresh: true });
  const counted = new CountingEphemeral(eph);
  const tiers = new TierSet({ runtime, factory, ephemeral: counted });
  new ImageStore({ tiers }).put('big', big, PNG, { tier: EPHEMERAL_DATA });
  return {
    tiers,
    factoryFlash,
    runtimeFlash,
    counted,
    close() {
      eph.close();
      rmSync(ephPath, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function heapNow(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function jsHeapNow(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

function opsPerSecond(n: number, op: (i: number) => void): number {
  const rates: number[] = [];
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) op(i);
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  return Math.round(median(rates));
}

const TIERS: [string, Tier][] = [['ephemeral', EPHEMERAL_DATA], ['runtime', APPLICATION_DATA], ['factory', FACTORY_DATA]];

export function apiGet(): BenchLine[] {
  const r = rig();
  try {
    const kv = new KvStore({ tiers: r.tiers });
    kv.set('setting', 'value-of-a-setting', { tier: EPHEMERAL_DATA });
    kv.set('setting', 'value-of-a-setting');
    return TIERS.map(([name, tier]) => {
      const store = new KvStore({ tiers: r.tiers, tier });
      const key = tier === FACTORY_DATA ? 'dock_name' : 'setting';
      const before = heapNow();
      const keep: unknown[] = [];
      for (let i = 0; i < 10_000; i++) keep.push(store.get(key));
      const heapPerOp = Math.max(0, Math.round((heapNow() - before) / keep.length));
      return { bench: 'api.get', tier: name, opsPerSecond: opsPerSecond(5000, () => store.get(key)), heapBytesPerOp: heapPerOp, note: 'Node wall clock, median of 5 runs; heap = V8 heapUsed + ArrayBuffer bytes retained per result, 10,000 results, after gc (Node estimate)' };
    });
  } finally {
    r.close();
  }
}

export function apiSet(): BenchLine[] {
  const r = rig();
  try {
    return TIERS.filter(([, t]) => t !== FACTORY_DATA).map(([name, tier]) => {
      const store = new KvStore({ tiers: r.tiers, tier });
      const before = heapNow();
      for (let i = 0; i < 1000; i++) store.set(`k${i % 100}`, { n: i, s: 'sixty-four bytes of a typical settings value, more or less.' });
      const heapPerOp = Math.round(Math.max(0, heapNow() - before) / 1000); // retained after gc: the index only
      return { bench: 'api.set', tier: name, durability: 'immediate', opsPerSecond: opsPerSecond(2000, (i) => store.set(`k${i % 100}`, { n: i, s: 'sixty-four bytes of a typical settings value, more or less.' })), heapBytesPerOp: heapPerOp };
    });
  } finally {
    r.close();
  }
}

export function apiToken(): BenchLine[] {
  const r = rig();
  try {
    const out: BenchLine[] = [];
    const tiersMeasured = [['factory', FACTORY_DATA], ['ephemeral', EPHEMERAL_DATA]] as [string, Tier][];
    // Heap per token first, before any 8 MiB copy exists: 10,000 tokens kept alive, V8 heapUsed delta after gc.
    const tokenHeap = new Map<Tier, number>();
    for (const [, tier] of tiersMeasured) {
      const images = new ImageStore({ tiers: r.tiers, tier });
      const before = jsHeapNow();
      const kept: unknown[] = [];
      for (let i = 0; i < 10_000; i++) kept.push(images.getToken('big'));
      tokenHeap.set(tier, Math.max(0, Math.round((jsHeapNow() - before) / kept.length)));
    }
    for (const [name, tier] of tiersMeasured) {
      const images = new ImageStore({ tiers: r.tiers, tier });
      const size = images.info('big')!.size;
      const halRead = () => r.counted.bytesRead + r.factoryFlash.stats.bytesRead;
      r.counted.bytesRead = 0;
      r.factoryFlash.resetStats();
      const token = images.getToken('big');
      const halBytes = halRead();
      const tokenHeapBytes = tokenHeap.get(tier)!;
      // The display streams the image through the token into its own 4 KiB line buffer.
      const chunk = new Uint8Array(4096);
      const streamStart = halRead();
      for (let at = 0; at < size; at += chunk.length) images.readToken(token, at, chunk);
      const streamed = halRead() - streamStart;
      const getStart = halRead();
      const [copy] = images.get('big');
      const gotBytes = halRead() - getStart;
      out.push({
        bench: 'api.token',
        tier: name,
        imageBytes: size,
        halBytesReadPerToken: halBytes,
        tokenBytes: JSON.stringify(token).length,
        tokenHeapBytes,
        streamedThroughToken: streamed,
        // The streaming buffer's size, not a heap measurement: labelled so.
        scriptHeapBytesForStreaming: chunk.length,
        scriptHeapBytesForStreamingAssumed: true,
        getCopiesIntoHeap: Math.round((copy.length / size) * 100) / 100,
        getHalBytesRead: gotBytes,
        note: 'deterministic HAL counts; the token is a 5-field handle; streaming uses one reused 4 KiB buffer, get allocates the image once',
      });
    }
    return out;
  } finally {
    r.close();
  }
}

export const apiBenches: Record<string, () => BenchLine[]> = { 'api.get': apiGet, 'api.set': apiSet, 'api.token': apiToken };
