// Exhaustive power-cut sweep, shared by the test suite and `npm run bench`.
//
// The workload runs once over a simulated partition. Before every mutating
// flash operation (program or erase) the sweep clones the partition, lets
// that same operation be interrupted on the clone (clean: it never happens;
// torn: part of it happens), powers the clone back on, mounts it and checks
// it against a model of every operation that had returned. Checking at the
// hook is exactly a cut at that operation index: the flash state before it
// is the same, and after a cut nothing else runs.

import { SimFlash, type PowerCutEffect } from '../../simulator/flash/sim-flash.ts';
import { FlashError, type FlashPartition } from '../../hal/flash.ts';
import { RingStore, RingStore as RuntimeV2 } from '../../datastore/runtime/ring-store.ts';
import type { Durability, RuntimeStoreOptions } from '../../datastore/runtime/store-api.ts';
import { NotFormattedError, PartitionFullError } from '../../datastore/runtime/errors.ts';
import { seededRandom } from '../../simulator/seeded-random.ts';

/**
 * 'cut': every program and erase, cleanly interrupted. 'torn-program' / 'torn-erase': every
 * program (erase) torn (sim-flash.ts 'torn'). 'interrupted-program': every program leaves
 * no bit changed but its units count as programmed (strict ECC flash). 'weak-erase': every
 * erase completes with weak bits that may read 0 later.
 */
export type Fault = 'cut' | 'torn-program' | 'torn-erase' | 'interrupted-program' | 'weak-erase';

const FAULTS: Record<Fault, { ops: 'any' | 'program' | 'erase'; effect: PowerCutEffect }> = {
  cut: { ops: 'any', effect: 'clean' },
  'torn-program': { ops: 'program', effect: 'torn' },
  'torn-erase': { ops: 'erase', effect: 'torn' },
  'interrupted-program': { ops: 'program', effect: 'interrupted' },
  'weak-erase': { ops: 'erase', effect: 'weak' },
};

/** The injected cut, and only it: any other error is a failure of the store under test. */
export function isInjectedCut(e: unknown): boolean {
  return e instanceof FlashError && e.code === 'power-loss';
}

export interface SweepOptions {
  fault: Fault;
  operations?: number; // store operations in the workload (default 2000)
  programUnit?: number;
  sectors?: number;
  seed?: number;
  durability?: Durability;
  /** Self-test of the checker: silently drop this program (by index), as a lying flash driver would. */
  dropProgram?: number;
  /** The store under test (default v2's RingStore). */
  impl?: StoreImpl;
  /**
   * 'mixed' (default): 40 keys, small values with a few of 5-14 KB, deletes and clean remounts.
   * 'skewed-sectors': `keys` keys (default 14) of 3-8 KB (whole-sector values of one or two
   * sectors), 90 % of writes to the first tenth, a few deletes, no remounts: one long session,
   * so that a v3 store's RAM erase counts spread far enough for levelling to move value sectors.
   */
  workload?: 'mixed' | 'skewed-sectors';
  keys?: number;
}

export interface SweepResult {
  fault: Fault;
  durability: Durability;
  programUnit: number;
  operations: number;
  /** Programs and erases the simulated flash itself counted (independent of the hook that cuts). */
  flashOperations: number;
  cutPoints: number;
  violations: number;
  firstViolations: string[];
  gcPasses: number;
  largeValues: number;
  deletes: number;
  /** Writes refused with PartitionFullError (the workload may fill a small partition). */
  refusedFull: number;
  /** set/delete calls that returned (counted as they return, not from the input). */
  writesReturned: number;
  /** The store the workload ran on, after its last operation (for what the caller wants to ask it). */
  finalStore: StoreUnderTest;
}

/**
 * A SimFlash seen through hooks: `before` runs ahead of each mutating
 * operation (the sweep cuts there); `dropProgram` silently loses one program
 * (by index), as a lying driver would (the checker's self-test); and `tear`,
 * once set, decides what reaches the cells of the next program (a byte left
 * 0xFF was not programmed; only bits the write clears can be cleared, as in a
 * real torn program, whose page clears its bits in any order), then the power
 * is cut: the operation after it never happens. One implementation for the
 * sweeps and the hand-built torn pages of the runtime tests.
 */
export class HookedFlash implements FlashPartition {
  readonly size: number;
  readonly sectorSize: number;
  readonly programUnit: number;
  readonly pageSize: number;
  tear: ((offset: number, data: Uint8Array) => Uint8Array) | null = null;
  private programs = 0;
  constructor(
    readonly inner: SimFlash,
    private readonly before: (op: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }) => void = () => {},
    private readonly dropProgram = -1,
  ) {
    this.size = inner.size;
    this.sectorSize = inner.sectorSize;
    this.programUnit = inner.programUnit;
    this.pageSize = inner.pageSize;
  }
  read(offset: number, into: Uint8Array): void {
    this.inner.read(offset, into);
  }
  program(offset: number, data: Uint8Array): void {
    this.before({ kind: 'program', offset, data });
    if (this.programs++ === this.dropProgram) return;
    if (this.tear) {
      const partial = this.tear(offset, data);
      this.tear = null;
      for (let i = 0; i < partial.length; i++) partial[i] |= data[i];
      this.inner.program(offset, partial);
      this.inner.armPowerCut({ atOp: this.inner.opCount, effect: 'clean' });
      this.inner.erase(0); // the next operation never happens: power is gone
    }
    this.inner.program(offset, data);
  }
  erase(index: number): void {
    this.before({ kind: 'erase', offset: index });
    this.inner.erase(index);
  }
}

/** Same bytes (or both absent). */
export function equal(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(store: StoreUnderTest, committed: Map<string, Uint8Array>, pending: number): string {
  for (const [key, value] of committed) {
    const got = store.get(key);
    if (!equal(got, value)) return `committed key ${key}: ${got ? got.length + ' bytes' : 'missing'}, expected ${value.length} bytes (${pending} writes pending)`;
  }
  const extra = store.keys().filter((k) => !committed.has(k));
  return `state is no prefix of the ${pending} pending writes (extra keys: ${extra.slice(0, 3).join(', ')})`;
}

export function powerCutSweep(options: SweepOptions): SweepResult {
  const RingStore = options.impl ?? RuntimeV2;
  const fault = options.fault;
  const programUnit = options.programUnit ?? 256;
  const operations = options.operations ?? 2000;
  const random = seededRandom(options.seed ?? 7);
  const sim = new SimFlash({ size: (options.sectors ?? 48) * 4096, sectorSize: 4096, programUnit, seed: options.seed ?? 7 });

  type Write = { key: string; value: Uint8Array | undefined };
  const model = new Map<string, Uint8Array>(); // every write that returned
  const committed = new Map<string, Uint8Array>(); // the writes the store reported committed
  let uncommitted: Write[] = [];
  let inFlight: Write | null = null;
  let cutPoints = 0;
  let violations = 0;
  const firstViolations: string[] = [];
  let opIndex = 0; // the hook's count, for messages
  let checking = false;
  let formatted = false; // before format() returns, a cut may leave no store at all

  const violation = (what: string) => {
    violations++;
    if (firstViolations.length < 5) firstViolations.push(`flash op ${opIndex}: ${what}`);
  };

  const check = (op: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }) => {
    if (checking) return;
    opIndex++;
    const { ops, effect } = FAULTS[fault];
    if (ops !== 'any' && op.kind !== ops) return;
    checking = true;
    cutPoints++;
    const clone = sim.clone();
    clone.armPowerCut({ atOp: clone.opCount, effect });
    let cut = false;
    try {
      if (op.kind === 'program') clone.program(op.offset, op.data!);
      else clone.erase(op.offset);
    } catch (e) {
      if (!isInjectedCut(e)) throw e; // a refused operation is the store's bug, not the cut
      cut = true;
    }
    if (!cut) throw new Error(`flash op ${opIndex}: the armed ${effect} cut did not happen`);
    clone.powerOn();
    try {
      if (!formatted) {
        // format() had not returned: either no store at all (mount says so, typed) or an empty one.
        let store: StoreUnderTest;
        try {
          store = RingStore.mount(clone);
        } catch (e) {
          if (!(e instanceof NotFormattedError)) throw e;
          store = RingStore.format(clone);
        }
        if (store.size !== 0) violation(`a format cut short left ${store.size} keys`);
        store.set('__after_cut__', new Uint8Array([1, 2, 3]));
        if (!equal(RingStore.mount(clone).get('__after_cut__'), new Uint8Array([1, 2, 3]))) violation('write after a cut format lost on remount');
        checking = false;
        return;
      }
      const store = RingStore.mount(clone, { durability: 'immediate' });
      // What was committed must all be there; of what was not, the recovered state may hold
      // any prefix (in order), never a later write without the earlier ones.
      const pending = inFlight ? [...uncommitted, inFlight] : uncommitted;
      if (prefixHeld(store, committed, pending) < 0) violation(describe(store, committed, pending.length));
      // The recovered store must also take new writes and keep them across a remount.
      for (;;) {
        try {
          store.set('__after_cut__', new Uint8Array([1, 2, 3]));
          break;
        } catch (e) {
          // Legitimately full: make room the way an app would.
          if (!(e instanceof PartitionFullError) || store.size === 0) throw e;
          store.delete(store.keys()[0]);
        }
      }
      const again = RingStore.mount(clone);
      if (!equal(again.get('__after_cut__'), new Uint8Array([1, 2, 3]))) violation('write after recovery lost on remount');
    } catch (e) {
      violation(`mount or check threw: ${(e as Error).message}`);
    }
    checking = false;
  };

  const flash = new HookedFlash(sim, check, options.dropProgram);
  let store = RingStore.format(flash, { durability: options.durability ?? 'immediate', indexCycleBytes: 2048 });
  formatted = true;
  let largeValues = 0;
  let deletes = 0;
  let refusedFull = 0;
  let writesReturned = 0;
  const skewed = options.workload === 'skewed-sectors';
  const keyCount = skewed ? (options.keys ?? 14) : 40;
  const hot = Math.max(1, Math.floor(keyCount / 10));
  for (let i = 0; i < operations; i++) {
    const key = skewed ? `key-${random() < 0.9 ? Math.floor(random() * hot) : hot + Math.floor(random() * (keyCount - hot))}` : `key-${Math.floor(random() * keyCount)}`;
    const r = skewed ? (random() < 0.02 ? 0.05 : 0.5) : random(); // skewed: 2 % deletes, the rest writes
    if (r < 0.1) {
      if (!model.has(key)) continue;
      inFlight = { key, value: undefined };
      store.delete(key);
      model.delete(key);
      uncommitted.push(inFlight);
      deletes++;
      writesReturned++;
    } else if (r < 0.115) {
      inFlight = null;
      store.unmount();
      if (store.pendingWrites !== 0) throw new Error('unmount left writes uncommitted');
      store = RingStore.mount(flash, { durability: options.durability ?? 'immediate', indexCycleBytes: 2048 });
    } else {
      const big = skewed || r > 0.98;
      const length = skewed ? 3072 + Math.floor(random() * 5120) : big ? 5000 + Math.floor(random() * 9000) : Math.floor(random() * 120);
      const value = new Uint8Array(length);
      for (let j = 0; j < length; j++) value[j] = (random() * 256) | 0;
      inFlight = { key, value };
      try {
        store.set(key, value);
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
        refusedFull++; // refused, and the store is as it was
        inFlight = null;
        continue;
      }
      model.set(key, value);
      uncommitted.push(inFlight);
      writesReturned++;
      if (big) largeValues++;
    }
    inFlight = null;
    if (store.pendingWrites === 0) {
      for (const w of uncommitted) {
        if (w.value === undefined) committed.delete(w.key);
        else committed.set(w.key, w.value);
      }
      uncommitted = [];
    }
  }
  const gcPasses = Math.floor(sim.stats.erases / (sim.size / sim.sectorSize));
  return { fault, durability: options.durability ?? 'immediate', programUnit, operations, flashOperations: sim.opCount, cutPoints, violations, firstViolations, gcPasses, largeValues, deletes, refusedFull, writesReturned, finalStore: store };
}

// ---- randomized: seeded workloads x random cuts of every fault kind ----------------

export type PendingOp = { key: string; value: Uint8Array | undefined };

/**
 * The m such that the store holds exactly `committed` plus the first m of
 * `pending` (in order): keys(), size, stats().keys and every get agree with
 * that model. -1 if no prefix matches: a write lost, reordered or invented.
 */
/** What the randomized runs use of a store: v2's RingStore and v3's JournalStore alike. */
export type StoreUnderTest = Pick<RingStore, 'set' | 'get' | 'has' | 'delete' | 'flush' | 'unmount' | 'keys' | 'size' | 'stats' | 'pendingWrites'> & {
  beginValue(key: string, length: number): { append(chunk: Uint8Array): void; commit(): void; abort(): void };
};
export interface StoreImpl {
  format(flash: FlashPartition, options?: RuntimeStoreOptions): StoreUnderTest;
  mount(flash: FlashPartition, options?: RuntimeStoreOptions): StoreUnderTest;
}

export function prefixHeld(store: StoreUnderTest, committed: Map<string, Uint8Array>, pending: PendingOp[]): number {
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

export interface RandomRunStats {
  cuts: number;
  recoveries: number;
  doubleFaults: number;
  operations: number;
}

/** One seeded run; throws (with the seed in the message) on any violated property. */
export function randomCutRun(seed: number, operations: number, cutEvery: number, impl: StoreImpl = RingStore, minSectors = 12): RandomRunStats {
  const RingStore = impl;
  const random = seededRandom(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const unit = pick([16, 256]);
  const sectors = minSectors + Math.floor(random() * 13);
  const durability: Durability = random() < 0.5 ? 'immediate' : 'batched';
  const options = { durability, batchSize: 1 + Math.floor(random() * 8), indexCycleBytes: 256 + Math.floor(random() * 8192) };
  const f = new SimFlash({ size: sectors * 4096, sectorSize: 4096, programUnit: unit, seed });
  const where = `seed ${seed} (${unit} B units, ${sectors} sectors, ${durability})`;
  let store = RingStore.format(f, options);
  const committed = new Map<string, Uint8Array>();
  let pending: PendingOp[] = [];
  const stats: RandomRunStats = { cuts: 0, recoveries: 0, doubleFaults: 0, operations: 0 };
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
  const recover = (inFlight: PendingOp | null) => {
    f.powerOn();
    stats.cuts++;
    const all = inFlight ? [...pending, inFlight] : pending;
    store = RingStore.mount(f, options);
    stats.recoveries++;
    const m = prefixHeld(store, committed, all);
    if (m < 0) throw new Error(`${where}, op ${stats.operations}: recovered state is not committed + an in-order prefix of ${all.length} pending writes: ${describe(store as RingStore, committed, all.length)}`);
    pending = all.slice(0, m);
    commitPending();
    // A new write is accepted and survives another remount.
    const probe = new Uint8Array([seed & 0xff, stats.cuts & 0xff]);
    writeOrMakeRoom(() => store.set('probe', probe, { flush: true }));
    committed.set('probe', probe);
    store = RingStore.mount(f, options);
    if (!equal(store.get('probe'), probe)) throw new Error(`${where}: a write after recovery was lost on remount`);
    if (prefixHeld(store, committed, []) !== 0) throw new Error(`${where}: remount after recovery changed the state: ${describe(store as RingStore, committed, 0)}`);
  };
  const writeOrMakeRoom = (write: () => void) => {
    for (let tries = 0; ; tries++) {
      if (tries > 200) {
        // A store that refuses a small write with no keys left is wedged, not full.
        throw new Error(`${where}: a write after recovery is refused as full however many keys are deleted (${store.size} keys left)`);
      }
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
    let inFlight: PendingOp | null = null;
    try {
      if (r < 0.12) {
        if (!store.has(key)) continue;
        inFlight = { key, value: undefined };
        store.delete(key);
      } else if (r < 0.16) {
        store.flush();
      } else if (r < 0.19) {
        store.unmount();
        store = RingStore.mount(f, options);
      } else {
        const n = r < 0.7 ? Math.floor(random() * 5) : r < 0.97 ? 5 + Math.floor(random() * 300) : 1000 + Math.floor(random() * 5000);
        const value = Uint8Array.from({ length: n }, () => (random() * 256) | 0);
        // Large values are streamed in random chunks half the time; a fifth of those are aborted
        // halfway and must never appear.
        const streamed = n >= 1000 && random() < 0.5;
        const aborted = streamed && random() < 0.2;
        const chunk = 1 + Math.floor(random() * 1500);
        inFlight = aborted ? null : { key, value };
        try {
          if (!streamed) store.set(key, value);
          else {
            const w = store.beginValue(key, n);
            for (let at = 0; at < (aborted ? n >> 1 : n); at += chunk) w.append(value.subarray(at, Math.min(aborted ? n >> 1 : n, at + chunk)));
            if (aborted) w.abort();
            else w.commit();
          }
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

