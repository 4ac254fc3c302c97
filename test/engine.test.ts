import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFirmware } from '../flash-scripts/toolchain/firmware-build.ts';
import { build } from 'esbuild';
import { checkEngineProfile, checkShippedSyntax, parenthesiseArrowParams } from '../flash-scripts/toolchain/engine-profile.ts';
import { EngineError, EngineHost } from '../simulator/engine/engine-host.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { encodeValue } from '../datastore/value-codec.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { loadedDock, SERVE_IN_ENGINE } from './support/dock-fixture.ts';

const firmware = await buildFirmware();
const engine = suite('firmware bundle in the embedded engine (QuickJS)');

engine('the bundle stays inside the engine profile; the checker catches what would not run', () => {
  assert.equal(firmware.violations, []);
  // 200 KiB until format v3; it carries v2 too while v2 partitions are in the field (about 43 KB minified).
  assert.ok(firmware.bytes < 240 * 1024, `${firmware.bytes} bytes`);
  const bad = ['// datastore/x.ts', 'const r = new RegExp("(?<year>\\\\d+)", "u");', 'list.findLast((x) => x);', 'new TextEncoder().encode(s);', '// node_modules/lib/index.js', 'if (typeof TextEncoder !== "undefined") e = new TextEncoder();', 'let n = 10n;'].join('\n');
  const rules = checkEngineProfile(bad).map((v) => v.rule);
  assert.ok(rules.some((r) => /regex/.test(r)), 'runtime RegExp from an unsupported literal');
  assert.ok(rules.includes('Array findLast'));
  assert.is(rules.filter((r) => /TextEncoder/.test(r)).length, 1, 'only our own code is held to library rules');
  assert.ok(rules.includes('a BigInt literal'), 'syntax rules apply to packages too');
});

engine('the arrow JerryScript 3.0 refuses is parenthesised in the shipped (minified) bytes and refused by the check; the firmware has none', async () => {
  // What esbuild's minifier writes when arrows are kept: `({ f: (r) => … })` becomes `({f:r=>…})`.
  const src = 'export const m = () => ({ f: (key) => key + 1, g: 2 });';
  const opts = { stdin: { contents: src, loader: 'ts' as const }, bundle: true, write: false, minify: true, format: 'iife' as const, target: 'es2020' };
  const kept = (await build(opts)).outputFiles![0].text;
  assert.ok(/\bf:\w=>/.test(kept), `esbuild still writes the bare arrow: ${kept}`);
  assert.is(checkShippedSyntax(kept).length, 1, 'the rule refuses it');
  assert.is(checkShippedSyntax('x=({f:(r)=>1,g:function(r){return r}});').length, 0, 'parenthesised arrows pass');
  const fixed = parenthesiseArrowParams(kept);
  assert.is(checkShippedSyntax(fixed).length, 0, `the post-pass leaves none: ${fixed}`);
  assert.is(fixed.length, kept.length + 2);
  const inString = 'x=({f:r=>1});y="{a:b=>c}";';
  const column = inString.indexOf('{a:b') + 1;
  assert.throws(() => parenthesiseArrowParams(inString), new RegExp(`would change the program at line 1, column ${column} of the bundle`), 'a match inside a string is refused, not rewritten, and located');
  assert.equal(checkShippedSyntax(firmware.code), []);
});

async function boot(flash: SimFlash, log: string[] = []): Promise<EngineHost> {
  const host = await EngineHost.start({ partitions: { runtime: flash }, watchdogMs: 1500, now: () => 1_736_000_000_000, log: (l) => log.push(l) });
  host.eval(firmware.code, 'firmware.js');
  return host;
}

engine('the datastore runs on target: writes inside the engine read back in Node, and the other way round', async () => {
  const flash = new SimFlash({ size: 128 * 1024, sectorSize: 4096, programUnit: 16 });
  const host = await boot(flash);
  try {
    const out = host.eval(`
      const tiers = dl7450.Datastore.install({ runtime: dl7450.RuntimeStore.open(new dl7450.HostFlash('runtime'), { clock: dl7450.hostClock }) });
      const kv = new dl7450.KvStore();
      kv.set('token', { access: 'abc', exp: 1736 });
      for (let i = 0; i < 300; i++) kv.set('k' + (i % 30), 'value ' + i);
      [kv.get('token').access, kv.get('missing'), kv.list().length, kv.info('token').writtenAt];
    `) as unknown[];
    assert.equal(out, ['abc', '', 31, 1_736_000_000]);
    host.eval(`tiers.runtime.unmount();`);
    const node = RuntimeStore.mount(flash);
    assert.is(node.keys().length, 31);
    assert.equal(node.get('kv/k29'), encodeValue('value 299').bytes);
    node.set('kv/from-node', encodeValue('hello engine').bytes, { encoding: 1 });
    node.unmount();
    assert.is(host.eval(`new dl7450.KvStore({ tiers: new dl7450.TierSet({ runtime: dl7450.RuntimeStore.mount(new dl7450.HostFlash('runtime')) }) }).get('from-node')`), 'hello engine');
  } finally {
    host.dispose();
  }
});

engine('flash faults cross the boundary as FlashError; programs from a view send exactly its bytes', async () => {
  const flash = new SimFlash({ size: 64 * 1024, sectorSize: 4096, programUnit: 16 });
  const host = await boot(flash);
  try {
    host.eval(`
      const f = new dl7450.HostFlash('runtime');
      const big = new Uint8Array(64);
      for (let i = 0; i < 64; i++) big[i] = i;
      f.program(4096, big.subarray(16, 32)); // a view into the middle of a buffer
    `);
    const got = new Uint8Array(16);
    flash.read(4096, got);
    assert.equal([...got], Array.from({ length: 16 }, (_, i) => i + 16));
    flash.armPowerCut({ atOp: flash.opCount, effect: 'clean' });
    const code = host.eval(`
      let code = 'none';
      try { f.erase(2); } catch (e) { code = e.name + ':' + e.code; }
      code;
    `);
    assert.is(code, 'FlashError:power-loss');
  } finally {
    host.dispose();
  }
});

engine('an app that loops forever is stopped by the watchdog with a clear message; the engine stays usable', async () => {
  const host = await boot(new SimFlash({ size: 64 * 1024, sectorSize: 4096, programUnit: 16 }));
  try {
    let err: unknown;
    try {
      host.eval('while (true) {}', 'app.js');
    } catch (e) {
      err = e;
    }
    assert.instance(err, EngineError);
    assert.is((err as EngineError).kind, 'watchdog');
    assert.match((err as Error).message, /stopped by the watchdog \(app\.js\)/);
    assert.is(host.eval('1 + 1'), 2);
  } finally {
    host.dispose();
  }
});

engine('heap: 10,000 keys and 12 MiB of images (factory) served within 512 KiB of engine data heap, by a calibrated byte measure', async () => {
  const dock = loadedDock();
  const host = await EngineHost.start({ partitions: { runtime: dock.runtime, factory: dock.factory }, crypto: new NodeCrypto(), otp: dock.otp });
  try {
    host.eval(firmware.code, 'firmware.js');
    // Calibrate: the engine's figure must track bytes (a known 1 MiB allocation).
    const before = host.memoryReport().memoryUsedUnits;
    host.eval('globalThis.probe = new Uint8Array(1048576); 1');
    const grew = host.memoryReport().memoryUsedUnits - before;
    assert.ok(Math.abs(grew - 1048576) < 1048576 * 0.01, `a 1 MiB array measured as ${grew}`);
    host.eval('globalThis.probe = null; 1');
    const loaded = host.memoryReport().memoryUsedUnits;
    const out = host.eval(SERVE_IN_ENGINE) as unknown[];
    assert.equal(out.slice(0, 3), ['value number 9999', 'changed', 6]);
    assert.ok((out[3] as number) > 12 * 1024 * 1024, `${out[3]} bytes of images`);
    const data = host.memoryReport().memoryUsedUnits - loaded;
    assert.ok(data < 512 * 1024, `${data} bytes of data heap`);
  } finally {
    host.dispose();
  }
});

engine.run();
