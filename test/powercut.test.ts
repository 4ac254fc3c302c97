import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { powerCutSweep, type Fault } from './support/power-cut-sweep.ts';

// Exhaustive: the sweep cuts power at every flash operation of the workload in
// turn (for torn faults, at every program or every erase), remounts and checks
// the recovered store against the model. See test/support/power-cut-sweep.ts.

const sweep = suite('power cuts: every operation of a 3,000-operation workload');

const faults: Fault[] = ['cut', 'torn-program', 'torn-erase'];

for (const programUnit of [256, 16]) {
  const runs = faults.map((fault) => ({ fault, result: () => powerCutSweep({ fault, programUnit, operations: 3000, sectors: 24, seed: 11 }) }));
  sweep(`immediate, ${programUnit}-byte units: every returned write survives a cut, torn program or torn erase at any operation`, () => {
    const results = runs.map((r) => r.result());
    for (const r of results) {
      assert.is(r.violations, 0, `${r.fault}: ${r.firstViolations.join('; ')}`);
      assert.ok(r.writesReturned > 2000 && r.largeValues > 20 && r.deletes > 100, `mixed workload: ${r.writesReturned} writes returned, ${r.largeValues} large, ${r.deletes} deletes`);
      assert.ok(r.gcPasses >= 5, `GC went round the partition (${r.gcPasses} passes)`);
    }
    const [cut, tornProgram, tornErase] = results;
    assert.is(cut.cutPoints, cut.flashOperations, 'a clean cut at every program and erase');
    assert.is(tornProgram.cutPoints + tornErase.cutPoints, cut.flashOperations, 'every program torn once, every erase torn once');
    assert.ok(tornErase.cutPoints > 100, `${tornErase.cutPoints} erases torn`);
  });
}

for (const programUnit of [256, 16]) {
  sweep(`batched, ${programUnit}-byte units: a cut keeps every committed write and an in-order prefix of the rest`, () => {
    for (const fault of faults) {
      const r = powerCutSweep({ fault, programUnit, operations: 2000, sectors: 24, seed: 5, durability: 'batched' });
      assert.is(r.violations, 0, `${fault}: ${r.firstViolations.join('; ')}`);
      assert.ok(r.cutPoints > 0);
    }
  });
}

for (const programUnit of [256, 16]) {
  sweep(`immediate, ${programUnit}-byte units, strict ECC flash: an interrupted program (units marked, no bit changed) or a weak erase at any operation`, () => {
    for (const fault of ['interrupted-program', 'weak-erase'] as Fault[]) {
      // Erases are rarer than programs: a longer workload gives the weak erase as many cut points.
      const r = powerCutSweep({ fault, programUnit, operations: fault === 'weak-erase' ? 2000 : 1200, sectors: 24, seed: 13 });
      assert.is(r.violations, 0, `${fault}: ${r.firstViolations.join('; ')}`);
      assert.ok(r.cutPoints > 100, `${fault}: ${r.cutPoints} cut points`);
    }
  });
}

sweep('the sweep catches a store that loses a write (a flash driver that drops one program)', () => {
  const r = powerCutSweep({ fault: 'cut', programUnit: 256, operations: 300, sectors: 24, seed: 11, dropProgram: 40 });
  assert.ok(r.violations > 0, 'violations reported');
});

sweep.run();
