// Streamed values (RingStore.beginValue): a value of known length written
// in chunks and committed atomically, as a 2 MiB image is written without
// holding it in the dock's heap. Expected bytes come from the test's own
// generator, never from the store.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { PartitionFullError, ValueStreamError, ValueTooLargeError } from '../datastore/runtime/errors.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { equal, isInjectedCut } from './support/power-cut-sweep.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

function sim(sectors: number, programUnit: number, seed = 1): SimFlash {
  return new SimFlash({ size: sectors * 4 * KiB, sectorSize: 4 * KiB, programUnit, seed });
}

function bytes(n: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: n }, () => (random() * 256) | 0);
}

/** Stream `value` in chunks of `chunk` bytes (the last one shorter). */
function stream(store: RingStore, key: string, value: Uint8Array, chunk: number): void {
  const w = store.beginValue(key, value.length);
  for (let i = 0; i < value.length; i += chunk) w.append(value.subarray(i, Math.min(value.length, i + chunk)));
  w.commit();
}

const s = suite('runtime store: streamed values');

s('a 2 MiB value streamed in 4 KiB chunks reads back as set() would store it, survives a remount, and programs what set() programs', () => {
  for (const unit of [256, 16]) {
    const value = bytes(2 * MiB, unit);
    const a = sim(13 * 256, unit);
    const viaSet = RingStore.format(a);
    viaSet.set('background', value, { encoding: 3 });
    const b = sim(13 * 256, unit);
    const viaStream = RingStore.format(b);
    const w = viaStream.beginValue('background', value.length, { encoding: 3 });
    for (let i = 0; i < value.length; i += 4096) w.append(value.subarray(i, i + 4096));
    assert.is(w.written, value.length);
    w.commit();
    assert.ok(equal(viaStream.get('background'), value), `${unit} B units: read back`);
    assert.is(viaStream.info('background')!.encoding, 3);
    assert.is(b.stats.bytesProgrammed, a.stats.bytesProgrammed, `${unit} B units: the same bytes reach flash`);
    const again = RingStore.mount(b);
    assert.ok(equal(again.get('background'), value), `${unit} B units: after a remount`);
    const part = new Uint8Array(1000);
    again.readRange('background', 1_234_567, part);
    assert.ok(equal(part, value.subarray(1_234_567, 1_235_567)));
  }
});

s('odd chunk sizes, empty chunks and a 0-byte value; overwriting a key keeps one value', () => {
  const f = sim(32, 16);
  const store = RingStore.format(f, { durability: 'batched' });
  for (const [n, chunk] of [[0, 1], [1, 1], [4095, 7], [9000, 4096], [20_000, 333]] as const) {
    const value = bytes(n, n + 1);
    const w = store.beginValue(`v${n}`, n);
    w.append(new Uint8Array(0));
    for (let i = 0; i < n; i += chunk) w.append(value.subarray(i, Math.min(n, i + chunk)));
    w.commit();
    assert.ok(equal(store.get(`v${n}`), value), `${n} bytes in chunks of ${chunk}`);
  }
  stream(store, 'v9000', bytes(500, 9), 100);
  store.flush();
  const again = RingStore.mount(f);
  assert.ok(equal(again.get('v9000'), bytes(500, 9)));
  assert.equal(again.keys().sort(), ['v0', 'v1', 'v20000', 'v4095', 'v9000']);
});

s('misuse gets a typed error and changes nothing: too many or too few bytes, other writes while open, a value too large, a full partition', () => {
  const f = sim(16, 256);
  const store = RingStore.format(f);
  store.set('keep', bytes(10, 1));
  const w = store.beginValue('img', 100);
  w.append(bytes(60, 2));
  assert.throws(() => w.append(bytes(41, 3)), (e: unknown) => e instanceof ValueStreamError && /more than the 100 declared/.test((e as Error).message));
  assert.throws(() => w.commit(), (e: unknown) => e instanceof ValueStreamError && /60 of the 100/.test((e as Error).message));
  assert.throws(() => store.set('other', bytes(1, 1)), (e: unknown) => e instanceof ValueStreamError && /still open/.test((e as Error).message));
  assert.throws(() => store.delete('keep'), (e: unknown) => e instanceof ValueStreamError);
  assert.throws(() => store.beginValue('x', 1), (e: unknown) => e instanceof ValueStreamError);
  assert.ok(equal(store.get('keep'), bytes(10, 1)), 'reads go on while a value is open');
  w.append(bytes(40, 4));
  w.commit();
  assert.throws(() => w.append(bytes(1, 1)), (e: unknown) => e instanceof ValueStreamError && /already committed/.test((e as Error).message));
  assert.throws(() => store.beginValue('big', 10 * MiB), (e: unknown) => e instanceof ValueTooLargeError);
  assert.throws(() => store.beginValue('bad', -1), (e: unknown) => e instanceof ValueStreamError);
  const g = sim(16, 256);
  const roomy = RingStore.format(g, { maxValueBytes: MiB });
  const programmed = g.stats.bytesProgrammed;
  assert.throws(() => roomy.beginValue('huge', 60 * KiB), (e: unknown) => e instanceof PartitionFullError);
  assert.is(g.stats.bytesProgrammed, programmed, 'a refused value programs nothing');
  stream(roomy, 'fits', bytes(8 * KiB, 7), 4096);
  assert.ok(equal(RingStore.mount(g).get('fits'), bytes(8 * KiB, 7)));
  store.set('after', bytes(5, 5));
  assert.ok(equal(RingStore.mount(f).get('img'), new Uint8Array([...bytes(60, 2), ...bytes(40, 4)])));
});

s('abort keeps the old value, whether nothing or several sectors of the new one reached flash; the store goes on and a remount agrees', () => {
  for (const unit of [256, 16]) {
    for (const abortAfter of [0, 100, 3000, 9000, 30_000]) {
      const f = sim(32, unit);
      let store = RingStore.format(f);
      store.set('img', bytes(700, 1));
      store.set('other', bytes(50, 2));
      const w = store.beginValue('img', 40_000);
      w.append(bytes(abortAfter, 3));
      w.abort();
      w.abort(); // idempotent
      assert.ok(equal(store.get('img'), bytes(700, 1)), `${unit} B, abort after ${abortAfter}: old value`);
      store.set('next', bytes(80, 4));
      stream(store, 'img2', bytes(5000, 5), 1000);
      for (const again of [store, RingStore.mount(f)]) {
        assert.ok(equal(again.get('img'), bytes(700, 1)), `${unit} B, abort after ${abortAfter}: old value after remount`);
        assert.ok(equal(again.get('other'), bytes(50, 2)));
        assert.ok(equal(again.get('next'), bytes(80, 4)));
        assert.ok(equal(again.get('img2'), bytes(5000, 5)));
        assert.equal(again.keys().sort(), ['img', 'img2', 'next', 'other']);
      }
      store = RingStore.mount(f);
      store.set('later', bytes(10, 6));
      store.unmount();
      assert.ok(equal(RingStore.mount(f).get('later'), bytes(10, 6)));
    }
  }
});

s('a power cut at any flash operation of a streamed overwrite (clean, torn, interrupted, weak): the old value or the whole new one, and the store takes writes after', () => {
  const effects: PowerCutEffect[] = ['clean', 'torn', 'interrupted', 'weak'];
  let cases = 0;
  for (const unit of [256, 16]) {
    for (const effect of effects) {
     for (const aborted of [false, true]) {
      for (let k = 0; ; k++) {
        const f = sim(24, unit, k + 1);
        const store = RingStore.format(f);
        // Age the ring a little so opens erase, then overwrite a multi-sector value by stream.
        for (let i = 0; i < 120; i++) store.set(`fill${i % 6}`, bytes(900, i));
        store.set('img', bytes(9000, 1));
        const kind = effect === 'interrupted' ? 'program' : effect === 'weak' ? 'erase' : 'any';
        f.armPowerCut({ atOp: kind === 'any' ? f.opCount + k : k, effect, kind });
        let cut = false;
        try {
          if (aborted) {
            // Two and a half sectors of the new value reach flash, then it is dropped and a
            // small write follows: the dropped record must never count.
            const w = store.beginValue('img', 20_000);
            w.append(bytes(10_000, 2));
            w.abort();
            store.set('after', bytes(40, 8));
          } else {
            stream(store, 'img', bytes(20_000, 2), 1500);
          }
        } catch (e) {
          if (!isInjectedCut(e)) throw e;
          cut = true;
        }
        f.powerOn();
        if (!cut) break; // the stream finished before operation k: every earlier one was cut
        cases++;
        const after = RingStore.mount(f);
        const got = after.get('img');
        assert.ok(equal(got, bytes(9000, 1)) || (!aborted && equal(got, bytes(20_000, 2))), `${unit} B, ${effect} at op ${k}${aborted ? ', aborted' : ''}: img is ${got?.length} bytes`);
        const afterValue = after.get('after');
        assert.ok(afterValue === undefined || (aborted && equal(afterValue, bytes(40, 8))), `${unit} B, ${effect} at op ${k}: 'after' is whole or absent`);
        for (let i = 114; i < 120; i++) assert.ok(equal(after.get(`fill${i % 6}`), bytes(900, i)), `${unit} B, ${effect} at op ${k}: fill${i % 6}`);
        stream(after, 'img3', bytes(3000, 3), 512);
        after.set('probe', bytes(3, k));
        const again = RingStore.mount(f);
        assert.ok(equal(again.get('img3'), bytes(3000, 3)) && equal(again.get('probe'), bytes(3, k)), `${unit} B, ${effect} at op ${k}: writes after recovery kept`);
        assert.ok(equal(again.get('img'), got), 'and the recovered value stays');
      }
     }
    }
  }
  assert.ok(cases > 80, `${cases} cuts`);
});

s('beginValue commits batched writes first (no flush can run while a value is open), and a reformat mid-stream aborts the value: nothing of it reaches the new store', () => {
  for (const unit of [256, 16]) {
    const flash = sim(64, unit);
    const store = RingStore.format(flash, { durability: 'batched', batchSize: 16 });
    store.set('a', bytes(10, 1));
    assert.is(store.pendingWrites, 1);
    const w = store.beginValue('big', 20 * KiB);
    assert.is(store.pendingWrites, 0, 'the batched write was committed by beginValue');
    w.append(bytes(12 * KiB, 2));
    const fresh = store.reformat();
    assert.throws(() => w.append(bytes(KiB, 3)), (e: unknown) => e instanceof ValueStreamError, 'the open value was aborted by the reformat');
    fresh.set('after', bytes(5, 4));
    for (let i = 0; i < 30; i++) fresh.set(`k${i}`, bytes(900, 10 + i)); // fills sectors the old stream would have written
    fresh.unmount();
    const again = RingStore.open(flash);
    assert.equal(again.keys().sort(), ['after', ...Array.from({ length: 30 }, (_, i) => `k${i}`)].sort());
    assert.ok(equal(again.get('k29')!, bytes(900, 39)));
  }
});

s('a clean unmount with a value still open abandons it: the key keeps its old value and the next mount is clean', () => {
  for (const unit of [256, 16]) {
    const flash = sim(64, unit);
    const store = RingStore.format(flash);
    store.set('img', bytes(50, 7));
    const w = store.beginValue('img', 9 * KiB);
    w.append(bytes(6 * KiB, 8));
    store.unmount();
    assert.not.ok(w.isOpen, 'the writer was aborted');
    const again = RingStore.open(flash);
    assert.ok(again.stats().mountedCleanly, 'clean mount after the unmount');
    assert.ok(equal(again.get('img')!, bytes(50, 7)));
  }
});

s.run();
