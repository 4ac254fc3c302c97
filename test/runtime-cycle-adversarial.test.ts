// Adversarial, seeded tests of the rolling index snapshot (FORMAT.md §5.2) and
// the bounded recovery built on it. The workload runs once on a simulated
// partition seen through hooks; before chosen program and erase operations
// the partition is cloned and that very operation is cut on the clone (every
// fault kind), which is then recovered and checked against a model of what
// returned. The operations chosen are the ones the new mechanism adds risk to:
// programs that carry a slice in padding, forced slices (a multi-record write
// that may cross sectors), the program that completes a cycle, GC that has not
// yet been named by a header, and the first operations after a remount; plus a
// random sample. After each recovery: the model (values, keys(), stats().keys),
// a second cut during the first writes after it (double fault), a new write
// that survives another remount, and, on partitions where GC never ran, the
// mount's bytes read against about twice the budget.
//
// Expected states come from the model of what was written, never from the
// store's tables (private counters are read only to choose where to cut).
//
// Size: CYCLE_ADVERSARIAL_SCALE=n multiplies seeds (default 1, ~15 s in all; n = 5 passes
// in about a minute). The GC sweep's seed 119 at n = 5 found a later mount replaying a record
// the mount after a torn program had dropped; its exact scenario is now a regression test in
// runtime-regressions.test.ts.

import { writeFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { equal, HookedFlash, isInjectedCut, prefixHeld, type PendingOp } from './support/power-cut-sweep.ts';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import type { Durability, RuntimeStoreOptions } from '../datastore/runtime/store-api.ts';
import { PartitionFullError, StoreError } from '../datastore/runtime/errors.ts';
import { FlashError, type FlashPartition } from '../hal/flash.ts';
import { decodeSectorHeader, NONE, SECTOR_HEADER_SIZE } from '../datastore/runtime/format.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const KiB = 1024;
const SECTOR = 4 * KiB;
const SCALE = Math.max(1, Number(process.env.CYCLE_ADVERSARIAL_SCALE ?? 1));

// ---- the store's private state, read only to decide where to cut ----------------------------

interface Peek {
  slices(): number;
  completing(): boolean;
  forcing(): boolean;
  gcUnnamed(): boolean;
  /** GC passed the first slice of the cycle in progress within the last few operations. */
  passedStart(): boolean;
}
function peek(store: () => RingStore): Peek {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const s = () => store() as any;
  return {
    slices: () => s().cycle.written.natural + s().cycle.written.forced,
    completing: () => s().cycle.completed !== NONE,
    forcing: () => s().cycleBusy === true,
    gcUnnamed: () => s().log.tailSector !== s().log.durableTail,
    passedStart: () => {
      const cycle = s().cycle;
      if (!cycle.__watched) {
        // GC asks startsIn(sector) before it frees the tail: true means it passes the cycle's first slice.
        const startsIn = cycle.startsIn.bind(cycle);
        cycle.__watched = true;
        cycle.__passed = 0;
        cycle.startsIn = (sector: number) => {
          const r = startsIn(sector);
          if (r) cycle.__passed = 40;
          return r;
        };
      }
      return cycle.__passed > 0 && cycle.__passed-- > 0;
    },
  };
}

// ---- key sets -------------------------------------------------------------------------------

/** 32-bit FNV-1a of an ASCII key (FORMAT.md §5), computed here independently of the store. */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

let dense: string[] | null = null;
/** Colliding pairs (same 32-bit hash) first, then keys in one 1/4096 of the hash space. */
function denseKeys(): string[] {
  if (dense) return dense;
  const seen = new Map<number, string>();
  const pairs: string[] = [];
  // Random 9-letter keys: ~n^2 / 2^33 colliding pairs among n (sequential names collide far less).
  const random = seededRandom(42);
  for (let i = 0; i < 600_000 && pairs.length < 24; i++) {
    let k = 'c';
    for (let j = 0; j < 8; j++) k += String.fromCharCode(97 + Math.floor(random() * 26));
    const h = fnv1a(k);
    const other = seen.get(h);
    if (other !== undefined && other !== k) pairs.push(other, k);
    else seen.set(h, k);
  }
  if (pairs.length < 16) throw new Error(`only ${pairs.length / 2} colliding pairs found`);
  const home: string[] = [];
  for (let i = 0; home.length < 200; i++) {
    const k = `h${i}`;
    if (fnv1a(k) >>> 20 === 0x9e3) home.push(k);
  }
  // Interleave so that any prefix of the set (a config's key count) has both kinds.
  dense = [];
  for (let i = 0; i < Math.max(pairs.length, home.length); i++) {
    if (i < pairs.length) dense.push(pairs[i]);
    if (i < home.length) dense.push(home[i]);
  }
  return dense;
}

// ---- model helpers --------------------------------------------------------------------------

function bytesOf(random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => (random() * 256) | 0);
}

function applyOps(base: Map<string, Uint8Array>, ops: PendingOp[]): Map<string, Uint8Array> {
  const m = new Map(base);
  for (const op of ops) {
    if (op.value === undefined) m.delete(op.key);
    else m.set(op.key, op.value);
  }
  return m;
}

const EFFECTS: Record<'program' | 'erase', PowerCutEffect[]> = {
  program: ['clean', 'torn', 'interrupted'],
  erase: ['clean', 'torn', 'weak'],
};

type Effect = PowerCutEffect | 'crafted';

/**
 * The most adversarial torn program the flash contract allows (hal/flash.ts: the pages
 * before the cut done, one page with any subset of its bit clears, later pages untouched):
 * in the torn page only a few bytes are left unprogrammed, anywhere, and everything after
 * them in that page is complete, so a later record (a slice) in the same page checks while
 * an earlier one does not.
 */
function craftedTear(f: SimFlash, op: { offset: number; data?: Uint8Array }, random: () => number): void {
  const data = op.data!;
  const page = f.pageSize;
  const first = Math.floor(op.offset / page);
  const last = Math.floor((op.offset + data.length - 1) / page);
  const torn = first + Math.floor(random() * (last - first + 1));
  const partial = new Uint8Array(data.length).fill(0xff);
  for (let i = 0; i < data.length; i++) {
    const p = Math.floor((op.offset + i) / page);
    if (p < torn) partial[i] = data[i];
    else if (p === torn) partial[i] = data[i];
  }
  // Leave 1..8 bytes of the torn page unprogrammed, at a random place where the data clears bits.
  const from = Math.max(op.offset, torn * page) - op.offset;
  const to = Math.min(op.offset + data.length, (torn + 1) * page) - op.offset;
  const at = from + Math.floor(random() * (to - from));
  const len = 1 + Math.floor(random() * 8);
  for (let i = at; i < Math.min(to, at + len); i++) partial[i] = 0xff;
  if (process.env.DBG_TEAR) console.log(`crafted tear: program at ${op.offset} of ${data.length} B, torn page ${torn}, bytes [${op.offset + at}, ${op.offset + Math.min(to, at + len)}) left erased`);
  f.program(op.offset, partial);
}

/**
 * Do `op` on `f` with a cut of `effect` armed at it. False if the operation fails on its own
 * first (a worn sector's erase, or the best-effort program that spoils a retired sector's
 * header): no cut point there, and the real operation must still run on the real flash.
 */
function cutAt(f: SimFlash, op: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }, effect: Effect, random: () => number = Math.random): boolean {
  try {
    if (effect === 'crafted') {
      craftedTear(f, op, random);
      return true; // power is gone: nothing runs on this clone until it is mounted
    }
    f.armPowerCut({ atOp: f.opCount, effect });
    if (op.kind === 'program') f.program(op.offset, op.data!);
    else f.erase(op.offset);
  } catch (e) {
    f.powerOn();
    if (isInjectedCut(e)) return true;
    if (e instanceof FlashError && (e.code === 'worn' || e.code === 'reprogram')) return false;
    throw e;
  }
  throw new Error('the armed cut did not happen');
}

interface Config {
  seed: number;
  unit: number;
  sectors: number;
  durability: Durability;
  batchSize: number;
  budget: number;
  keys: number;
  /**
   * 'plain': short keys; 'prefix': long keys with a common prefix; 'dense': keys whose 32-bit
   * FNV-1a hashes collide in pairs, mixed with keys sharing the top 12 bits of the hash (one
   * home slot in any index of up to 4096 slots: a slice can never split them).
   */
  keySet: 'plain' | 'prefix' | 'dense';
  /**
   * Share of large values: 6-14 KiB (across the 8 KiB a mount does not reread when a later page
   * proves their program completed), or with `fill`, 1-3 KiB.
   */
  large: number;
  ops: number;
  unmounts: number;
  /**
   * If set: per-key value sizes chosen so the live data is this share of the store's
   * capacity (stats().capacityBytes after format; `keys` is then the count that fits), keys
   * written once in order first, then overwritten with sizes near their own: GC copies a lot.
   */
  fill?: number;
  /** Sectors given a low erase endurance so they retire during the run. */
  wornSectors: number;
  /** Partition large enough that GC never runs: check the mount's bytes read. */
  checkReadBound: boolean;
  /** Chance of cutting at an op of no special interest. */
  sample: number;
}

interface Tally {
  cuts: Record<string, number>;
  doubleFaults: number;
  boundChecks: number;
  maxReadRatio: number;
  retired: number;
  gcCuts: number;
  /** Cuts within a few operations after GC passed the first slice of the cycle in progress. */
  startAtTail: number;
  effects: Record<string, number>;
  /** Largest (bytes read - 2 sectors - header search) / (2 * budget + index bytes) seen. */
  maxExcess: number;
  /** Bound checks where the mount gave back a useless head (and so replayed twice). */
  givenBack: number;
}

function newTally(): Tally {
  return { cuts: {}, doubleFaults: 0, boundChecks: 0, maxReadRatio: 0, retired: 0, gcCuts: 0, startAtTail: 0, effects: {}, maxExcess: 0, givenBack: 0 };
}

/**
 * Recover the clone `f` after a cut and check it. Returns the model of the
 * recovered state (committed + the prefix of `pending` it holds); throws with
 * `where` on a violated property.
 */
function recoverAndCheck(f: SimFlash, options: RuntimeStoreOptions, committed: Map<string, Uint8Array>, pending: PendingOp[], where: string): { store: RingStore; model: Map<string, Uint8Array>; read: number } {
  const before = f.stats.bytesRead;
  let store: RingStore;
  try {
    store = RingStore.mount(f, options);
  } catch (e) {
    throw new Error(`${where}: the mount failed: ${(e as Error).message}`);
  }
  const read = f.stats.bytesRead - before;
  const m = prefixHeld(store, committed, pending);
  if (m < 0) {
    const model = applyOps(committed, pending);
    const missing = [...committed].filter(([k, v]) => !equal(store.get(k), v)).map(([k]) => k);
    const extra = store.keys().filter((k) => !model.has(k));
    throw new Error(`${where}: recovered state is not the committed writes plus an in-order prefix of ${pending.length} pending (committed keys differing: ${missing.slice(0, 4).join(',')}; extra: ${extra.slice(0, 4).join(',')}; store keys ${store.keys().length}, stats ${store.stats().keys}, model ${committed.size})`);
  }
  return { store, model: applyOps(committed, pending.slice(0, m)), read };
}

function writeOrMakeRoom(store: RingStore, model: Map<string, Uint8Array>, key: string, value: Uint8Array): void {
  for (;;) {
    try {
      store.set(key, value, { flush: true });
      model.set(key, value);
      return;
    } catch (e) {
      if (!(e instanceof PartitionFullError)) throw e;
      const victim = [...model.keys()].find((k) => k !== key);
      if (!victim) throw e;
      store.delete(victim, { flush: true });
      model.delete(victim);
    }
  }
}

/** After a recovery: maybe a second cut in the first writes, then a probe that must survive a remount. */
function afterRecovery(f: SimFlash, options: RuntimeStoreOptions, rec: { store: RingStore; model: Map<string, Uint8Array> }, random: () => number, keyOf: (i: number) => string, tally: Tally, where: string): void {
  let { store, model } = rec;
  if (random() < 0.45) {
    // Double fault: a cut (any kind) among the first operations of the new session.
    const kind: 'program' | 'erase' = random() < 0.7 ? 'program' : 'erase';
    const effects = EFFECTS[kind];
    const second = { atOp: Math.floor(random() * 4), effect: effects[Math.floor(random() * effects.length)], kind };
    f.armPowerCut(second);
    if (process.env.DBG_TEAR) console.log(`double fault: ${JSON.stringify(second)} after ${where}`);
    const pending: PendingOp[] = [];
    let committed = new Map(model);
    let cut = false;
    for (let i = 0; i < 12 && !cut; i++) {
      const key = keyOf(Math.floor(random() * 1e9));
      const del = random() < 0.15 && committed.size > 0;
      const op: PendingOp = del ? { key: [...committed.keys()][0], value: undefined } : { key, value: bytesOf(random, Math.floor(random() * 200)) };
      if (process.env.DBG_TEAR) console.log(`  op ${op.value === undefined ? 'delete' : 'set'} ${op.key} ${op.value ? Buffer.from(op.value).toString('hex') : ''}`);
      try {
        if (op.value === undefined) store.delete(op.key);
        else store.set(op.key, op.value);
        pending.push(op);
        if (store.pendingWrites === 0) {
          committed = applyOps(committed, pending);
          pending.length = 0;
        }
      } catch (e) {
        if (e instanceof PartitionFullError) continue;
        if (!isInjectedCut(e)) throw e;
        cut = true;
        f.powerOn();
        tally.doubleFaults++;
        const again = recoverAndCheck(f, options, committed, [...pending, op], `${where}, second cut after recovery`);
        store = again.store;
        model = again.model;
      }
    }
    if (!cut) {
      f.powerOn(); // the cut did not come (few erases): commit what is pending
      store.flush();
      model = applyOps(committed, pending);
    }
  }
  const probe = bytesOf(random, 1 + Math.floor(random() * 40));
  writeOrMakeRoom(store, model, '__probe__', probe);
  const again = RingStore.mount(f, options);
  if (prefixHeld(again, model, []) !== 0) throw new Error(`${where}: a write after recovery (or the state) changed across a remount`);
}

/**
 * One seeded workload; at the chosen operations a clone is cut, recovered and
 * checked. Returns the tally; throws on the first violation.
 */
function cycleSweep(config: Config, tally: Tally): void {
  let c = config;
  const random = seededRandom(c.seed);
  const cutRandom = seededRandom(c.seed ^ 0x5bd1e995);
  const where0 = `seed ${c.seed} (${c.unit} B units, ${c.sectors} sectors, ${c.durability}/${c.batchSize}, budget ${c.budget}, ${c.keys} ${c.keySet} keys)`;
  const options: RuntimeStoreOptions = { durability: c.durability, batchSize: c.batchSize, indexCycleBytes: c.budget };
  const sim = new SimFlash({ size: c.sectors * SECTOR, sectorSize: SECTOR, programUnit: c.unit, seed: c.seed });
  const keyOf = (i: number) =>
    c.keySet === 'prefix' ? `settings/device/channel/${String(i % c.keys).padStart(5, '0')}` : c.keySet === 'dense' ? denseKeys()[i % Math.min(c.keys, denseKeys().length)] : `k${(i % c.keys).toString(36)}`;

  let committed = new Map<string, Uint8Array>();
  let pending: PendingOp[] = [];
  let inFlight: PendingOp | null = null;
  let store: RingStore | null = null;
  const p = peek(() => store!);
  let lastSlices = 0;
  let opsSinceMount = 1000;
  let busy = false;
  let armedLive = false;

  const hook = (op: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }) => {
    if (busy || store === null || armedLive) return;
    const reasons: string[] = [];
    if (op.kind === 'program') {
      const slices = p.slices();
      if (slices !== lastSlices) reasons.push('slice');
      lastSlices = slices;
      if (p.completing()) reasons.push('completes-cycle');
      if (p.forcing()) reasons.push('forced');
    }
    if (p.forcing() && op.kind === 'erase') reasons.push('forced');
    if (p.gcUnnamed()) reasons.push('gc');
    if (p.passedStart()) reasons.push('gc-passed-start');
    if (opsSinceMount++ < 4) reasons.push('after-mount');
    if (reasons.length === 0 && cutRandom() >= c.sample) return;
    // Not every interesting op: keep the run short (slices are at most commits).
    if (reasons.length > 0 && !reasons.includes('completes-cycle') && !reasons.includes('after-mount') && !reasons.includes('gc-passed-start') && cutRandom() > 0.35) return;
    busy = true;
    try {
      const clone = sim.clone();
      if (process.env.DBG_SNAP === `${c.seed}:${sim.opCount}`) saveSnapshot(clone, op, options);
      const effects: Effect[] = op.kind === 'program' ? [...EFFECTS.program, 'crafted', 'crafted'] : EFFECTS.erase;
      const effect = effects[Math.floor(cutRandom() * effects.length)];
      if (!cutAt(clone, op, effect, cutRandom)) return;
      tally.effects[effect] = (tally.effects[effect] ?? 0) + 1;
      const label = reasons.length ? reasons.join('+') : 'random';
      tally.cuts[label] = (tally.cuts[label] ?? 0) + 1;
      if (reasons.includes('gc')) tally.gcCuts++;
      if (reasons.includes('gc-passed-start')) tally.startAtTail++;
      const where = `${where0}, flash op ${sim.opCount} (${op.kind}, ${effect}, ${label})`;
      const all = inFlight ? [...pending, inFlight] : pending;
      const rec = recoverAndCheck(clone, options, committed, all, where);
      if (c.checkReadBound) {
        // Two cycles of B, each ending with a commit that may carry up to a whole index of
        // slices; the head sector and one more; index lookups (a key read per key, about) and
        // the header search (log2 of the sectors plus 8, each read up to three times).
        const index = 8 * c.keys + 8 * 64;
        const bound = 2 * (c.budget + index) + 2 * SECTOR + 16 * c.keys + 32 * 3 * 20;
        // A head holding nothing but its header (its first program was cut) is given back
        // (FORMAT.md §6.6): found from its own first record, so the log is replayed once, from
        // the sector before; the same bound holds.
        if (rec.store.stats().headSector !== newestSector(clone)) tally.givenBack++;
        tally.boundChecks++;
        tally.maxReadRatio = Math.max(tally.maxReadRatio, rec.read / (2 * c.budget));
        tally.maxExcess = Math.max(tally.maxExcess, (rec.read - 2 * SECTOR) / (2 * c.budget));
        if (rec.read > bound) throw new Error(`${where}: the mount read ${rec.read} B, bound ${bound} (budget ${c.budget})`);
      }
      afterRecovery(clone, options, rec, cutRandom, keyOf, tally, where);
    } finally {
      busy = false;
    }
  };

  const flash = new HookedFlash(sim, hook);
  store = RingStore.format(flash, options);
  const sizes: number[] = [];
  if (c.fill !== undefined) {
    const capacity = store.stats().capacityBytes;
    let live = 0;
    for (;;) {
      const n = random() < c.large ? 1 * KiB + Math.floor(random() * 2 * KiB) : Math.floor(random() * 200);
      const footprint = Math.ceil((16 + 30 + n + 4) / c.unit) * c.unit;
      if (live + footprint > c.fill * capacity) break;
      live += footprint;
      sizes.push(n);
    }
    c = { ...c, keys: sizes.length };
  }
  for (let i = 0; i < c.wornSectors; i++) {
    // Worn out after a pass or two: retired while cycles are in flight.
    sim.setSectorEndurance(Math.floor(random() * c.sectors), 1 + Math.floor(random() * 2));
  }
  const unmountEvery = c.unmounts > 0 ? Math.floor(c.ops / (c.unmounts + 1)) : Infinity;
  for (let i = 0; i < c.ops; i++) {
    if (i > 0 && i % unmountEvery === 0) {
      // A clean unmount writes a full checkpoint mid-cycle; the next session goes on.
      inFlight = null;
      store.unmount();
      committed = applyOps(committed, pending);
      pending = [];
      store = RingStore.mount(flash, options);
      opsSinceMount = 0;
      continue;
    }
    const k = sizes.length > 0 && i < sizes.length ? i : Math.floor(random() * c.keys);
    const key = keyOf(k);
    const r = sizes.length > 0 && i < sizes.length ? 0.5 : random();
    inFlight = null;
    try {
      if (r < 0.12) {
        if (!store.has(key)) continue;
        inFlight = { key, value: undefined };
        store.delete(key);
      } else if (r < 0.15) {
        store.flush();
      } else {
        const n = sizes.length > 0 ? Math.max(0, Math.round(sizes[k] * (0.9 + 0.2 * random()))) : random() < c.large ? 6 * KiB + Math.floor(random() * 8 * KiB) : random() < 0.6 ? Math.floor(random() * 8) : 8 + Math.floor(random() * 200);
        const value = bytesOf(random, n);
        inFlight = { key, value };
        if (n > 2 * KiB && random() < 0.5) {
          const w = store.beginValue(key, n);
          const chunk = 1 + Math.floor(random() * 1500);
          for (let at = 0; at < n; at += chunk) w.append(value.subarray(at, Math.min(n, at + chunk)));
          w.commit();
        } else {
          store.set(key, value, { flush: random() < 0.05 });
        }
      }
    } catch (e) {
      if (e instanceof PartitionFullError) {
        // Refused and unchanged: make room the way an application would.
        const victim = [...applyOps(committed, pending).keys()][0];
        inFlight = victim === undefined ? null : { key: victim, value: undefined };
        if (inFlight) {
          store.delete(inFlight.key, { flush: true });
          pending.push(inFlight);
          committed = applyOps(committed, pending);
          pending = [];
        }
        inFlight = null;
        continue;
      }
      throw e;
    }
    if (inFlight) pending.push(inFlight);
    inFlight = null;
    if (store.pendingWrites === 0) {
      committed = applyOps(committed, pending);
      pending = [];
    }
  }
  tally.retired += store.stats().retiredSectors.length;
  if (c.checkReadBound && sim.stats.erases >= c.sectors) throw new Error(`${where0}: GC ran (the read bound is only claimed while GC copies little); enlarge the partition`);
  // The run itself ends with the model intact.
  store.flush();
  committed = applyOps(committed, pending);
  const final = RingStore.mount(sim, options);
  if (prefixHeld(final, committed, []) !== 0) throw new Error(`${where0}: the state after the run differs from the model`);
}

/**
 * Debugging aid: DBG_SNAP=seed:opCount saves the partition's state before that cut
 * (to DBG_SNAP_FILE), for a standalone reproduction; DBG_TEAR=1 prints each crafted tear.
 */
function saveSnapshot(f: SimFlash, op: { kind: string; offset: number; data?: Uint8Array }, options: RuntimeStoreOptions): void {
  const { cells, programmed, eraseCounts } = f.liveState();
  const b64 = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const endurance = Array.from((f as any).endurance as Float64Array, (e) => (e === Infinity ? -1 : e));
  const out = { size: f.size, sectorSize: f.sectorSize, programUnit: f.programUnit, options, op: { kind: op.kind, offset: op.offset, data: op.data ? b64(op.data) : null }, cells: b64(cells), programmed: b64(programmed), eraseCounts: b64(new Uint8Array(eraseCounts.buffer)), endurance };
  writeFileSync(process.env.DBG_SNAP_FILE ?? 'snapshot.json', JSON.stringify(out));
}

/** The sector whose valid header has the highest seq (every header read: no search). */
function newestSector(f: SimFlash): number {
  let best = -1;
  let bestSeq = 0;
  const buf = new Uint8Array(SECTOR_HEADER_SIZE);
  for (let s = 0; s < f.size / f.sectorSize; s++) {
    f.read(s * f.sectorSize, buf);
    const h = decodeSectorHeader(buf);
    if (h.kind === 'valid' && (best < 0 || ((h.header.seq - bestSeq) | 0) > 0)) {
      best = s;
      bestSeq = h.header.seq;
    }
  }
  return best;
}

/** Cuts whose label includes `reason`. */
function landed(t: Tally, reason: string): number {
  return Object.entries(t.cuts).reduce((n, [k, v]) => n + (k.split('+').includes(reason) ? v : 0), 0);
}

function pick<T>(random: () => number, xs: T[]): T {
  return xs[Math.floor(random() * xs.length)];
}

function summary(t: Tally): string {
  return `${Object.entries(t.cuts).map(([k, v]) => `${k} ${v}`).join(', ')}; double faults ${t.doubleFaults}; bound checks ${t.boundChecks} (${t.givenBack} with a head given back; max read ${t.maxReadRatio.toFixed(2)}x 2B); retired ${t.retired}; cuts just after GC passed a cycle's first slice ${t.startAtTail}; effects ${Object.entries(t.effects).map(([k, v]) => `${k} ${v}`).join(', ')}; max (read - 2 sectors) / 2B ${t.maxExcess.toFixed(2)}`;
}

const t = suite('runtime store: index cycle under adversarial cuts');

t('cuts at slice commits, forced slices, cycle-completing programs and first writes after a mount (every fault kind, tiny budgets 256-4096, both units and durabilities): every recovery holds the model, takes a write, and keeps it', () => {
  const tally = newTally();
  for (let seed = 1; seed <= 8 * SCALE; seed++) {
    const r = seededRandom(seed * 7919);
    cycleSweep(
      {
        seed,
        unit: seed % 2 ? 16 : 256,
        sectors: 16 + Math.floor(r() * 8),
        durability: seed % 4 < 2 ? 'immediate' : 'batched',
        batchSize: 1 + Math.floor(r() * 8),
        budget: pick(r, [256, 512, 1024, 2048, 4096]),
        keys: 20 + Math.floor(r() * 200),
        keySet: pick(r, ['plain', 'prefix', 'dense'] as const),
        large: seed % 3 === 0 ? 0.03 : 0,
        ops: 500,
        unmounts: 2,
        wornSectors: 0,
        checkReadBound: false,
        sample: 0.01,
      },
      tally,
    );
  }
  console.log(`  cycle cuts: ${summary(tally)}`);
  assert.ok(landed(tally, 'slice') > 100, `cuts on programs carrying a slice: ${landed(tally, 'slice')}`);
  assert.ok(landed(tally, 'completes-cycle') > 50, `cuts on cycle-completing programs: ${landed(tally, 'completes-cycle')}`);
  assert.ok(landed(tally, 'forced') > 50, `cuts on forced slices: ${landed(tally, 'forced')}`);
  assert.ok(landed(tally, 'after-mount') > 20, `cuts on the first operations after a mount: ${landed(tally, 'after-mount')}`);
  assert.ok((tally.effects.crafted ?? 0) > 100 && (tally.effects.weak ?? 0) > 5 && (tally.effects.interrupted ?? 0) > 50, 'every fault kind was used');
  assert.ok(tally.doubleFaults > 10, `double faults: ${tally.doubleFaults}`);
});

t('GC passing a cycle\'s first slice at 90 %+ fill (small partitions, large and small values, tiny budgets), retired sectors with a cycle in flight, then a cut: every recovery holds the model', () => {
  const tally = newTally();
  for (let seed = 101; seed <= 100 + 6 * SCALE; seed++) {
    const r = seededRandom(seed * 104729);
    cycleSweep(
      {
        seed,
        unit: seed % 2 ? 16 : 256,
        sectors: 16 + Math.floor(r() * 8),
        durability: seed % 3 === 0 ? 'batched' : 'immediate',
        batchSize: 1 + Math.floor(r() * 6),
        // Large budgets too: at high fill no slice is forced and padding slices keep to the
        // pace, so a cycle outlasts a pass of GC round the ring, which then passes its start.
        budget: pick(r, [256, 4096, 32 * KiB, 64 * KiB, 64 * KiB]),
        keys: 0,
        fill: 0.9 + 0.08 * r(),
        keySet: pick(r, ['plain', 'prefix', 'dense'] as const),
        large: 0.1,
        ops: 900,
        unmounts: seed % 2,
        wornSectors: seed % 3 === 1 ? 2 : 0,
        checkReadBound: false,
        sample: 0.01,
      },
      tally,
    );
  }
  console.log(`  GC cuts: ${summary(tally)}`);
  assert.ok(tally.gcCuts > 20, `cuts while GC progress was not yet named by a header: ${tally.gcCuts}`);
  assert.ok(tally.startAtTail > 10, `cuts just after GC passed a cycle's first slice: ${tally.startAtTail}`);
  assert.ok(tally.retired > 0, `sectors retired during the runs: ${tally.retired}`);
});

t('where GC never runs, a mount after a cut at any of those points reads within about twice the budget plus two sectors and lookups', () => {
  const tally = newTally();
  for (let seed = 201; seed <= 200 + 4 * SCALE; seed++) {
    const r = seededRandom(seed);
    cycleSweep(
      {
        seed,
        unit: seed % 2 ? 16 : 256,
        sectors: 96,
        durability: seed % 4 < 2 ? 'immediate' : 'batched',
        batchSize: 1 + Math.floor(r() * 8),
        budget: pick(r, [1024, 2048, 4096, 8192]),
        keys: 40 + Math.floor(r() * 100),
        keySet: pick(r, ['plain', 'prefix', 'dense'] as const),
        large: 0,
        ops: 1500,
        unmounts: 1,
        wornSectors: 0,
        checkReadBound: true,
        sample: 0.002,
      },
      tally,
    );
  }
  console.log(`  bound: ${summary(tally)}`);
  assert.ok(tally.boundChecks > 50, `bound checks: ${tally.boundChecks}`);
});

// ---- flash failure ------------------------------------------------------------------------------

/**
 * A flash whose chosen program or erase fails (HookedFlash's hook runs before each operation):
 * a failed program may first clear a random subset of its bits.
 */
function failingFlash(inner: SimFlash, random: () => number) {
  const fail = { next: null as 'program' | 'erase' | null, garble: false, failedAt: -1, afterFailure: 0 };
  const flash = new HookedFlash(inner, (op) => {
    if (fail.failedAt >= 0) fail.afterFailure++;
    if (fail.next !== op.kind) return;
    fail.next = null;
    fail.failedAt = op.offset;
    if (op.kind === 'program') {
      if (fail.garble) inner.program(op.offset, Uint8Array.from(op.data!, (b) => (random() < 0.5 ? b : 0xff)));
      throw new FlashError('worn', op.offset, 'program failed');
    }
    // Not 'worn' (a worn erase retires the sector and goes on, FORMAT.md §7): an erase that
    // failed for any other reason leaves the flash in an unknown state.
    throw new FlashError('reprogram', op.offset, 'erase failed (bus error)');
  });
  return { flash, fail };
}

t('a program that fails while it carries a slice, a forced slice or the cycle\'s last slice (or an erase that fails): the write is refused, every later write is refused with flash-failure, nothing more is programmed or erased, and a remount holds the model', () => {
  let failures = 0;
  const kinds: Record<string, number> = {};
  for (let seed = 1; seed <= 24; seed++) {
    const random = seededRandom(seed * 31337);
    const unit = seed % 2 ? 16 : 256;
    const durability: Durability = seed % 4 < 2 ? 'immediate' : 'batched';
    const options: RuntimeStoreOptions = { durability, batchSize: 1 + (seed % 5), indexCycleBytes: pick(random, [256, 1024, 4096]) };
    const inner = new SimFlash({ size: 20 * SECTOR, sectorSize: SECTOR, programUnit: unit, seed });
    const { flash, fail } = failingFlash(inner, random);
    fail.garble = seed % 3 === 0;
    const target = pick(random, ['slice', 'completes-cycle', 'forced', 'erase'] as const);
    let committed = new Map<string, Uint8Array>();
    let pending: PendingOp[] = [];
    let failure: unknown = null;
    let inFlight: PendingOp | null = null;
    const keys = 30 + Math.floor(random() * 100);
    let lastSlices = 0;
    let s2: RingStore | null = null;
    const p = peek(() => s2!);
    // Arm the failure once the workload is under way, at the next op of the target kind.
    const watch = (kind: 'program' | 'erase') => {
      if (s2 === null || fail.failedAt >= 0 || fail.next !== null) return;
      if (kind === 'program') {
        const s = p.slices();
        const hit = target === 'slice' ? s !== lastSlices : target === 'completes-cycle' ? p.completing() : target === 'forced' ? p.forcing() : false;
        lastSlices = s;
        if (hit && random() < 0.3) fail.next = 'program';
      } else if (target === 'erase' && random() < 0.3) fail.next = 'erase';
    };
    const observed: FlashPartition = {
      size: flash.size,
      sectorSize: flash.sectorSize,
      programUnit: flash.programUnit,
      pageSize: flash.pageSize,
      read: (o, into) => flash.read(o, into),
      program: (o, d) => {
        watch('program');
        flash.program(o, d);
      },
      erase: (i) => {
        watch('erase');
        flash.erase(i);
      },
    };
    s2 = RingStore.format(observed, options);
    for (let i = 0; i < 3000 && failure === null; i++) {
      const key = `k${Math.floor(random() * keys)}`;
      inFlight = random() < 0.1 && s2.has(key) ? { key, value: undefined } : { key, value: bytesOf(random, Math.floor(random() * 150)) };
      try {
        if (inFlight.value === undefined) s2.delete(key);
        else s2.set(key, inFlight.value);
      } catch (e) {
        if (e instanceof PartitionFullError) continue;
        failure = e;
        break;
      }
      pending.push(inFlight);
      inFlight = null;
      if (s2.pendingWrites === 0) {
        committed = applyOps(committed, pending);
        pending = [];
      }
    }
    const what = `seed ${seed} (${unit} B, ${durability}, fail at ${target}${fail.garble ? ', garbled' : ''})`;
    if (failure === null) continue; // the target never came up in this workload
    failures++;
    kinds[target] = (kinds[target] ?? 0) + 1;
    assert.ok(failure instanceof StoreError || failure instanceof FlashError, `${what}: the failure surfaced as a typed error (${String(failure)})`);
    for (const call of [() => s2.set('again', new Uint8Array(3)), () => s2.delete([...committed.keys()][0] ?? 'x'), () => s2.flush(), () => s2.beginValue('v', 10)]) {
      assert.throws(call, (e: unknown) => e instanceof StoreError && e.code === 'flash-failure', `${what}: refused with flash-failure after the failure`);
    }
    s2.unmount();
    assert.is(fail.afterFailure, 0, `${what}: nothing programmed or erased after the failure`);
    // What reached flash: every committed write; of the rest an in-order prefix (the failed one included).
    const all = inFlight ? [...pending, inFlight] : pending;
    const again = RingStore.mount(inner, options);
    assert.ok(prefixHeld(again, committed, all) >= 0, `${what}: a remount holds the committed writes and an in-order prefix of the rest`);
    assert.is(again.get('again'), undefined, `${what}: a refused write never appears`);
  }
  console.log(`  flash failures injected: ${failures} (${Object.entries(kinds).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  assert.ok(failures >= 12, `failures injected: ${failures}`);
});

t.run();
