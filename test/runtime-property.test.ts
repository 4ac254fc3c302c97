// Randomized, seeded property tests of the runtime store against a model:
// random geometries and workloads (tiny 0-4 byte values that straddle page
// boundaries, medium and multi-sector values, deletes, flushes, remounts)
// with power cuts of every fault kind of the simulated flash at random
// operations, cuts during the first writes after a recovery, and a check
// after every recovery. Also the restart and soak properties of issue 12.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { randomCutRun } from './support/power-cut-sweep.ts';

function equal(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const prop = suite('runtime store: randomized workloads x random cuts of every fault kind');

prop('40 seeds: every recovery holds the committed writes and an in-order prefix of the rest, takes a new write, and keeps it', () => {
  let cuts = 0;
  let doubles = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const s = randomCutRun(seed, 600, 40);
    cuts += s.cuts;
    doubles += s.doubleFaults;
  }
  assert.ok(cuts > 300, `${cuts} cuts`);
  assert.ok(doubles > 50, `${doubles} double faults`);
});

prop('soak (reduced): 60,000 operations with a cut about every 1,000, on a small partition', () => {
  const s = randomCutRun(1001, 60_000, 1000);
  assert.ok(s.cuts >= 30, `${s.cuts} cuts`);
});

const restarts = suite('runtime store: restarts');

restarts('10,000 clean unmount/mount cycles with and without writes, both program units: no error, erase counts level', () => {
  for (const unit of [16, 256]) {
    const f = new SimFlash({ size: 16 * 4096, sectorSize: 4096, programUnit: unit, seed: unit });
    let store = RuntimeStore.format(f);
    const random = seededRandom(unit);
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 10_000; i++) {
      if (i % 2 === 0) {
        const key = `k${Math.floor(random() * 20)}`;
        const value = Uint8Array.from({ length: Math.floor(random() * 40) }, () => (random() * 256) | 0);
        store.set(key, value);
        model.set(key, value);
      }
      store.unmount();
      store = RuntimeStore.mount(f);
    }
    for (const [k, v] of model) assert.ok(equal(store.get(k), v), `${unit}: ${k}`);
    assert.is(store.stats().keys, model.size);
    const wear = f.wear();
    assert.ok(wear.max - wear.min <= 2, `${unit} B units: erase counts ${wear.min}..${wear.max} (mean ${wear.mean.toFixed(1)})`);
  }
});

prop.run();
restarts.run();
