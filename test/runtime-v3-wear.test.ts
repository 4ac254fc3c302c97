// Format v3 store, wear (issue 18, "Prove it"): on a small partition at 0.9
// fill, whole-sector values updated for many passes keep the erase-count
// spread within the stated bound, max/mean at most 1.5, under 90/10 skew
// (which needs static levelling of value sectors: cold values otherwise keep
// their little-worn sectors out of circulation) and under uniform updates;
// and so does a cold value named through a list sector beside hot ones.
// Erase counts are the simulated flash's own, over the partition's life
// since the format; every key is checked against a model at the end, its
// encoding and write time too (a relocation re-points a value, it does not
// rewrite it).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const S = 4096;
const SECTORS = 64;
const PASSES = 8;
/** Issue 18: wear max/mean at most 1.5. */
const BOUND = 1.5;

const t = suite('runtime store v3: wear stays within 1.5 max/mean on a small partition');

function randomValue(random: () => number, n: number): Uint8Array {
  const v = new Uint8Array(n);
  for (let i = 0; i < n; i++) v[i] = (random() * 256) | 0;
  return v;
}

/** Fill to 0.9 with `valueBytes` values, then update until PASSES erases a sector on average. */
function run(unit: number, valueBytes: number, skew: 'uniform' | '90/10', seed: number): { maxOverMean: number; max: number; mean: number; relocated: number } {
  const f = new SimFlash({ size: SECTORS * S, sectorSize: S, programUnit: unit, seed });
  let ms = 1_700_000_000_000;
  const store = JournalStore.format(f, { clock: { now: () => ms } });
  const random = seededRandom(seed);
  const model = new Map<string, Uint8Array>();
  const meta = new Map<string, { encoding: number; writtenAt: number }>();
  const write = (k: string, v: Uint8Array) => {
    ms += 1000 + Math.floor(random() * 5000);
    const encoding = Math.floor(random() * 200);
    store.set(k, v, { encoding });
    model.set(k, v);
    meta.set(k, { encoding, writtenAt: Math.floor(ms / 1000) });
  };
  const footprint = Math.ceil(valueBytes / S) * S;
  const target = Math.floor((store.stats().capacityBytes * 0.9) / footprint);
  for (let k = 0; k < target; k++) write(`key-${k}`, randomValue(random, valueBytes));
  const keys = model.size;
  const hot = Math.max(1, Math.floor(keys / 10));
  const pick = skew === 'uniform' ? () => Math.floor(random() * keys) : () => (random() < 0.9 ? Math.floor(random() * hot) : hot + Math.floor(random() * (keys - hot)));
  while (f.stats.erases < PASSES * SECTORS) write(`key-${pick()}`, randomValue(random, valueBytes));
  for (const [k, v] of model) {
    assert.equal(store.get(k), v, `${k} reads back its last value`);
    const info = store.info(k)!;
    assert.equal({ encoding: info.encoding, writtenAt: info.writtenAt }, meta.get(k), `${k} keeps its encoding and write time`);
  }
  const counts = f.wear().counts;
  let max = 0;
  let sum = 0;
  for (const c of counts) {
    max = Math.max(max, c);
    sum += c;
  }
  const mean = sum / counts.length;
  return { maxOverMean: max / mean, max, mean, relocated: store.wear().levellingMoves.relocated };
}

for (const unit of [256, 16]) {
  for (const skew of ['90/10', 'uniform'] as const) {
    t(`${unit} B unit, 4 KiB values, ${skew}: wear max/mean at most ${BOUND} after ${PASSES} passes (3 seeds)`, () => {
      for (const seed of [1, 2, 3]) {
        const w = run(unit, S, skew, seed * 10 + unit);
        assert.ok(w.maxOverMean <= BOUND, `seed ${seed}: max ${w.max}, mean ${w.mean.toFixed(2)}: ${w.maxOverMean.toFixed(3)} > ${BOUND}`);
        if (skew === '90/10') assert.ok(w.relocated > 0, `seed ${seed}: the cold values' sectors were relocated`);
      }
    });
  }
}

t('a cold value of more than 256 sectors (named through a list sector) beside hot whole-sector values: wear max/mean at most 1.5 after 8 passes', () => {
  const N = 400;
  const f = new SimFlash({ size: N * S, sectorSize: S, programUnit: 256, seed: 1 });
  const store = JournalStore.format(f, { maxValueBytes: N * S });
  const random = seededRandom(9);
  const model = new Map<string, Uint8Array>();
  const write = (k: string, v: Uint8Array) => {
    store.set(k, v);
    model.set(k, v);
  };
  write('big', randomValue(random, 260 * S + 100)); // 261 value sectors and a list sector, never written again
  const keys = Math.floor((store.stats().capacityBytes / S - 264) * 0.7);
  for (let k = 0; k < keys; k++) write(`k${k}`, randomValue(random, S));
  const hot = Math.max(1, Math.floor(keys / 10));
  while (f.stats.erases < PASSES * N) write(`k${Math.floor(random() * hot)}`, randomValue(random, S));
  for (const [k, v] of model) assert.equal(store.get(k), v, `${k} reads back its last value`);
  assert.equal(JournalStore.mount(f, { maxValueBytes: N * S }).get('big'), model.get('big'), 'the big value after a remount');
  const counts = f.wear().counts;
  let max = 0;
  let sum = 0;
  for (const c of counts) {
    max = Math.max(max, c);
    sum += c;
  }
  assert.ok(max / (sum / N) <= BOUND, `max ${max}, mean ${(sum / N).toFixed(2)}: ${(max / (sum / N)).toFixed(3)} > ${BOUND}`);
});

t.run();
