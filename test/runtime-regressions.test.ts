// Issue 12, one named test per failure, each reproducing its exact scenario
// on the simulated flash. Expected states come from the model of what was
// written (never from the store's own tables).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { equal, HookedFlash, isInjectedCut } from './support/power-cut-sweep.ts';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { PartitionFullError, StoreError } from '../datastore/runtime/errors.ts';
import { FlashError } from '../hal/flash.ts';
import { CLOSE_RECORD_SIZE, closeSpan, decodeCloseRecord, encodeCheckpointHead, encodeCloseRecord, encodeRecordHeader, RecordKind, trailerCrc } from '../datastore/runtime/format.ts';
import { crc32 } from '../bytes/crc32.ts';
import { writeU32LE } from '../bytes/byte-order.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const KiB = 1024;
const PAGE = 256;

function sim(sectors: number, programUnit: number, seed = 1): SimFlash {
  return new SimFlash({ size: sectors * 4 * KiB, sectorSize: 4 * KiB, programUnit, seed });
}

function bytes(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

/** Run `fn`; it must end in the injected power cut and nothing else. */
function cutDuring(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (isInjectedCut(e)) return;
    throw e;
  }
  throw new Error('the armed power cut did not happen');
}

const t = suite('runtime store: issue 12 regressions');

t('1. clean restarts never wedge: 256 B units, 16 sectors, 10,000 unmount/mount cycles without writes', () => {
  const f = sim(16, 256);
  let store = RingStore.format(f);
  store.set('a', bytes(10, 1));
  store.unmount();
  const programsBefore = f.stats.programs;
  const erasesBefore = f.stats.erases;
  for (let i = 0; i < 10_000; i++) {
    store = RingStore.mount(f);
    store.unmount();
  }
  assert.is(f.stats.programs, programsBefore, 'a restart with nothing written programs nothing');
  assert.is(f.stats.erases, erasesBefore, 'and erases nothing');
  store = RingStore.mount(f);
  store.set('b', bytes(20, 2));
  store.delete('a');
  store.unmount();
  const again = RingStore.mount(f);
  assert.equal(again.keys(), ['b']);
});

t('1. 10,000 clean unmount/mount cycles, half with a write, both program units: values kept, erase counts level, one erase per session that writes and none for one that does not', () => {
  for (const unit of [16, 256]) {
    const f = sim(16, unit, unit);
    let store = RingStore.format(f);
    const random = seededRandom(unit);
    const model = new Map<string, Uint8Array>();
    const erasesBy = { writing: [] as number[], idle: [] as number[] };
    for (let i = 0; i < 10_000; i++) {
      const erasesBefore = f.stats.erases; // the flash's own count, not the store's
      const writes = i % 2 === 0;
      if (writes) {
        const key = `k${Math.floor(random() * 20)}`;
        const value = Uint8Array.from({ length: Math.floor(random() * 40) }, () => (random() * 256) | 0);
        store.set(key, value);
        model.set(key, value);
      }
      store.unmount();
      store = RingStore.mount(f);
      if (i > 0) (writes ? erasesBy.writing : erasesBy.idle).push(f.stats.erases - erasesBefore);
    }
    for (const [k, v] of model) assert.ok(equal(store.get(k), v), `${unit}: ${k}`);
    assert.is(store.stats().keys, model.size);
    assert.ok(store.stats().mountedCleanly);
    // A session that writes must erase one sector before its first program (a session that
    // died without a trace may have begun on the one after the head); the checkpoint and the
    // CLOSE record of its unmount fit in that sector, so it needs no other. One that writes
    // nothing erases nothing.
    assert.equal([...new Set(erasesBy.writing)], [1], `${unit} B units: erases per writing session`);
    assert.equal([...new Set(erasesBy.idle)], [0], `${unit} B units: erases per idle session`);
    const wear = f.wear();
    assert.ok(wear.max - wear.min <= 1, `${unit} B units: erase counts ${wear.min}..${wear.max}`);
  }
});

t('1. format erases one sector, over foreign data or blank flash; the first pass erases each of the others once as it opens it, and foreign bytes never read as data', () => {
  for (const unit of [16, 256]) {
    for (const foreignData of [true, false]) {
      const f = sim(16, unit);
      if (foreignData) for (let s = 0; s < 16; s++) f.program(s * 4 * KiB + unit, new Uint8Array(unit).fill(0x5a));
      const before = f.wear().counts.slice();
      RingStore.format(f).unmount();
      const what = `${unit} B units, ${foreignData ? 'foreign data' : 'blank flash'}`;
      assert.equal([...f.wear().counts].map((c, i) => c - before[i]), [1, ...new Array(15).fill(0)], `${what}: erases per sector by the format`);
      // One pass round the ring: every sector opened is erased once, and only what was written reads back.
      let store = RingStore.mount(f);
      const model = new Map<string, Uint8Array>();
      for (let i = 0; f.wear().counts.some((c, s) => c - before[s] === 0); i++) {
        const key = `k${i % 30}`;
        const value = new Uint8Array(200).fill(i & 0xff);
        store.set(key, value);
        model.set(key, value);
        if (i % 97 === 0) {
          store.unmount();
          store = RingStore.mount(f);
        }
      }
      assert.equal([...f.wear().counts].map((c, i) => c - before[i]), new Array(16).fill(1), `${what}: one erase per sector in the first pass`);
      store = RingStore.mount(f);
      assert.equal(store.keys().sort(), [...model.keys()].sort(), `${what}: keys`);
      for (const [k, v] of model) assert.ok(equal(store.get(k), v), `${what}: ${k}`);
    }
  }
});

t('1. restarts of a busy store (sectors erased ahead at each unmount) never erase a sector twice without a program between: 300 sessions of 30 writes, both program units', () => {
  for (const unit of [16, 256]) {
    const inner = sim(16, unit, 9);
    // The flash's own operations, seen before they happen: per sector, was the last one an erase?
    const lastWasErase = new Array<boolean>(16).fill(false);
    let erases = 0;
    let doubleErases = 0;
    const f = new HookedFlash(inner, (op) => {
      const sector = op.kind === 'erase' ? op.offset : Math.floor(op.offset / (4 * KiB));
      if (op.kind === 'erase') {
        erases++;
        if (lastWasErase[sector]) doubleErases++;
      }
      lastWasErase[sector] = op.kind === 'erase';
    });
    const random = seededRandom(unit);
    const model = new Map<string, Uint8Array>();
    let store = RingStore.format(f);
    for (let i = 0; i < 300; i++) {
      for (let j = 0; j < 30; j++) {
        const key = `k${Math.floor(random() * 40)}`;
        const value = Uint8Array.from({ length: 100 }, () => (random() * 256) | 0);
        store.set(key, value);
        model.set(key, value);
      }
      store.unmount();
      store = RingStore.mount(f);
    }
    for (const [k, v] of model) assert.ok(equal(store.get(k), v), `${unit} B: ${k}`);
    assert.ok(erases > 16 * 20, `${unit} B: the ring went round (${erases} erases)`);
    assert.is(doubleErases, 0, `${unit} B units: sectors erased twice in a row`);
    // A ring erases every sector once per pass: counts differ by at most one, plus one where the
    // first pass after the format (whose blank sectors open without an erase) met the first open
    // of a session, which erases (no sector after it holds an old header to spend instead).
    const wear = inner.wear();
    assert.ok(wear.max - wear.min <= 2, `${unit} B units: erase counts ${[...wear.counts].join(' ')}`);
  }
});

t('2. a 4-byte record whose body page stayed erased never appears (header page done, next page erased)', () => {
  // With 256 B units every record starts a page, so the header cannot end one: 16 B units.
  for (const unit of [16]) {
    const inner = sim(16, unit);
    const f = new HookedFlash(inner);
    const store = RingStore.format(f);
    // Move the log end so the next record's 16-byte header ends exactly at a page boundary.
    let n = 0;
    for (;;) {
      const info = store.info(`f${n}`);
      const end = info ? Math.ceil((info.offset + 16 + `f${n}`.length + info.size + 4) / unit) * unit : -1;
      if (end >= 0 && (end + 16) % PAGE === 0 && end % 4096 !== 0 && (end % 4096) + 64 < 4096) break;
      n++;
      store.set(`f${n}`, bytes(n % 40, 7));
    }
    const model = new Set(store.keys());
    // key "x" + 3 value bytes: key and value total 4 bytes. The program is cut after the
    // header's page: the page with the key, value and trailer keeps its erased bytes.
    f.tear = (offset, data) => {
      const out = new Uint8Array(data);
      const boundary = Math.ceil((offset + 1) / PAGE) * PAGE;
      for (let i = Math.max(0, boundary - offset); i < out.length; i++) out[i] = 0xff;
      return out;
    };
    cutDuring(() => store.set('x', new Uint8Array([1, 2, 3])));
    inner.powerOn();
    const after = RingStore.mount(inner);
    assert.equal(after.keys().sort(), [...model].sort(), `${unit} B units: keys are exactly those written`);
    assert.is(after.stats().keys, model.size);
    assert.is(after.get('x'), undefined);
    after.set('y', bytes(1, 1));
    after.unmount();
    const again = RingStore.mount(inner);
    assert.equal(again.keys().sort(), [...model, 'y'].sort(), 'and after GC-free remount');
  }
});

t('2. erased bytes never validate, whatever the length (0 to 8 bytes of key and value)', () => {
  for (let total = 1; total <= 8; total++) {
    const inner = sim(16, 16, total);
    const f = new HookedFlash(inner);
    const store = RingStore.format(f);
    store.set('base', bytes(5, 5));
    // Keep only the record header: every later byte of the write reads erased.
    f.tear = (offset, data) => {
      const out = new Uint8Array(data);
      const info = store.info('base')!;
      const recordStart = Math.ceil((info.offset + 16 + 4 + 5 + 4) / 16) * 16;
      for (let i = recordStart + 16 - offset; i < out.length; i++) if (i >= 0) out[i] = 0xff;
      return out;
    };
    const key = 'k'.repeat(Math.min(total, 4));
    cutDuring(() => store.set(key, new Uint8Array(total - key.length)));
    inner.powerOn();
    const after = RingStore.mount(inner);
    assert.equal(after.keys(), ['base'], `key+value ${total} bytes`);
  }
});

t('3. batched: a torn commit with an early record bad and a later one intact stays dropped on every later mount', () => {
  const inner = sim(16, 16);
  const f = new HookedFlash(inner);
  let store = RingStore.format(f, { durability: 'batched', batchSize: 100 });
  store.set('a', bytes(8, 1));
  store.set('c', bytes(8, 3));
  store.flush();
  // Align so both batch records land in one page.
  let last = 'c';
  for (let i = 0; ; i++) {
    const info = store.info(last)!;
    const next = Math.ceil((info.offset + 16 + last.length + info.size + 4) / 16) * 16;
    if ((next % PAGE) + 128 <= PAGE && next % 4096 !== 0) break;
    last = `pad${i}`;
    store.set(last, bytes(3, 9));
    store.flush();
  }
  // R: a new value of 'a'; B: delete 'c'. One commit, torn: one byte of R's value never cleared.
  store.set('a', bytes(8, 0));
  const rAt = store.info('a')!.offset;
  store.delete('c');
  f.tear = (offset, data) => {
    const out = new Uint8Array(data);
    out[rAt + 16 + 1 + 3 - offset] = 0xff; // R's value byte 3 stays erased: R is bad, B intact
    return out;
  };
  cutDuring(() => store.flush());
  inner.powerOn();
  const expectA = bytes(8, 1);
  const expectC = bytes(8, 3);
  store = RingStore.mount(inner, { durability: 'batched' });
  assert.equal(store.get('a'), expectA, 'first mount: the log ends at R');
  assert.equal(store.get('c'), expectC, 'first mount: B, after R, is dropped');
  // Go on: the head moves to new sectors; later mounts are unclean (no unmount) and see R
  // in an older sector.
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 40; i++) store.set(`n${round}-${i}`, bytes(30, i));
    store.flush();
    store = RingStore.mount(inner, { durability: 'batched' });
    assert.equal(store.get('c'), expectC, `mount ${round + 2}: the dropped delete never comes back`);
    assert.equal(store.get('a'), expectA, `mount ${round + 2}: R stays dropped`);
  }
});

t('4. repeated power cuts during GC at 99 % fill never wedge the store (a torn cut within the first 3 or 5 flash operations of every session, or always at its first program)', () => {
  // window 0: the cut always tears the session's first program (its first erase is op 0).
  for (const [unit, window, seed] of [[256, 3, 259], [16, 3, 19], [256, 5, 261], [16, 5, 21], [16, 0, 678], [256, 0, 918]]) {
    const f = sim(16, unit, 3);
    let store = RingStore.format(f);
    const random = seededRandom(seed);
    const model = new Map<string, Uint8Array>();
    // Fill until the store refuses: well over 90 % of what it accepts.
    for (let i = 0; ; i++) {
      const v = bytes(200, i & 0xff);
      try {
        store.set(`k${i}`, v);
      } catch (e) {
        if (!(e instanceof PartitionFullError)) throw e;
        break;
      }
      model.set(`k${i}`, v);
    }
    store.delete('k0');
    model.delete('k0');
    const live = [...model.keys()];
    let cuts = 0;
    for (let round = 0; round < (window === 0 ? 450 : 300); round++) {
      // Every write at this fill runs GC; the cut lands in it, usually in its copies.
      f.armPowerCut({ atOp: f.opCount + (window === 0 ? 1 : Math.floor(random() * window)), effect: 'torn' });
      let inFlight: [string, Uint8Array] | null = null;
      try {
        for (let j = 0; j < 20; j++) {
          const k = live[Math.floor(random() * live.length)];
          const v = bytes(200, (round + j) & 0xff);
          inFlight = [k, v];
          store.set(k, v);
          model.set(k, v);
          inFlight = null;
        }
      } catch (e) {
        if (!isInjectedCut(e)) throw e;
        cuts++;
      }
      f.powerOn();
      store = RingStore.mount(f);
      if (inFlight) {
        const got = store.get(inFlight[0]);
        if (got && got.every((x, i) => x === inFlight![1][i])) model.set(inFlight[0], inFlight[1]);
      }
      for (const [k, v] of model) assert.equal(store.get(k), v, `${unit} B, round ${round}: ${k}`);
      assert.is(store.stats().keys, model.size);
    }
    assert.ok(cuts > 250, `${unit} B, window ${window}: ${cuts} cuts`);
    store.set('after', bytes(10, 1));
    store.unmount();
    assert.equal(RingStore.mount(f).get('after'), bytes(10, 1));
  }
});

t('5. strict ECC flash: units an interrupted program marked are never programmed again', () => {
  const effects: PowerCutEffect[] = ['interrupted', 'torn'];
  for (const effect of effects) {
    for (const unit of [256, 16]) {
      // (a) resuming after a clean unmount: the first program after mount is interrupted.
      const f = sim(16, unit);
      assert.ok(f.strictReprogram);
      let store = RingStore.format(f);
      store.set('a', bytes(10, 1));
      store.unmount();
      store = RingStore.mount(f);
      f.armPowerCut({ atOp: 0, effect, kind: 'program' });
      cutDuring(() => store.set('b', bytes(10, 2)));
      f.powerOn();
      store = RingStore.mount(f);
      store.set('c', bytes(10, 3)); // threw 'reprogram' before the fix
      store.set('b', bytes(10, 4));
      assert.equal(RingStore.mount(f).get('c'), bytes(10, 3));
      // (b) every program of a workload interrupted in turn: each recovery holds what returned
      // (and the write in flight, or not), takes new writes and keeps them.
      for (let k = 0; k < 40; k++) {
        const g = sim(24, unit, k);
        const s = RingStore.format(g);
        const model = new Map<string, Uint8Array>();
        for (let i = 0; i < 20; i++) {
          s.set(`w${i % 5}`, bytes(300, i));
          model.set(`w${i % 5}`, bytes(300, i));
        }
        g.armPowerCut({ atOp: k, effect, kind: 'program' });
        let inFlight: [string, Uint8Array] = ['', new Uint8Array(0)];
        cutDuring(() => {
          for (let i = 0; ; i++) {
            inFlight = [`w${i % 5}`, bytes(300, 100 + i)];
            s.set(inFlight[0], inFlight[1]);
            model.set(inFlight[0], inFlight[1]);
          }
        });
        g.powerOn();
        const r = RingStore.mount(g);
        // The write in flight is entirely there or entirely absent.
        if (equal(r.get(inFlight[0]), inFlight[1])) model.set(inFlight[0], inFlight[1]);
        const check = (store: RingStore, what: string) => {
          assert.equal(store.keys().sort(), [...model.keys()].sort(), `${effect}, ${unit} B, cut at program ${k}, ${what}: keys`);
          for (const [key, v] of model) assert.ok(equal(store.get(key), v), `${effect}, ${unit} B, cut at program ${k}, ${what}: ${key}`);
        };
        check(r, 'after recovery');
        for (let i = 0; i < 30; i++) {
          r.set(`z${i % 4}`, bytes(350, i));
          model.set(`z${i % 4}`, bytes(350, i));
        }
        check(RingStore.mount(g), 'after new writes and a remount');
      }
    }
  }
});

t('5. strict ECC flash: a session whose first record spans two sectors and whose second program is interrupted; the next mount reprograms nothing (both units)', () => {
  for (const unit of [256, 16]) {
    const f = sim(24, unit, 5);
    let store = RingStore.format(f);
    const model = new Map<string, Uint8Array>();
    // Age the ring so sectors hold old data and writes erase ahead of the head.
    for (let i = 0; i < 600; i++) {
      const v = bytes(150, i & 0xff);
      store.set(`s${i % 12}`, v);
      model.set(`s${i % 12}`, v);
    }
    store.unmount(); // CLOSE: it counts the sectors erased ahead
    store = RingStore.mount(f);
    // The first record of the session starts its first sector and runs into the next: the
    // first program (a whole sector) completes, the second is interrupted (units marked).
    f.armPowerCut({ atOp: 1, effect: 'interrupted', kind: 'program' });
    cutDuring(() => store.set('big', bytes(6000, 9)));
    f.powerOn();
    store = RingStore.mount(f);
    assert.is(store.get('big'), undefined, `${unit} B: the torn value never counts`);
    for (let i = 0; i < 40; i++) {
      const v = bytes(300, i);
      store.set(`n${i % 8}`, v); // threw 'reprogram' when the mount trusted the marked sector
      model.set(`n${i % 8}`, v);
    }
    store.set('big', bytes(6000, 10));
    model.set('big', bytes(6000, 10));
    const again = RingStore.mount(f);
    assert.equal(again.keys().sort(), [...model.keys()].sort(), `${unit} B: keys`);
    for (const [k, v] of model) assert.ok(equal(again.get(k), v), `${unit} B: ${k}`);
  }
});

t('CLOSE: a value that holds a valid CLOSE record in the last units of a full head is data, never a clean unmount', () => {
  const unit = 16;
  const f = sim(24, unit, 8);
  let store = RingStore.format(f);
  const model = new Map<string, Uint8Array>();
  // Age the ring so the sectors after the head hold old data.
  for (let i = 0; i < 900; i++) {
    const v = bytes(100, i & 0xff);
    store.set(`s${i % 10}`, v);
    model.set(`s${i % 10}`, v);
  }
  store.unmount();
  const head = RingStore.mount(f).stats().headSector;
  const genuine = new Uint8Array(CLOSE_RECORD_SIZE);
  f.read((head + 1) * 4 * KiB - closeSpan(unit), genuine);
  assert.ok(decodeCloseRecord(genuine), 'the unmount left a CLOSE record');
  store = RingStore.mount(f);
  store.set('a', bytes(10, 1));
  model.set('a', bytes(10, 1));
  const info = store.info('a')!;
  const sectorEnd = (Math.floor(info.offset / (4 * KiB)) + 1) * 4 * KiB;
  const at = Math.ceil((info.offset + 16 + 1 + 10 + 4) / unit) * unit;
  // One record from there to the sector's end. Its value holds a forged empty CHECKPOINT
  // (erased-looking bytes after it) and ends with a forged CLOSE that names it and six sectors
  // "erased ahead" (they hold old data).
  const value = bytes(sectorEnd - at - 16 - 1 - 4, 2);
  const fakeAt = 64;
  const fixed = encodeCheckpointHead(0, 0, 0, []);
  encodeRecordHeader({ kind: RecordKind.Checkpoint, keyLength: 0, encoding: 0, valueLength: fixed.length, writtenAt: 0 }, value, fakeAt);
  value.set(fixed, fakeAt + 16);
  writeU32LE(value, fakeAt + 16 + fixed.length, trailerCrc(crc32(fixed)));
  value.fill(0xff, fakeAt + 16 + fixed.length + 4, fakeAt + 400);
  const forged = new Uint8Array(CLOSE_RECORD_SIZE);
  encodeCloseRecord({ checkpoint: at + 16 + 1 + fakeAt, erasedAhead: 6 }, forged);
  value.set(forged, sectorEnd - closeSpan(unit) - (at + 16 + 1));
  store.set('x', value);
  model.set('x', value);
  assert.is(store.info('x')!.offset, at, 'the record fills the head to its end');
  // Power is cut here: the next sector was never opened.
  store = RingStore.mount(f);
  assert.is(store.stats().mountedCleanly, false, 'not a clean unmount');
  for (let i = 0; i < 200; i++) {
    const v = bytes(120, i);
    store.set(`n${i % 9}`, v); // opened old sectors without erasing them when the forgery counted
    model.set(`n${i % 9}`, v);
  }
  const again = RingStore.mount(f);
  assert.equal(again.keys().sort(), [...model.keys()].sort());
  for (const [k, v] of model) assert.ok(equal(again.get(k), v), k);
});

t('after a program fails, the store refuses every write with a typed error and programs nothing more; a remount keeps every write that returned', () => {
  for (const unit of [16, 256]) {
    for (const durability of ['immediate', 'batched'] as const) {
      const inner = sim(24, unit);
      let failAt = -1;
      let programs = 0;
      let afterFailure = 0;
      const f = new HookedFlash(inner, (op) => {
        if (op.kind !== 'program') return;
        if (failAt >= 0 && programs > failAt) afterFailure++;
        if (programs++ === failAt) throw new FlashError('worn', op.offset, 'program failed: sector worn out');
      });
      const store = RingStore.format(f, { durability, batchSize: 4 });
      const model = new Map<string, Uint8Array>();
      for (let i = 0; i < 40; i++) {
        store.set(`k${i % 7}`, bytes(30 + i, i), { flush: true });
        model.set(`k${i % 7}`, bytes(30 + i, i));
      }
      failAt = programs + 2;
      let failed: unknown = null;
      let lost: { key: string; value: Uint8Array } | null = null;
      for (let i = 40; i < 80 && failed === null; i++) {
        try {
          store.set(`k${i % 7}`, bytes(30 + i, i), { flush: true });
          model.set(`k${i % 7}`, bytes(30 + i, i));
        } catch (e) {
          failed = e;
          lost = { key: `k${i % 7}`, value: bytes(30 + i, i) };
        }
      }
      const what = `${unit} B, ${durability}`;
      assert.ok(failed instanceof StoreError && (failed as StoreError).code === 'flash-failure', `${what}: the failure is a typed flash-failure error`);
      for (const call of [() => store.set('again', bytes(5, 1)), () => store.delete('k1'), () => store.flush(), () => store.beginValue('v', 10)]) {
        assert.throws(call, (e: unknown) => e instanceof StoreError && e.code === 'flash-failure' && /Mount the store again/.test(e.message), `${what}: refused after the failure`);
      }
      store.unmount(); // stops without writing
      assert.is(afterFailure, 0, `${what}: nothing programmed after the failed program`);
      const again = RingStore.mount(inner);
      for (const [k, v] of model) {
        const got = again.get(k);
        // The write that failed may or may not have reached flash; nothing else may differ.
        if (lost && k === lost.key && got && equal(got, lost.value)) continue;
        assert.ok(got && equal(got, v), `${what}: ${k} kept`);
      }
      assert.is(again.get('again'), undefined, `${what}: a refused write never appears`);
    }
  }
});

t('review: a torn record that ran on into the next sector stays dropped with everything after it there, on every later mount (a later intact record of the same page never comes back)', () => {
  const inner = sim(32, 16);
  let tearAt = -1;
  const f: HookedFlash = new HookedFlash(inner, (op) => {
    // The batch's commit programs the sector holding R1's tail and R2: leave 4 bytes of R1's tail erased.
    if (op.kind === 'program' && op.offset === tearAt) {
      f.tear = (_offset, data) => {
        const partial = data.slice();
        partial.fill(0xff, 32 + 8, 32 + 12);
        return partial;
      };
    }
  });
  const options = { durability: 'batched' as const, batchSize: 64, indexCycleBytes: 1 << 20 };
  let store = RingStore.format(f, options);
  store.set('k2', bytes(12, 1));
  store.flush();
  store.unmount();
  // A mount never appends to the head it found: R1 starts a fresh sector's payload.
  store = RingStore.mount(f, options);
  const payload = 4 * KiB - 32;
  const tail = 100; // R1's bytes in the next sector: it ends in that sector's first page, and so does R2
  const r1 = Uint8Array.from({ length: payload - (16 + 2 + 4) + tail }, (_, i) => (i * 7 + 3) & 0xff);
  store.set('r1', r1);
  store.set('k2', bytes(13, 2)); // R2: an overwrite in the same batch, same page as R1's end
  tearAt = (store.stats().headSector) * 4 * KiB;
  cutDuring(() => store.flush());
  inner.powerOn();
  // The first mount ends the log at R1: neither R1 nor the later R2 counts.
  store = RingStore.mount(inner, options);
  assert.equal(store.get('k2'), bytes(12, 1), 'first mount: k2 keeps its committed value');
  assert.is(store.get('r1'), undefined, 'first mount: the torn R1 does not count');
  store.set('other', bytes(5, 3), { flush: true });
  // Power cut (no unmount): the next mount replays from before R1, through both sectors.
  const again = RingStore.mount(inner, options);
  assert.equal(again.get('k2'), bytes(12, 1), 'a later mount: the dropped R2 never comes back');
  assert.is(again.get('r1'), undefined);
  assert.equal(again.get('other'), bytes(5, 3));
  assert.equal(again.keys().sort(), ['k2', 'other']);
});

t('review: a retired sector whose failed erase left its old header valid (the spoiling program refused too) never stops a mount after a cut', () => {
  for (const indexCycleBytes of [1024, 0]) {
    const inner = sim(16, 256);
    const WORN = 5;
    let worn = false;
    let retired = false;
    const flash = {
      size: inner.size, sectorSize: inner.sectorSize, programUnit: inner.programUnit, pageSize: inner.pageSize,
      read: (o: number, into: Uint8Array) => inner.read(o, into),
      program: (o: number, d: Uint8Array) => {
        if (worn && Math.floor(o / (4 * KiB)) === WORN) throw new FlashError('worn', o, 'program failed: sector worn out');
        inner.program(o, d);
      },
      erase: (i: number) => {
        if (worn && i === WORN) {
          retired = true;
          throw new FlashError('worn', i, 'erase failed: sector worn out');
        }
        inner.erase(i);
      },
    };
    const options = indexCycleBytes ? { indexCycleBytes } : {};
    const store = RingStore.format(flash, options);
    const model = new Map<string, Uint8Array>();
    let i = 0;
    const write = () => {
      const v = bytes(60, i & 0xff);
      store.set(`key-${i % 40}`, v);
      model.set(`key-${i % 40}`, v);
      i++;
    };
    while (inner.stats.erases < 18) write(); // every sector has held a header
    worn = true;
    while (!(retired && store.stats().headSector === WORN + 1)) {
      write();
      assert.ok(i < 100_000, 'the head passed the worn sector');
    }
    const h = new Uint8Array(32);
    inner.read(WORN * 4 * KiB, h);
    assert.is(new DataView(h.buffer).getUint32(0, true), 0x54524c44, 'the retired sector still holds a header that reads valid');
    const again = RingStore.mount(inner, options); // power cut: no unmount
    const what = `budget ${indexCycleBytes || 'default'}`;
    assert.equal(again.keys().sort(), [...model.keys()].sort(), `${what}: keys`);
    for (const [k, v] of model) assert.ok(equal(again.get(k), v), `${what}: ${k}`);
    assert.ok(again.stats().retiredSectors.includes(WORN), `${what}: the mount knows the sector is retired`);
  }
});

t.run();
