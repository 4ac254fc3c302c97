import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildFirmware } from '../flash-scripts/toolchain/firmware-build.ts';
import { buildApp } from '../flash-scripts/toolchain/app-build.ts';
import { testEngines, type TestEngine } from './support/engines.ts';
import { SimDisplay } from '../simulator/engine/sim-display.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { flashHolding } from './support/factory-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { LmdbEphemeral } from '../simulator/ephemeral/lmdb-ephemeral.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { encodeValue } from '../datastore/value-codec.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { makePng } from './support/image-files.ts';

const KiB = 1024;
const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'dl7450-boot-'));
const firmware = await buildFirmware();
const app = await buildApp(join(root, 'firmware', 'default-app', 'app.ts'));
const keys = generateSigningKeys(join(work, 'keys'));
const background = makePng(120, 68);
mkdirSync(join(work, 'rom'));
writeFileSync(join(work, 'rom', 'bg.png'), background);
writeFileSync(join(work, 'rom', 'app.js'), app.code);
writeFileSync(join(work, 'rom', 'config.yaml'), 'images:\n  default:\n    path: ${CONFIG_PATH}/bg.png\n    type: png\nkv_store:\n  dock_name: "Meeting Room 4"\ncode:\n  path: ${CONFIG_PATH}/app.js\n');
const factoryImage = buildFactoryImage(loadRomStoreConfig(join(work, 'rom', 'config.yaml')), loadPrivateKey(keys.privatePath), { partitionSize: 1024 * KiB }).image;
const otp = SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'boot-test');

function factoryFlash(): SimFlash {
  return flashHolding(factoryImage, 1024 * KiB);
}

interface Booted {
  host: { eval(code: string, filename?: string): unknown; dispose(): void };
  display: SimDisplay;
  report: { runtime: string; factory: string; ephemeral: string; appTier: string | null; failedApps: string[] };
  log: string[];
  eph: LmdbEphemeral;
}

let clock = 1_736_000_000_000;
async function boot(engine: TestEngine, runtime: SimFlash, factory: SimFlash, ephPath: string, fresh = true): Promise<Booted> {
  const log: string[] = [];
  const display = new SimDisplay();
  const eph = LmdbEphemeral.open(ephPath, { fresh, capacityBytes: 8 * 1024 * KiB });
  const host = await engine.start({ partitions: { runtime, factory }, crypto: new NodeCrypto(), otp, ephemeral: eph, display, now: () => clock, log: (l) => log.push(l), watchdogMs: 3000 });
  host.eval(firmware.code, 'firmware.js');
  const report = host.eval('dl7450.boot()', 'boot') as Booted['report'];
  return { host, display, report, log, eph };
}

const dock = suite('the dock boots in the engine');

for (const engine of testEngines('boot tests')) {

  dock(`${engine.name}: boot mounts every tier, runs the factory app, which sets the background through a token, a text box and a timer`, async () => {
    const runtime = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
    const d = await boot(engine, runtime, factoryFlash(), join('/dev/shm', `dl7450-boot-${process.pid}-${engine.name}-a`));
    try {
      assert.match(d.report.runtime, /^mounted/);
      assert.match(d.report.factory, /^verified/, d.report.factory);
      assert.match(d.report.ephemeral, /^attached/);
      assert.is(d.report.appTier, 'factory');
      assert.equal(d.display.background, background, 'the screen shows the factory background');
      assert.ok(d.display.largestChunk <= 4096, 'streamed in pieces, never whole');
      assert.equal([...d.display.textBoxes.values()].map((t) => t.text), ['Meeting Room 4', 'up 0 s']);
      assert.match(d.log.join('\n'), /Meeting Room 4 \(dock [0-9a-f]{12}…\): boot number 1/);
      clock += 1000;
      d.host.eval(`dl7450.runTimers(${clock})`);
      clock += 1000;
      const next = d.host.eval(`dl7450.runTimers(${clock})`) as number;
      assert.equal([...d.display.textBoxes.values()].map((t) => t.text), ['Meeting Room 4', 'up 2 s']);
      assert.is(next, clock + 1000);
    } finally {
      d.host.dispose();
      d.eph.close();
    }
    // The app's write survived in the runtime partition.
    assert.equal(RuntimeStore.mount(runtime).get('kv/boot_count'), encodeValue(1).bytes);
  });

  dock(`${engine.name}: a runtime app that throws at start-up falls back to the factory app`, async () => {
    const runtime = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
    const store = RuntimeStore.format(runtime);
    store.set('code/app', utf8Encode('throw new Error("bad update");'));
    store.unmount();
    const d = await boot(engine, runtime, factoryFlash(), join('/dev/shm', `dl7450-boot-${process.pid}-${engine.name}-b`));
    try {
      assert.equal(d.report.failedApps, ['runtime app failed to start: bad update']);
      assert.is(d.report.appTier, 'factory');
      assert.ok(d.display.background);
    } finally {
      d.host.dispose();
      d.eph.close();
    }
  });

  dock(`${engine.name}: a corrupt factory image: the dock boots, says which check failed, and serves runtime data`, async () => {
    const runtime = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
    const store = RuntimeStore.format(runtime);
    store.set('kv/dock_name', encodeValue('Runtime Name').bytes, { encoding: 1 });
    store.set('code/app', utf8Encode('console.log("runtime app says " + new (require("datastore").KvStore)().get("dock_name"));'));
    store.unmount();
    const factory = factoryFlash();
    factory.flipStoredBit(5000, 1);
    const d = await boot(engine, runtime, factory, join('/dev/shm', `dl7450-boot-${process.pid}-${engine.name}-c`));
    try {
      assert.match(d.report.factory, /^not trusted \(digest\)/);
      assert.is(d.report.appTier, 'runtime');
      assert.ok(d.log.includes('runtime app says Runtime Name'), d.log.join('\n'));
    } finally {
      d.host.dispose();
      d.eph.close();
    }
  });
}

for (const engine of testEngines('watchdog at boot')) dock(`${engine.name}: an app that loops forever is stopped by the watchdog at boot`, async () => {
  const runtime = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
  const store = RuntimeStore.format(runtime);
  store.set('code/app', utf8Encode('for (;;) {}'));
  store.unmount();
  const log: string[] = [];
  const eph = LmdbEphemeral.open(join('/dev/shm', `dl7450-boot-${process.pid}-${engine.name}-d`), { fresh: true });
  const host = await engine.start({ partitions: { runtime, factory: factoryFlash() }, crypto: new NodeCrypto(), otp, ephemeral: eph, log: (l) => log.push(l), watchdogMs: 500 });
  try {
    host.eval(firmware.code, 'firmware.js');
    assert.throws(() => host.eval('dl7450.boot()', 'boot'), /stopped by the watchdog/);
  } finally {
    host.dispose();
    eph.close();
  }
});

dock.after(() => {
  rmSync(work, { recursive: true, force: true });
  for (const s of ['quickjs-a', 'quickjs-b', 'quickjs-c', 'jerryscript-a', 'jerryscript-b', 'jerryscript-c', 'quickjs-d', 'jerryscript-d']) rmSync(join('/dev/shm', `dl7450-boot-${process.pid}-${s}`), { recursive: true, force: true });
});
dock.run();
