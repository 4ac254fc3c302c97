// Exhaustive power-cut sweep, shared by the test suite and `npm run bench`.
//
// The workload runs once over a simulated partition. Before every mutating
// flash operation (program or erase) the sweep clones the partition, lets
// that same operation be interrupted on the clone (clean: it never happens;
// torn: part of it happens), powers the clone back on, mounts it and checks
// it against a model of every operation that had returned. Checking at the
// hook is exactly a cut at that operation index: the flash state before it
// is the same, and after a cut nothing else runs.

import { SimFlash } from '../../simulator/flash/sim-flash.ts';
import type { FlashPartition } from '../../hal/flash.ts';
import { RuntimeStore, type Durability } from '../../datastore/runtime/runtime-store.ts';

export type Fault = 'cut' | 'torn-program' | 'torn-erase';

export interface SweepOptions {
  fault: Fault;
  operations?: number; // store operations in the workload (default 2000)
  programUnit?: number;
  sectors?: number;
  seed?: number;
  durability?: Durability;
}

export interface SweepResult {
  fault: Fault;
  programUnit: number;
  operations: number;
  flashOperations: number;
  cutPoints: number;
  violations: number;
  firstViolations: string[];
  gcPasses: number;
  largeValues: number;
  deletes: number;
}

/** Delegates to a SimFlash and calls `before` ahead of each mutating operation. */
class HookedFlash implements FlashPartition {
  readonly size: number;
  readonly sectorSize: number;
  readonly programUnit: number;
  constructor(readonly inner: SimFlash, private readonly before: (op: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }) => void) {
    this.size = inner.size;
    this.sectorSize = inner.sectorSize;
    this.programUnit = inner.programUnit;
  }
  read(offset: number, into: Uint8Array): void {
    this.inner.read(offset, into);
  }
  program(offset: number, data: Uint8Array): void {
    this.before({ kind: 'program', offset, data });
    this.inner.program(offset, data);
  }
  erase(index: number): void {
    this.before({ kind: 'erase', offset: index });
    this.inner.erase(index);
  }
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function equal(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function powerCutSweep(options: SweepOptions): SweepResult {
  const fault = options.fault;
  const programUnit = options.programUnit ?? 256;
  const operations = options.operations ?? 2000;
  const random = rng(options.seed ?? 7);
  const sim = new SimFlash({ size: (options.sectors ?? 48) * 4096, sectorSize: 4096, programUnit, seed: options.seed ?? 7 });

  const model = new Map<string, Uint8Array>();
  let inFlight: { key: string; value: Uint8Array | undefined } | null = null;
  let cutPoints = 0;
  let violations = 0;
  const firstViolations: string[] = [];
  let flashOperations = 0;
  let checking = false;

  const violation = (what: string) => {
    violations++;
    if (firstViolations.length < 5) firstViolations.push(`flash op ${flashOperations}: ${what}`);
  };

  const check = (op: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }) => {
    if (checking) return;
    flashOperations++;
    if (fault === 'torn-program' && op.kind !== 'program') return;
    if (fault === 'torn-erase' && op.kind !== 'erase') return;
    checking = true;
    cutPoints++;
    const clone = sim.clone();
    clone.armPowerCut({ atOp: clone.opCount, effect: fault === 'cut' ? 'clean' : 'torn' });
    try {
      if (op.kind === 'program') clone.program(op.offset, op.data!);
      else clone.erase(op.offset);
    } catch {
      // the interrupted operation reports the power loss
    }
    clone.powerOn();
    try {
      const store = RuntimeStore.mount(clone, { durability: 'immediate' });
      const keys = new Set(store.keys());
      for (const [key, value] of model) {
        const got = store.get(key);
        if (inFlight && inFlight.key === key) {
          if (!equal(got, value) && !equal(got, inFlight.value)) violation(`in-flight key ${key} is neither old nor new`);
        } else if (!equal(got, value)) violation(`key ${key}: ${got ? got.length + ' bytes' : 'missing'}, expected ${value.length} bytes`);
        keys.delete(key);
      }
      if (inFlight && !model.has(inFlight.key) && keys.has(inFlight.key)) {
        if (!equal(store.get(inFlight.key), inFlight.value)) violation(`in-flight new key ${inFlight.key} has wrong bytes`);
        keys.delete(inFlight.key);
      }
      if (keys.size > 0) violation(`keys that should not exist: ${[...keys].slice(0, 3).join(', ')}`);
      // The recovered store must also take new writes and keep them across a remount.
      store.set('__after_cut__', new Uint8Array([1, 2, 3]));
      const again = RuntimeStore.mount(clone);
      if (!equal(again.get('__after_cut__'), new Uint8Array([1, 2, 3]))) violation('write after recovery lost on remount');
    } catch (e) {
      violation(`mount or check threw: ${(e as Error).message}`);
    }
    checking = false;
  };

  const flash = new HookedFlash(sim, check);
  let store = RuntimeStore.format(flash, { durability: options.durability ?? 'immediate', checkpointEverySectors: 8 });
  let largeValues = 0;
  let deletes = 0;
  for (let i = 0; i < operations; i++) {
    const key = `key-${Math.floor(random() * 40)}`;
    const r = random();
    if (r < 0.1) {
      if (!model.has(key)) continue;
      inFlight = { key, value: undefined };
      store.delete(key);
      model.delete(key);
      deletes++;
    } else if (r < 0.115) {
      inFlight = null;
      store.unmount();
      store = RuntimeStore.mount(flash, { durability: options.durability ?? 'immediate', checkpointEverySectors: 8 });
    } else {
      const big = r > 0.98;
      const length = big ? 5000 + Math.floor(random() * 9000) : Math.floor(random() * 120);
      const value = new Uint8Array(length);
      for (let j = 0; j < length; j++) value[j] = (random() * 256) | 0;
      inFlight = { key, value };
      store.set(key, value);
      model.set(key, value);
      if (big) largeValues++;
    }
    inFlight = null;
  }
  const gcPasses = Math.floor(sim.stats.erases / (sim.size / sim.sectorSize));
  return { fault, programUnit, operations, flashOperations, cutPoints, violations, firstViolations, gcPasses, largeValues, deletes };
}
