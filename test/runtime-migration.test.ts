// The runtime store's entry point (runtime-store.ts) picks the partition's
// format: v3 for new partitions, v2 kept for partitions earlier firmware
// formatted, and a factory reset moves v2 to v3. The move must be atomic: a
// power cut at any flash operation of it, of any fault kind, leaves the old
// data whole or an empty store, never part of the old data.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { NotFormattedError, PartitionFullError } from '../datastore/runtime/errors.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { isInjectedCut } from './support/power-cut-sweep.ts';

const test = suite('runtime store: format v3 by default, legacy v2 kept, moved by a factory reset');

const flash = (sectors: number, unit: number, seed: number) => new SimFlash({ size: sectors * 4096, sectorSize: 4096, programUnit: unit, seed });

function bytes(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  return Uint8Array.from({ length: n }, () => (r() * 256) | 0);
}

/** A v2 store with `writes` random writes (sizes up to 5 KB) over `keys` keys; returns the model of what it holds. */
function legacyStore(f: SimFlash, writes: number, keys: number, seed: number): Map<string, Uint8Array> {
  const r = seededRandom(seed);
  const store = RingStore.format(f);
  const model = new Map<string, Uint8Array>();
  for (let i = 0; i < writes; i++) {
    const key = `k${Math.floor(r() * keys)}`;
    const value = bytes(Math.floor(r() * (r() < 0.1 ? 5000 : 200)), seed * 1000 + i);
    try {
      store.set(key, value);
      model.set(key, value);
    } catch (e) {
      if (!(e instanceof PartitionFullError)) throw e; // refused, nothing changed: the model stays
    }
  }
  if (r() < 0.5) store.unmount(); // half the cases: a dock pulled from power, not shut down
  return model;
}

function holds(store: RuntimeStore, model: Map<string, Uint8Array>): boolean {
  if (store.size !== model.size) return false;
  for (const [k, v] of model) {
    const got = store.get(k);
    if (!got || got.length !== v.length || got.some((b, i) => b !== v[i])) return false;
  }
  return true;
}

test('a blank partition opens as format v3; format() makes v3', () => {
  const f = flash(24, 256, 1);
  const store = RuntimeStore.open(f);
  assert.is(store.stats().format, 3);
  assert.ok(store instanceof JournalStore);
  store.set('a', new Uint8Array([1]));
  store.unmount();
  assert.is(RuntimeStore.mount(f).stats().format, 3);
  assert.is(RuntimeStore.format(flash(24, 16, 2)).stats().format, 3);
});

test('a partition holding neither format: mount says so (typed), open formats v3', () => {
  const f = flash(24, 256, 3);
  f.program(0, bytes(4096, 3)); // noise where both formats look first
  f.program(5 * 4096, bytes(4096, 4));
  assert.throws(() => RuntimeStore.mount(f), (e: unknown) => e instanceof NotFormattedError && /Format it first/.test((e as Error).message));
  assert.is(RuntimeStore.open(f).stats().format, 3);
});

test('a legacy v2 partition keeps mounting as v2 with all its data, writable, across remounts', () => {
  for (const unit of [16, 256]) {
    for (let seed = 1; seed <= 6; seed++) {
      const f = flash(24 + seed * 3, unit, seed);
      const model = legacyStore(f, 150 + seed * 40, 30, seed);
      let store = RuntimeStore.open(f);
      assert.is(store.stats().format, 2, `unit ${unit} seed ${seed}`);
      assert.ok(holds(store, model), `unit ${unit} seed ${seed}: v2 data intact`);
      store.set('new', new Uint8Array([7, 7]));
      model.set('new', new Uint8Array([7, 7]));
      store.unmount();
      store = RuntimeStore.mount(f);
      assert.is(store.stats().format, 2);
      assert.ok(holds(store, model), `unit ${unit} seed ${seed}: remounted`);
    }
  }
});

test('a factory reset moves a v2 partition to v3, whatever sector v2 head is on (anchor sectors included)', () => {
  let headsOnAnchors = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const r = seededRandom(seed);
    const sectors = 16 + Math.floor(r() * 20);
    const f = flash(sectors, r() < 0.5 ? 16 : 256, seed);
    legacyStore(f, Math.floor(r() * 400), 10 + Math.floor(r() * 40), seed);
    const legacy = RuntimeStore.mount(f) as RingStore;
    if (legacy.stats().headSector < 2) headsOnAnchors++;
    const fresh = RuntimeStore.reformat(legacy);
    assert.is(fresh.stats().format, 3);
    assert.is(fresh.size, 0);
    fresh.set('after', new Uint8Array([1, 2]));
    const again = RuntimeStore.mount(f);
    assert.is(again.stats().format, 3, `seed ${seed}`);
    assert.equal([...again.keys()], ['after']);
  }
  assert.ok(headsOnAnchors > 0, 'some cases start with v2 head on a sector v3 uses for anchors');
});

const EFFECTS: PowerCutEffect[] = ['clean', 'torn', 'interrupted', 'weak'];

test('a power cut at every flash operation of the move, every fault kind: old data whole or empty, never part', () => {
  let cuts = 0;
  let sawOld = 0;
  let sawEmptyV2 = 0;
  let sawEmptyV3 = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = seededRandom(100 + seed);
    const unit = seed % 2 ? 16 : 256;
    const base = flash(16 + Math.floor(r() * 12), unit, seed);
    const model = legacyStore(base, 60 + Math.floor(r() * 300), 25, 100 + seed);
    // Count the move's flash operations on a copy.
    const probe = base.clone();
    const legacy = RuntimeStore.mount(probe);
    const before = probe.opCount;
    RuntimeStore.reformat(legacy);
    const ops = probe.opCount - before;
    for (let at = 0; at < ops; at++) {
      for (const effect of EFFECTS) {
        const f = base.clone();
        const store = RuntimeStore.mount(f);
        f.armPowerCut({ atOp: f.opCount + at, effect });
        let cut = false;
        try {
          RuntimeStore.reformat(store);
        } catch (e) {
          if (!isInjectedCut(e)) throw e;
          cut = true;
        }
        if (!cut) continue; // this op did not match the effect's kind (a torn erase needs an erase)
        cuts++;
        f.powerOn();
        const where = `seed ${seed}, op ${at} of ${ops}, ${effect}`;
        const after = RuntimeStore.mount(f);
        if (after.size === 0) {
          if (after.stats().format === 2) sawEmptyV2++;
          else sawEmptyV3++;
        } else {
          assert.is(after.stats().format, 2, where);
          assert.ok(holds(after, model), `${where}: ${after.size} of ${model.size} keys — the old data must be whole`);
          sawOld++;
        }
        // What the dock does next: open() finishes an interrupted move and takes writes that survive a remount.
        const opened = RuntimeStore.open(f);
        if (after.size === 0) assert.is(opened.stats().format, 3, `${where}: open() finishes the move`);
        try {
          opened.set('__after_cut__', new Uint8Array([9]));
        } catch (e) {
          throw new Error(`${where}, format v${opened.stats().format}: a write after the cut failed: ${(e as Error).message}`);
        }
        const again = RuntimeStore.mount(f);
        assert.equal(again.get('__after_cut__'), new Uint8Array([9]), where);
        assert.is(again.size, (after.size === 0 ? 0 : model.size) + (model.has('__after_cut__') ? 0 : 1), where);
      }
    }
  }
  assert.ok(cuts > 200, `${cuts} cuts`);
  assert.ok(sawOld > 0 && sawEmptyV2 > 0 && sawEmptyV3 > 0, `outcomes: old ${sawOld}, empty v2 ${sawEmptyV2}, empty v3 ${sawEmptyV3}`);
});

test('a factory reset of a v3 store, cut at every flash operation, every fault kind: its data whole or an empty store', () => {
  let cuts = 0;
  let sawOld = 0;
  let sawEmpty = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = seededRandom(200 + seed);
    const base = flash(16 + Math.floor(r() * 16), seed % 2 ? 16 : 256, seed);
    const store = JournalStore.format(base);
    const model = new Map<string, Uint8Array>();
    for (let i = 0, n = 50 + Math.floor(r() * 300); i < n; i++) {
      const key = `k${Math.floor(r() * 30)}`;
      const value = bytes(Math.floor(r() * (r() < 0.1 ? 6000 : 150)), seed * 7000 + i);
      try {
        store.set(key, value);
        model.set(key, value);
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
      }
    }
    if (r() < 0.5) store.unmount();
    const probe = base.clone();
    const mounted = RuntimeStore.mount(probe);
    const before = probe.opCount;
    RuntimeStore.reformat(mounted);
    const ops = probe.opCount - before;
    for (let at = 0; at < ops; at++) {
      for (const effect of EFFECTS) {
        const f = base.clone();
        const old = RuntimeStore.mount(f);
        f.armPowerCut({ atOp: f.opCount + at, effect });
        try {
          RuntimeStore.reformat(old);
          continue;
        } catch (e) {
          if (!isInjectedCut(e)) throw e;
        }
        cuts++;
        f.powerOn();
        const where = `seed ${seed}, op ${at} of ${ops}, ${effect}`;
        const after = RuntimeStore.mount(f);
        assert.is(after.stats().format, 3, where);
        if (after.size === 0) sawEmpty++;
        else {
          assert.ok(holds(after, model), `${where}: ${after.size} of ${model.size} keys — the old data must be whole`);
          sawOld++;
        }
        after.set('__after_cut__', new Uint8Array([5]));
        assert.equal(RuntimeStore.mount(f).get('__after_cut__'), new Uint8Array([5]), where);
      }
    }
  }
  assert.ok(cuts > 100 && sawOld > 0 && sawEmpty > 0, `cuts ${cuts}, old ${sawOld}, empty ${sawEmpty}`);
});

test('partitions under 16 sectors, where v3 would have no room for data, stay format v2', () => {
  const f = flash(14, 256, 11);
  assert.throws(() => JournalStore.format(f), (e: unknown) => /needs at least 16/.test((e as Error).message));
  const store = RuntimeStore.open(f);
  assert.is(store.stats().format, 2);
  store.set('a', new Uint8Array(100));
  assert.is(RuntimeStore.reformat(store).stats().format, 2);
});

test('a v3 partition is never taken for v2, and a v2 one never for v3', () => {
  const a = flash(24, 256, 9);
  const v3 = JournalStore.format(a);
  v3.set('x', new Uint8Array([1]));
  assert.throws(() => RingStore.mount(a), (e: unknown) => e instanceof NotFormattedError);
  const b = flash(24, 256, 10);
  RingStore.format(b).set('x', new Uint8Array([1]));
  assert.throws(() => JournalStore.mount(b), (e: unknown) => e instanceof NotFormattedError);
});

test.run();
