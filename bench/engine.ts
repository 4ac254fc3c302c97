// Engine benchmarks (the firmware issue is in progress): bundle size now;
// boot and in-engine operation rates follow with the boot sequence.

import { buildFirmware } from '../flash-scripts/toolchain/firmware-build.ts';
import type { BenchLine } from './runtime.ts';

export async function bundleSize(): Promise<BenchLine[]> {
  const fw = await buildFirmware();
  return [{ bench: 'bundle.size', firmwareBytes: fw.bytes, appBytes: null, profileViolations: fw.violations.length, note: 'minified IIFE for the engine profile (es2020, no private fields, no BigInt); app bundles arrive with dl7450 build' }];
}
