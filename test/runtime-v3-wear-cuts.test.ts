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
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { equal, HookedFlash, isInjectedCut, powerCutSweep, prefixHeld, type Fault } from './support/power-cut-sweep.ts';
import type { Durability } from '../datastore/runtime/store-api.ts';

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

/**
 * A value of more than 256 sectors is named through a list sector: moving one
 * of its value sectors rewrites that list sector too, and a list sector is
 * moved as it is. A cold 1 MiB value on a 400-sector partition, hot 4 KiB
 * values beside it. The run is deterministic: a first pass finds the writes
 * that relocate a sector of the big value; in a second, every flash
 * operation of those writes is cut, with each fault kind that applies to it,
 * and the recovered store must hold every write that returned (or those and
 * the one in flight), take a new write and keep it across a remount.
 */
function listFormRun(cutWrites: Set<number>): { bigMoves: number[]; cuts: number; failures: string[]; sim: SimFlash; big: Uint8Array; options: { maxValueBytes: number } } {
  const S = 4096;
  const N = 400;
  const options = { maxValueBytes: N * S };
  const sim = new SimFlash({ size: N * S, sectorSize: S, programUnit: 256, seed: 4 });
  const random = seededRandom(4);
  const value = (n: number) => Uint8Array.from({ length: n }, () => (random() * 256) | 0);
  const committed = new Map<string, Uint8Array>();
  let inFlight: { key: string; value: Uint8Array } | null = null;
  let cutting = false;
  let checking = false;
  let cuts = 0;
  const failures: string[] = [];
  const effects: { effect: PowerCutEffect; on: 'program' | 'erase' | 'any' }[] = [
    { effect: 'clean', on: 'any' },
    { effect: 'torn', on: 'program' },
    { effect: 'interrupted', on: 'program' },
    { effect: 'torn', on: 'erase' },
    { effect: 'weak', on: 'erase' },
  ];
  const check = (op: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }) => {
    if (!cutting || checking) return;
    checking = true;
    for (const { effect, on } of effects) {
      if (on !== 'any' && on !== op.kind) continue;
      const clone = sim.clone();
      clone.armPowerCut({ atOp: clone.opCount, effect });
      try {
        if (op.kind === 'program') clone.program(op.offset, op.data!);
        else clone.erase(op.offset);
        failures.push(`${op.kind} at ${op.offset}: the ${effect} cut did not happen`);
        continue;
      } catch (e) {
        if (!isInjectedCut(e)) throw e;
      }
      clone.powerOn();
      cuts++;
      try {
        const s = JournalStore.mount(clone, options);
        if (prefixHeld(s, committed, inFlight ? [inFlight] : []) < 0) failures.push(`${effect} ${op.kind} at ${op.offset}: the recovered state is not what was written`);
        s.set('probe', new Uint8Array([cuts & 0xff]));
        if (!equal(JournalStore.mount(clone, options).get('probe'), new Uint8Array([cuts & 0xff]))) failures.push(`${effect} ${op.kind} at ${op.offset}: a write after recovery was lost`);
      } catch (e) {
        failures.push(`${effect} ${op.kind} at ${op.offset}: ${(e as Error).message}`);
      }
    }
    checking = false;
  };
  const store = JournalStore.format(new HookedFlash(sim, check), options);
  const write = (key: string, v: Uint8Array) => {
    inFlight = { key, value: v };
    store.set(key, v);
    committed.set(key, v);
    inFlight = null;
  };
  const big = value(260 * S + 100); // 261 value sectors and a list sector
  write('big', big);
  for (let k = 0; k < 20; k++) write(`k${k}`, value(S));
  const bigMoves: number[] = [];
  for (let i = 0; i < 3000 && bigMoves.length < 6; i++) {
    const at = store.info('big')!.offset;
    cutting = cutWrites.has(i);
    write(`k${Math.floor(random() * 4)}`, value(S));
    cutting = false;
    if (store.info('big')!.offset !== at) bigMoves.push(i);
  }
  return { bigMoves, cuts, failures, sim, big, options };
}

t('list-form values: a cut of each kind at every flash operation of writes that relocate their sectors loses nothing and invents nothing', () => {
  const dry = listFormRun(new Set());
  assert.ok(dry.bigMoves.length >= 6, `${dry.bigMoves.length} relocations in the big value`);
  const r = listFormRun(new Set(dry.bigMoves));
  assert.equal(r.bigMoves, dry.bigMoves, 'the cut checks changed nothing in the run');
  assert.equal(r.failures, []);
  assert.ok(r.cuts > 100, `${r.cuts} cuts`);
  assert.ok(equal(JournalStore.mount(r.sim, r.options).get('big'), r.big), 'the big value reads back after its sectors moved');
});

t.run();
