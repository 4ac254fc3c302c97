// The rolling index snapshot (FORMAT.md §5.2): the index walks in hash order,
// a mount after a power cut replays only from the newest complete cycle (its
// reads bounded by the cycle budget, whatever was written since the last
// clean unmount), and a damaged slice costs time, never data. Expected states
// come from a model of what was written, never from the store's own tables.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyIndex } from '../datastore/runtime/key-index.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import type { Durability } from '../datastore/runtime/store-api.ts';
import { decodeRecordHeader, RECORD_HEADER_SIZE, RecordKind, recordSize } from '../datastore/runtime/format.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { equal, HookedFlash, isInjectedCut } from './support/power-cut-sweep.ts';

const t = suite('runtime store: rolling index snapshot');
const KiB = 1024;

t('the index walks in hash order and its ranges split the hash space exactly: random inserts and removes, clustered hashes', () => {
  const random = seededRandom(5);
  for (let trial = 0; trial < 60; trial++) {
    const index = new KeyIndex();
    const model = new Map<number, number>(); // offset -> hash
    let offset = 1;
    const ops = Math.floor(random() * 3000);
    for (let i = 0; i < ops; i++) {
      if (model.size > 0 && random() < 0.3) {
        const offsets = [...model.keys()];
        const o = offsets[Math.floor(random() * offsets.length)];
        const slot = index.findOffset(model.get(o)!, o);
        assert.ok(slot >= 0, 'every entry is found');
        index.removeAt(slot);
        model.delete(o);
      } else {
        // Half the trials cluster hashes in few home slots (many keys per home).
        const h = (trial % 2 ? random() * 2 ** 32 : (random() * 16) * 2 ** 28) >>> 0;
        index.insert(h, offset);
        model.set(offset++, h);
      }
    }
    const hashes = [...model.values()].sort((a, b) => a - b);
    const walked: number[] = [];
    index.walkFrom(0, (h) => (walked.push(h), true));
    assert.is(walked.length, hashes.length, 'the walk visits every entry once');
    for (let i = 1; i < walked.length; i++) assert.ok(index.alignUp(walked[i] + 1) >= index.alignUp(walked[i - 1] + 1), 'in order of home slot');
    let start = 0;
    let covered = 0;
    while (start < 2 ** 32) {
      const max = 1 + Math.floor(random() * 40);
      let r = index.rangeFrom(start, max);
      if (r.end === start) r = index.rangeFrom(start, Infinity, index.alignUp(start + 1));
      const expected = hashes.filter((h) => h >= start && h < r.end).length;
      assert.is(r.entries, expected, `entries in [${start}, ${r.end})`);
      assert.ok(r.entries <= max || r.end === index.alignUp(start + 1), 'at most max entries, unless one home holds more');
      covered += r.entries;
      start = r.end;
    }
    assert.is(covered, hashes.length, 'the ranges cover every entry once');
  }
});

function value(random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => (random() * 256) | 0);
}

/** A random workload on a store that is never unmounted; returns the model of what returned. */
function workload(store: RingStore, random: () => number, keys: number, ops: number, model: Map<string, Uint8Array>): void {
  for (let i = 0; i < ops; i++) {
    const key = `key-${Math.floor(random() * keys)}`;
    if (random() < 0.1) {
      store.delete(key);
      model.delete(key);
    } else {
      const v = value(random, Math.floor(random() * 120));
      store.set(key, v);
      model.set(key, v);
    }
  }
  store.flush();
}

function assertModel(store: RingStore, model: Map<string, Uint8Array>, what: string): void {
  assert.equal(store.keys().sort(), [...model.keys()].sort(), `${what}: keys`);
  for (const [k, v] of model) assert.ok(equal(store.get(k), v), `${what}: ${k}`);
  assert.is(store.stats().keys, model.size, `${what}: stats().keys`);
}

t('a mount after a cut reads about twice the cycle budget, however much was written since the clean unmount; both units and durabilities, random workloads', () => {
  for (const unit of [16, 256]) {
    for (const durability of ['immediate', 'batched'] as Durability[]) {
      for (let seed = 1; seed <= 3; seed++) {
        const random = seededRandom(seed * 31 + unit);
        const f = new SimFlash({ size: 256 * 4 * KiB, sectorSize: 4 * KiB, programUnit: unit, seed });
        const budget = 8 * KiB;
        const keys = 50 + Math.floor(random() * 300);
        let store = RingStore.format(f, { durability, indexCycleBytes: budget });
        const model = new Map<string, Uint8Array>();
        workload(store, random, keys, 500, model);
        store.unmount();
        store = RingStore.mount(f, { durability, indexCycleBytes: budget });
        // Far more log than the budget: a replay from the clean unmount's checkpoint would read it all.
        const logBefore = f.stats.bytesProgrammed;
        workload(store, random, keys, 3000 + Math.floor(random() * 3000), model);
        const written = f.stats.bytesProgrammed - logBefore;
        const readBefore = f.stats.bytesRead;
        const after = RingStore.mount(f, { durability, indexCycleBytes: budget }); // no unmount: the power was cut
        const read = f.stats.bytesRead - readBefore;
        const what = `${unit} B, ${durability}, seed ${seed}`;
        assertModel(after, model, what);
        // Two cycles, the head sector, the index lookups of the records replayed (a few reads each).
        const bound = 2 * budget + 2 * 4 * KiB + 8 * model.size + written / 16;
        assert.ok(written > 6 * bound, `${what}: the workload wrote ${written} B, far past the bound`);
        assert.ok(read <= bound, `${what}: mount read ${read} B, bound ${Math.round(bound)} (${written} B written since the clean unmount)`);
        after.set('after', new Uint8Array([1, 2, 3]), { flush: true });
        assert.ok(equal(RingStore.mount(f).get('after'), new Uint8Array([1, 2, 3])), `${what}: a write after recovery survives`);
      }
    }
  }
});

/** Offsets of the INDEX records on the flash, in partition order. */
function indexRecords(f: SimFlash): number[] {
  const out: number[] = [];
  const buf = new Uint8Array(RECORD_HEADER_SIZE);
  for (let at = 0; at + RECORD_HEADER_SIZE <= f.size; at += 4) {
    if (at % f.sectorSize < 32) continue;
    f.read(at, buf);
    if (buf[0] !== RecordKind.Index) continue;
    const h = decodeRecordHeader(buf);
    if (h && h.kind === RecordKind.Index && at % f.sectorSize + recordSize(0, h.valueLength) <= f.sectorSize) out.push(at);
  }
  return out;
}

t('a damaged slice in the cycle a mount starts from costs a full replay, never a key: every slice damaged in turn', () => {
  const random = seededRandom(77);
  const build = () => {
    const f = new SimFlash({ size: 48 * 4 * KiB, sectorSize: 4 * KiB, programUnit: 256, seed: 3 });
    const store = RingStore.format(f, { indexCycleBytes: 4 * KiB });
    const model = new Map<string, Uint8Array>();
    workload(store, seededRandom(9), 120, 600, model);
    return { f, model };
  };
  const { f: probe } = build();
  const slices = indexRecords(probe);
  assert.ok(slices.length > 20, `slices written: ${slices.length}`);
  // The newest ones: those the mount reads.
  for (const at of slices.slice(-12)) {
    const { f, model } = build();
    // A bit flipped in the slice's entries (weak bits, or damage since it was written).
    f.flipStoredBit(at + RECORD_HEADER_SIZE + 28 + Math.floor(random() * 8), Math.floor(random() * 8));
    const store = RingStore.mount(f, { indexCycleBytes: 4 * KiB });
    assertModel(store, model, `slice at ${at} damaged`);
  }
});

t('a cut that leaves only the header of a session\'s first sector costs one replay, not two: the useless head is found from its own sector', () => {
  for (const unit of [16, 256]) {
    const inner = new SimFlash({ size: 128 * 4 * KiB, sectorSize: 4 * KiB, programUnit: unit, seed: 2 });
    let tearNext = false;
    const f: HookedFlash = new HookedFlash(inner, (op) => {
      if (op.kind === 'program' && tearNext) {
        tearNext = false;
        // Only the sector header reaches flash: the payload of the first program stays erased.
        f.tear = (_offset, data) => {
          const partial = data.slice();
          partial.fill(0xff, 32);
          return partial;
        };
      }
    });
    const options = { indexCycleBytes: 8 * KiB };
    const random = seededRandom(unit);
    let store = RingStore.format(f, options);
    const model = new Map<string, Uint8Array>();
    workload(store, random, 200, 3000, model);
    // Power cut, then a mount: the reference read count for this log.
    const reference = inner.clone();
    const before = reference.stats.bytesRead;
    RingStore.mount(reference, options);
    const once = reference.stats.bytesRead - before;
    store = RingStore.mount(f, options);
    tearNext = true;
    let cut = false;
    try {
      store.set('new', new Uint8Array([1, 2, 3]));
    } catch (e) {
      cut = isInjectedCut(e);
    }
    assert.ok(cut, `${unit} B: the first program of the session was cut`);
    inner.powerOn();
    const readBefore = inner.stats.bytesRead;
    const again = RingStore.mount(inner, options);
    const read = inner.stats.bytesRead - readBefore;
    assertModel(again, model, `${unit} B after the cut`);
    assert.is(again.get('new'), undefined);
    assert.ok(read <= once * 1.2 + 4 * KiB, `${unit} B: the mount read ${read} B; one replay of this log reads ${once} B`);
  }
});

t.run();
