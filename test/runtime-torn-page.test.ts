// A torn page, built on purpose: a batched commit whose program is cut in the
// page holding record j, for every unit-aligned offset at which the batch can
// start in a page and every record boundary in that page. The torn page keeps
// an arbitrary (seeded) subset of its bytes: some of record j's bytes are
// never programmed, later records in the same page are sometimes complete.
// Recovery must give every committed write and an in-order prefix of the
// batch that excludes record j: never a later record without an earlier one.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { FlashError } from '../hal/flash.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { HookedFlash, prefixHeld, type PendingOp } from './support/power-cut-sweep.ts';

const PAGE = 256;
const UNIT = 16;
const SECTOR = 4096;
const HEADER = 16;
const TRAILER = 4;

function value(n: number, seed: number): Uint8Array {
  // Never 0xFF, so a byte that was not programmed always differs from what was meant.
  return Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) % 255);
}

type Op = PendingOp;

const torn = suite('runtime store: a torn page in a batched commit');

torn('every batch offset within a page x every record boundary in the torn page: recovery is an in-order prefix without the torn record', () => {
  const random = seededRandom(19);
  let cases = 0;
  let laterRecordComplete = 0;
  for (let start = 0; start < PAGE; start += UNIT) {
    for (let torn = 0; torn < 6; torn++) {
      for (let variant = 0; variant < 2; variant++) {
        const inner = new SimFlash({ size: 16 * SECTOR, sectorSize: SECTOR, programUnit: UNIT, seed: start + torn });
        const f = new HookedFlash(inner);
        const store = RingStore.format(f, { durability: 'batched', batchSize: 1000 });
        const committed = new Map<string, Uint8Array>();
        for (let i = 0; i < 6; i++) {
          committed.set(`c${i}`, value(5 + i, i));
          store.set(`c${i}`, committed.get(`c${i}`)!);
        }
        store.flush();
        // Bring the log end to `start` within a page, with room left in the sector.
        let end = (() => {
          const info = store.info('c5')!;
          return Math.ceil((info.offset + HEADER + 2 + info.size + TRAILER) / UNIT) * UNIT;
        })();
        for (let i = 0; end % PAGE !== start || (end % SECTOR) + 2 * PAGE > SECTOR; i++) {
          let delta = (start - (end % PAGE) + PAGE) % PAGE;
          if (delta < 32) delta += PAGE;
          if ((end % SECTOR) + delta + 2 * PAGE > SECTOR) delta = SECTOR - (end % SECTOR) + start + 32; // spills into the next sector
          const size = Math.min(delta, 2000);
          const key = `f${i % 10}`;
          const v = value(size - HEADER - 2 - TRAILER, 50 + i);
          store.set(key, v);
          committed.set(key, v);
          store.flush();
          const info = store.info(key)!;
          end = Math.ceil((info.offset + HEADER + 2 + info.size + TRAILER) / UNIT) * UNIT;
        }
        // The batch: tiny records (0-4 bytes of value) and a few larger, some deletes.
        const batch: Op[] = [];
        const starts: number[] = [];
        const sizes: number[] = [];
        let at = end;
        for (let j = 0; j < 10; j++) {
          const del = j % 4 === 3;
          const key = del ? `c${j % 6}` : `b${j}`;
          const v = del ? undefined : value((j * 3 + start / UNIT) % 5 + (j % 3 === 2 ? 20 : 0), 100 + j);
          batch.push({ key, value: v });
          starts.push(at);
          const size = HEADER + key.length + (v?.length ?? 0) + TRAILER;
          sizes.push(size);
          at += size;
          if (v) store.set(key, v);
          else store.delete(key);
        }
        // Records that start in the batch's first page; tear the one numbered `torn`.
        const inPage = starts.map((s, j) => j).filter((j) => Math.floor(starts[j] / PAGE) === Math.floor(end / PAGE));
        if (torn >= inPage.length) continue;
        const j = inPage[torn];
        const tornPage = Math.floor(starts[j] / PAGE);
        f.tear = (offset, data) => {
          const out = new Uint8Array(data);
          for (let i = 0; i < out.length; i++) {
            const abs = offset + i;
            const page = Math.floor(abs / PAGE);
            if (page > tornPage) out[i] = 0xff; // later pages untouched
            if (page !== tornPage || abs < starts[j]) continue; // earlier bytes completed
            if (abs < starts[j] + sizes[j]) {
              // An arbitrary subset of record j's bytes; in variant 1 its header is complete
              // (so its length reads right and only its data check fails).
              if (random() < 0.3 && (variant === 0 || abs >= starts[j] + HEADER)) out[i] = 0xff;
            } else if (variant === 0 && random() < 0.5) {
              out[i] = 0xff; // later records: random subset; variant 1: all complete
            }
          }
          // At least one byte of record j is not programmed: the first key byte (ASCII, never 0xFF).
          out[starts[j] + HEADER - offset] = 0xff;
          return out;
        };
        try {
          store.flush();
          assert.unreachable('the cut happened');
        } catch (e) {
          if (!(e instanceof FlashError && e.code === 'power-loss')) throw e;
        }
        inner.powerOn();
        cases++;
        if (variant === 1 && j + 1 < batch.length && Math.floor((starts[j + 1] + sizes[j + 1] - 1) / PAGE) === tornPage) laterRecordComplete++;
        const recovered = RingStore.mount(inner, { durability: 'batched' });
        const m = prefixHeld(recovered, committed, batch);
        assert.ok(m >= 0, `start ${start}, torn record ${j}: the state is no in-order prefix of the batch`);
        assert.ok(m <= j, `start ${start}: records after torn record ${j} recovered without it (prefix ${m})`);
        // And the next mount decides the same after more writes.
        recovered.set('after', value(3, 1));
        recovered.flush();
        const again = RingStore.mount(inner);
        assert.equal(again.get('after'), value(3, 1));
        again.delete('after');
        assert.is(prefixHeld(again, committed, batch), m, 'a later mount keeps the first one\'s decision');
      }
    }
  }
  assert.ok(cases >= 16 * 4, `${cases} torn pages`);
  assert.ok(laterRecordComplete >= 16, `${laterRecordComplete} cases with a complete record after the torn one in its page`);
});

torn.run();
