// Engine benchmarks: the shipped bundle's size, boot heap per engine
// (JerryScript 3.0's own byte statistics; QuickJS's allocation units) and
// in-engine operation rates on both engines.

import { join, resolve } from 'node:path';
import { buildFirmware } from '../flash-scripts/toolchain/firmware-build.ts';
import { buildApp } from '../flash-scripts/toolchain/app-build.ts';
import { jerrySnapshot } from '../flash-scripts/toolchain/jerry-snapshot.ts';
import type { BenchLine } from './runtime.ts';

export async function bundleSize(): Promise<BenchLine[]> {
  const fw = await buildFirmware();
  // fw.code is byte for byte what `npm run build` writes to dist/firmware.js (the shipped bytes).
  const app = await buildApp(join(resolve(import.meta.dirname, '..'), 'firmware', 'default-app', 'app.ts'));
  // What a JerryScript dock flashes instead of parsing the source: dist/firmware.snapshot and dist/firmware.literals.
  const image = jerrySnapshot(fw.code);
  const jerry = typeof image === 'string' ? { jerrySnapshotSkipped: image } : { jerrySnapshotBytes: image.snapshot.length, jerryLiteralsBytes: image.literalsBytes, jerryLiteralCount: image.literalCount };
  return [{ bench: 'bundle.size', firmwareBytes: fw.bytes, appBytes: app.bytes, ...jerry, profileViolations: fw.violations.length + app.violations.length, note: 'minified; firmware = IIFE with datastore, images, cbor-x; app = the default app with the SDK modules left to the firmware; jerry* = the static snapshot a JerryScript dock runs in place, and its literal list' }];
}

import { EngineError, EngineHost } from '../simulator/engine/engine-host.ts';
import { JerryHost, jerryUnavailable } from '../simulator/engine/jerryscript/jerry-host.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { FactoryPartition } from '../datastore/factory/factory-partition.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { loadedDock, SERVE_IN_ENGINE } from '../test/support/dock-fixture.ts';
import { median } from './median.ts';

export const HEAP_METHOD =
  "QuickJS's own accounting (JS_ComputeMemoryUsage memory_used_size): allocation units in the wasm build, not bytes, so no byte figure is given; codeUnits = after loading the firmware minus an empty engine; dataUnits = after boot and the operations minus after loading.";
const JERRY_HEAP_METHOD = 'jerry_heap_stats (JerryScript 3.0, 512 KiB heap): allocated and peak bytes, measured in this run; codeHeapBytes = allocated after loading the firmware minus an empty engine';

export async function engineBoot(): Promise<BenchLine[]> {
  const fw = await buildFirmware();
  const dock = loadedDock();
  const walls: number[] = [];
  let line: BenchLine | null = null;
  for (let run = 0; run < 5; run++) {
    const crypto = new NodeCrypto();
    const host = await EngineHost.start({ partitions: { runtime: dock.runtime, factory: dock.factory }, crypto, otp: dock.otp });
    const empty = host.memoryReport().memoryUsedUnits;
    const t0 = performance.now();
    host.eval(fw.code, 'firmware.js');
    const loaded = host.memoryReport().memoryUsedUnits;
    dock.runtime.resetStats();
    dock.factory.resetStats();
    host.eval(SERVE_IN_ENGINE);
    walls.push(performance.now() - t0);
    const flashUs = dock.runtime.stats.timeUs + dock.factory.stats.timeUs + (crypto.flashBytesHashed / 100e6) * 1e6;
    const after = host.memoryReport().memoryUsedUnits;
    line = { bench: 'engine.boot', engine: 'quickjs', keys: dock.keys, imageBytes: dock.imageBytes, heapPeakBytes: null, codeHeapBytes: null, heapUsedUnits: after, codeUnits: loaded - empty, dataUnits: after - loaded, engineFixedUnits: empty, heapMethod: HEAP_METHOD, modelledBootMs: Math.round(flashUs / 100) / 10 };
    host.dispose();
  }
  const out: BenchLine[] = [{ ...line!, wallClockBootMs: Math.round(median(walls)), note: 'boot = evaluate the firmware, mount runtime, verify and mount factory (100 MB/s hardware SHA-256 modelled), serve a get, a set and six tokens; wall clock median of 5' }];
  const skip = jerryUnavailable();
  if (skip) return [...out, { bench: 'engine.boot', engine: 'jerryscript', skipped: skip }];
  for (const keys of [1_000, 10_000, 50_000]) out.push(await jerryBoot(fw.code, keys, 'static-snapshot'));
  // The same boot with the firmware parsed from source, as before the static snapshot: what it saves.
  out.push(await jerryBoot(fw.code, 10_000, 'source'));
  return out;
}

/**
 * One JerryScript boot of the loaded dock with `keys` runtime keys: peak heap in bytes from the engine itself.
 * `load`: the firmware run in place from its static snapshot (as the dock does), or parsed from source.
 */
async function jerryBoot(code: string, keys: number, load: 'static-snapshot' | 'source'): Promise<BenchLine> {
  const dock = loadedDock(keys);
  const options = { partitions: { runtime: dock.runtime, factory: dock.factory }, crypto: new NodeCrypto(), otp: dock.otp };
  // The empty engine's own allocation, measured on a host without the firmware.
  const bare = await JerryHost.start(options);
  const empty = bare.heapStats().allocatedBytes;
  bare.dispose();
  const host = load === 'source' ? await JerryHost.start(options) : await JerryHost.startWithFirmware(options, code);
  if (load === 'source') host.eval(code, 'firmware.js');
  const base = { bench: 'engine.boot', engine: 'jerryscript', load: host.firmwareLoad ?? load, keys, imageBytes: dock.imageBytes, heapMethod: JERRY_HEAP_METHOD };
  try {
    const codeHeapBytes = host.heapStats().allocatedBytes - empty;
    const t0 = performance.now();
    try {
      host.eval(SERVE_IN_ENGINE);
    } catch (e) {
      // A fatal out-of-memory ends the engine; an allocation refused with a RangeError leaves it running.
      const fatal = e instanceof EngineError && e.kind === 'out-of-memory';
      return { ...base, codeHeapBytes, outOfMemory: fatal || /Cannot allocate memory/.test((e as Error).message), fatal, error: (e as Error).message };
    }
    const s = host.heapStats();
    return { ...base, heapPeakBytes: s.peakBytes, heapAfterBytes: s.allocatedBytes, heapSizeBytes: s.sizeBytes, codeHeapBytes, wallClockMs: Math.round(performance.now() - t0) };
  } finally {
    host.dispose();
  }
}

/** Gets, sets and tokens per second inside an engine host on the loaded dock. */
/** `code`: the firmware to evaluate first, or null when the host has it loaded already (JerryScript's snapshot). */
async function opsIn(host: { eval(code: string, filename?: string): unknown; dispose(): void }, code: string | null): Promise<{ get: number; set: number; getToken: number }> {
  if (code !== null) host.eval(code, 'firmware.js');
  host.eval(SERVE_IN_ENGINE);
  const inEngine = (expr: string, n: number) => {
    const t0 = performance.now();
    host.eval(`for (let i = 0; i < ${n}; i++) { ${expr} } 1`);
    return Math.round(n / ((performance.now() - t0) / 1000));
  };
  const rates = { get: inEngine(`kv.get('setting-' + (i % 10000))`, 5000), set: inEngine(`kv.set('setting-' + (i % 100), 'v' + i)`, 2000), getToken: inEngine(`images.getToken('bg1')`, 5000) };
  host.dispose();
  return rates;
}

const JERRY_OPS_NOTE = process.env.DL7450_JERRY_ALL_IN_NODE
  ? 'JerryScript 3.0 in a child process, DL7450_JERRY_ALL_IN_NODE set: every HAL call (each flash read) is a round trip over FIFOs to Node'
  : 'JerryScript 3.0 in a child process: the flash, SHA-256 and signature checks run in its C host (hal-flash.c, hal-crypto.c) on the partition files; the ephemeral area, display and clock are round trips over FIFOs to Node';

export async function engineOps(): Promise<BenchLine[]> {
  const fw = await buildFirmware();
  const dock = loadedDock();
  const engine = await opsIn(await EngineHost.start({ partitions: { runtime: dock.runtime, factory: dock.factory }, crypto: new NodeCrypto(), otp: dock.otp }), fw.code);
  const skip = jerryUnavailable();
  const jerryDock = skip ? null : loadedDock();
  const jerry = jerryDock ? await opsIn(await JerryHost.startWithFirmware({ partitions: { runtime: jerryDock.runtime, factory: jerryDock.factory }, crypto: new NodeCrypto(), otp: jerryDock.otp }, fw.code), null) : null;
  const nodeDock = loadedDock();
  const tiers = new TierSet({ runtime: RuntimeStore.mount(nodeDock.runtime), factory: FactoryPartition.mount(nodeDock.factory, new NodeCrypto(), nodeDock.otp) });
  const kv = new KvStore({ tiers });
  const images = new ImageStore({ tiers });
  const inNode = (op: (i: number) => void, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) op(i);
    return Math.round(n / ((performance.now() - t0) / 1000));
  };
  const node = { get: inNode((i) => kv.get(`setting-${i % 10000}`), 5000), set: inNode((i) => kv.set(`setting-${i % 100}`, `v${i}`), 2000), getToken: inNode(() => images.getToken('bg1'), 5000) };
  return (['get', 'set', 'getToken'] as const).flatMap((op) => [
    { bench: 'engine.ops', engine: 'quickjs', op, enginePerSecond: engine[op], nodePerSecond: node[op], nodeOverEngine: Math.round((node[op] / engine[op]) * 10) / 10 },
    jerry
      ? { bench: 'engine.ops', engine: 'jerryscript', op, enginePerSecond: jerry[op], nodePerSecond: node[op], nodeOverEngine: Math.round((node[op] / jerry[op]) * 10) / 10, note: JERRY_OPS_NOTE }
      : { bench: 'engine.ops', engine: 'jerryscript', op, skipped: skip },
  ]);
}
