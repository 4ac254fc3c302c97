// Adversarial review of the format v3 store (datastore/runtime/v3/), beside
// test/runtime-v3-store.test.ts: a stricter random model (layouts of 24-63
// sectors, both program units, either durability with batches up to 30,
// default or random index-cycle budgets, hash-colliding key pairs, values
// of exactly 3071/3072/3073/4095/4096/4097/8192/8193 bytes mixed with tiny
// ones, streamed values committed and aborted, remounts with and without
// unmount, filling until the partition refuses and then deleting), cuts of
// every fault kind including during the first writes after a recovery;
// values of more than 256 sectors (list form) under cuts; bit rot in value
// and list sectors.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { keyHash } from '../datastore/runtime/key-text.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import { CorruptRecordError, PartitionFullError } from '../datastore/runtime/errors.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { equal, isInjectedCut, prefixHeld, type PendingOp } from './support/power-cut-sweep.ts';

const review = suite('runtime store v3: adversarial review');

/** Pairs of distinct keys with equal FNV-1a 32-bit hashes (found by search, checked below). */
const COLLIDING: [string, string][] = [
  ['c2ya8', 'czki6'],
  ['c2ya9', 'czki7'],
  ['c2ya6', 'czki8'],
  ['c2ya7', 'czki9'],
  ['c2yao', 'czkia'],
  ['c2yal', 'czkib'],
];

const EFFECTS: { effect: PowerCutEffect; kind: 'any' | 'program' | 'erase' }[] = [
  { effect: 'clean', kind: 'any' },
  { effect: 'torn', kind: 'any' },
  { effect: 'interrupted', kind: 'program' },
  { effect: 'weak', kind: 'erase' },
];

/** Sizes at the whole-sector threshold (3,072 at 4 KiB sectors) and at sector multiples. */
const EDGE_SIZES = [0, 1, 3, 50, 200, 1000, 3000, 3071, 3072, 3073, 4095, 4096, 4097, 8192, 8193, 12000];

/**
 * One seeded run: returns the cuts it made, throws with the seed, layout and
 * operation on the first violation. Checked: after every cut (and every
 * remount without unmount) the store holds the committed writes plus an
 * in-order prefix of the pending ones, `keys()`, `size` and `stats().keys`
 * agree; a write of under 100 bytes is never refused as full while live
 * bytes are under half the capacity `stats()` reports; a delete is never
 * refused.
 */
function reviewRun(seed: number, operations: number, cutEvery: number): { cuts: number; refused: number } {
  const random = seededRandom(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const unit = pick([16, 256]);
  const sectors = 24 + Math.floor(random() * 40);
  const durability = random() < 0.5 ? ('immediate' as const) : ('batched' as const);
  const options = { durability, batchSize: 1 + Math.floor(random() * 30), indexCycleBytes: random() < 0.5 ? 0 : 256 + Math.floor(random() * 8192) };
  const f = new SimFlash({ size: sectors * 4096, sectorSize: 4096, programUnit: unit, seed });
  const where = `seed ${seed} (${unit} B units, ${sectors} sectors, ${durability}, batch ${options.batchSize}, cycle ${options.indexCycleBytes})`;
  let store = JournalStore.format(f, options);
  const committed = new Map<string, Uint8Array>();
  let pending: PendingOp[] = [];
  const keys: string[] = [];
  const keyCount = 10 + Math.floor(random() * 80);
  for (let i = 0; i < keyCount; i++) keys.push('k' + i);
  for (const [a, b] of COLLIDING) keys.push(a, b);
  let armed = false;
  let cuts = 0;
  let refused = 0;
  const arm = (within: number) => {
    const { effect, kind } = pick(EFFECTS);
    f.armPowerCut({ atOp: kind === 'any' ? f.opCount + Math.floor(random() * within) : Math.floor(random() * Math.max(1, within / 2)), effect, kind });
    armed = true;
  };
  const commitPending = () => {
    for (const op of pending) {
      if (op.value === undefined) committed.delete(op.key);
      else committed.set(op.key, op.value);
    }
    pending = [];
  };
  const settle = (all: PendingOp[], what: string, op: number) => {
    const m = prefixHeld(store, committed, all);
    if (m < 0) throw new Error(`${where}, op ${op}: after ${what} the store is not the committed writes plus an in-order prefix of ${all.length} pending`);
    pending = all.slice(0, m);
    commitPending();
  };
  for (let i = 0; i < operations; i++) {
    if (!armed && random() < 1 / cutEvery) arm(60);
    const r = random();
    const key = pick(keys);
    let inFlight: PendingOp | null = null;
    try {
      if (r < 0.1) {
        if (!store.has(key)) continue;
        inFlight = { key, value: undefined };
        store.delete(key);
      } else if (r < 0.12) store.flush();
      else if (r < 0.14) {
        store.unmount();
        store = JournalStore.mount(f, options);
      } else if (r < 0.15) {
        store = JournalStore.mount(f, options); // no unmount: batched writes not yet committed may be lost, in order
        settle(pending, 'a remount without unmount', i);
      } else {
        const n = random() < 0.5 ? pick(EDGE_SIZES) : Math.floor(random() * (random() < 0.8 ? 300 : 6000));
        const value = Uint8Array.from({ length: n }, () => (random() * 256) | 0);
        const streamed = n > 100 && random() < 0.3;
        const aborted = streamed && random() < 0.3;
        inFlight = aborted ? null : { key, value };
        try {
          if (!streamed) store.set(key, value);
          else {
            const w = store.beginValue(key, n);
            const chunk = 1 + Math.floor(random() * 2000);
            const upTo = aborted ? n >> 1 : n;
            for (let at = 0; at < upTo; at += chunk) w.append(value.subarray(at, Math.min(upTo, at + chunk)));
            if (aborted) w.abort();
            else w.commit();
          }
        } catch (e) {
          if (!(e instanceof PartitionFullError)) throw e;
          refused++;
          const st = store.stats();
          if (n < 100 && st.liveBytes < st.capacityBytes / 2) throw new Error(`${where}, op ${i}: a ${n}-byte write refused as full with ${st.liveBytes} of ${st.capacityBytes} bytes live`);
          inFlight = null;
          const victim = pick([...committed.keys()]);
          if (victim !== undefined && store.has(victim)) {
            inFlight = { key: victim, value: undefined };
            try {
              store.delete(victim);
            } catch (d) {
              if (d instanceof PartitionFullError) throw new Error(`${where}, op ${i}: a delete refused as full (wedged)`);
              throw d;
            }
            pending.push(inFlight);
            inFlight = null;
          }
          if (store.pendingWrites === 0) commitPending();
          continue;
        }
      }
      if (inFlight) pending.push(inFlight);
      inFlight = null;
      if (store.pendingWrites === 0) commitPending();
      if (i % 50 === 0) assert.is(store.keys().length, store.stats().keys, `${where}, op ${i}: keys() and stats()`);
    } catch (e) {
      if (!isInjectedCut(e)) throw e;
      armed = false;
      cuts++;
      f.powerOn();
      store = JournalStore.mount(f, options);
      settle(inFlight ? [...pending, inFlight] : pending, `cut ${cuts}`, i);
      if (random() < 0.3) arm(12); // a cut during the first writes after the recovery
    }
  }
  f.powerOn();
  return { cuts, refused };
}

review('the colliding key pairs really collide', () => {
  for (const [a, b] of COLLIDING) assert.is(keyHash(utf8Encode(a)), keyHash(utf8Encode(b)), `${a} / ${b}`);
});

review('15 seeds of the stricter model: random layouts, batches up to 30, colliding keys, edge sizes, streams, fill until refused, cuts of every kind (before batches ended at a spent cycle budget, some refused small writes a third to half full)', () => {
  let cuts = 0;
  let refused = 0;
  for (let seed = 2; seed <= 16; seed++) {
    const r = reviewRun(seed, 1500, 30);
    cuts += r.cuts;
    refused += r.refused;
  }
  assert.ok(cuts > 300, `${cuts} cuts`);
  assert.ok(refused > 50, `${refused} writes refused as full (the runs reach a full partition)`);
});

review('batched writes of journal-sized values: the chain a mount may walk grows no longer than with immediate writes, and nothing is refused at half full', () => {
  // Finding 1: batches of 1.5-3 KB values (a journal sector each) outran the index cycle, whose slices went out only
  // at a batch's commit; the chain behind the durable points grew to 18 of 24 sectors (batches of 8), or the store
  // refused writes with 8 keys of at most 3 KB live (batches of 30).
  const longestChain = (unit: number, durability: 'immediate' | 'batched', batchSize: number): number => {
    const f = new SimFlash({ size: 24 * 4096, sectorSize: 4096, programUnit: unit, seed: unit });
    const s = JournalStore.format(f, { durability, batchSize });
    const r = seededRandom(unit);
    let longest = 0;
    for (let i = 0; i < 2000; i++) {
      s.set('k' + (i % 8), new Uint8Array(1500 + Math.floor(r() * 1500)).fill(i & 0xff));
      // The anchor names the chain's start (tailSector); the journal sectors from it to the head are the pinned chain.
      longest = Math.max(longest, chainLength(f, s.stats().tailSector, s.stats().headSector));
    }
    s.set('small', new Uint8Array(10));
    assert.ok(equal(s.get('small'), new Uint8Array(10)));
    return longest;
  };
  for (const unit of [16, 256]) {
    const immediate = longestChain(unit, 'immediate', 1);
    for (const batch of [8, 30]) {
      const batched = longestChain(unit, 'batched', batch);
      assert.ok(batched <= immediate, `${unit} B units, batches of ${batch}: a chain of ${batched} journal sectors, ${immediate} with immediate writes`);
    }
  }
});

review('a write refused as full is refused the same after a clean or unclean remount, with the same live bytes, keys and capacity (30 seeds, random layouts, edge sizes)', () => {
  let checked = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const r = seededRandom(seed);
    const unit = r() < 0.5 ? 16 : 256;
    const sectors = 24 + Math.floor(r() * 40);
    const f = new SimFlash({ size: sectors * 4096, sectorSize: 4096, programUnit: unit, seed });
    let s = JournalStore.format(f);
    const sizes = [10, 100, 1000, 3071, 3072, 4096, 4097, 9000];
    let refused: { key: string; value: Uint8Array } | null = null;
    for (let i = 0; i < 3000 && !refused; i++) {
      const key = 'k' + Math.floor(r() * 200);
      const value = new Uint8Array(r() < 0.5 ? sizes[Math.floor(r() * sizes.length)] : Math.floor(r() * 500)).fill(i & 0xff);
      try {
        s.set(key, value);
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
        refused = { key, value };
      }
    }
    if (!refused) continue;
    checked++;
    const before = s.stats();
    const clean = r() < 0.5;
    if (clean) s.unmount();
    s = JournalStore.mount(f);
    const after = s.stats();
    const where = `seed ${seed} (${unit} B units, ${sectors} sectors, ${clean ? 'clean' : 'unclean'} remount)`;
    assert.equal([after.liveBytes, after.keys, after.capacityBytes], [before.liveBytes, before.keys, before.capacityBytes], where);
    assert.throws(() => s.set(refused!.key, refused!.value), (e: unknown) => e instanceof PartitionFullError, `${where}: the ${refused.value.length}-byte write`);
  }
  assert.ok(checked >= 25, `${checked} runs reached a full partition`);
});

/** Journal sectors from `start` to `head`, following the headers' `next` (seq at 8, next at 12). */
function chainLength(f: SimFlash, start: number, head: number): number {
  const h = new Uint8Array(16);
  let s = start;
  for (let n = 1; n <= f.sectorCount; n++) {
    if (s === head) return n;
    f.read(s * f.sectorSize, h);
    s = h[12] | (h[13] << 8) | (h[14] << 16) | (h[15] << 24);
  }
  return Infinity;
}

review('a 1.1 MB value (list sectors: more than 256) and a 300 KiB one survive 24 cuts of every kind while the big one is overwritten, and bit rot in a list or value sector is reported, never returned', () => {
  const r = seededRandom(5);
  const base = new SimFlash({ size: 700 * 4096, sectorSize: 4096, programUnit: 256, seed: 5 });
  const s = JournalStore.format(base);
  const big = Uint8Array.from({ length: 1_100_000 }, () => (r() * 256) | 0);
  const mid = Uint8Array.from({ length: 300 * 1024 }, () => (r() * 256) | 0);
  const small = new Uint8Array([1, 2, 3]);
  s.set('small', small);
  s.set('big', big);
  s.set('mid', mid);
  assert.ok(equal(JournalStore.mount(base).get('big'), big), 'unclean remount');
  const next = Uint8Array.from({ length: 1_050_000 }, () => (r() * 256) | 0);
  for (let k = 0; k < 24; k++) {
    const f = base.clone();
    const st = JournalStore.mount(f);
    const { effect, kind } = EFFECTS[k % 4];
    f.armPowerCut({ atOp: kind === 'any' ? f.opCount + Math.floor(r() * 300) : Math.floor(r() * 150), effect, kind });
    let done = false;
    try {
      st.set('big', next);
      done = true;
    } catch (e) {
      if (!isInjectedCut(e)) throw e;
    }
    f.powerOn();
    const m = JournalStore.mount(f);
    const got = m.get('big');
    assert.ok(done ? equal(got, next) : equal(got, big) || equal(got, next), `cut ${k} (${effect}): big is ${got?.length}`);
    assert.ok(equal(m.get('mid'), mid) && equal(m.get('small'), small), `cut ${k}: the other keys`);
    m.set('probe', small);
    assert.ok(equal(JournalStore.mount(f).get('probe'), small), `cut ${k}: a write after recovery`);
  }
  // Bit rot: the PUT-S record names a list sector (more than 256 value sectors); flip a bit there, then in a value sector.
  const info = JournalStore.mount(base).info('big')!;
  const rec = new Uint8Array(64);
  base.read(info.offset, rec);
  const keyLength = rec[1];
  // v3 value: u32 replaces, then PUT-S: u32 length, u32 crc, u8 form, u8 reserved, u16 n, n x u32 sectors.
  const at = info.offset + 16 + keyLength + 4;
  const form = rec[at - info.offset + 8];
  assert.is(form & 0x7f, 1, 'a 1.1 MB value is in list form');
  const listSector = rec[at - info.offset + 12] | (rec[at - info.offset + 13] << 8) | (rec[at - info.offset + 14] << 16);
  const list = new Uint8Array(8);
  base.read(listSector * 4096, list);
  const firstValue = list[4] | (list[5] << 8) | (list[6] << 16);
  for (const where of [listSector * 4096 + 100, firstValue * 4096 + 5]) {
    const f = base.clone();
    f.flipStoredBit(where, 3);
    const m = JournalStore.mount(f);
    assert.throws(() => m.get('big'), (e: unknown) => e instanceof CorruptRecordError, `flip at ${where}`);
    assert.ok(equal(m.get('mid'), mid), 'another key unharmed');
  }
});

review('high fill with records of half to three quarters of a sector, unclean remounts, a delete whenever a write is refused: a delete is never refused (40 seeds)', () => {
  // Finding 2: such records fill a pack sector each (two cannot share one), but capacity counted their bytes, so the
  // store filled past what GC could free: GC moved them from pack sector to pack sector and a delete's record found no
  // sector (24 of seeds 1-30 wedged). Capacity now counts each record's share of a pack sector.
  for (let seed = 1; seed <= 40; seed++) {
    const r = seededRandom(seed);
    const unit = r() < 0.5 ? 16 : 256;
    const sectors = 24 + Math.floor(r() * 40);
    const f = new SimFlash({ size: sectors * 4096, sectorSize: 4096, programUnit: unit, seed });
    const options = { durability: r() < 0.5 ? ('immediate' as const) : ('batched' as const), batchSize: 1 + Math.floor(r() * 20) };
    let s = JournalStore.format(f, options);
    const live = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      const key = 'k' + Math.floor(r() * 120);
      const n = r() < 0.5 ? 2100 + Math.floor(r() * 970) : Math.floor(r() * 200);
      try {
        s.set(key, new Uint8Array(n).fill(i & 0xff));
        live.add(key);
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
        const victim = [...live][Math.floor(r() * live.size)];
        try {
          s.delete(victim);
        } catch (d) {
          throw new Error(`seed ${seed} (${unit} B units, ${sectors} sectors, ${options.durability}), op ${i}: delete refused: ${(d as Error).message}`);
        }
        live.delete(victim);
      }
      if (r() < 0.02) s = JournalStore.mount(f, options); // unclean: batched writes not yet committed may go
    }
  }
});

review.run();
