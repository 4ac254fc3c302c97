// A loaded dock for heap tests and engine benchmarks: a runtime partition with
// 10,000 keys and a signed factory partition with 12 MiB of images (six
// ~2 MiB PNGs), plus the OTP that trusts it.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimFlash } from '../../simulator/flash/sim-flash.ts';
import { SimOtp } from '../../simulator/security/sim-otp.ts';
import { RuntimeStore } from '../../datastore/runtime/runtime-store.ts';
import { encodeValue } from '../../datastore/value-codec.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../../flash-scripts/romstore/factory-image-builder.ts';
import { writeNoiseRomStore } from './noise-rom-store.ts';
import { flashHolding } from './factory-flash.ts';

const MiB = 1024 * 1024;

export interface LoadedDock {
  runtime: SimFlash;
  factory: SimFlash;
  otp: SimOtp;
  keys: number;
  imageBytes: number;
}

export function loadedDock(keys = 10_000): LoadedDock {
  const runtime = new SimFlash({ size: 13 * MiB, sectorSize: 4096, programUnit: 256 });
  const store = RuntimeStore.format(runtime, { durability: 'batched', batchSize: 64 });
  for (let k = 0; k < keys; k++) store.set(`kv/setting-${k}`, encodeValue(`value number ${k}`).bytes, { encoding: 1 });
  store.unmount();
  const work = mkdtempSync(join(tmpdir(), 'dl7450-dock-fixture-'));
  try {
    const signing = generateSigningKeys(join(work, 'keys'));
    const { config, imageBytes } = writeNoiseRomStore(work, 12);
    const image = buildFactoryImage(loadRomStoreConfig(config), loadPrivateKey(signing.privatePath)).image;
    const factory = flashHolding(image, 13 * MiB);
    return { runtime, factory, otp: SimOtp.burn(loadPublicKeyRaw(signing.publicPath), 'loaded-dock'), keys, imageBytes };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Engine code that installs both tiers and serves get, set and getToken; returns a summary array. */
export const SERVE_IN_ENGINE = `
  globalThis.tiers = dl7450.Datastore.install({
    runtime: dl7450.RuntimeStore.mount(new dl7450.HostFlash('runtime')),
    factory: dl7450.FactoryPartition.mount(new dl7450.HostFlash('factory'), new dl7450.HostCrypto(), new dl7450.HostOtp()),
  });
  globalThis.kv = new dl7450.KvStore();
  kv.set('setting-5', 'changed');
  globalThis.images = new dl7450.ImageStore();
  let total = 0;
  for (const tag of images.list()) total += images.getToken(tag).size;
  [kv.get('setting-9999'), kv.get('setting-5'), images.list().length, total, tiers.runtime.size];
`;
