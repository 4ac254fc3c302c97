import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import {
  CorruptRecordError,
  KeyInvalidError,
  KeyTooLongError,
  NotFormattedError,
  PartitionFullError,
  ValueTooLargeError,
} from '../datastore/runtime/errors.ts';
import { decodeValue, encodeValue } from '../datastore/value-codec.ts';

const KiB = 1024;
function flash(sectors = 32, programUnit = 256, seed = 1): SimFlash {
  return new SimFlash({ size: sectors * 4 * KiB, sectorSize: 4 * KiB, programUnit, seed });
}
function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}

const api = suite('runtime store: API');

api('set then get returns the same bytes, for 0 bytes up to a multi-sector value', () => {
  const store = RingStore.format(flash(64));
  for (const n of [0, 1, 15, 64, 4000, 4096, 9000, 70_000]) store.set(`v${n}`, bytes(n, n + 1));
  for (const n of [0, 1, 15, 64, 4000, 4096, 9000, 70_000]) assert.equal(store.get(`v${n}`), bytes(n, n + 1), `value of ${n} bytes`);
});

api('a missing key reads as undefined, and delete reports whether it removed anything', () => {
  const store = RingStore.format(flash());
  assert.is(store.get('nope'), undefined);
  assert.is(store.delete('nope'), false);
  store.set('a', bytes(3));
  assert.is(store.delete('a'), true);
  assert.is(store.get('a'), undefined);
  assert.is(store.has('a'), false);
});

api('overwrites keep only the newest value, and keys() lists each key once', () => {
  const store = RingStore.format(flash());
  for (let i = 0; i < 50; i++) store.set(`k${i % 5}`, bytes(10, i));
  assert.equal(store.keys().sort(), ['k0', 'k1', 'k2', 'k3', 'k4']);
  assert.equal(store.get('k4'), bytes(10, 49));
});

api('values and keys survive unmount and mount, with metadata', () => {
  const f = flash();
  const clock = { now: () => 1_736_000_000_000 };
  const store = RingStore.format(f, { clock });
  store.set('token', bytes(100, 7), { encoding: 2 });
  store.set('ünïcødé-ключ', bytes(5, 8));
  store.unmount();
  const again = RingStore.mount(f);
  assert.equal(again.get('token'), bytes(100, 7));
  assert.equal(again.get('ünïcødé-ключ'), bytes(5, 8));
  const info = again.info('token')!;
  assert.is(info.size, 100);
  assert.is(info.encoding, 2);
  assert.is(info.writtenAt, 1_736_000_000);
  assert.ok(again.stats().mountedCleanly);
});

api('values survive a mount without unmount (replay from the last checkpoint)', () => {
  const f = flash();
  const store = RingStore.format(f);
  for (let i = 0; i < 200; i++) store.set(`k${i % 30}`, bytes(40, i));
  store.delete('k3');
  const again = RingStore.mount(f);
  assert.is(again.get('k3'), undefined);
  for (let i = 170; i < 200; i++) if (i % 30 !== 3) assert.equal(again.get(`k${i % 30}`), bytes(40, i));
});

api('readRange reads part of a large value', () => {
  const store = RingStore.format(flash(64));
  const big = bytes(50_000, 3);
  store.set('blob', big);
  const part = new Uint8Array(1000);
  assert.is(store.readRange('blob', 12_345, part), 1000);
  assert.equal(part, big.subarray(12_345, 13_345));
});

api('structured values round-trip through the value codec (plain CBOR, raw strings and bytes)', () => {
  const store = RingStore.format(flash());
  const token = { access: 'abc', exp: 1736, scopes: ['a', 'b'], nested: { ok: true, n: null } };
  for (const [key, value] of [['obj', token], ['str', 'Meeting Room 4'], ['num', 3.25], ['raw', bytes(9)]] as const) {
    const { encoding, bytes: b } = encodeValue(value);
    store.set(key, b, { encoding });
    const rec = store.getRecord(key)!;
    assert.equal(decodeValue(rec.info.encoding, rec.value), value, key);
  }
  // Plain CBOR: a map of 1 pair {"a": 1} is a1 61 61 01 with no tags.
  assert.equal([...encodeValue({ a: 1 }).bytes], [0xa1, 0x61, 0x61, 0x01]);
});

const errors = suite('runtime store: bad input');

errors('a key too long is refused with its size and the limit, and nothing is written', () => {
  const f = flash();
  const store = RingStore.format(f);
  const before = f.stats.bytesProgrammed;
  const err = (() => { try { store.set('x'.repeat(256), bytes(1)); } catch (e) { return e; } })();
  assert.instance(err, KeyTooLongError);
  assert.is((err as KeyTooLongError).keyBytes, 256);
  assert.is((err as KeyTooLongError).limit, 255);
  assert.match((err as Error).message, /at most 255 bytes/);
  assert.is(f.stats.bytesProgrammed, before);
  store.set('x'.repeat(255), bytes(1)); // the limit itself is fine
});

errors('empty and non-string keys are refused', () => {
  const store = RingStore.format(flash());
  assert.throws(() => store.set('', bytes(1)), (e: unknown) => e instanceof KeyInvalidError);
  assert.throws(() => store.set(42 as unknown as string, bytes(1)), (e: unknown) => e instanceof KeyInvalidError);
});

errors('a value too large is refused with the limit', () => {
  const store = RingStore.format(flash(), { maxValueBytes: 1000 });
  assert.throws(() => store.set('big', bytes(1001)), (e: unknown) => e instanceof ValueTooLargeError && e.limit === 1000);
  assert.is(store.get('big'), undefined);
});

errors('a full partition is refused with how much is free; earlier data stays and deletes make room', () => {
  const f = flash(16);
  const store = RingStore.format(f);
  let written = 0;
  let err: unknown;
  try {
    for (; written < 1000; written++) store.set(`k${written}`, bytes(3000, written));
  } catch (e) {
    err = e;
  }
  assert.instance(err, PartitionFullError);
  assert.ok((err as PartitionFullError).free < 3000 + 40, 'free figure below the request');
  assert.match((err as Error).message, /free/);
  assert.ok(written > 5, `wrote ${written} values before full`);
  for (let i = 0; i < written; i++) assert.equal(store.get(`k${i}`), bytes(3000, i));
  assert.is(store.get(`k${written}`), undefined);
  store.delete('k0');
  store.delete('k1');
  store.set('again', bytes(3000, 99));
  assert.equal(store.get('again'), bytes(3000, 99));
  const remounted = RingStore.mount(f);
  assert.equal(remounted.get(`k${written - 1}`), bytes(3000, written - 1));
});

errors('small values one commit each in 256-byte units: capacity counts what each record keeps on flash; the verdict survives a remount', () => {
  const f = flash(32, 256);
  const store = RingStore.format(f);
  const capacity = store.stats().capacityBytes;
  let n = 0;
  for (;; n++) {
    try {
      store.set(`setting-${n}`, bytes(64, n));
    } catch (e) {
      assert.instance(e, PartitionFullError);
      break;
    }
  }
  // Each commit pads its ~94-byte record to a 256-byte unit, with PAD (counted with the record
  // until GC packs it) or with a slice of the index snapshot (garbage at once): between
  // capacity / 256 and capacity / 94 fit. (Capacity shrinks as the index grows: the reserve
  // holds a checkpoint of every key.)
  const record = 16 + 'setting-000'.length + 64 + 4;
  const full = store.stats().capacityBytes;
  assert.ok(n >= Math.floor((full / 256) * 0.95) && n <= full / record, `${n} values in ${full} B of capacity`);
  for (let i = 0; i < n; i++) assert.equal(store.get(`setting-${i}`), bytes(64, i));
  const again = RingStore.mount(f);
  assert.is(again.size, n);
  for (let i = 0; i < n; i++) assert.equal(again.get(`setting-${i}`), bytes(64, i));
  assert.throws(() => again.set('one-more', bytes(64, 1)), (e: unknown) => e instanceof PartitionFullError, 'the same verdict after a remount');
  // Batched commits pack small values densely.
  const g = flash(32, 256);
  const batched = RingStore.format(g, { durability: 'batched' });
  let m = 0;
  for (;; m++) {
    try {
      batched.set(`setting-${m}`, bytes(64, m));
    } catch (e) {
      assert.instance(e, PartitionFullError);
      break;
    }
  }
  assert.ok(m > n * 1.5 && m <= full / record * 1.1, `batched: ${m} values, immediate: ${n}`);
});

errors('mounting a blank or foreign partition says it is not formatted', () => {
  assert.throws(() => RingStore.mount(flash()), (e: unknown) => e instanceof NotFormattedError);
  const f = flash();
  f.program(0, new Uint8Array(256).fill(0x12));
  assert.throws(() => RingStore.mount(f), (e: unknown) => e instanceof NotFormattedError);
  const store = RingStore.open(f); // formats: blank-checks and erases the foreign sector
  store.set('a', bytes(2));
  assert.equal(RingStore.mount(f).get('a'), bytes(2));
});

errors('format over an existing store empties it atomically (one sector open)', () => {
  const f = flash();
  const store = RingStore.format(f);
  for (let i = 0; i < 40; i++) store.set(`k${i}`, bytes(100, i));
  const erasesBefore = f.stats.erases;
  const fresh = RingStore.format(f);
  assert.is(fresh.size, 0);
  assert.ok(f.stats.erases - erasesBefore <= 1, 'at most one erase');
  assert.is(RingStore.mount(f).size, 0);
});

const model = suite('runtime store: model-based');

type Op = { t: 'set'; k: number; n: number; s: number } | { t: 'del'; k: number } | { t: 'flush' } | { t: 'remount'; clean: boolean };
const opArb = (bigValues: boolean) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.record({ t: fc.constant('set' as const), k: fc.nat(30), n: bigValues ? fc.oneof(fc.nat(200), fc.nat(12_000)) : fc.nat(200), s: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: fc.nat(30) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('flush' as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('remount' as const), clean: fc.boolean() }) },
  );

function runModel(ops: Op[], sectors: number, programUnit: number, durability: 'immediate' | 'batched'): void {
  const f = flash(sectors, programUnit);
  let store = RingStore.format(f, { durability, batchSize: 5 });
  const m = new Map<string, Uint8Array>();
  for (const op of ops) {
    if (op.t === 'set') {
      const v = bytes(op.n, op.s);
      try {
        store.set(`key${op.k}`, v);
        m.set(`key${op.k}`, v);
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
      }
    } else if (op.t === 'del') {
      assert.is(store.delete(`key${op.k}`), m.delete(`key${op.k}`));
    } else if (op.t === 'flush') {
      store.flush();
    } else {
      if (op.clean) store.unmount();
      else store.flush(); // a mount without unmount, after a commit: nothing may be lost
      store = RingStore.mount(f, { durability, batchSize: 5 });
    }
    for (const [k, v] of m) assert.equal(store.get(k), v, k);
  }
  assert.equal(store.keys().sort(), [...m.keys()].sort());
}

model('random set/delete/flush/remount sequences match a Map (small fill, both program units, both durabilities)', () => {
  for (const unit of [16, 256]) {
    for (const durability of ['immediate', 'batched'] as const) {
      fc.assert(fc.property(fc.array(opArb(false), { maxLength: 300 }), (ops) => runModel(ops, 24, unit, durability)), { numRuns: 25, seed: 42 });
    }
  }
});

model('the same at full fill: large values in a small partition, driving GC and partition-full', () => {
  for (const unit of [16, 256]) {
    fc.assert(fc.property(fc.array(opArb(true), { minLength: 100, maxLength: 250 }), (ops) => runModel(ops, 16, unit, 'immediate')), { numRuns: 20, seed: 7 });
  }
});

const faults = suite('runtime store: bit flips and wear');

faults('a flipped stored bit is detected: the value is reported corrupt, never returned wrong', () => {
  const f = flash();
  const store = RingStore.format(f);
  store.set('a', bytes(300, 1));
  store.set('b', bytes(300, 2));
  const at = store.info('a')!.offset + 16 + 1 + 100; // inside a's value
  f.flipStoredBit(at, 3);
  const err = (() => { try { store.get('a'); } catch (e) { return e; } })();
  assert.instance(err, CorruptRecordError);
  assert.match((err as Error).message, /corrupt/);
  assert.equal(store.get('b'), bytes(300, 2));
  // After a remount (a cut) the damage is still reported, never returned: a mount does not
  // reread a value of 32 B or more whose program completed (FORMAT.md §6.3). b is untouched.
  const again = RingStore.mount(f);
  assert.equal(again.get('b'), bytes(300, 2));
  assert.instance((() => { try { again.get('a'); } catch (e) { return e; } })(), CorruptRecordError);
  // Writing the key again replaces the damaged record.
  again.set('a', bytes(300, 3));
  assert.equal(again.get('a'), bytes(300, 3));
  assert.equal(RingStore.mount(f).get('a'), bytes(300, 3));
});

faults('a flipped bit in a short value (under 32 B) is found at mount: the record is skipped and counted', () => {
  const f = flash();
  const store = RingStore.format(f);
  store.set('a', bytes(20, 1));
  store.set('b', bytes(300, 2));
  const at = store.info('a')!.offset + 16 + 1 + 10; // inside a's value
  f.flipStoredBit(at, 3);
  const again = RingStore.mount(f);
  assert.equal(again.get('b'), bytes(300, 2));
  assert.ok(again.stats().corruptRecordsSkipped >= 1);
  // 'a' had no older version: after the skip it has no value at all (never the flipped bytes).
  assert.is(again.has('a'), false);
  assert.is(again.get('a'), undefined);
  assert.equal(again.keys(), ['b']);
  assert.is(again.stats().keys, 1);
});

faults('a bit flipped in an older version falls back to nothing wrong: the newest version is still served', () => {
  const f = flash();
  const store = RingStore.format(f);
  store.set('a', bytes(50, 1));
  const old = store.info('a')!.offset;
  store.set('a', bytes(50, 2));
  f.flipStoredBit(old + 20, 0);
  assert.equal(RingStore.mount(f).get('a'), bytes(50, 2));
});

faults('transient read bit flips never produce wrong bytes (reads are verified and retried)', () => {
  const f = flash(64);
  const store = RingStore.format(f);
  const values = new Map<string, Uint8Array>();
  for (let i = 0; i < 300; i++) {
    const v = bytes(20 + (i % 200), i);
    store.set(`k${i % 60}`, v);
    values.set(`k${i % 60}`, v);
  }
  f.setReadBitFlipRate(1e-5);
  let wrong = 0;
  let reported = 0;
  for (let round = 0; round < 5; round++) {
    for (const [k, v] of values) {
      try {
        const got = store.get(k);
        if (!got || got.length !== v.length || got.some((b, i) => b !== v[i])) wrong++;
      } catch (e) {
        if (e instanceof CorruptRecordError) reported++;
        else throw e;
      }
    }
  }
  assert.ok(f.stats.bitFlips > 0, 'flips happened');
  assert.is(wrong, 0);
  assert.ok(reported <= 2, `${reported} spurious corrupt reports`);
  // And a mount under flips still finds everything.
  const again = RingStore.mount(f);
  f.setReadBitFlipRate(0);
  for (const [k, v] of values) assert.equal(again.get(k), v);
});

faults('a worn-out sector is retired and the store keeps working with less capacity, saying so', () => {
  const f = flash(24);
  const store = RingStore.format(f);
  const capacity = store.stats().capacityBytes;
  f.setSectorEndurance(5, 1);
  f.setSectorEndurance(6, 1);
  const m = new Map<string, Uint8Array>();
  for (let i = 0; i < 3000; i++) {
    const v = bytes(100, i);
    store.set(`k${i % 40}`, v);
    m.set(`k${i % 40}`, v);
  }
  const stats = store.stats();
  assert.equal(stats.retiredSectors, [5, 6]);
  assert.ok(stats.capacityBytes < capacity, 'capacity shrank');
  for (const [k, v] of m) assert.equal(store.get(k), v);
  const again = RingStore.mount(f);
  for (const [k, v] of m) assert.equal(again.get(k), v);
  assert.equal(again.stats().retiredSectors, [5, 6]);
});

faults('wear is level: after many passes erase counts differ by at most 2 across all sectors', () => {
  const f = flash(32);
  const store = RingStore.format(f);
  for (let i = 0; i < 200; i++) store.set(`cold${i}`, bytes(60, i)); // static data must move too
  for (let i = 0; i < 8000; i++) store.set(`hot${i % 10}`, bytes(60, i));
  const w = f.wear();
  assert.ok(w.min >= 3, `every sector erased several times (min ${w.min})`);
  assert.ok(w.max - w.min <= 2, `max ${w.max} min ${w.min}`);
  for (let i = 0; i < 200; i++) assert.equal(store.get(`cold${i}`), bytes(60, i));
});

api.run();
errors.run();
model.run();
faults.run();
