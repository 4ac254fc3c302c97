// A key damaged on flash (bit rot, a weak erase's bits) must never surface as
// a key that was never written, and must not leave the index pointing into a
// sector GC erased. Before the key check (FORMAT.md §3, byte 3), a large value
// whose key lost a bit came back at mount under the damaged name, since a
// mount does not reread large values and the key is checked only with them.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { equal } from './support/power-cut-sweep.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { CorruptRecordError } from '../datastore/runtime/errors.ts';
import { LARGE_VALUE } from '../datastore/runtime/format.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const KiB = 1024;

function value(n: number, seed: number): Uint8Array {
  const v = new Uint8Array(n);
  for (let i = 0; i < n; i++) v[i] = (i * 97 + seed * 13) & 0xff;
  return v;
}

/** Every offset where `text` is stored on flash. */
function offsetsOf(f: SimFlash, text: string): number[] {
  const all = Buffer.from(f.snapshot());
  const needle = Buffer.from(text);
  const out: number[] = [];
  for (let at = all.indexOf(needle); at >= 0; at = all.indexOf(needle, at + 1)) out.push(at);
  return out;
}

function throwsCorrupt(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    return e instanceof CorruptRecordError;
  }
}

const t = suite('runtime store: a damaged key never becomes a key that was never written');

for (const unit of [256, 16]) {
  t(`${unit} B unit: a large value's key damaged before a mount after a cut: no phantom key, the record counts as corrupt`, () => {
    const random = seededRandom(unit);
    for (let run = 0; run < 20; run++) {
      const f = new SimFlash({ size: 40 * 4 * KiB, sectorSize: 4 * KiB, programUnit: unit, seed: run + 1 });
      // 300 keys and a clean unmount first, with a cycle budget too large to pace: no index cycle
      // completes after the checkpoint, so the mount replays over the value (at 256 B units a
      // slice in one commit's padding would otherwise cover a handful of keys whole).
      const options = { indexCycleBytes: 1 << 30 };
      const first = RingStore.format(f, { ...options, durability: 'batched', batchSize: 64 });
      for (let i = 0; i < 300; i++) first.set(`k${i}`, value(4, i));
      first.unmount();
      const store = RingStore.mount(f, options);
      const big = value(LARGE_VALUE + Math.floor(random() * 4 * KiB), run);
      store.set('bigkey-0001', big);
      const others = new Map<string, Uint8Array>();
      for (let i = 0; i < 300; i++) others.set(`k${i}`, value(4, i));
      for (let i = 0; i < 20; i++) {
        const v = value(60, i);
        store.set(`small-${i}`, v);
        others.set(`small-${i}`, v);
      }
      const [at] = offsetsOf(f, 'bigkey-0001');
      f.flipStoredBit(at + Math.floor(random() * 11), Math.floor(random() * 8));
      const again = RingStore.mount(f); // no unmount: the power was cut
      const keys = again.keys();
      for (const k of keys) assert.ok(k === 'bigkey-0001' || others.has(k), `run ${run}: ${JSON.stringify(k)} was never written`);
      assert.not.ok(keys.includes('bigkey-0001') && !throwsCorrupt(() => again.get('bigkey-0001')), `run ${run}: the damaged value is never returned as good`);
      for (const [k, v] of others) assert.ok(equal(again.get(k), v), `run ${run}: ${k}`);
      assert.ok(again.stats().corruptRecordsSkipped >= 1 || throwsCorrupt(() => again.get('bigkey-0001')), `run ${run}: the damage is reported`);
    }
  });

  t(`${unit} B unit: a key damaged while mounted is never listed, get() reports it corrupt through GC passes, and a new write replaces it`, () => {
    const random = seededRandom(unit + 5);
    for (let run = 0; run < 6; run++) {
      const f = new SimFlash({ size: 24 * 4 * KiB, sectorSize: 4 * KiB, programUnit: unit, seed: run + 1 });
      const store = RingStore.format(f);
      const model = new Map<string, Uint8Array>();
      store.set('victim-key', value(40, 1));
      for (let i = 0; i < 30; i++) {
        const v = value(50, i);
        store.set(`k${i}`, v);
        model.set(`k${i}`, v);
      }
      const [at] = offsetsOf(f, 'victim-key');
      f.flipStoredBit(at + Math.floor(random() * 10), Math.floor(random() * 8));
      const check = (what: string) => {
        const keys = store.keys();
        for (const k of keys) assert.ok(model.has(k), `run ${run}, ${what}: ${JSON.stringify(k)} listed, never written`);
        assert.ok(throwsCorrupt(() => store.get('victim-key')), `run ${run}, ${what}: get() reports the damaged record`);
        for (const [k, v] of model) assert.ok(equal(store.get(k), v), `run ${run}, ${what}: ${k}`);
      };
      check('damaged');
      // Several passes of the ring: GC moves the damaged record (it must not lose track of it).
      for (let i = 0; i < 3000; i++) {
        const k = `k${Math.floor(random() * 30)}`;
        const v = value(50 + (i % 30), i);
        store.set(k, v);
        model.set(k, v);
      }
      assert.ok(f.stats.erases > 48, 'the ring went round at least twice');
      check('after GC');
      const remounted = RingStore.mount(f); // a cut
      assert.ok(throwsCorrupt(() => remounted.get('victim-key')) || remounted.get('victim-key') === undefined, `run ${run}: after a cut the damaged record is corrupt or gone, never good`);
      for (const k of remounted.keys()) assert.ok(model.has(k), `run ${run}, remounted: ${JSON.stringify(k)} never written`);
      const fresh = value(33, 99);
      remounted.set('victim-key', fresh);
      model.set('victim-key', fresh);
      assert.ok(equal(remounted.get('victim-key'), fresh), `run ${run}: a new write replaces the damaged record`);
      assert.is(remounted.keys().length, remounted.size, `run ${run}: every key counted is listed again`);
      remounted.unmount();
      const last = RingStore.mount(f);
      assert.equal(last.keys().sort(), [...model.keys()].sort(), `run ${run}: keys after a clean remount`);
    }
  });
}

t.run();
