import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFirmware } from '../flash-scripts/toolchain/firmware-build.ts';
import { JerryHost } from '../simulator/engine/jerryscript/jerry-host.ts';
import { EngineError } from '../simulator/engine/engine-host.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { loadedDock, SERVE_IN_ENGINE } from './support/dock-fixture.ts';
import { JERRY_SKIP } from './support/engines.ts';

const jerry = suite('the firmware on JerryScript 3.0 (512 KiB heap, native host)');
const KiB = 1024;

if (JERRY_SKIP) console.log(`skipped: JerryScript host tests: ${JERRY_SKIP}`);
else {
  const firmware = await buildFirmware();

  // 1,000 keys keeps npm test in seconds; 10,000 and 50,000 are measured by `npm run bench -- --json engine.boot`.
  jerry('1,000 runtime keys and a 12 MiB factory image: boot, serve, page through every key, 200 subscriptions fire; peak heap within 400 KiB', async () => {
    const dock = loadedDock(1_000);
    const host = await JerryHost.start({ partitions: { runtime: dock.runtime, factory: dock.factory }, crypto: new NodeCrypto(), otp: dock.otp });
    try {
      assert.is(host.heapStats().sizeBytes, 524_280, 'the kit is the 512 KiB engine');
      host.eval(firmware.code, 'firmware.js');
      const code = host.heapStats().allocatedBytes;
      const served = host.eval(SERVE_IN_ENGINE) as unknown[];
      assert.equal(served.slice(1, 3), ['changed', 6]);
      // The fixture wrote setting-0 … setting-999.
      const paged = host.eval(`
        const seen = {}; let n = 0, pages = 0, after;
        for (;;) { const page = kv.list({ after, limit: 250 }); if (page.length === 0) break; pages++;
          for (const k of page) { if (seen[k]) throw new Error('twice: ' + k); seen[k] = 1; if (k.indexOf('setting-') === 0) n++; }
          after = page[page.length - 1]; }
        [n, pages];`) as number[];
      assert.is(paged[0], 1_000, 'every setting key once');
      const whole = host.eval(`for (let i = 0; i < 1100; i++) kv.set('more-' + i, i); try { kv.list(); 'listed' } catch (e) { e.code }`);
      assert.is(whole, 'list-too-large', 'a whole listing is refused with a typed error, not an out-of-memory');
      const fired = host.eval(`
        let calls = 0; const offs = [];
        for (let i = 0; i < 200; i++) offs.push(kv.subscribe('setting-' + i, () => { calls++; }));
        for (let i = 0; i < 200; i++) kv.set('setting-' + i, 'new ' + i);
        kv.flush(); offs.forEach((f) => f()); calls;`);
      assert.ok((fired as number) >= 200, `${fired} callbacks`);
      const stats = host.heapStats();
      console.log(`  JerryScript, 1,000 keys + 12 MiB factory: peak ${stats.peakBytes} bytes of ${stats.sizeBytes}, firmware code ${code} bytes`);
      assert.ok(stats.peakBytes <= 400 * KiB, `peak ${stats.peakBytes} bytes`);
    } finally {
      host.dispose();
    }
  });

  jerry('an out-of-memory in the engine is a typed EngineError, not a hang', async () => {
    const host = await JerryHost.start({ partitions: {} });
    try {
      let err: unknown;
      try {
        host.eval('const a = []; for (;;) a.push("x" + a.length);', 'hog.js');
      } catch (e) {
        err = e;
      }
      assert.instance(err, EngineError);
      assert.is((err as EngineError).kind, 'out-of-memory');
      assert.throws(() => host.eval('1'), /gone/);
    } finally {
      host.dispose();
    }
  });
}

jerry.run();
