// Format v3 groundwork: the anchor area. Sessions (a new writer each, as
// after a boot) write anchor records on simulated NOR flash with strict
// no-reprogram rules; power is cut at random operations with every fault
// kind, double cuts included; after each cut the newest record found is the
// last one whose write returned or the one being written, never an older one
// and never one that was not written.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { AnchorArea, anchorSectorCount } from '../datastore/runtime/v3/anchor.ts';
import type { AnchorRecord } from '../datastore/runtime/v3/format-v3.ts';
import { isInjectedCut } from './support/power-cut-sweep.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const t = suite('runtime v3 anchor area');
const S = 4096;

function flash(unit: number, seed = 1): SimFlash {
  return new SimFlash({ size: 8 * S, sectorSize: S, programUnit: unit, seed });
}

t('a blank partition has no anchor; records written by one writer are found by the next, across sector changes', () => {
  for (const unit of [256, 16]) {
    const f = flash(unit);
    const area = new AnchorArea(f, 2);
    assert.is(area.find(), null);
    const slots = area.slotsPerSector;
    let last: AnchorRecord | null = null;
    for (let i = 0; i < 3 * slots + 5; i++) {
      last = area.write(100 + i, i);
      const found = new AnchorArea(f, 2).find();
      assert.equal(found?.record, last, `unit ${unit}, write ${i}`);
    }
    assert.is(last!.gen, 3 * slots + 5);
    // One erase for the first write, one each time a sector filled.
    assert.is(f.stats.erases, 1 + 3);
  }
  assert.is(anchorSectorCount(511), 2);
  assert.is(anchorSectorCount(3328), 8);
});

t('every session starts a freshly erased sector; the newest record is never erased; a mount reads a few slots', () => {
  const f = flash(16);
  let expected: AnchorRecord | null = null;
  for (let session = 0; session < 50; session++) {
    const area = new AnchorArea(f, 2);
    const before = f.stats.bytesRead;
    assert.equal(area.find()?.record ?? null, expected, `session ${session}`);
    // 2 sectors x (slot 0 + ~log2(256) probes + the record): a few hundred bytes, never the sectors.
    assert.ok(f.stats.bytesRead - before <= 2 * (2 + 8 + 2) * 16, `read ${f.stats.bytesRead - before} B`);
    const erasesBefore = f.stats.erases;
    const writes = session % 3;
    for (let i = 0; i < writes; i++) expected = area.write(session, i);
    assert.is(f.stats.erases - erasesBefore, writes > 0 ? 1 : 0, 'a session that writes erases one sector first');
  }
});

const EFFECTS: { effect: PowerCutEffect; kind: 'any' | 'program' | 'erase' }[] = [
  { effect: 'clean', kind: 'any' },
  { effect: 'torn', kind: 'any' },
  { effect: 'interrupted', kind: 'program' },
  { effect: 'weak', kind: 'erase' },
];

t('power cut at random operations of every kind, double cuts included: the newest record found is the last returned or the one in flight', () => {
  for (const unit of [256, 16]) {
    const random = seededRandom(unit);
    let cuts = 0;
    for (let run = 0; run < 150; run++) {
      const f = flash(unit, run + 1);
      let returned: AnchorRecord | null = null;
      let inFlight: AnchorRecord | null = null;
      for (let session = 0; session < 12; session++) {
        const area = new AnchorArea(f, 2);
        const found = area.find()?.record ?? null;
        const ok = (found === null && returned === null) || (found !== null && ((returned !== null && equalRecord(found, returned)) || (inFlight !== null && equalRecord(found, inFlight))));
        assert.ok(ok, `unit ${unit}, run ${run}, session ${session}: found ${JSON.stringify(found)}, returned ${JSON.stringify(returned)}, in flight ${JSON.stringify(inFlight)}`);
        if (found) returned = found;
        inFlight = null;
        const e = EFFECTS[Math.floor(random() * EFFECTS.length)];
        // Half the sessions are cut, often in their very first operations (the double-fault case).
        if (random() < 0.5) f.armPowerCut({ atOp: Math.floor(random() * 4), effect: e.effect, kind: e.kind });
        try {
          const writes = 1 + Math.floor(random() * 40);
          for (let i = 0; i < writes; i++) {
            const gen = returned ? (returned.gen + 1) >>> 0 : 1;
            inFlight = { gen, chainStart: run * 1000 + session * 50 + i, chainSeq: i };
            const r = area.write(inFlight.chainStart, inFlight.chainSeq);
            assert.equal(r, inFlight);
            returned = r;
            inFlight = null;
          }
        } catch (err) {
          if (!isInjectedCut(err)) throw err; // a reprogram or any other refusal is the area's bug
          cuts++;
        }
        f.powerOn();
      }
    }
    assert.ok(cuts > 300, `${cuts} cuts`);
  }
});

function equalRecord(a: AnchorRecord, b: AnchorRecord): boolean {
  return a.gen === b.gen && a.chainStart === b.chainStart && a.chainSeq === b.chainSeq;
}

t('a damaged record is passed over for the newest valid one, in any slot, slot 0 included', () => {
  const f = flash(256);
  const area = new AnchorArea(f, 2);
  const records: AnchorRecord[] = [];
  for (let i = 0; i < 10; i++) records.push(area.write(i, i));
  // All ten are in sector 0 (the first write erased (1 + 1) % 2 = 0), slots 0..9.
  f.flipStoredBit(9 * 256 + 3, 1); // the newest
  assert.equal(new AnchorArea(f, 2).find()?.record, records[8]);
  f.flipStoredBit(0 * 256 + 5, 0); // slot 0 too
  assert.equal(new AnchorArea(f, 2).find()?.record, records[8]);
});

t.run();
