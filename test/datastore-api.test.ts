import { suite } from 'uvu';
import { crc32 } from '../bytes/crc32.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { flashHolding } from './support/factory-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { LmdbEphemeral } from '../simulator/ephemeral/lmdb-ephemeral.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { FactoryPartition } from '../datastore/factory/factory-partition.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';
import {
  APPLICATION_DATA,
  CodeStore,
  Datastore,
  EPHEMERAL_DATA,
  EphemeralFullError,
  EphemeralUnavailableError,
  FACTORY_DATA,
  ImageStore,
  KvStore,
  NotFoundError,
  ReadOnlyTierError,
  TierUnavailableError,
  TokenInvalidError,
} from '../datastore/index.ts';
import { ValueNotStorableError } from '../datastore/value-codec.ts';
import { ImageInvalidError } from '../images/image-check.ts';
import { BMP, JPEG, NONE, PNG } from '../images/image-type.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { makeBmp, makeJpeg, makeNoisePng, makePng } from './support/image-files.ts';

const KiB = 1024;
const work = mkdtempSync(join(tmpdir(), 'dl7450-api-'));
const keys = generateSigningKeys(join(work, 'keys'));
const otp = SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'api');
const crypto = new NodeCrypto();
const factoryLogo = makePng(40, 30);
mkdirSync(join(work, 'rom'));
writeFileSync(join(work, 'rom', 'logo.png'), factoryLogo);
writeFileSync(join(work, 'rom', 'app.js'), 'startApp();\n');
writeFileSync(
  join(work, 'rom', 'config.yaml'),
  'images:\n  default:\n    path: ${CONFIG_PATH}/logo.png\n    type: png\nkv_store:\n  dock_name: "Meeting Room 4"\n  timezone: "GMT"\ncode:\n  path: ${CONFIG_PATH}/app.js\n',
);
const factoryImage = buildFactoryImage(loadRomStoreConfig(join(work, 'rom', 'config.yaml')), loadPrivateKey(keys.privatePath), { builtAt: 1_700_000_000 }).image;
let ephemeralCount = 0;

function factoryFlash(): SimFlash {
  return flashHolding(factoryImage, 13 * 1024 * KiB);
}

interface Dock {
  tiers: TierSet;
  runtimeFlash: SimFlash;
  ephemeralPath: string;
  eph: LmdbEphemeral | null;
}

function boot(withFactory: boolean, withEphemeral: boolean, ephemeralCapacity = 4 * 1024 * KiB): Dock {
  const runtimeFlash = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
  const runtime = RuntimeStore.format(runtimeFlash, { clock: { now: () => 1_736_000_000_000 } });
  const factory = withFactory ? FactoryPartition.mount(factoryFlash(), crypto, otp) : null;
  const ephemeralPath = join('/dev/shm', `dl7450-test-${process.pid}-${ephemeralCount++}`);
  const eph = withEphemeral ? LmdbEphemeral.open(ephemeralPath, { fresh: true, capacityBytes: ephemeralCapacity }) : null;
  const tiers = Datastore.install({ runtime, factory, ephemeral: eph, clock: { now: () => 1_736_000_000_000 } });
  return { tiers, runtimeFlash, ephemeralPath, eph };
}

function shutdown(d: Dock): void {
  d.eph?.close();
  rmSync(d.ephemeralPath, { recursive: true, force: true });
}

// ---- the same API suite against every combination of tiers -----------------

const combos: [string, boolean, boolean][] = [
  ['runtime only', false, false],
  ['runtime + factory', true, false],
  ['runtime + ephemeral', false, true],
  ['all three tiers', true, true],
];

for (const [label, withFactory, withEphemeral] of combos) {
  const api = suite(`datastore API (${label})`);
  let dock: Dock;
  api.before.each(() => {
    dock = boot(withFactory, withEphemeral);
  });
  api.after.each(() => shutdown(dock));

  api("a missing key reads as '' (the SDK's promise); set/get round-trips JSON-like values and bytes", () => {
    const kv = new KvStore();
    assert.is(kv.get('nope'), '');
    kv.set('token', { access: 'abc', exp: 1736 });
    kv.set('count', 3);
    kv.set('raw', new Uint8Array([1, 2, 3]));
    assert.equal(kv.get('token'), { access: 'abc', exp: 1736 });
    assert.is(kv.get('count'), 3);
    assert.equal(kv.get('raw'), new Uint8Array([1, 2, 3]));
    assert.equal(kv.info('count')?.tier, 'runtime');
  });

  api('lookup order ephemeral > runtime > factory; delete uncovers the next tier; list has no duplicates', () => {
    const kv = new KvStore();
    if (withFactory) assert.is(kv.get('dock_name'), 'Meeting Room 4');
    kv.set('dock_name', 'Runtime name');
    assert.is(kv.get('dock_name'), 'Runtime name');
    if (withEphemeral) {
      kv.set('dock_name', 'Ephemeral name', { tier: EPHEMERAL_DATA });
      assert.is(kv.get('dock_name'), 'Ephemeral name');
      assert.is(kv.info('dock_name')?.tier, 'ephemeral');
      assert.ok(kv.delete('dock_name', { tier: EPHEMERAL_DATA }));
    }
    assert.is(kv.get('dock_name'), 'Runtime name');
    assert.ok(kv.delete('dock_name'));
    assert.is(kv.get('dock_name'), withFactory ? 'Meeting Room 4' : '', 'the factory value shows through again');
    kv.set('timezone', 'CET');
    const listed = kv.list();
    assert.is(listed.filter((k) => k === 'timezone').length, 1, 'no duplicates');
    assert.equal(new Set(listed), new Set(withFactory ? ['dock_name', 'timezone'] : ['timezone']));
  });

  api('a named tier reads that tier only; the factory tier refuses writes; a missing tier refuses writes', () => {
    const kv = new KvStore();
    kv.set('timezone', 'CET');
    assert.is(new KvStore(APPLICATION_DATA).get('timezone'), 'CET');
    if (withFactory) assert.is(new KvStore(FACTORY_DATA).get('timezone'), 'GMT');
    else assert.is(new KvStore(FACTORY_DATA).get('timezone'), '');
    assert.throws(() => new KvStore(FACTORY_DATA).set('timezone', 'X'), (e: unknown) => e instanceof ReadOnlyTierError);
    assert.throws(() => kv.set('a', 1, { tier: FACTORY_DATA }), (e: unknown) => e instanceof ReadOnlyTierError);
    if (!withEphemeral) assert.throws(() => kv.set('a', 1, { tier: EPHEMERAL_DATA }), (e: unknown) => e instanceof TierUnavailableError);
  });

  api('replace writes only an existing key; subscriptions fire after the write is durable', () => {
    const kv = new KvStore();
    assert.is(kv.replace('x', 1), false);
    assert.is(kv.get('x'), '');
    kv.set('x', 1);
    assert.is(kv.replace('x', 2), true);
    assert.is(kv.get('x'), 2);
    const heard: string[] = [];
    const off = kv.subscribe('net.', (key, tier) => heard.push(`${key}@${tier}`));
    kv.set('net.ssid', 'office');
    kv.set('other', 1);
    off();
    kv.set('net.ssid', 'home');
    assert.equal(heard, ['net.ssid@runtime']);
    // Batched writes are announced when they are committed, not before.
    const batchedFlash = new SimFlash({ size: 64 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
    const tiers = new TierSet({ runtime: RuntimeStore.format(batchedFlash, { durability: 'batched', batchSize: 100 }) });
    const batched = new KvStore({ tiers });
    const later: string[] = [];
    batched.subscribe('', (key) => later.push(key));
    batched.set('a', 1, { durability: 'batched' });
    assert.equal(later, [], 'not yet durable');
    batched.flush();
    assert.equal(later, ['a']);
  });

  api('namespaces reconnect by name, persist() moves ephemeral items to runtime, cleanup() removes them', () => {
    const weather = new KvStore({ namespace: 'weather' });
    weather.set('temp', 21);
    assert.is(new KvStore({ namespace: 'weather' }).get('temp'), 21, 'reconnect by name');
    assert.is(new KvStore().get('temp'), '', 'namespaces do not leak into the default one');
    assert.not.ok(new KvStore().list().some((k) => k.includes('temp')));
    if (withEphemeral) {
      weather.set('forecast', 'rain', { tier: EPHEMERAL_DATA });
      assert.is(weather.persist(), 1);
      assert.is(weather.info('forecast')?.tier, 'runtime');
    }
    const scratch = new KvStore({ namespace: 'scratch', cleanupOnClose: true });
    scratch.set('a', 1);
    scratch.close();
    assert.is(new KvStore({ namespace: 'scratch' }).get('a'), '');
    assert.ok(weather.cleanup() >= 1);
    assert.equal(weather.list(), []);
  });

  api('images: validated before stored, copied by get, read through tokens that die with their version', () => {
    const images = new ImageStore();
    const png = makePng(64, 48);
    assert.throws(() => images.put('bad', makeJpeg(8, 8), PNG), (e: unknown) => e instanceof ImageInvalidError);
    assert.equal(images.list().filter((t) => t === 'bad'), []);
    images.put('promo', png, PNG);
    images.put('icon', makeBmp(4, 4), BMP);
    assert.equal(images.list({ type: BMP }), ['icon']);
    assert.ok(images.list({ type: PNG }).includes('promo') && !images.list({ type: PNG }).includes('icon'));
    images.delete('icon');
    const [bytes, type] = images.get('promo');
    assert.equal(bytes, png);
    assert.is(type, PNG);
    assert.equal(images.info('promo'), { tag: 'promo', tier: 'runtime', type: PNG, size: png.length, writtenAt: 1_736_000_000, width: 64, height: 48 });
    const token = images.getToken('promo');
    const part = new Uint8Array(100);
    assert.is(images.readToken(token, 8, part), 100);
    assert.equal(part, png.subarray(8, 108));
    images.put('promo', makeBmp(8, 8), BMP);
    assert.throws(() => images.readToken(token, 0, part), (e: unknown) => e instanceof TokenInvalidError && /replaced/.test((e as Error).message));
    const token2 = images.getToken('promo');
    images.delete('promo');
    assert.throws(() => images.readToken(token2, 0, part), (e: unknown) => e instanceof TokenInvalidError);
    assert.throws(() => images.getToken('promo'), (e: unknown) => e instanceof NotFoundError);
    assert.equal(images.get('promo'), [new Uint8Array(0), NONE]);
    if (withFactory) {
      const t = images.getToken('default');
      assert.is(t.tier, FACTORY_DATA);
      const head = new Uint8Array(factoryLogo.length);
      assert.is(images.readToken(t, 0, head), factoryLogo.length);
      assert.equal(head, factoryLogo);
      assert.equal([images.info('default')?.width, images.info('default')?.height], [40, 30]);
    }
    if (withEphemeral) {
      images.put('cache', makeJpeg(16, 16), JPEG, { tier: EPHEMERAL_DATA });
      assert.is(images.info('cache')?.tier, 'ephemeral');
      const t = images.getToken('cache');
      images.put('cache', makeJpeg(16, 16), JPEG, { tier: EPHEMERAL_DATA });
      assert.throws(() => images.readToken(t, 0, part), (e: unknown) => e instanceof TokenInvalidError);
    }
  });

  api('code: the stored app and its 32-bit checksum; factory reset returns exactly the factory state', () => {
    const code = new CodeStore();
    if (withFactory) assert.is(code.get(), 'startApp();\n');
    code.put('newerApp();\n');
    assert.is(code.get(), 'newerApp();\n');
    assert.is(code.info()?.tier, 'runtime');
    assert.is(code.info()?.checksum, crc32(utf8Encode('newerApp();\n')));
    const kv = new KvStore();
    kv.set('dock_name', 'Changed');
    kv.set('extra', 1);
    if (withEphemeral) kv.set('cache', 2, { tier: EPHEMERAL_DATA });
    Datastore.factoryReset();
    const fresh = new KvStore();
    assert.is(fresh.get('dock_name'), withFactory ? 'Meeting Room 4' : '');
    assert.is(fresh.get('extra'), '');
    assert.is(fresh.get('cache'), '');
    assert.is(new CodeStore().get(), withFactory ? 'startApp();\n' : '');
    assert.equal(new Set(fresh.list()), new Set(withFactory ? ['dock_name', 'timezone'] : []));
    // After the reset the runtime tier still takes writes, with the store's own clock, and they survive a remount.
    fresh.set('after', 'reset');
    assert.is(fresh.info('after')?.writtenAt, 1_736_000_000);
    assert.is(RuntimeStore.mount(dock.runtimeFlash).keys().length, 1);
  });

  api('capacity: used and free bytes per tier', () => {
    new KvStore().set('k', 'v');
    const cap = Datastore.capacity();
    assert.equal(cap.map((c) => c.tier), ['factory', 'runtime', 'ephemeral']);
    assert.equal(cap.map((c) => c.available), [withFactory, true, withEphemeral]);
    const runtime = cap[1];
    assert.ok(runtime.usedBytes > 0 && runtime.freeBytes > 0 && runtime.usedBytes + runtime.freeBytes <= runtime.capacityBytes);
    if (withEphemeral) assert.is(cap[2].capacityBytes, 4 * 1024 * KiB);
  });

  api.run();
}

const tokens = suite('image tokens: no image bytes move to hand one out');

tokens('getToken reads a bounded few HAL bytes (the record and its sector reference) for a 2 KB, 1 MiB or 2 MiB image; get copies the image once', () => {
  const runtimeFlash = new SimFlash({ size: 13 * 1024 * KiB, sectorSize: 4 * KiB, programUnit: 256 });
  const tiers = new TierSet({ runtime: RuntimeStore.format(runtimeFlash) });
  const images = new ImageStore({ tiers });
  const small = makePng(16, 16);
  const big = makeNoisePng(836, 836, 3); // ~2 MiB
  images.put('small', small, PNG);
  images.put('large', big, PNG); // same tag length as 'small': the probe reads the key
  images.put('mediu', makeNoisePng(590, 590, 4), PNG); // ~1 MiB, same tag length
  const cost = (tag: string) => {
    runtimeFlash.resetStats();
    images.getToken(tag);
    return runtimeFlash.stats.bytesRead;
  };
  // A value of a sector or more costs its record and the checked reference to its sectors: at most
  // 256 sector numbers inline, past that the few list sectors' numbers (v3 FORMAT.md), whatever its size.
  assert.ok(cost('small') < 128, `small: ${cost('small')} bytes read per token`);
  for (const tag of ['mediu', 'large']) assert.ok(cost(tag) < 2400, `${tag}: ${cost(tag)} bytes read per token`);
  assert.ok(cost('large') < 128, `large (list form): ${cost('large')} bytes read per token`);
  runtimeFlash.resetStats();
  const [copy] = images.get('large');
  assert.is(copy.length, big.length);
  assert.ok(runtimeFlash.stats.bytesRead < big.length * 1.01, 'read once');
});

tokens.run();

// ---- the ephemeral tier's own faults --------------------------------------------

const eph = suite('ephemeral tier: unreachable, full, wiped by a restart');

eph('an unreachable ephemeral area fails to open with a typed error after bounded retries; the other tiers work', () => {
  let err: unknown;
  try {
    LmdbEphemeral.open('/dev/null/ephemeral', { attempts: 3, retryDelayMs: 5 });
  } catch (e) {
    err = e;
  }
  assert.instance(err, EphemeralUnavailableError);
  assert.match((err as Error).message, /after 3 attempts/);
  const runtime = RuntimeStore.format(new SimFlash({ size: 128 * KiB, sectorSize: 4 * KiB, programUnit: 16 }));
  Datastore.install({ runtime, factory: FactoryPartition.mount(factoryFlash(), crypto, otp), ephemeral: null, ephemeralProblem: (err as Error).message });
  const kv = new KvStore();
  kv.set('a', 1);
  assert.is(kv.get('a'), 1);
  assert.is(kv.get('dock_name'), 'Meeting Room 4');
  assert.throws(() => kv.set('b', 1, { tier: EPHEMERAL_DATA }), (e: unknown) => e instanceof TierUnavailableError && /after 3 attempts/.test((e as Error).message));
});

eph('a full ephemeral area refuses with the bytes needed and free; nothing in runtime is touched', () => {
  const dock = boot(false, true, 64 * KiB);
  try {
    const kv = new KvStore();
    kv.set('keep', 'safe');
    kv.set('cache', new Uint8Array(40 * KiB), { tier: EPHEMERAL_DATA });
    let err: unknown;
    try {
      kv.set('more', new Uint8Array(40 * KiB), { tier: EPHEMERAL_DATA });
    } catch (e) {
      err = e;
    }
    assert.instance(err, EphemeralFullError);
    assert.ok((err as EphemeralFullError).free < 40 * KiB);
    assert.is(kv.get('more'), '');
    assert.is(kv.get('keep'), 'safe');
  } finally {
    shutdown(dock);
  }
});

eph('the ephemeral area outlives an engine restart (reopened in place) but not a dock restart (fresh)', () => {
  const dock = boot(false, true);
  try {
    new KvStore().set('cached', 'yes', { tier: EPHEMERAL_DATA });
    new KvStore().set('kept', 'yes');
    dock.eph!.close();
    const again = LmdbEphemeral.open(dock.ephemeralPath);
    assert.ok(again.get('kv/cached'), 'a host tool or a restarted engine sees it');
    again.close();
    const restarted = LmdbEphemeral.open(dock.ephemeralPath, { fresh: true });
    Datastore.install({ runtime: RuntimeStore.mount(dock.runtimeFlash), ephemeral: restarted });
    assert.is(new KvStore().get('cached'), '');
    assert.is(new KvStore().get('kept'), 'yes');
    dock.eph = restarted;
  } finally {
    shutdown(dock);
  }
});

eph.run();

const paging = suite('listing a page at a time: every key once, never all in the heap');

/** A seeded generator (mulberry32): the layout differs per seed, the run is repeatable. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

paging('pages of random sizes over keys in all three tiers return each key exactly once; a prefix and a namespace hold', () => {
  for (const seed of [1, 2, 3]) {
    const rand = seeded(seed);
    const dock = boot(true, true);
    try {
      const kv = new KvStore();
      const expected = new Set(['dock_name', 'timezone']); // the factory image's keys
      const n = 200 + Math.floor(rand() * 250); // under the 500-name bound of a whole listing
      for (let i = 0; i < n; i++) {
        const key = `${rand() < 0.5 ? 'a' : 'b'}/${Math.floor(rand() * 1e9).toString(36)}`;
        kv.set(key, i, { tier: rand() < 0.2 ? EPHEMERAL_DATA : APPLICATION_DATA });
        expected.add(key);
      }
      kv.set('timezone', 'CET'); // in the runtime and the factory tier: listed once
      new KvStore({ namespace: 'other' }).set('hidden', 1); // another namespace: not in the plain listing
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = kv.list({ after, limit: 1 + Math.floor(rand() * 40) });
        if (page.length === 0) break;
        seen.push(...page);
        after = page[page.length - 1];
      }
      assert.is(seen.length, new Set(seen).size, 'no key twice');
      assert.equal(new Set(seen), expected);
      const bPaged: string[] = [];
      for (let page = kv.list({ prefix: 'b/', limit: 7 }); page.length > 0; page = kv.list({ prefix: 'b/', after: page[page.length - 1], limit: 7 })) bPaged.push(...page);
      assert.equal(new Set(bPaged), new Set([...expected].filter((k) => k.startsWith('b/'))));
      assert.equal(new KvStore({ namespace: 'other' }).list({ limit: 5 }), ['hidden']);
      assert.equal(new Set(kv.list()), expected, 'a whole listing under the bound still works');
      assert.is(kv.count(), expected.size, 'count() counts each key once across tiers');
      assert.is(kv.count({ prefix: 'b/' }), bPaged.length);
    } finally {
      shutdown(dock);
    }
  }
});

paging('a whole listing past the bound is refused with a typed error; the page that follows a deleted cursor key still comes', () => {
  const dock = boot(false, false);
  try {
    const kv = new KvStore();
    for (let i = 0; i <= 2000; i++) kv.set(`k${i}`, i);
    try {
      kv.list();
      assert.unreachable('2,001 keys listed whole');
    } catch (e) {
      assert.is((e as { code?: string }).code, 'list-too-large');
      assert.match((e as Error).message, /list\(\{ prefix, after, limit \}\)/);
    }
    assert.is(kv.list({ prefix: 'k1999' }).length, 1, 'a narrow prefix still lists whole');
    const first = kv.list({ limit: 10 });
    kv.delete(first[9]);
    const next = kv.list({ after: first[9], limit: 10 });
    assert.is(next.length, 10);
    assert.ok(next.every((k) => !first.includes(k)));
    assert.throws(() => kv.list({ limit: 0 }), /limit/);
  } finally {
    shutdown(dock);
  }
});

paging('image tags page the same way: each tag once across tiers, a type filter still fills the page', () => {
  const dock = boot(true, false);
  try {
    const images = new ImageStore();
    const png = makePng(8, 8);
    const bmp = makeBmp(4, 4);
    const tags = new Set(['default']); // the factory image's background
    for (let i = 0; i < 40; i++) {
      images.put(`t${i}`, i % 4 === 0 ? bmp : png, i % 4 === 0 ? BMP : PNG);
      tags.add(`t${i}`);
    }
    const seen: string[] = [];
    for (let page = images.list({ limit: 6 }); page.length > 0; page = images.list({ after: page[page.length - 1], limit: 6 })) seen.push(...page);
    assert.is(seen.length, tags.size, 'no tag twice');
    assert.equal(new Set(seen), tags);
    const bmps = images.list({ type: BMP, limit: 4 });
    assert.is(bmps.length, 4, 'a filtered page is still full while there are more');
    assert.ok(bmps.every((t) => Number(t.slice(1)) % 4 === 0));
  } finally {
    shutdown(dock);
  }
});

const streamed = suite('a value written in pieces (KvStore.beginSet) gets the key check set gets: one check');

/** What a call threw, as an app tells errors apart: class name, code, message. */
function refusal(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    return `${err.name} ${err.code}: ${err.message}`;
  }
}

streamed('every name set refuses (empty, not text, the namespace separator, past the runtime key limit after kv/ and the namespace, seeded random names at the boundary) is refused by beginSet with the same typed error, and nothing is written', () => {
  const flash = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
  const tiers = new TierSet({ runtime: RuntimeStore.format(flash) });
  const plain = new KvStore({ tiers });
  const ns = new KvStore({ tiers, namespace: 'wifi' });
  // The runtime store's keys are at most 255 bytes of UTF-8 (runtime FORMAT.md) and a KvStore key is stored as `kv/<name>`; a namespaced one as `kv/wifi\u001f<key>`.
  const plainLimit = 255 - 3;
  const nsLimit = 255 - 3 - 5;
  const fixed: [KvStore, unknown, boolean][] = [
    [plain, '', false],
    [plain, 42, false],
    [plain, null, false],
    [plain, 'a\u001fb', false],
    [plain, '\u001f', false],
    [ns, 'psk\u001f', false],
    [plain, 'k'.repeat(plainLimit), true],
    [plain, 'k'.repeat(plainLimit + 1), false],
    [plain, '\u00e9'.repeat(plainLimit / 2), true], // 2 bytes each: exactly the limit
    [plain, '\u00e9'.repeat(plainLimit / 2) + 'x', false],
    [plain, '\u{1F600}'.repeat(63), true], // 4 bytes each: 252
    [plain, '\u{1F600}'.repeat(63) + 'x', false],
    [ns, 'k'.repeat(nsLimit), true],
    [ns, 'k'.repeat(nsLimit + 1), false],
  ];
  const random = seeded(7450);
  const alphabet = ['a', 'Z', '0', '-', '/', ' ', '\u00e9', '\u20ac', '\u{1F600}', '\u001f'];
  const cases: [KvStore, unknown, boolean | null][] = [...fixed];
  for (let i = 0; i < 120; i++) {
    // Names whose UTF-8 length falls round the limit, now and then holding the separator.
    let name = '';
    const target = 236 + Math.floor(random() * 30);
    while (utf8Encode(name).length < target) name += alphabet[Math.floor(random() * (random() < 0.02 ? alphabet.length : alphabet.length - 1))];
    cases.push([random() < 0.3 ? ns : plain, name, null]);
  }
  let refused = 0;
  for (const [kv, name, accepted] of cases) {
    const label = JSON.stringify(name).slice(0, 40);
    const viaSet = refusal(() => kv.set(name as string, new Uint8Array([1, 2, 3]), { durability: 'immediate' }));
    if (accepted !== null) assert.is(viaSet === null, accepted, `set ${label}: ${viaSet}`);
    if (viaSet === null) {
      // Accepted by set: the same name streams, and reads back what was streamed.
      const w = kv.beginSet(name as string, 4, { durability: 'immediate' });
      w.append(new Uint8Array([9, 8]));
      w.append(new Uint8Array([7, 6]));
      w.commit();
      assert.equal(kv.get(name as string), new Uint8Array([9, 8, 7, 6]), label);
      continue;
    }
    refused++;
    const ops = flash.opCount;
    const keys = tiers.runtime!.keys().sort();
    const viaStream = refusal(() => kv.beginSet(name as string, 3));
    assert.is(viaStream, viaSet, `beginSet ${label}: the same typed error as set`);
    assert.is(flash.opCount, ops, `${label}: no flash operation`);
    assert.equal(tiers.runtime!.keys().sort(), keys, `${label}: no key`);
  }
  assert.ok(refused >= 10 && refused < cases.length - 10, `${refused} of ${cases.length} refused: both kinds were exercised`);
  // Nothing was left open: the runtime tier takes writes.
  plain.set('after', 1);
  assert.is(plain.get('after'), 1);
  // The length refusal names the key as written, with what is left after kv/ and the namespace.
  assert.match(String(refusal(() => ns.beginSet('k'.repeat(nsLimit + 1), 1))), new RegExp(`^KeyTooLongError key-too-long: key "k{40}…" is ${nsLimit + 1} bytes of UTF-8; keys are at most ${nsLimit} bytes`));
});

streamed('text written in pieces is checked as UTF-8 across pieces, as set checks a string: bad bytes, a character cut at the end, and a split character that is fine', () => {
  const flash = new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
  const tiers = new TierSet({ runtime: RuntimeStore.format(flash) });
  const kv = new KvStore({ tiers });
  kv.set('t', 'old');
  // "é€😀" split inside every character: accepted, stored as that text.
  const good = Uint8Array.from([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  const w = kv.beginSet('t', good.length, { text: true });
  for (const [a, b] of [[0, 1], [1, 3], [3, 6], [6, 9]]) w.append(good.subarray(a, b));
  w.commit();
  assert.is(kv.get('t'), '\u00e9\u20ac\u{1f600}');
  // Not UTF-8 (a surrogate's encoding, an overlong form, a stray continuation byte), or ending inside a character.
  const bad: [Uint8Array[], string][] = [
    [[Uint8Array.from([0x61, 0xed, 0xa0, 0x80])], 'a surrogate'],
    [[Uint8Array.from([0xc0, 0xaf])], 'an overlong form'],
    [[Uint8Array.from([0x61]), Uint8Array.from([0x80])], 'a stray continuation byte in the second piece'],
    [[Uint8Array.from([0x61, 0xe2, 0x82])], 'a character cut at the end'],
  ];
  for (const [pieces, what] of bad) {
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const writer = kv.beginSet('t', total, { text: true });
    let thrown: unknown = null;
    try {
      for (const p of pieces) writer.append(p);
      writer.commit();
    } catch (e) {
      thrown = e;
    }
    assert.instance(thrown, ValueNotStorableError, `${what}: refused`);
    assert.is(kv.get('t'), '\u00e9\u20ac\u{1f600}', `${what}: the key keeps its value`);
    kv.set('after', 1); // the runtime tier takes writes again: the stream was abandoned
  }
});

paging.after(() => rmSync(work, { recursive: true, force: true }));
paging.run();
streamed.run();
