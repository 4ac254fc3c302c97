// An app written against the vendor's SDK reference only (its names: get_token,
// set_background, dock_id, KvStore(FACTORY_DATA), wakeup(task, time_ms,
// repeat_ms), CodeStore().info()), run as the factory app of a simulated dock
// on each engine; and what an app sees of errors and values from inside the
// engine.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32 } from 'node:zlib';
import { testEngines } from './support/engines.ts';
import { bootAppDock, factoryRom } from './support/app-dock.ts';
import { makeJpeg, makePng } from './support/image-files.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';

const background = makePng(64, 36);
const logo = makeJpeg(16, 16);

/** Only what the vendor reference names. */
const VENDOR_APP = `
var datastore = require('datastore');
var image = require('image');
var Splashscreen = require('splashscreen').Splashscreen;
var wakeup = require('wakeup').wakeup;
var DockInfo = require('dock').DockInfo;

var kv = new datastore.KvStore();
var images = new datastore.ImageStore();
var pair = images.get('logo');
var info = new datastore.CodeStore().info();
var out = {
  keys: kv.list().sort(),
  name: kv.get('dock_name'),
  missing: kv.get('no_such_key'),
  factoryName: new datastore.KvStore(datastore.FACTORY_DATA).get('dock_name'),
  tags: images.list().sort(),
  logo: [pair[0].length, pair[1] === image.JPEG, image.NONE !== image.PNG && image.PNG !== image.BMP],
  dock: DockInfo().dock_id(),
  checksumOk: info.checksum === parseInt(kv.get('expected_crc'), 16)
};
new datastore.KvStore(datastore.APPLICATION_DATA).set('dock_name', 'Renamed');
out.renamed = kv.get('dock_name');
Splashscreen.set_background(images.get_token('default'));
var ticks = 0;
var timer = wakeup(function () {
  ticks++;
  console.log('tick ' + ticks);
  if (ticks === 3) timer.cancel();
}, 30, 30);
wakeup(function () { console.log('once'); }, 100);
console.log('vendor ' + JSON.stringify(out));
`;

const expectedCrc = (crc32(Buffer.from(VENDOR_APP, 'utf8')) >>> 0).toString(16);
const rom = factoryRom({
  app: VENDOR_APP,
  config: `images:\n  default:\n    path: \${CONFIG_PATH}/bg.png\n    type: png\n  logo:\n    path: \${CONFIG_PATH}/logo.jpg\n    type: jpeg\nkv_store:\n  dock_name: "Meeting Room 4"\n  timezone: "GMT"\n  expected_crc: "${expectedCrc}"\n`,
  files: { 'bg.png': background, 'logo.jpg': logo },
});

const vendor = suite('an app written to the vendor SDK runs on the dock');

for (const engine of testEngines('vendor SDK app')) {
  vendor(`${engine.name}: lists, gets, explicit tiers, images as bytes and as a token to the splash screen, dock id, checksum, timers`, async () => {
    const dock = await bootAppDock(engine, rom);
    try {
      assert.is(dock.report.appTier, 'factory', JSON.stringify(dock.report));
      const line = dock.log.find((l) => l.line.startsWith('vendor '));
      assert.ok(line, dock.log.map((l) => l.line).join('\n'));
      const out = JSON.parse(line!.line.slice(7));
      assert.equal(out.keys, ['dock_name', 'expected_crc', 'timezone']);
      assert.is(out.name, 'Meeting Room 4');
      assert.is(out.missing, '');
      assert.is(out.factoryName, 'Meeting Room 4');
      assert.equal(out.tags, ['default', 'logo']);
      assert.equal(out.logo, [logo.length, true, true]);
      assert.is(out.dock, rom.otp.dockId());
      assert.ok(out.checksumOk, 'CodeStore().info().checksum is the CRC-32 zlib computes of app.js');
      assert.is(out.renamed, 'Renamed');
      assert.equal(dock.display.background, background, 'set_background(get_token(...)) drew the factory image');
      const start = dock.clock.now();
      dock.idle(200);
      const ticks = dock.log.filter((l) => /^tick /.test(l.line));
      assert.equal(ticks.map((t) => t.line), ['tick 1', 'tick 2', 'tick 3'], 'cancel() stopped the repeating timer');
      // Scheduled when the app started (at boot, before `start`): on the simulated clock each tick is on its slot.
      assert.equal(ticks.map((t) => t.at - start), [30, 60, 90]);
      assert.equal(dock.log.filter((l) => l.line === 'once').map((l) => l.at - start), [100]);
    } finally {
      dock.close();
    }
  });

  vendor(`${engine.name}: error classes reach the app: own name and code, instanceof works; the vendor names are our functions, not wrappers`, async () => {
    const runtime = new SimFlash({ size: 256 * 1024, sectorSize: 4096, programUnit: 16 });
    const app = `
      var ds = require('datastore');
      var kv = new ds.KvStore();
      function attempt(f) { try { f(); return 'no error'; } catch (e) { return [e.name, e.code, e instanceof ds[e.name], e instanceof Error, e instanceof ds.TierError || e instanceof ds.StoreError].join(' '); } }
      var big = new Uint8Array(200000);
      console.log('errors ' + JSON.stringify([
        attempt(function () { kv.set(new Array(300).join('k'), 1); }),
        attempt(function () { kv.set('big', big); }),
        attempt(function () { new ds.KvStore(ds.FACTORY_DATA).set('dock_name', 'x'); }),
        attempt(function () { new ds.ImageStore().readToken({ tier: ds.FACTORY_DATA, tag: 'gone', type: 1, size: 1, version: 1 }, 0, new Uint8Array(1)); }),
        attempt(function () { kv.set('when', undefined); }),
        attempt(function () { new ds.ImageStore().put('bad', new Uint8Array([1, 2, 3]), require('image').PNG); }),
        attempt(function () { kv.set('', 1); })
      ]));
      var Splashscreen = require('splashscreen').Splashscreen, info = require('dock').DockInfo(), Timer = require('wakeup').Timer;
      var t = require('wakeup').wakeup(function () {}, 1000);
      console.log('aliases ' + JSON.stringify([ds.ImageStore.prototype.get_token === ds.ImageStore.prototype.getToken, Splashscreen.set_background === Splashscreen.setBackground, info.dock_id === info.dockId, t instanceof Timer]));
    `;
    const store = RuntimeStore.format(runtime);
    store.set('code/app', utf8Encode(app));
    store.unmount();
    const dock = await bootAppDock(engine, rom, { runtime });
    try {
      assert.is(dock.report.appTier, 'runtime', JSON.stringify(dock.report));
      const line = dock.log.find((l) => l.line.startsWith('errors '));
      assert.ok(line, dock.log.map((l) => l.line).join('\n'));
      assert.equal(JSON.parse(line!.line.slice(7)), [
        'KeyTooLongError key-too-long true true true',
        'ValueTooLargeError value-too-large true true true',
        'ReadOnlyTierError read-only true true true',
        'TokenInvalidError token-invalid true true true',
        'ValueNotStorableError value-not-storable true true true',
        'ImageInvalidError image-invalid true true false',
        'KeyInvalidError key-invalid true true true',
      ]);
      const aliases = dock.log.find((l) => l.line.startsWith('aliases '));
      assert.equal(JSON.parse(aliases!.line.slice(8)), [true, true, true, true], 'the vendor names are the same function objects; wakeup returns a Timer');
    } finally {
      dock.close();
    }
  });

  vendor(`${engine.name}: values: a Date reads back as a Date; undefined, functions, cycles and -0 are refused naming where; '' and a missing key differ only through has(); events show namespaced keys as written`, async () => {
    const runtime = new SimFlash({ size: 256 * 1024, sectorSize: 4096, programUnit: 16 });
    const app = `
      var ds = require('datastore');
      var kv = new ds.KvStore();
      var when = new Date(1736000000123);
      kv.set('when', { at: when, list: [when] });
      var back = kv.get('when');
      var cyc = { a: [1] }; cyc.a.push(cyc);
      function refused(v) { try { kv.set('bad', v); return 'stored'; } catch (e) { return e.name + ': ' + e.message.split(':')[0]; } }
      kv.set('empty', '');
      new ds.KvStore({ namespace: 'wifi' }).set('ssid', 'office');
      console.log('values ' + JSON.stringify({
        isDate: back.at instanceof Date && back.list[0] instanceof Date,
        ms: back.at.getTime(),
        refused: [refused(undefined), refused({ deep: [1, undefined] }), refused(function () {}), refused(cyc), refused(-0), refused(new Date(NaN)), refused({ a: JSON.parse('{"__proto__": 1}') })],
        bad: kv.has('bad'),
        empty: [kv.get('empty'), kv.get('nothing'), kv.has('empty'), kv.has('nothing')]
      }));
    `;
    const store = RuntimeStore.format(runtime);
    store.set('code/app', utf8Encode(app));
    store.unmount();
    const dock = await bootAppDock(engine, rom, { runtime });
    try {
      const line = dock.log.find((l) => l.line.startsWith('values '));
      assert.ok(line, dock.log.map((l) => l.line).join('\n'));
      const out = JSON.parse(line!.line.slice(7));
      assert.ok(out.isDate, 'a Date comes back as a Date');
      assert.is(out.ms, 1736000000123);
      assert.equal(out.refused, [
        'ValueNotStorableError: cannot store "bad"',
        'ValueNotStorableError: cannot store "bad".deep[1]',
        'ValueNotStorableError: cannot store "bad"',
        'ValueNotStorableError: cannot store "bad".a[1]',
        'ValueNotStorableError: cannot store "bad"',
        'ValueNotStorableError: cannot store "bad"',
        'ValueNotStorableError: cannot store "bad".a.__proto__',
      ]);
      assert.is(out.bad, false, 'nothing was stored by a refused write');
      assert.equal(out.empty, ['', '', true, false]);
      const events = dock.smp(64, 6, {}, 0).events as { kind: string; detail: string }[];
      const details = events.filter((e) => e.kind === 'key-changed').map((e) => e.detail);
      assert.ok(details.includes('ssid (runtime, namespace wifi)'), details.join(' | '));
      assert.not.ok(details.some((d) => d.indexOf('\u001f') >= 0), 'no separator character in event details');
    } finally {
      dock.close();
    }
  });
}

vendor.run();
