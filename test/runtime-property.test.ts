// Randomized, seeded property tests of the runtime store against a model:
// random geometries and workloads (tiny 0-4 byte values that straddle page
// boundaries, medium and multi-sector values, deletes, flushes, remounts)
// with power cuts of every fault kind of the simulated flash at random
// operations, cuts during the first writes after a recovery, and a check
// after every recovery. Also the restart and soak properties of issue 12.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { FlashError } from '../hal/flash.ts';
import { RuntimeStore, type Durability } from '../datastore/runtime/runtime-store.ts';
import { PartitionFullError } from '../datastore/runtime/errors.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

type Op = { key: string; value: Uint8Array | undefined };

function equal(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function isInjectedCut(e: unknown): boolean {
  return e instanceof FlashError && e.code === 'power-loss';
}

/** committed + the first m pending ops held by the store (keys(), size, get all agree), or -1. */
function prefixHeld(store: RuntimeStore, committed: Map<string, Uint8Array>, pending: Op[]): number {
  const state = new Map(committed);
  const keys = new Set(store.keys());
  const holds = () => keys.size === state.size && store.size === state.size && store.stats().keys === state.size && [...state].every(([k, v]) => keys.has(k) && equal(store.get(k), v));
  if (holds()) return 0;
  for (let m = 1; m <= pending.length; m++) {
    const op = pending[m - 1];
    if (op.value === undefined) state.delete(op.key);
    else state.set(op.key, op.value);
    if (holds()) return m;
  }
  return -1;
}

const EFFECTS: { effect: PowerCutEffect; kind: 'any' | 'program' | 'erase' }[] = [
  { effect: 'clean', kind: 'any' },
  { effect: 'torn', kind: 'any' },
  { effect: 'interrupted', kind: 'program' },
  { effect: 'weak', kind: 'erase' },
];

interface RunStats {
  cuts: number;
  recoveries: number;
  doubleFaults: number;
  operations: number;
}

/** One seeded run; throws (with the seed in the message) on any violated property. */
export function randomRun(seed: number, operations: number, cutEvery: number): RunStats {
  const random = seededRandom(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const unit = pick([16, 256]);
  const sectors = 12 + Math.floor(random() * 13);
  const durability: Durability = random() < 0.5 ? 'immediate' : 'batched';
  const options = { durability, batchSize: 1 + Math.floor(random() * 8), checkpointEverySectors: 4 + Math.floor(random() * 8) };
  const f = new SimFlash({ size: sectors * 4096, sectorSize: 4096, programUnit: unit, seed });
  const where = `seed ${seed} (${unit} B units, ${sectors} sectors, ${durability})`;
  let store = RuntimeStore.format(f, options);
  const committed = new Map<string, Uint8Array>();
  let pending: Op[] = [];
  const stats: RunStats = { cuts: 0, recoveries: 0, doubleFaults: 0, operations: 0 };
  const keyCount = 4 + Math.floor(random() * 40);
  let armedAt = -1;
  const arm = (within: number) => {
    const { effect, kind } = pick(EFFECTS);
    // 'program'/'erase' cuts count operations of that kind from arming.
    f.armPowerCut({ atOp: kind === 'any' ? f.opCount + Math.floor(random() * within) : Math.floor(random() * Math.max(1, within / 2)), effect, kind });
    armedAt = stats.operations;
  };
  const commitPending = () => {
    for (const op of pending) {
      if (op.value === undefined) committed.delete(op.key);
      else committed.set(op.key, op.value);
    }
    pending = [];
  };
  const recover = (inFlight: Op | null) => {
    f.powerOn();
    stats.cuts++;
    const all = inFlight ? [...pending, inFlight] : pending;
    store = RuntimeStore.mount(f, options);
    stats.recoveries++;
    const m = prefixHeld(store, committed, all);
    if (m < 0) throw new Error(`${where}, op ${stats.operations}: recovered state is not committed + an in-order prefix of ${all.length} pending writes`);
    pending = all.slice(0, m);
    commitPending();
    // A new write is accepted and survives another remount.
    const probe = new Uint8Array([seed & 0xff, stats.cuts & 0xff]);
    writeOrMakeRoom(() => store.set('probe', probe, { flush: true }));
    committed.set('probe', probe);
    store = RuntimeStore.mount(f, options);
    if (!equal(store.get('probe'), probe)) throw new Error(`${where}: a write after recovery was lost on remount`);
    if (prefixHeld(store, committed, []) !== 0) throw new Error(`${where}: remount after recovery changed the state`);
  };
  const writeOrMakeRoom = (write: () => void) => {
    for (;;) {
      try {
        write();
        return;
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
        const victim = [...committed.keys()].find((k) => k !== 'probe') ?? 'probe';
        store.delete(victim, { flush: true });
        pending.push({ key: victim, value: undefined });
        commitPending();
      }
    }
  };

  for (let i = 0; i < operations; i++) {
    stats.operations++;
    if (armedAt < 0 && random() < 1 / cutEvery) arm(40);
    const r = random();
    const key = `k${Math.floor(random() * keyCount)}`;
    let inFlight: Op | null = null;
    try {
      if (r < 0.12) {
        if (!store.has(key)) continue;
        inFlight = { key, value: undefined };
        store.delete(key);
      } else if (r < 0.16) {
        store.flush();
      } else if (r < 0.19) {
        store.unmount();
        store = RuntimeStore.mount(f, options);
      } else {
        const n = r < 0.7 ? Math.floor(random() * 5) : r < 0.97 ? 5 + Math.floor(random() * 300) : 1000 + Math.floor(random() * 5000);
        const value = Uint8Array.from({ length: n }, () => (random() * 256) | 0);
        inFlight = { key, value };
        try {
          store.set(key, value);
        } catch (e) {
          if (!(e instanceof PartitionFullError)) throw e;
          continue; // refused, nothing changed
        }
      }
      if (inFlight) pending.push(inFlight);
      inFlight = null;
      if (store.pendingWrites === 0) commitPending();
    } catch (e) {
      if (!isInjectedCut(e)) throw e;
      armedAt = -1;
      recover(inFlight);
      // Double fault: a cut during the first writes after the recovery.
      if (random() < 0.3) {
        stats.doubleFaults++;
        arm(12);
      }
    }
  }
  f.powerOn();
  return stats;
}

const prop = suite('runtime store: randomized workloads x random cuts of every fault kind');

prop('40 seeds: every recovery holds the committed writes and an in-order prefix of the rest, takes a new write, and keeps it', () => {
  let cuts = 0;
  let doubles = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const s = randomRun(seed, 600, 40);
    cuts += s.cuts;
    doubles += s.doubleFaults;
  }
  assert.ok(cuts > 300, `${cuts} cuts`);
  assert.ok(doubles > 50, `${doubles} double faults`);
});

prop('soak (reduced): 60,000 operations with a cut about every 1,000, on a small partition', () => {
  const s = randomRun(1001, 60_000, 1000);
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
