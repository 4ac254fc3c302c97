// FOLLOWS (FORMAT.md §2.1, §6.3): a mount need not reread a large value whose
// sector the same writer followed with the next one. Checked over every
// layout of the value's last byte in a sector (not one chosen cut point), and
// against the case the flag must not cover: a head a power cut tore, followed
// by a sector a later session opened.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { equal, isInjectedCut } from './support/power-cut-sweep.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { LARGE_VALUE } from '../datastore/runtime/format.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const KiB = 1024;

function value(n: number, seed: number): Uint8Array {
  const v = new Uint8Array(n);
  for (let i = 0; i < n; i++) v[i] = (i * 131 + seed * 7) & 0xff;
  return v;
}

const SECTOR = 4 * KiB;
const PAGE = 256;

/** Where a record of `size` bytes starting at `offset` ends: it runs on past each sector's 32-byte header (a fresh partition's sectors follow each other). */
function recordEnd(offset: number, size: number): number {
  let pos = offset;
  let left = size;
  let sectorEnd = (Math.floor(pos / SECTOR) + 1) * SECTOR;
  while (pos + left > sectorEnd) {
    left -= sectorEnd - pos;
    pos = sectorEnd + 32;
    sectorEnd += SECTOR;
  }
  return pos + left;
}

function lastPageOf(end: number): boolean {
  return Math.floor(((end - 1) % SECTOR) / PAGE) === SECTOR / PAGE - 1;
}

const t = suite('runtime store: FOLLOWS lets a mount skip large values wherever they end');

for (const unit of [256, 16]) {
  t(`${unit} B unit: a large value is not reread after a cut, wherever its last byte lands in its sector`, () => {
    // Lengths stepping by 52 B over two sectors put the record's end in every page of a sector,
    // the last page (where only the next sector's header can vouch for it) included.
    let inLastPage = 0;
    for (let length = LARGE_VALUE; length < LARGE_VALUE + 8 * KiB; length += 52) {
      const f = new SimFlash({ size: 40 * 4 * KiB, sectorSize: 4 * KiB, programUnit: unit, seed: length });
      // 300 keys, then a clean unmount: its checkpoint is the durable point. With a cycle budget
      // too large to pace, the slices in later commits' padding cover only a few of the keys, so
      // no cycle completes and the mount after the cut replays from the checkpoint, over the value.
      const options = { indexCycleBytes: 1 << 30 };
      const first = RingStore.format(f, { ...options, durability: 'batched', batchSize: 64 });
      for (let i = 0; i < 300; i++) first.set(`k${i}`, value(4, i));
      first.unmount();
      const store = RingStore.mount(f, options);
      store.set('before', value(30, 1));
      const big = value(length, length);
      store.set('big', big);
      if (lastPageOf(recordEnd(store.info('big')!.offset, 16 + 3 + length + 4))) inLastPage++;
      // Enough small writes that the log moves on past the value's last sector.
      for (let i = 0; i < 40; i++) store.set(`s${i % 8}`, value(100, i));
      const before = f.stats.bytesRead;
      const again = RingStore.mount(f); // no unmount: the power was cut
      const read = f.stats.bytesRead - before;
      assert.ok(read < length, `length ${length}: the mount read ${read} B, the value is ${length} B`);
      assert.ok(equal(again.get('big'), big), `length ${length}: the value reads back whole`);
    }
    assert.ok(inLastPage >= 3, `${inLastPage} layouts end in a sector's last page`);
  });

  t(`${unit} B unit: a large value torn by a cut is never vouched for by the sector the next session opens (random layouts and cut points)`, () => {
    const random = seededRandom(unit);
    for (let run = 0; run < 60; run++) {
      const f = new SimFlash({ size: 40 * 4 * KiB, sectorSize: 4 * KiB, programUnit: unit, seed: run + 1 });
      const store = RingStore.format(f);
      const model = new Map<string, Uint8Array>();
      const set = (k: string, v: Uint8Array) => {
        store.set(k, v);
        model.set(k, v);
      };
      // Random small records first, so the value starts and ends anywhere in a sector.
      const smalls = Math.floor(random() * 30);
      for (let i = 0; i < smalls; i++) set(`s${i % 6}`, value(Math.floor(random() * 200), i));
      const old = value(LARGE_VALUE + 100, 1);
      set('big', old);
      const length = LARGE_VALUE + Math.floor(random() * 6 * KiB);
      const fresh = value(length, run + 7);
      const programs = Math.ceil(length / (4 * KiB)) + 2;
      f.armPowerCut({ atOp: Math.floor(random() * programs), effect: random() < 0.5 ? 'torn' : 'interrupted', kind: 'program' });
      let returned = false;
      try {
        store.set('big', fresh);
        returned = true;
      } catch (e) {
        if (!isInjectedCut(e)) throw e;
      }
      if (returned) model.set('big', fresh);
      f.powerOn();
      // The next session writes (opening a sector after the torn head), then its power is cut too.
      const second = RingStore.mount(f);
      for (let i = 0; i < 30; i++) {
        const v = value(120, 100 + i);
        second.set(`t${i % 5}`, v);
        model.set(`t${i % 5}`, v);
      }
      const third = RingStore.mount(f);
      const got = third.get('big');
      const what = `run ${run}, length ${length}`;
      if (returned) assert.ok(equal(got, fresh), `${what}: the write returned, so it holds`);
      else assert.ok(equal(got, old) || equal(got, fresh), `${what}: the value is the old one or the new one, whole`);
      for (const [k, v] of model) if (k !== 'big') assert.ok(equal(third.get(k), v), `${what}: ${k}`);
      assert.equal(third.keys().sort(), [...model.keys()].sort(), `${what}: keys`);
    }
  });
}

t.run();
