// Format v3 store (datastore/runtime/v3/journal-store.ts), not yet the
// default: a seeded random workload of small, medium and whole-sector values
// with deletes, clean remounts and remounts without an unmount, checked
// against a model every 25 operations, at both program units; the power-cut
// sweeps and randomized cut runs of issue 12 (every fault kind, double
// faults, checks after each recovery) run against v3 with the same harness
// as v2 (test/support/power-cut-sweep.ts). Clean restarts are in
// runtime-v3-restarts.test.ts.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { RecordAt } from '../datastore/runtime/v3/journal-records.ts';
import { powerCutSweep, randomCutRun, type Fault } from './support/power-cut-sweep.ts';

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

v3('120 seeds of random workloads x random cuts of every fault kind (v3 on 20-32 sectors): every recovery holds the committed writes and an in-order prefix of the rest, takes a new write, and keeps it', () => {
  let cuts = 0;
  let doubles = 0;
  for (let seed = 1; seed <= 120; seed++) {
    const s = randomCutRun(seed, 600, 40, JournalStore, 20);
    cuts += s.cuts;
    doubles += s.doubleFaults;
  }
  assert.ok(cuts > 900, `${cuts} cuts`);
  assert.ok(doubles > 150, `${doubles} double faults`);
});

v3('soak (reduced): 60,000 operations with a cut about every 1,000', () => {
  const s = randomCutRun(1001, 60_000, 1000, JournalStore, 20);
  assert.ok(s.cuts >= 30, `${s.cuts} cuts`);
});

const sweeps: { fault: Fault; unit: number; ops: number; durability?: 'batched' }[] = [
  { fault: 'cut', unit: 256, ops: 1500 },
  { fault: 'torn-program', unit: 256, ops: 1500 },
  { fault: 'interrupted-program', unit: 256, ops: 1500 },
  { fault: 'torn-erase', unit: 256, ops: 1500 },
  { fault: 'weak-erase', unit: 256, ops: 1500 },
  { fault: 'torn-program', unit: 16, ops: 500 },
  { fault: 'interrupted-program', unit: 16, ops: 500 },
  { fault: 'torn-program', unit: 256, ops: 1500, durability: 'batched' },
];
for (const w of sweeps) {
  v3(`a cut at every flash operation (${w.fault}, ${w.unit} B unit, ${w.durability ?? 'immediate'}): no violation`, () => {
    const r = powerCutSweep({ fault: w.fault, programUnit: w.unit, operations: w.ops, sectors: 24, seed: 11, impl: JournalStore, durability: w.durability });
    assert.ok(r.cutPoints > 100, `${r.cutPoints} cut points`);
    assert.is(r.violations, 0, r.firstViolations.join('; '));
  });
}

v3('a 1.2 MB value streamed in 4 KiB chunks goes straight into its sectors (named through list sectors); an aborted stream leaves the old value and frees what it took', () => {
  const f = new SimFlash({ size: 1024 * 4096, sectorSize: 4096, programUnit: 256, seed: 5 });
  let store = JournalStore.format(f);
  const size = 1_200_000;
  const freeSectors = () => (store as unknown as { st: { table: { freeCount: number } } }).st.table.freeCount;
  const random = seededRandom(5);
  const big = Uint8Array.from({ length: size }, () => (random() * 256) | 0);
  const w = store.beginValue('image', size);
  for (let at = 0; at < size; at += 4096) w.append(big.subarray(at, Math.min(size, at + 4096)));
  w.commit();
  store = JournalStore.mount(f);
  assert.ok(same(store.get('image'), big));
  const part = new Uint8Array(1000);
  assert.is(store.readRange('image', 1_100_000, part), 1000);
  assert.ok(same(part, big.subarray(1_100_000, 1_101_000)));
  const freeBefore = freeSectors();
  const other = store.beginValue('image', size);
  other.append(new Uint8Array(600_000).fill(7));
  assert.ok(freeSectors() <= freeBefore - 146, 'the stream took sectors as it went');
  other.abort();
  assert.ok(freeSectors() >= freeBefore - 2, 'the aborted stream holds no sectors (a journal open may have taken one)');
  store = JournalStore.mount(f);
  assert.ok(same(store.get('image'), big), 'old value kept after abort and remount');
});

v3('a journal header damaged after its sector filled is stepped over: every key stays, the damage is counted (the walk used to end there and drop the sectors after it)', () => {
  for (const byte of [8, 16, 20, 28]) {
    const f = new SimFlash({ size: 64 * 4096, sectorSize: 4096, programUnit: 256, seed: byte });
    const store = JournalStore.format(f);
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 120; i++) {
      const v = new Uint8Array(150).fill(i);
      store.set(`k${i % 50}`, v);
      model.set(`k${i % 50}`, v);
    }
    const chain: number[] = (store as unknown as { st: { chain: number[] } }).st.chain;
    assert.ok(chain.length >= 4, `${chain.length} journal sectors`);
    // A sector in the middle of the chain, its header (seq, durable, fallback or CRC) flipped after it filled.
    f.flipStoredBit(chain[chain.length - 3] * 4096 + byte, 1);
    const again = JournalStore.mount(f);
    for (const [k, v] of model) assert.ok(same(again.get(k), v), `byte ${byte}: ${k}`);
    assert.ok(again.stats().corruptRecordsSkipped >= 1, `byte ${byte}: damage counted`);
    again.set('after', new Uint8Array([1]));
    assert.ok(same(JournalStore.mount(f).get('after'), new Uint8Array([1])));
  }
});

v3('every journal record checks after a batched workload at high fill with GC and forced slices (a slice once overwrote another)', () => {
  const f = new SimFlash({ size: 512 * 4096, sectorSize: 4096, programUnit: 256, seed: 9 });
  const store = JournalStore.format(f, { durability: 'batched', batchSize: 64 });
  const random = seededRandom(9);
  const keys = 5000;
  for (let k = 0; k < keys; k++) store.set(`key-${k}`, new Uint8Array(64).fill(k & 0xff));
  for (let n = 0; n < 40 && store.stats().liveBytes / store.stats().capacityBytes < 0.88; n++) store.set(`blob-${n}`, new Uint8Array(40 * 1024).fill(n));
  for (let w = 0; w < 30_000; w++) store.set(`key-${Math.floor(random() * keys)}`, new Uint8Array(64).fill(w & 0xff));
  store.flush();
  // Walk the chain as a mount does and check every record's data CRC (not only the ones a mount reads).
  const chain: number[] = (store as unknown as { st: { chain: number[] } }).st.chain;
  const rec = new RecordAt(f);
  let records = 0;
  const one = new Uint8Array(1);
  for (const sector of chain) {
    let pos = sector * 4096 + 32;
    while (pos + 16 <= (sector + 1) * 4096) {
      f.read(pos, one);
      if (one[0] === 0xff) break;
      if (one[0] === 0) {
        pos = Math.min((sector + 1) * 4096, (Math.floor(pos / 256) + 1) * 256);
        continue;
      }
      const h = rec.header(pos);
      assert.ok(h, `sector ${sector} offset ${pos % 4096}: record header`);
      assert.ok(rec.dataChecks(pos, h!), `sector ${sector} offset ${pos % 4096}: kind ${h!.kind} record data`);
      records++;
      pos += 20 + h!.keyLength + h!.valueLength;
    }
  }
  assert.ok(records > 100, `${records} records walked`);
  const again = JournalStore.mount(f);
  for (let k = 0; k < keys; k += 97) assert.ok(again.has(`key-${k}`));
});

v3.run();
