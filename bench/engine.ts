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
