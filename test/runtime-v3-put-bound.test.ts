// Issue 18's bound on the work of one put (DESIGN.md §3.5), on format v3: on
// a small partition kept at 90 %+ fill with mixed value sizes, no put erases
// more than one sector beyond its own value sectors, nor reads more than one
// sector, both program units. Counted from the simulated flash itself (its
// erase counter and the reads it serves), never from the store's bookkeeping.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { PartitionFullError } from '../datastore/runtime/errors.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const bound = suite('runtime store v3: work per put');

const SECTOR = 4096;
/** A value this long lives in its own sectors (DESIGN.md §1.4: ¾ sector), which the put erases as its own data. */
const SECTOR_VALUE = (3 * SECTOR) / 4;
/** Reading up to this much of a sector (a record header and key, an old PUT-S of at most 1.3 KB) is a lookup, not a sector read. */
const LOOKUP_BYTES = 1536;
/** Mostly small records (so GC has log sectors to collect), some of every size class up to three sectors. */
const SIZES = [0, 10, 64, 64, 64, 64, 64, 64, 120, 200, 200, 700, 2000, 3071, 3072, 4096, 4097, 9000];

function value(n: number, seed: number): Uint8Array {
  const v = new Uint8Array(n);
  for (let i = 0; i < n; i++) v[i] = (i * 131 + seed * 7) & 0xff;
  return v;
}

/** Bytes read from each sector since the last clear, as the flash served them. */
function watchReads(f: SimFlash): Map<number, number> {
  const bytes = new Map<number, number>();
  const read = f.read.bind(f);
  f.read = (offset: number, into: Uint8Array) => {
    for (let at = offset; at < offset + into.length; ) {
      const s = Math.floor(at / SECTOR);
      const end = Math.min(offset + into.length, (s + 1) * SECTOR);
      bytes.set(s, (bytes.get(s) ?? 0) + end - at);
      at = end;
    }
    read(offset, into);
  };
  return bytes;
}

const CASES: { unit: number; seed: number; durability: 'immediate' | 'batched' }[] = [
  { unit: 256, seed: 1, durability: 'immediate' },
  { unit: 256, seed: 2, durability: 'immediate' },
  { unit: 16, seed: 1, durability: 'immediate' },
  { unit: 16, seed: 2, durability: 'immediate' },
  { unit: 256, seed: 3, durability: 'batched' },
  { unit: 16, seed: 3, durability: 'batched' },
];

for (const { unit, seed, durability } of CASES) {
  bound(`no put erases more than one sector beyond its value, nor reads more than one sector (unit ${unit}, ${durability}, seed ${seed})`, () => {
    const f = new SimFlash({ size: 96 * SECTOR, sectorSize: SECTOR, programUnit: unit });
    const store = JournalStore.format(f, { durability, batchSize: 8 });
    const random = seededRandom(100 + seed * 17 + unit);
    const size = () => SIZES[Math.floor(random() * SIZES.length)];
    // Fill to 90 %+ of capacity with mixed sizes; each key keeps its size, so overwrites keep the fill.
    const sizes: number[] = [];
    let keys = 0;
    for (let misses = 0; misses < 20; ) {
      const s = store.stats();
      if (s.liveBytes >= 0.92 * s.capacityBytes) break;
      const n = size();
      try {
        store.set(`k${keys}`, value(n, keys));
        sizes.push(n);
        keys++;
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
        misses++;
      }
    }
    const fill = store.stats().liveBytes / store.stats().capacityBytes;
    assert.ok(fill >= 0.9, `filled to ${fill.toFixed(3)}`);
    const reads = watchReads(f);
    let measured = 0;
    let erasedTotal = 0;
    let worstExtra = 0;
    let worstRead = 0;
    let gcReads = 0;
    const warm = 600;
    for (let i = 0; i < warm + 2500; i++) {
      // 90 % of the puts to 10 % of the keys: the rest go cold in log sectors that GC must collect.
      const hot = Math.max(1, Math.floor(keys / 10));
      const key = random() < 0.9 ? Math.floor(random() * hot) : hot + Math.floor(random() * (keys - hot));
      const k = `k${key}`;
      const n = sizes[key];
      const erasesBefore = f.stats.erases;
      reads.clear();
      store.set(k, value(n, i));
      const erased = f.stats.erases - erasesBefore;
      erasedTotal += erased;
      if (i < warm) continue;
      measured++;
      const own = n >= SECTOR_VALUE ? Math.ceil(n / SECTOR) : 0;
      const extra = erased - own;
      let sectorsRead = 0;
      for (const b of reads.values()) if (b > LOOKUP_BYTES) sectorsRead++;
      worstExtra = Math.max(worstExtra, extra);
      worstRead = Math.max(worstRead, sectorsRead);
      // A put's own lookups read a header, a key and at most a PUT-S; more of one sector is a GC victim's records.
      for (const b of reads.values()) if (b > 300) {
        gcReads++;
        break;
      }
      assert.ok(extra <= 1, `put ${i} (${n} B) erased ${erased} sectors, ${own} its own value's`);
      assert.ok(sectorsRead <= 1, `put ${i} (${n} B) read ${sectorsRead} sectors: ${JSON.stringify([...reads])}`);
    }
    // The workload did real GC work at that fill: the bound was exercised, not dodged.
    assert.ok(measured > 2000, `${measured} puts measured`);
    assert.ok(gcReads > 20, `${gcReads} puts read a GC victim: GC ran`);
    assert.ok(erasedTotal > 96 * 3, `${erasedTotal} erases: the partition was cycled several times`);
    assert.ok(store.stats().liveBytes >= 0.85 * store.stats().capacityBytes, 'still near full');
    assert.is(worstExtra <= 1 && worstRead <= 1, true);
  });
}

bound.run();
