// Engine benchmarks (the firmware issue is in progress): bundle sizes now;
// boot and in-engine operation rates follow.

import { join, resolve } from 'node:path';
import { buildFirmware } from '../flash-scripts/toolchain/firmware-build.ts';
import { buildApp } from '../flash-scripts/toolchain/app-build.ts';
import type { BenchLine } from './runtime.ts';

export async function bundleSize(): Promise<BenchLine[]> {
  const fw = await buildFirmware();
  const app = await buildApp(join(resolve(import.meta.dirname, '..'), 'firmware', 'default-app', 'app.ts'));
  return [{ bench: 'bundle.size', firmwareBytes: fw.bytes, appBytes: app.bytes, profileViolations: fw.violations.length + app.violations.length, note: 'minified; firmware = IIFE with datastore, images, cbor-x; app = the default app with the SDK modules left to the firmware' }];
}

import { EngineHost } from '../simulator/engine/engine-host.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { encodeValue } from '../datastore/value-codec.ts';
import { PNG } from '../images/image-type.ts';
import { makeNoisePng } from '../test/support/image-files.ts';

const MiB = 1024 * 1024;
export const HEAP_METHOD =
  "QuickJS's own accounting (JS_ComputeMemoryUsage memory_used_size), checked here against known allocations: a 1 MiB Uint8Array adds 1,048,896 (+0.03 %), 10,000 two-field objects add 72 B each; error bar about ±1 % plus the engine's fixed overhead. codeBytes = after loading the firmware minus an empty engine; dataBytes = after boot and the operations minus after loading.";

/** A runtime partition with 10,000 keys and two 2 MiB images (the largest a 13 MiB runtime tier can keep movable). */
function loadedPartition(): SimFlash {
  const flash = new SimFlash({ size: 13 * MiB, sectorSize: 4096, programUnit: 256 });
  const store = RuntimeStore.format(flash, { durability: 'batched', batchSize: 64 });
  for (let k = 0; k < 10_000; k++) store.set(`kv/setting-${k}`, encodeValue(`value number ${k}`).bytes, { encoding: 1 });
  for (let i = 0; i < 2; i++) store.set(`img/bg${i}`, makeNoisePng(836, 836, i), { encoding: PNG });
  store.unmount();
  return flash;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function engineBoot(): Promise<BenchLine[]> {
  const fw = await buildFirmware();
  const flash = loadedPartition();
  const walls: number[] = [];
  let line: BenchLine | null = null;
  for (let run = 0; run < 5; run++) {
    const host = await EngineHost.start({ partitions: { runtime: flash } });
    const empty = host.memoryReport().memoryUsedUnits;
    const t0 = performance.now();
    host.eval(fw.code, 'firmware.js');
    const loaded = host.memoryReport().memoryUsedUnits;
    flash.resetStats();
    host.eval(`globalThis.tiers = dl7450.Datastore.install({ runtime: dl7450.RuntimeStore.mount(new dl7450.HostFlash('runtime')) }); 1`);
    walls.push(performance.now() - t0);
    const mountUs = flash.stats.timeUs;
    host.eval(`const kv = new dl7450.KvStore(); kv.get('setting-77'); kv.set('setting-5', 'changed'); new dl7450.ImageStore().getToken('bg1'); 1`);
    const after = host.memoryReport().memoryUsedUnits;
    const imageBytes = host.eval(`new dl7450.ImageStore().info('bg0').size + new dl7450.ImageStore().info('bg1').size`) as number;
    line = { bench: 'engine.boot', keys: 10_002, imageBytes, heapUsedBytes: after, codeBytes: loaded - empty, dataBytes: after - loaded, heapMethod: HEAP_METHOD, modelledMountMs: Math.round(mountUs / 10) / 100, engineFixedBytes: empty };
    host.dispose();
  }
  return [{ ...line!, wallClockBootMs: Math.round(median(walls)), note: 'boot = evaluate the firmware bundle and mount the runtime partition; wall clock median of 5' }];
}

export async function engineOps(): Promise<BenchLine[]> {
  const fw = await buildFirmware();
  const flash = loadedPartition();
  const host = await EngineHost.start({ partitions: { runtime: flash } });
  host.eval(fw.code, 'firmware.js');
  host.eval(`globalThis.tiers = dl7450.Datastore.install({ runtime: dl7450.RuntimeStore.mount(new dl7450.HostFlash('runtime')) }); globalThis.kv = new dl7450.KvStore(); globalThis.images = new dl7450.ImageStore(); 1`);
  const inEngine = (expr: string, n: number) => {
    const t0 = performance.now();
    host.eval(`for (let i = 0; i < ${n}; i++) { ${expr} } 1`);
    return Math.round(n / ((performance.now() - t0) / 1000));
  };
  const engine = { get: inEngine(`kv.get('setting-' + (i % 10000))`, 5000), set: inEngine(`kv.set('setting-' + (i % 100), 'v' + i)`, 2000), getToken: inEngine(`images.getToken('bg1')`, 5000) };
  host.dispose();
  const nodeFlash = loadedPartition();
  const tiers = new TierSet({ runtime: RuntimeStore.mount(nodeFlash) });
  const kv = new KvStore({ tiers });
  const images = new ImageStore({ tiers });
  const inNode = (op: (i: number) => void, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) op(i);
    return Math.round(n / ((performance.now() - t0) / 1000));
  };
  const node = { get: inNode((i) => kv.get(`setting-${i % 10000}`), 5000), set: inNode((i) => kv.set(`setting-${i % 100}`, `v${i}`), 2000), getToken: inNode(() => images.getToken('bg1'), 5000) };
  return (['get', 'set', 'getToken'] as const).map((op) => ({ bench: 'engine.ops', op, enginePerSecond: engine[op], nodePerSecond: node[op], nodeOverEngine: Math.round((node[op] / engine[op]) * 10) / 10 }));
}
