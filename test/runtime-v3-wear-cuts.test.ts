// Format v3 store: static levelling under power cuts. A skewed workload of
// whole-sector values (one and two sectors, 90 % of writes to a tenth of
// the keys) on a small partition, in one long session, so the RAM erase
// counts spread past the levelling bound and cold value sectors are
// relocated (copy, then a PUT-S re-pointed, then the old sector released).
// A cut of each fault kind at every flash operation of the run (the
// relocations' erases, copies and records included) must recover to the
// committed writes plus an in-order prefix of the rest, take a new write and
// keep it across a remount (test/support/power-cut-sweep.ts).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { powerCutSweep, type Fault } from './support/power-cut-sweep.ts';
import type { Durability } from '../datastore/runtime/runtime-store.ts';

const t = suite('runtime store v3: value-sector levelling moves under every fault kind');

const runs: { fault: Fault; operations: number; durability: Durability }[] = [
  { fault: 'cut', operations: 200, durability: 'immediate' },
  { fault: 'cut', operations: 200, durability: 'batched' },
  { fault: 'torn-program', operations: 160, durability: 'immediate' },
  { fault: 'interrupted-program', operations: 160, durability: 'immediate' },
  { fault: 'torn-erase', operations: 200, durability: 'immediate' },
  { fault: 'weak-erase', operations: 200, durability: 'immediate' },
];

for (const run of runs) {
  t(`${run.fault}, ${run.durability}: a cut at every flash operation of a run that relocates value sectors loses nothing and invents nothing`, () => {
    const r = powerCutSweep({ ...run, programUnit: 256, sectors: 32, keys: 8, seed: 5, impl: JournalStore, workload: 'skewed-sectors' });
    assert.equal(r.firstViolations, [], `${r.violations} violations in ${r.cutPoints} cut points`);
    assert.is(r.violations, 0);
    const moves = (r.finalStore as JournalStore).wear().levellingMoves;
    assert.ok(moves.relocated >= 3, `the run relocated ${moves.relocated} value sectors (at least 3 needed for the sweep to cover relocation)`);
    assert.ok(r.cutPoints > 200, `${r.cutPoints} cut points`);
  });
}

t.run();
