// Review 4: adversarial checks of FOLLOWS (FORMAT.md §2.1), the key check
// (§3 byte 3) and UNREAD_MIN (§6.3). Each test is a scenario the review found
// breaking a promise of the store: a write that never completed must not
// appear, a damaged record may be lost but is reported, never returned wrong,
// and no key appears that was never written.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { equal } from './support/power-cut-sweep.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { CorruptRecordError } from '../datastore/runtime/errors.ts';
import { crc32 } from '../bytes/crc32.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const KiB = 1024;
const SECTOR = 4 * KiB;

function value(n: number, seed: number): Uint8Array {
  const v = new Uint8Array(n);
  for (let i = 0; i < n; i++) v[i] = (i * 131 + seed * 7 + 3) & 0xff;
  return v;
}

/** get() outcome as text: 'corrupt', 'absent', or the value's bytes compared with `expected`. */
function outcome(store: RingStore, key: string, expected: Uint8Array): string {
  try {
    const got = store.get(key);
    if (got === undefined) return 'absent';
    return equal(got, expected) ? 'expected' : `other value (${got.length} B)`;
  } catch (e) {
    if (e instanceof CorruptRecordError) return 'corrupt';
    throw e;
  }
}

const t = suite('runtime store: review 4 (FOLLOWS, key check, UNREAD_MIN)');

for (const unit of [256, 16]) {
  t(`review: ${unit} B unit: an aborted streamed value that reached flash is never vouched for by FOLLOWS (the key keeps its old value after a cut)`, () => {
    // FORMAT.md §4: an aborted stream leaves "the same state a torn write leaves, which mount
    // skips". The writer's next sector must not claim (FOLLOWS) that the abandoned sector's
    // records all completed: the abandoned record has a valid header and no trailer.
    const random = seededRandom(4500 + unit);
    for (let run = 0; run < 24; run++) {
      const f = new SimFlash({ size: 40 * SECTOR, sectorSize: SECTOR, programUnit: unit, seed: run + 1 });
      // A cycle budget too large to complete: the mount after the cut replays over the record.
      const store = RingStore.format(f, { indexCycleBytes: 1 << 30 });
      const old = value(40 + Math.floor(random() * 300), run);
      store.set('stream-key', old);
      const smalls = Math.floor(random() * 25);
      for (let i = 0; i < smalls; i++) store.set(`s${i % 5}`, value(Math.floor(random() * 200), i));
      // The declared value ends in the sector after the one the record begins in, so the
      // appends fill the first sector (programmed whole) and the abort programs a part of the next.
      const room = (store as unknown as { log: { headRoom: number } }).log.headRoom;
      const length = room + Math.floor(random() * (SECTOR - 400)) + 40;
      const w = store.beginValue('stream-key', length);
      const appended = Math.min(length - 1, room + 1 + Math.floor(random() * (length - room)));
      w.append(value(appended, 77));
      w.abort();
      assert.ok(equal(store.get('stream-key'), old), `run ${run}: after abort, in session`);
      // The same session writes on (a new sector, opened by this writer), then the power is cut.
      for (let i = 0; i < 3; i++) store.set(`after-${i}`, value(50, i));
      const again = RingStore.mount(f);
      assert.is(outcome(again, 'stream-key', old), 'expected', `run ${run} (room ${room}, length ${length}, appended ${appended}): the aborted value never counts`);
    }
  });
}

/** Bit positions (byte, bit) of `key` whose flip leaves the key check (§3: CRC-32's low byte, 0xFF stored as 0xFE) unchanged. */
function checkBlindFlips(key: Uint8Array): { byte: number; bit: number }[] {
  const check = (k: Uint8Array) => {
    const c = crc32(k) & 0xff;
    return c === 0xff ? 0xfe : c;
  };
  const want = check(key);
  const out: { byte: number; bit: number }[] = [];
  for (let i = 0; i < key.length; i++) {
    for (let b = 0; b < 8; b++) {
      const d = key.slice();
      d[i] ^= 1 << b;
      if (check(d) === want) out.push({ byte: i, bit: b });
    }
  }
  return out;
}

t('review: a single bit flipped in a key never surfaces a key that was never written (values ≥ 32 B are not reread at mount)', () => {
  const key = 'config/network/wifi-password';
  const keyBytes = new TextEncoder().encode(key);
  const flips = checkBlindFlips(keyBytes);
  assert.ok(flips.length > 0, 'the key has a single-bit flip the one-byte check does not see');
  const problems: string[] = [];
  for (const unit of [256, 16]) {
    for (const { byte, bit } of flips) {
      for (let before = 0; before < 16; before++) {
        const f = new SimFlash({ size: 40 * SECTOR, sectorSize: SECTOR, programUnit: unit, seed: before + 1 });
        const store = RingStore.format(f);
        const written = new Set<string>();
        for (let i = 0; i < before; i++) {
          store.set(`p${i % 7}`, value(60, i));
          written.add(`p${i % 7}`);
        }
        const v = value(100, before);
        store.set(key, v);
        written.add(key);
        for (let i = 0; i < 20; i++) {
          store.set(`s${i % 4}`, value(100, i));
          written.add(`s${i % 4}`);
        }
        // Bit rot in the stored key, then a power cut.
        const at = Buffer.from(f.snapshot()).indexOf(Buffer.from(keyBytes));
        assert.ok(at >= 0);
        f.flipStoredBit(at + byte, bit);
        const again = RingStore.mount(f);
        const what = `${unit} B unit, ${before} writes before, key byte ${byte} bit ${bit}`;
        const phantom = again.keys().filter((k) => !written.has(k));
        if (phantom.length > 0) problems.push(`${what}: keys() lists ${JSON.stringify(phantom)}, never written`);
        const got = outcome(again, key, v);
        // The record is damaged: it may be lost, but then reported (get() throws corrupt, or the mount counts it skipped).
        if (got !== 'corrupt' && !(got === 'absent' && again.stats().corruptRecordsSkipped > 0)) {
          problems.push(`${what}: get() of the written key: ${got}, corruptRecordsSkipped ${again.stats().corruptRecordsSkipped}`);
        }
      }
    }
  }
  assert.equal(problems.slice(0, 6), [], `${problems.length} cases`);
});

for (const unit of [256, 16]) {
  t(`review: ${unit} B unit: a damaged large value does not make GC exhaust the reserve (it was copied three times per pass)`, () => {
    // UNREAD_MIN keeps a damaged value of 32 B or more indexed (get() reports it), so GC meets
    // damaged live records. The reserve holds one copy of the largest record; relocate's retry
    // (meant for a transient read error) copied a damaged source three times.
    for (const length of [20 * KiB, 50 * KiB]) {
      const f = new SimFlash({ size: 40 * SECTOR, sectorSize: SECTOR, programUnit: unit, seed: length });
      const store = RingStore.format(f);
      store.set('big', value(length, 1));
      const at = Buffer.from(f.snapshot()).indexOf(Buffer.from('big')) + 3 + 1000;
      f.flipStoredBit(at, 3); // bit rot inside the value
      const model = new Map<string, Uint8Array>();
      for (let i = 0; i < 400; i++) {
        const v = value(300, i);
        store.set(`s${i % 10}`, v); // throws if GC ran the head into the tail
        model.set(`s${i % 10}`, v);
      }
      assert.is(outcome(store, 'big', value(length, 1)), 'corrupt', `${length} B: the damaged value is reported`);
      for (const [k, v] of model) assert.ok(equal(store.get(k), v), `${length} B: ${k}`);
      const again = RingStore.mount(f); // after a cut
      for (const [k, v] of model) assert.ok(equal(again.get(k), v), `${length} B, after a cut: ${k}`);
      assert.is(outcome(again, 'big', value(length, 1)), 'corrupt', `${length} B, after a cut: still reported`);
      again.set('one-more', value(10, 1));
    }
  });
}

t('review: a DELETE tombstone damaged on flash never brings the deleted value back after a cut', () => {
  // A damaged record "may be lost and is reported as corrupt, never returned wrong". A lost
  // tombstone is not like a lost PUT: the value it deleted comes back, and get() returns it
  // as if it had never been deleted (the mount counts a skipped record, nothing more).
  const problems: string[] = [];
  for (const unit of [256, 16]) {
    for (const before of [0, 5, 20, 40]) {
      // At least 3 writes after it: a damaged record in the head's last written page reads as a
      // torn write and ends the log there (FORMAT.md §6.3), whatever its kind.
      for (let after = 3; after < 40; after += 2) {
        const f = new SimFlash({ size: 40 * SECTOR, sectorSize: SECTOR, programUnit: unit, seed: after });
        const store = RingStore.format(f, { indexCycleBytes: 1 << 30 });
        store.set('gone-key', value(100, 1));
        for (let i = 0; i < before; i++) store.set(`s${i % 9}`, value(100, i));
        store.delete('gone-key');
        for (let i = 0; i < after; i++) store.set(`s${i % 4}`, value(100, i));
        const snap = Buffer.from(f.snapshot());
        const del = snap.lastIndexOf(Buffer.from('gone-key')); // the tombstone's key; its trailer follows
        f.flipStoredBit(del + 'gone-key'.length, 1);
        const again = RingStore.mount(f);
        const got = outcome(again, 'gone-key', value(100, 1));
        if (got !== 'absent' && got !== 'corrupt') problems.push(`${unit} B unit, ${before} before, ${after} after: get() of the deleted key: ${got}`);
      }
    }
  }
  assert.equal(problems.slice(0, 4), [], `${problems.length} of 152 layouts`);
});

t('review: a key bit flip the one-byte check misses, then GC: the written key is reported, never silently absent', () => {
  // GC finds a live record's entry by the hash of the key it reads; a damaged key that fails its
  // check is found by offset (slotOfOffset), one the check misses is taken for a dead record:
  // not moved, its entry left pointing into a sector that is erased and reused.
  const key = 'config/network/wifi-password';
  const [{ byte, bit }] = checkBlindFlips(new TextEncoder().encode(key));
  const problems: string[] = [];
  for (const unit of [256, 16]) {
    const f = new SimFlash({ size: 40 * SECTOR, sectorSize: SECTOR, programUnit: unit, seed: 3 });
    const store = RingStore.format(f);
    const v = value(100, 2);
    store.set(key, v);
    f.flipStoredBit(Buffer.from(f.snapshot()).indexOf(Buffer.from(key)) + byte, bit);
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 600; i++) {
      const x = value(300, i);
      store.set(`s${i % 10}`, x);
      model.set(`s${i % 10}`, x);
    }
    const check = (s: RingStore, when: string) => {
      const got = outcome(s, key, v);
      if (got !== 'corrupt' && !(got === 'absent' && s.stats().corruptRecordsSkipped > 0)) problems.push(`${unit} B unit, ${when}: get() of the written key: ${got}, nothing counted corrupt`);
      for (const [k, x] of model) if (!equal(s.get(k), x)) problems.push(`${unit} B unit, ${when}: ${k} lost`);
    };
    check(store, 'in session after GC');
    const again = RingStore.mount(f);
    check(again, 'after a cut');
  }
  assert.equal(problems, []);
});

t.run();
