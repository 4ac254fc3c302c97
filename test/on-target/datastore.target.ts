// Datastore tests that run inside the dock's engine (bundled with the engine
// profile, executed by test/on-target.test.ts in QuickJS). Device code only:
// no Node, no test framework; a tiny harness reports each test's outcome.

import { RuntimeStore } from '../../datastore/runtime/runtime-store.ts';
import { KeyTooLongError, PartitionFullError, ValueTooLargeError } from '../../datastore/runtime/errors.ts';
import { TierSet } from '../../datastore/tiers/tier-set.ts';
import { KvStore } from '../../datastore/kv-store.ts';
import { ImageStore } from '../../datastore/image-store.ts';
import { HostFlash, HostEphemeral } from '../../firmware/host-hal.ts';
import { EPHEMERAL_DATA } from '../../datastore/tiers/tier-set.ts';
import { checkImage, ImageInvalidError } from '../../images/image-check.ts';
import { PNG } from '../../images/image-type.ts';

type Test = [string, () => void];
const tests: Test[] = [];
const test = (name: string, fn: () => void) => tests.push([name, fn]);

function fail(message: string): never {
  throw new Error(message);
}
function eq(a: unknown, b: unknown, what: string): void {
  if (JSON.stringify(a) !== JSON.stringify(b)) fail(`${what}: got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`);
}
function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function throwsA(fn: () => void, type: Function, what: string): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return;
    fail(`${what}: threw ${String(e)}`);
  }
  fail(`${what}: did not throw`);
}

const flash = () => new HostFlash('scratch');

test('set then get returns the same bytes, from 0 bytes to a multi-sector value', () => {
  const store = RuntimeStore.format(flash());
  const sizes = [0, 1, 15, 64, 4000, 4096, 9000, 70000];
  for (const n of sizes) store.set(`v${n}`, bytes(n, n + 1));
  for (const n of sizes) if (!same(store.get(`v${n}`), bytes(n, n + 1))) fail(`value of ${n} bytes`);
});

test('missing keys, deletes, overwrites and keys()', () => {
  const store = RuntimeStore.format(flash());
  eq(store.get('nope'), undefined, 'missing');
  for (let i = 0; i < 50; i++) store.set(`k${i % 5}`, bytes(10, i));
  eq(store.keys().sort(), ['k0', 'k1', 'k2', 'k3', 'k4'], 'keys');
  eq(store.delete('k0'), true, 'delete');
  eq(store.delete('k0'), false, 'delete again');
  if (!same(store.get('k4'), bytes(10, 49))) fail('newest value');
});

test('values and metadata survive unmount and mount', () => {
  const f = flash();
  const store = RuntimeStore.format(f, { clock: { now: () => 1736000000000 } });
  store.set('a', bytes(300, 3), { encoding: 7 });
  store.unmount();
  const again = RuntimeStore.mount(f);
  if (!same(again.get('a'), bytes(300, 3))) fail('value after remount');
  eq([again.info('a')!.encoding, again.info('a')!.writtenAt, again.info('a')!.size], [7, 1736000000, 300], 'metadata');
});

test('bad input: typed errors that change nothing', () => {
  const store = RuntimeStore.format(flash());
  store.set('keep', bytes(5, 5));
  throwsA(() => store.set('x'.repeat(300), bytes(1, 1)), KeyTooLongError, 'key too long');
  throwsA(() => store.set('big', bytes(store.flash.size, 1)), ValueTooLargeError, 'value too large');
  let n = 0;
  try {
    for (; n < 1000; n++) store.set(`fill${n}`, bytes(3000, n));
  } catch (e) {
    if (!(e instanceof PartitionFullError)) throw e;
  }
  if (n === 1000) fail('never full');
  if (!same(store.get('keep'), bytes(5, 5))) fail('kept value');
});

test('random sequences against a Map, with remounts (model-based)', () => {
  const f = flash();
  let store: RuntimeStore = RuntimeStore.format(f);
  const model = new Map<string, Uint8Array>();
  let x = 12345;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x % n;
  };
  for (let i = 0; i < 600; i++) {
    const key = `key${rnd(25)}`;
    const r = rnd(100);
    if (r < 15) eq(store.delete(key), model.delete(key), `delete ${key}`);
    else if (r < 18) {
      store.unmount();
      store = RuntimeStore.mount(f);
    } else {
      const v = bytes(rnd(r < 20 ? 9000 : 200), i);
      try {
        store.set(key, v);
        model.set(key, v);
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
      }
    }
  }
  for (const [k, v] of model) if (!same(store.get(k), v)) fail(`key ${k}`);
  eq(store.keys().length, model.size, 'key count');
});

test('KvStore over runtime and the host ephemeral area: tier order, SDK empty string', () => {
  const tiers = new TierSet({ runtime: RuntimeStore.format(flash()), ephemeral: new HostEphemeral() });
  const kv = new KvStore({ tiers });
  eq(kv.get('missing'), '', 'SDK empty string');
  kv.set('name', 'runtime');
  kv.set('name', 'ephemeral', { tier: EPHEMERAL_DATA });
  eq(kv.get('name'), 'ephemeral', 'ephemeral first');
  kv.delete('name', { tier: EPHEMERAL_DATA });
  eq(kv.get('name'), 'runtime', 'then runtime');
  eq(kv.list(), ['name'], 'list');
});

test('paged listing over runtime and the host ephemeral area: each key once, the ephemeral keys cross a page at a time, count agrees', () => {
  const tiers = new TierSet({ runtime: RuntimeStore.format(flash()), ephemeral: new HostEphemeral() });
  tiers.ephemeral!.clear();
  const kv = new KvStore({ tiers });
  const expected: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const key = 'k' + ((i * 7919) % 1000);
    kv.set(key, i, { tier: i % 3 === 0 ? EPHEMERAL_DATA : undefined });
    expected[key] = 1;
  }
  kv.set('k0', 'both tiers'); // k0 is in the ephemeral area too: listed once
  expected.k0 = 1;
  let seen: Record<string, number> = {};
  let n = 0;
  let after: string | undefined;
  for (;;) {
    const page = kv.list({ after, limit: 17 });
    if (page.length === 0) break;
    if (page.length > 17) fail('a page longer than its limit');
    for (const k of page) {
      if (seen[k]) fail('listed twice: ' + k);
      seen[k] = 1;
      n++;
    }
    after = page[page.length - 1];
  }
  eq(Object.keys(seen).sort(), Object.keys(expected).sort(), 'every key');
  eq(kv.count(), n, 'count');
  seen = {};
});

test('image checks run on target', () => {
  let threw = false;
  try {
    checkImage(new Uint8Array([1, 2, 3]), PNG, 'junk.png');
  } catch (e) {
    threw = e instanceof ImageInvalidError; // anything else (a missing global in the engine) is a failure
  }
  if (!threw) fail('junk accepted as PNG');
  const tiers = new TierSet({ runtime: RuntimeStore.format(flash()) });
  let refused = false;
  try {
    new ImageStore({ tiers }).put('x', new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), PNG);
  } catch (e) {
    refused = e instanceof ImageInvalidError;
  }
  if (!refused) fail('a JPEG stored as PNG');
});

(globalThis as Record<string, unknown>).runTargetTests = (): string[] => {
  const results: string[] = [];
  for (const [name, fn] of tests) {
    try {
      fn();
      results.push(`ok ${name}`);
    } catch (e) {
      results.push(`FAIL ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return results;
};
