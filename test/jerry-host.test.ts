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
/** The scenario: 10,000 runtime keys and a 12 MiB factory image. */
const KEYS = 10_000;

if (JERRY_SKIP) console.log(`skipped: JerryScript host tests: ${JERRY_SKIP}`);
else {
  const firmware = await buildFirmware();

  jerry('10,000 runtime keys and a 12 MiB factory image: the firmware from its static snapshot boots, serves, pages through every key, 200 subscriptions fire; peak heap at most 400 KiB', async () => {
    const dock = loadedDock(KEYS);
    const options = { partitions: { runtime: dock.runtime, factory: dock.factory }, crypto: new NodeCrypto(), otp: dock.otp, watchdogMs: 120_000 }; // a heap test: the machine's load must not trip the watchdog
    const host = await JerryHost.startWithFirmware(options, firmware.code);
    try {
      assert.is(host.heapStats().sizeBytes, 524_280, 'the kit is the 512 KiB engine');
      assert.is(host.firmwareLoad, 'static-snapshot', host.firmwareNote ?? '');
      const code = host.heapStats().allocatedBytes;
      const served = host.eval(SERVE_IN_ENGINE) as unknown[];
      assert.equal(served.slice(1, 3), ['changed', 6]);
      // The fixture wrote setting-0 … setting-(N-1). The app keeps no list (that is what would not fit):
      // per page it adds up the count, the sum and the sum of squares of the numbers, which for each
      // key exactly once are N, N(N-1)/2 and (N-1)N(2N-1)/6.
      const paged = host.eval(`
        let n = 0, sum = 0, squares = 0, pages = 0, after;
        for (;;) { const page = kv.list({ after, limit: 250 }); if (page.length === 0) break; pages++;
          for (const k of page) if (k.indexOf('setting-') === 0) { const x = Number(k.slice(8)); n++; sum += x; squares += x * x; }
          after = page[page.length - 1]; }
        [n, sum, squares, pages];`) as number[];
      assert.equal(paged.slice(0, 3), [KEYS, (KEYS * (KEYS - 1)) / 2, ((KEYS - 1) * KEYS * (2 * KEYS - 1)) / 6], 'every setting key exactly once');
      const whole = host.eval(`for (let i = 0; i < 1100; i++) kv.set('more-' + i, i); try { kv.list(); 'listed' } catch (e) { e.code }`);
      assert.is(whole, 'list-too-large', 'a whole listing is refused with a typed error, not an out-of-memory');
      const fired = host.eval(`
        let calls = 0; const offs = [];
        for (let i = 0; i < 200; i++) offs.push(kv.subscribe('setting-' + i, () => { calls++; }));
        for (let i = 0; i < 200; i++) kv.set('setting-' + i, 'new ' + i);
        kv.flush(); offs.forEach((f) => f()); calls;`);
      assert.ok((fired as number) >= 200, `${fired} callbacks`);
      // The dock's flash and hashing ran in C (hal-flash.c): nothing of it crossed to Node.
      assert.equal([...host.bridgedCalls.keys()].filter((k) => k.startsWith('flash') || k.startsWith('sha')), [], 'flash and hashing in the C host');
      assert.ok(dock.runtime.stats.programs > 0 && dock.runtime.stats.reads > 0, 'what the C host did is counted on the runtime partition');
      const stats = host.heapStats();
      console.log(`  JerryScript, ${KEYS} keys + 12 MiB factory: peak ${stats.peakBytes} bytes of ${stats.sizeBytes}, firmware loaded ${code} bytes`);
      // The target: at most 400 KiB, leaving 112 KiB for an app.
      assert.ok(stats.peakBytes <= 400 * KiB, `peak ${stats.peakBytes} bytes`);
      // Parsed from source the firmware took about 205 KB of the heap; in place, only what it makes at load.
      assert.ok(code < 96 * KiB, `the firmware holds ${code} bytes of the heap after loading`);
    } finally {
      host.dispose();
    }
  });

  jerry('the dock loop passes the time to the engine as a value: the heap does not grow per tick (a literal in each script would stay in it)', async () => {
    const host = await JerryHost.start({ partitions: {} });
    try {
      host.eval('globalThis.dl7450 = { runTimers: function (now) { return now + 1; } }; 1');
      const t0 = 1_732_900_000_000;
      const grew = (tick: (i: number) => unknown) => {
        for (let i = 0; i < 100; i++) tick(i); // warm up
        const before = host.heapStats().allocatedBytes;
        for (let i = 100; i < 3100; i++) assert.is(tick(i), t0 + i + 1);
        return host.heapStats().allocatedBytes - before;
      };
      const byValue = grew((i) => host.call('runTimers', t0 + i));
      const byLiteral = grew((i) => host.eval(`dl7450.runTimers(${t0 + i})`));
      assert.ok(byValue < 2 * KiB, `3,000 ticks by value grew the heap ${byValue} bytes`);
      assert.ok(byLiteral > 20 * KiB, `3,000 ticks as literals grew it ${byLiteral} bytes (the engine behaviour the loop avoids)`);
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
