// The app's life on the dock: a factory reset stops it and starts the factory
// app (over the link while the app writes every 10 ms, and at every power-cut
// point of the reset); CodeStore.info() describes the running app and why it
// runs; durability per handle and per write from inside the engine.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32 } from 'node:zlib';
import { testEngines } from './support/engines.ts';
import { bootAppDock, factoryRom } from './support/app-dock.ts';
import { makePng } from './support/image-files.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { FlashError } from '../hal/flash.ts';

const KiB = 1024;
const GROUP_DOCK = 64;
const FACTORY_RESET = 5;
const RESTART_APP = 0;
const KV_LIST = 7;

const FACTORY_APP = `
var ds = require('datastore');
var kv = new ds.KvStore();
kv.set('factory_started', (Number(kv.get('factory_started')) || 0) + 1);
var info = new ds.CodeStore().info();
console.log('factory app ' + JSON.stringify(info));
require('splashscreen').Splashscreen.addTextBox('factory', 0, 0);
`;
/** Writes old-<n> every 10 ms and subscribes to its own keys. */
const OLD_APP = `
var ds = require('datastore');
var kv = new ds.KvStore();
var n = 0;
kv.subscribe('old-', function (key) { console.log('heard ' + key); });
require('splashscreen').Splashscreen.addTextBox('old app', 0, 20);
require('wakeup').wakeup(function () { kv.set('old-' + (n++), n); }, 10, 10);
`;

const rom = factoryRom({ app: FACTORY_APP, config: 'images:\n  default:\n    path: ${CONFIG_PATH}/bg.png\n    type: png\nkv_store:\n  dock_name: "Lobby"\n', files: { 'bg.png': makePng(8, 8) } });

/** A factory app with a 10 ms repeating timer. */
const tickingRom = factoryRom({ app: `require('wakeup').wakeup(function () { console.log('factory tick'); }, 10, 10);`, config: 'images:\n  default:\n    path: ${CONFIG_PATH}/bg.png\n    type: png\n', files: { 'bg.png': makePng(8, 8) } });

function runtimeWith(app: string): SimFlash {
  const runtime = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
  const store = RuntimeStore.format(runtime);
  store.set('code/app', utf8Encode(app));
  store.unmount();
  return runtime;
}

function runtimeKeys(flash: SimFlash): string[] {
  return RuntimeStore.mount(flash).keys().sort();
}

/** A factory app that needs no runtime write to start: it says where it runs and what a runtime write gets. */
const plainFactoryRom = factoryRom({
  app: `
var ds = require('datastore');
var kv = new ds.KvStore();
console.log('factory app ' + JSON.stringify(new ds.CodeStore().info()) + ' name ' + kv.get('dock_name'));
try { kv.set('probe', 1); console.log('runtime write ok'); } catch (e) { console.log('runtime write refused: ' + e.name + ' ' + e.code); }
require('splashscreen').Splashscreen.addTextBox('factory', 0, 0);
`,
  config: 'images:\n  default:\n    path: ${CONFIG_PATH}/bg.png\n    type: png\nkv_store:\n  dock_name: "Lobby"\n',
  files: { 'bg.png': makePng(8, 8) },
});

/** Every runtime sector's next erase fails (worn out), as a failing flash part would. */
function failNextErases(flash: SimFlash): void {
  const counts = flash.wear().counts;
  for (let s = 0; s < flash.sectorCount; s++) flash.setSectorEndurance(s, counts[s]);
}

const life = suite('the app on the dock: factory reset, running code, durability');

for (const engine of testEngines('app lifecycle')) {
  life(`${engine.name}: factory reset over the link while the app writes every 10 ms: the factory app runs, no key, timer or subscription of the old app is left`, async () => {
    const runtime = runtimeWith(OLD_APP);
    const dock = await bootAppDock(engine, rom, { runtime });
    try {
      assert.is(dock.report.appTier, 'runtime');
      dock.idle(205);
      const written = runtimeKeys(runtime).filter((k) => k.startsWith('kv/old-')).length;
      assert.ok(written >= 19, `${written} keys written by the old app`);
      assert.ok(dock.log.some((l) => l.line.startsWith('heard old-')), 'its subscription works before the reset');
      const resetAt = dock.log.length;
      assert.equal(dock.smp(GROUP_DOCK, FACTORY_RESET), {});
      dock.idle(500);
      const after = dock.log.slice(resetAt).map((l) => l.line);
      assert.ok(after.some((l) => l.startsWith('factory app ')), after.join('\n'));
      assert.not.ok(after.some((l) => l.startsWith('heard ')), 'the old subscription is gone');
      assert.equal(runtimeKeys(runtime), ['kv/factory_started'], 'only the factory app wrote since: no old key, no old code');
      const info = JSON.parse(after.find((l) => l.startsWith('factory app '))!.slice(12));
      assert.is(info.tier, 'factory');
      assert.is(info.running, true);
      assert.is(info.reason, 'factory reset');
      assert.equal([...dock.display.textBoxes.values()].map((t) => t.text), ['factory'], "the old app's text box went with it");
      const events = (dock.smp(GROUP_DOCK, 6, {}, 0).events as { kind: string }[]).map((e) => e.kind);
      assert.ok(events.includes('factory-reset'));
    } finally {
      dock.close();
    }
  });

  life(`${engine.name}: a factory reset whose runtime reformat fails (flash failure): the factory app still runs, the runtime tier is unavailable, and the caller gets RuntimeReformatError saying what to do`, async () => {
    const runtime = runtimeWith(OLD_APP);
    const dock = await bootAppDock(engine, plainFactoryRom, { runtime });
    try {
      dock.idle(55);
      assert.is(dock.report.appTier, 'runtime');
      failNextErases(runtime);
      const resetAt = dock.log.length;
      const erasesBefore = runtime.stats.erases;
      const opsBefore = runtime.opCount;
      // Over the link, as `dl7450 factory-reset` or any SMP tool sends it (v2: the dock group's error form).
      const answer = dock.smp(GROUP_DOCK, FACTORY_RESET);
      assert.ok(runtime.opCount > opsBefore && runtime.stats.erases === erasesBefore, 'the reformat did try, and its erase failed');
      assert.equal(answer.err, { group: GROUP_DOCK, rc: 1 }, JSON.stringify(answer));
      const rsn = String(answer.rsn);
      assert.match(rsn, /runtime tier could not be reformatted \([^)]*worn out/, "the flash failure is named");
      assert.match(rsn, /factory app runs/);
      assert.match(rsn, /restart the dock and run the factory reset again/);
      assert.not.match(rsn, /\n\s+at /, 'no stack trace');
      dock.idle(200);
      const after = dock.log.slice(resetAt).map((l) => l.line);
      const started = after.find((l) => l.startsWith('factory app '));
      assert.ok(started, after.join('\n'));
      const info = JSON.parse(started!.slice(12, started!.lastIndexOf(' name ')));
      assert.equal([info.tier, info.running, info.reason], ['factory', true, 'factory reset']);
      assert.ok(started!.endsWith(' name Lobby'), 'it reads its factory data');
      assert.ok(after.includes('runtime write refused: TierUnavailableError tier-unavailable'), after.join('\n'));
      assert.not.ok(after.some((l) => l.startsWith('heard ')), 'the old app is stopped');
      assert.equal([...dock.display.textBoxes.values()].map((t) => t.text), ['factory']);
      // The dock still serves: the factory tier over SMP, the event log says what happened.
      assert.equal(new TextDecoder().decode(dock.smp(3, 0, { name: 'dock_name' }, 0).val as Uint8Array), 'Lobby');
      const events = dock.smp(GROUP_DOCK, 6, {}, 0).events as { kind: string; detail: string }[];
      const reset = events.find((e) => e.kind === 'factory-reset');
      assert.match(String(reset?.detail), /could not be reformatted/);
      assert.ok(events.some((e) => e.kind === 'app-started' && /factory/.test(e.detail)));
      // A runtime write over the link is refused with why, not with a stale store.
      const write = dock.smp(3, 0, { name: 'x', val: new Uint8Array([0x61]) });
      assert.match(String(write.rsn), /runtime tier is not available: a factory reset could not reformat it/);
    } finally {
      dock.close();
    }
  });

  life(`${engine.name}: an app that calls Datastore.factoryReset() on failing flash catches RuntimeReformatError by class and code; the factory app runs`, async () => {
    const app = `
      var ds = require('datastore');
      require('wakeup').wakeup(function () {
        try { ds.Datastore.factoryReset(); console.log('reset returned'); }
        catch (e) { console.log('caught ' + (e instanceof ds.RuntimeReformatError) + ' ' + (e instanceof ds.TierError) + ' ' + e.name + ' ' + e.code); }
      }, 20);
    `;
    const runtime = runtimeWith(app);
    const dock = await bootAppDock(engine, plainFactoryRom, { runtime });
    try {
      failNextErases(runtime);
      dock.idle(100);
      const lines = dock.log.map((l) => l.line);
      assert.ok(lines.includes('caught true true RuntimeReformatError runtime-reformat-failed'), lines.join('\n'));
      assert.ok(lines.some((l) => l.startsWith('factory app ')), lines.join('\n'));
    } finally {
      dock.close();
    }
  });

  life(`${engine.name}: CodeStore.info() is the running app and says why; { tier } asks about a stored one`, async () => {
    const broken = 'throw new Error("bad update");';
    const runtime = runtimeWith(broken);
    const dock = await bootAppDock(engine, rom, { runtime });
    try {
      assert.is(dock.report.appTier, 'factory');
      const info = JSON.parse(dock.log.find((l) => l.line.startsWith('factory app '))!.line.slice(12));
      assert.equal(info, {
        checksum: crc32(Buffer.from(FACTORY_APP)) >>> 0,
        size: Buffer.byteLength(FACTORY_APP),
        tier: 'factory',
        writtenAt: 1_700_000_000,
        running: true,
        reason: 'runtime app failed to start: bad update',
      });
      const stored = dock.host.eval(`JSON.stringify(new dl7450.CodeStore().info({ tier: 1 }))`) as string;
      assert.equal(JSON.parse(stored).checksum, crc32(Buffer.from(broken)) >>> 0);
      assert.is(JSON.parse(stored).running, false);
      // Code pushed to the ephemeral tier and restarted over the link: it runs, and says it is first in order.
      dock.eph.put('code/app', utf8Encode('console.log("pushed " + JSON.stringify(new (require("datastore").CodeStore)().info()));'), 0, 1);
      assert.equal(dock.smp(GROUP_DOCK, RESTART_APP), { app: 'ephemeral' });
      const pushed = JSON.parse(dock.log.find((l) => l.line.startsWith('pushed '))!.line.slice(7));
      assert.is(pushed.tier, 'ephemeral');
      assert.match(pushed.reason, /first app in lookup order/);
    } finally {
      dock.close();
    }
  });

  life(`${engine.name}: durability from an app: a batched handle leaves writes pending until flush(); per-write 'immediate' commits; the boot report says the default`, async () => {
    const app = `
      var ds = require('datastore');
      var batched = new ds.KvStore({ durability: 'batched' });
      var plain = new ds.KvStore();
      var seen = [];
      batched.set('a', 1); batched.set('b', 2);
      seen.push(batched.pendingWrites);
      plain.set('c', 3);
      seen.push(plain.pendingWrites);
      batched.set('d', 4); batched.set('e', 5, { durability: 'immediate' });
      seen.push(batched.pendingWrites);
      plain.set('f', 6, { durability: 'batched' });
      seen.push(plain.pendingWrites);
      batched.flush();
      seen.push(batched.pendingWrites);
      var images = new ds.ImageStore({ durability: 'batched' });
      images.put('copy', images.get('default')[0], require('image').PNG);
      seen.push(plain.pendingWrites);
      images.put('copy2', images.get('default')[0], require('image').PNG, { durability: 'immediate' });
      seen.push(plain.pendingWrites);
      console.log('pending ' + JSON.stringify(seen));
    `;
    const runtime = runtimeWith(app);
    const dock = await bootAppDock(engine, rom, { runtime });
    try {
      assert.match(String(dock.report.durability), /^immediate \(per handle or write: 'batched'/);
      const line = dock.log.find((l) => l.line.startsWith('pending '));
      assert.ok(line, dock.log.map((l) => l.line).join('\n'));
      assert.equal(JSON.parse(line!.line.slice(8)), [2, 0, 0, 1, 0, 1, 0]);
    } finally {
      dock.close();
    }
  });

  life(`${engine.name}: batched writes an app leaves behind are committed by the dock loop a second later, and only then announced to subscribers`, async () => {
    const app = `
      var ds = require('datastore');
      var wakeup = require('wakeup').wakeup;
      var kv = new ds.KvStore({ durability: 'batched' });
      kv.subscribe('note', function (key) { console.log('changed ' + key + ' pending ' + kv.pendingWrites); });
      kv.set('note', 'a'); kv.set('note2', 'b');
      console.log('pending ' + kv.pendingWrites);
      wakeup(function () { console.log('at 500 pending ' + kv.pendingWrites); }, 500);
      wakeup(function () { console.log('at 1100 pending ' + kv.pendingWrites); }, 1100);
    `;
    const dock = await bootAppDock(engine, rom, { runtime: runtimeWith(app) });
    try {
      dock.idle(1200);
      const lines = dock.log.map((l) => l.line);
      assert.ok(lines.includes('pending 2'), lines.join('\n'));
      assert.ok(lines.includes('at 500 pending 2'), 'not committed before the wait is over');
      assert.ok(lines.includes('at 1100 pending 0'), 'committed by the loop within the wait and a little');
      const announced = dock.log.filter((l) => l.line.startsWith('changed '));
      assert.equal(announced.map((l) => l.line), ['changed note pending 0', 'changed note2 pending 0'], 'subscribers hear of the writes once they are on flash');
      const start = dock.log.find((l) => l.line === 'pending 2')!.at;
      assert.ok(announced[0].at - start >= 1000 && announced[0].at - start <= 1010, `committed ${announced[0].at - start} ms after the writes`);
    } finally {
      dock.close();
    }
  });

  life(`${engine.name}: an app with no timers whose subscriber writes (batched) when told of a commit: that write is committed a second later too, not left for the next input`, async () => {
    // No wakeup anywhere: only the dock's own idle commit wakes the loop.
    const app = `
      var ds = require('datastore');
      var kv = new ds.KvStore({ durability: 'batched' });
      kv.subscribe('', function (key) {
        console.log('committed ' + key);
        if (key === 'count') kv.set('count-seen', 1);
        if (key === 'count-seen') kv.set('count-ack', 1);
      });
      kv.set('count', 1);
      console.log('wrote count');
    `;
    const dock = await bootAppDock(engine, rom, { runtime: runtimeWith(app) });
    try {
      for (let i = 0; i < 40; i++) dock.idle(100); // 4 s of dock time
      const t0 = dock.log.find((l) => l.line === 'wrote count')!.at;
      const at = (key: string) => dock.log.find((l) => l.line === 'committed ' + key)?.at;
      const lines = dock.log.map((l) => `${l.at - t0} ms: ${l.line}`).join('\n');
      // BATCH_WAIT_MS (1 s) after each write, which the first commit's subscriber makes at t0 + 1 s and the second's at t0 + 2 s.
      const expected: [string, number][] = [['count', 1000], ['count-seen', 2000], ['count-ack', 3000]];
      for (const [key, ms] of expected) {
        const when = at(key);
        assert.ok(when !== undefined, `${key} was never committed:\n${lines}`);
        assert.ok(when - t0 >= ms && when - t0 <= ms + 10, `${key} committed ${when - t0} ms after the first write, expected ${ms} (+ one loop pass):\n${lines}`);
      }
    } finally {
      dock.close();
    }
    // On flash, not only announced: the runtime partition, mounted afresh after the dock stopped, holds all three.
    const keys = runtimeKeys(dock.runtime);
    for (const k of ['kv/count', 'kv/count-seen', 'kv/count-ack']) assert.ok(keys.includes(k), `${k} in ${keys.join(',')}`);
  });

  life(`${engine.name}: a link tool reaches an app's namespaced keys as the app wrote them (settings and the key list take ns); without ns they stay hidden`, async () => {
    const app = `
      var ds = require('datastore');
      var wifi = new ds.KvStore({ namespace: 'wifi' });
      wifi.set('ssid', 'home');
      new ds.KvStore().set('plain', 1);
      wifi.subscribe('psk', function (key) { console.log('app sees ' + key + ' = ' + wifi.get('psk')); });
    `;
    const dock = await bootAppDock(engine, rom, { runtime: runtimeWith(app) });
    try {
      const SETTINGS_GROUP = 3; // smp_group_3 in the SMP specification
      const read = dock.smp(SETTINGS_GROUP, 0, { name: 'ssid', ns: 'wifi' }, 0);
      assert.equal(new TextDecoder().decode(read.val as Uint8Array), 'home');
      // Without ns there is no such setting: SMP v2's group error, SETTINGS_MGMT_ERR_KEY_NOT_FOUND (3) of group 3.
      assert.equal(dock.smp(SETTINGS_GROUP, 0, { name: 'ssid' }, 0).err, { group: 3, rc: 3 });
      assert.equal(dock.smp(SETTINGS_GROUP, 0, { name: 'psk', ns: 'wifi', val: utf8Encode('secret') }), {});
      dock.idle(5);
      assert.ok(dock.log.some((l) => l.line === 'app sees psk = secret'), dock.log.map((l) => l.line).join('\n'));
      assert.equal([...(dock.smp(GROUP_DOCK, KV_LIST, { ns: 'wifi' }, 0).keys as string[])].sort(), ['psk', 'ssid']);
      const plainList = dock.smp(GROUP_DOCK, KV_LIST, {}, 0).keys as string[];
      assert.ok(plainList.includes('plain') && !plainList.some((k) => k.includes('ssid') || k.includes('psk')), plainList.join(','));
      assert.equal(dock.smp(SETTINGS_GROUP, 1, { name: 'ssid', ns: 'wifi' }), {});
      assert.equal(dock.smp(GROUP_DOCK, KV_LIST, { ns: 'wifi' }, 0).keys, ['psk']);
      assert.is(dock.smp(SETTINGS_GROUP, 0, { name: 'x', ns: 7 }, 0).rc, 3, 'a namespace that is not text is refused: MGMT_ERR_EINVAL (3)');
    } finally {
      dock.close();
    }
  });

  life(`${engine.name}: an app that factory-resets the dock itself: the factory app's timers run at once, and the stopped app can subscribe to nothing more`, async () => {
    const app = `
      var ds = require('datastore');
      require('wakeup').wakeup(function () {
        ds.Datastore.factoryReset();
        new ds.KvStore().subscribe('', function (key) { console.log('ZOMBIE heard ' + key); });
      }, 20);
    `;
    const dock = await bootAppDock(engine, tickingRom, { runtime: runtimeWith(app) });
    try {
      dock.idle(200);
      const ticks = dock.log.filter((l) => l.line === 'factory tick').length;
      assert.ok(ticks >= 15, `the factory app's 10 ms timer ran ${ticks} times in the 180 ms after the reset`);
      assert.equal(dock.smp(3, 0, { name: 'probe', val: utf8Encode('x') }), {});
      dock.idle(5);
      assert.not.ok(dock.log.some((l) => l.line.startsWith('ZOMBIE')), dock.log.map((l) => l.line).join('\n'));
    } finally {
      dock.close();
    }
  });
}

// Power cut at every flash operation of the reset: the next boot finds the old state or the manufactured one.
const [quickjs] = testEngines('power cuts in a factory reset');
life('quickjs: a power cut at any point of a factory reset leaves the old state or the manufactured one', async () => {
  let cut = 0;
  const outcomes = { old: 0, manufactured: 0 };
  for (;;) {
    const runtime = runtimeWith(OLD_APP);
    const dock = await bootAppDock(quickjs, rom, { runtime });
    let completed = false;
    try {
      dock.idle(55);
      const before = runtimeKeys(runtime);
      runtime.armPowerCut({ atOp: runtime.opCount + cut, effect: 'torn' });
      try {
        dock.smp(GROUP_DOCK, FACTORY_RESET);
        completed = !runtime.poweredOff;
      } catch (e) {
        if (!runtime.poweredOff) throw e;
      }
      dock.close();
      runtime.powerOn();
      // Power back: a fresh boot on the same flash.
      const again = await bootAppDock(quickjs, rom, { runtime, factory: dock.factory });
      try {
        const keys = runtimeKeys(runtime).filter((k) => k !== 'kv/factory_started');
        const old = keys.length > 0;
        if (completed) assert.not.ok(old, 'the reset that was not cut leaves the manufactured state');
        if (old) {
          assert.equal(keys, before, `cut ${cut}: the old state, whole, and nothing else`);
          assert.is(again.report.appTier, 'runtime', `cut ${cut}`);
          if (!completed) outcomes.old++;
        } else {
          assert.is(again.report.appTier, 'factory', `cut ${cut}`);
          if (!completed) outcomes.manufactured++;
        }
      } finally {
        again.close();
      }
    } catch (e) {
      if (e instanceof FlashError) throw new Error(`cut ${cut}: ${e.message}`);
      throw e;
    }
    if (completed) break;
    cut++;
  }
  console.log(`  factory reset (and the factory app's first write) cut at each of its ${cut} flash operations: ${outcomes.old} × old state, ${outcomes.manufactured} × manufactured`);
  assert.ok(outcomes.manufactured >= 1 && cut >= 1);
});

life.run();
