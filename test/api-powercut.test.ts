import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flashHolding } from './support/factory-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { FactoryPartition } from '../datastore/factory/factory-partition.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { makePng } from './support/image-files.ts';
import { apiPowerCutSweep } from './support/api-power-cut-sweep.ts';

const sweep = suite('power cuts through the device API, factory resets included');

sweep('a torn cut at every runtime flash operation of 2,000 API calls: the state before or after the call, factory data always there', () => {
  const work = mkdtempSync(join(tmpdir(), 'dl7450-apicut-'));
  try {
    const keys = generateSigningKeys(join(work, 'keys'));
    mkdirSync(join(work, 'rom'));
    writeFileSync(join(work, 'rom', 'logo.png'), makePng(8, 8));
    writeFileSync(join(work, 'rom', 'config.yaml'), 'images:\n  default:\n    path: ${CONFIG_PATH}/logo.png\n    type: png\nkv_store:\n  dock_name: "Meeting Room 4"\n');
    const image = buildFactoryImage(loadRomStoreConfig(join(work, 'rom', 'config.yaml')), loadPrivateKey(keys.privatePath), { partitionSize: 64 * 1024, perDockCapacity: 4096 }).image;
    const flash = flashHolding(image, 64 * 1024);
    const factory = FactoryPartition.mount(flash, new NodeCrypto(), SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'sweep'));
    const r = apiPowerCutSweep(factory, 2000);
    assert.is(r.violations, 0, r.firstViolations.join('; '));
    assert.is(r.cutPoints, r.flashOperations);
    assert.ok(r.flashOperations > 1500, `${r.flashOperations} cut points`);
    assert.ok(r.factoryResets >= 20, `${r.factoryResets} factory resets in the workload`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

sweep.run();
