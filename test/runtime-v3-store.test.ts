// Format v3 store (datastore/runtime/v3/journal-store.ts), not yet the
// default: a seeded random workload of small, medium and whole-sector values
// with deletes, clean remounts and remounts without an unmount, checked
// against a model every 25 operations, at both program units. Not here yet,
// because some seeds fail today (DESIGN.md "Status of the store"): the
// randomized power-cut runs of runtime-property.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const v3 = suite('runtime store v3: journal chain, pack, whole-sector values');

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

for (const unit of [256, 16]) {
  v3(`${unit} B unit: 6,000 random operations match a model after each one, across remounts with and without unmount`, () => {
    const f = new SimFlash({ size: 64 * 4096, sectorSize: 4096, programUnit: unit, seed: unit });
    let s = JournalStore.format(f);
    const model = new Map<string, Uint8Array>();
    const r = seededRandom(unit + 7);
    let sectorValues = 0;
    for (let i = 0; i < 6000; i++) {
      const k = 'k' + Math.floor(r() * 60);
      const x = r();
      if (x < 0.1) {
        assert.is(s.delete(k), model.delete(k), `op ${i}: delete ${k}`);
      } else if (x < 0.12) {
        s.unmount();
        s = JournalStore.mount(f);
        assert.ok(s.stats().mountedCleanly, `op ${i}: a mount after unmount is clean`);
      } else if (x < 0.13) {
        s = JournalStore.mount(f); // no unmount: replay from the durable point
      } else {
        const n = x < 0.6 ? Math.floor(r() * 100) : x < 0.9 ? Math.floor(r() * 2000) : 3000 + Math.floor(r() * 6000);
        if (n >= s.sectorValueThreshold) sectorValues++;
        const v = Uint8Array.from({ length: n }, () => (r() * 256) | 0);
        s.set(k, v);
        model.set(k, v);
      }
      if (i % 25 === 0 || i > 5900) {
        for (const [k2, v2] of model) assert.ok(same(s.get(k2), v2), `op ${i}: ${k2}`);
        assert.equal(s.keys().sort(), [...model.keys()].sort(), `op ${i}: keys`);
        assert.is(s.stats().keys, model.size);
      }
    }
    assert.ok(sectorValues > 300, `${sectorValues} whole-sector values written`);
  });
}

v3('a 4 KiB value takes one whole sector, and overwriting it copies nothing', () => {
  const f = new SimFlash({ size: 64 * 4096, sectorSize: 4096, programUnit: 256, seed: 3 });
  const s = JournalStore.format(f);
  const keys = 30;
  const value = (i: number) => new Uint8Array(4096).fill(i & 0xff);
  for (let i = 0; i < keys; i++) s.set(`img${i}`, value(i));
  const before = f.stats.bytesProgrammed;
  const updates = 600;
  for (let i = 0; i < updates; i++) s.set(`img${i % keys}`, value(i));
  const perValueByte = (f.stats.bytesProgrammed - before) / (updates * 4096);
  // One value sector plus a 256-byte unit of journal per put, and GC's few copies of PUT-S records.
  assert.ok(perValueByte < 1.1, `${perValueByte.toFixed(3)} bytes programmed per value byte`);
  for (let i = 0; i < keys; i++) assert.ok(same(s.get(`img${i}`), value(updates - keys + i)));
});

v3.run();
