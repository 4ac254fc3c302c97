// Issue 12's failures 2-5 (and the review items of runtime-regressions.test.ts
// that apply), each reproduced in its exact scenario on format v3's layout
// (datastore/runtime/v3: a journal chain found through anchors, records that
// never cross journal sectors, keyed records carrying a 4-byte `replaces`
// before their value). Each test first drives the store until the scenario is
// on flash and asserts that it is (a test that never reaches its scenario
// proves nothing), then checks the property against a model of what was
// written, never against the store's own tables.
//
// Each was run against a deliberately broken store in a scratch copy (never
// committed), and failed as it should: item 2 against a stored CRC without
// the 0xFFFFFFFF rule (the reader test) and a replay that trusts a PUT's
// header without its data CRC (stats().keys one too high); item 3 against a
// replay that takes a bad record in any sector but the head as ordinary
// damage and steps over it (v2's bug: the dropped delete came back); item 4
// against GC's reserve set to 0 (a wedge: every write refused); item 5 against
// a mount that resumes without erasing the head's `next` again (a
// 'reprogram'); the CLOSE review item against a CLOSE trusted without walking
// the head's records; the forged-record item against a replay that resyncs
// after a bad header.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { equal, HookedFlash, isInjectedCut } from './support/power-cut-sweep.ts';
import { SimFlash, type PowerCutEffect } from '../simulator/flash/sim-flash.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { mountJournal } from '../datastore/runtime/v3/journal-mount.ts';
import { AnchorArea, anchorSectorCount } from '../datastore/runtime/v3/anchor.ts';
import { RecordAt, REPLACES_SIZE } from '../datastore/runtime/v3/journal-records.ts';
import { JOURNAL_HEADER_SIZE } from '../datastore/runtime/v3/format-v3.ts';
import { PartitionFullError, StoreError } from '../datastore/runtime/errors.ts';
import { FlashError } from '../hal/flash.ts';
import {
  CLOSE_RECORD_SIZE,
  closeSpan,
  decodeCloseRecord,
  decodeRecordHeader,
  encodeCheckpointHead,
  encodeCloseRecord,
  encodeRecordHeader,
  keyCheckOf,
  NONE,
  RecordKind,
  recordSize,
  trailerCrc,
} from '../datastore/runtime/format.ts';
import { encodeAnchorRecord, encodeJournalHeader } from '../datastore/runtime/v3/format-v3.ts';
import { crc32 } from '../bytes/crc32.ts';
import { writeU32LE } from '../bytes/byte-order.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import type { FlashPartition } from '../hal/flash.ts';

const KiB = 1024;
const S = 4 * KiB;
/** SimFlash's page (DEFAULT_TIMING.pageSize, and the program unit when larger): a torn program tears one. */
const PAGE = 256;

function sim(sectors: number, programUnit: number, seed = 1): SimFlash {
  return new SimFlash({ size: sectors * S, sectorSize: S, programUnit, seed });
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

/** Size of a v3 keyed record on flash: header, key, `replaces`, value, data CRC. */
function keyedSize(key: string, valueLength: number): number {
  return recordSize(key.length, REPLACES_SIZE + valueLength);
}

/** What a mount would do, read-only: the chain it walks and where its replay starts. */
function mountView(flash: FlashPartition): { chain: number[]; replayFrom: number } {
  const m = mountJournal(flash, new AnchorArea(flash, anchorSectorCount(flash.size / flash.sectorSize)));
  const head = m.chain[m.chain.length - 1].header;
  return { chain: m.chain.map((l) => l.sector), replayFrom: head.durable };
}

function checkModel(store: JournalStore, model: Map<string, Uint8Array>, what: string): void {
  assert.equal(store.keys().sort(), [...model.keys()].sort(), `${what}: keys() are exactly those written`);
  assert.is(store.stats().keys, model.size, `${what}: stats().keys`);
  for (const [k, v] of model) assert.ok(equal(store.get(k), v), `${what}: ${k}`);
}

const t = suite('runtime store v3: issue 12 regressions on the v3 layout');

// ---- 2. erased bytes never validate -----------------------------------------------------

t('2. erased bytes never validate, whatever the length: a v3 record header followed by erased bytes fails its data check (every kind, key 0-4 and value 0-12 bytes)', () => {
  // Built by hand, independent of the writer: the reader alone must refuse it. With keyLength 0 and 4 value bytes
  // (a MOVE naming only its victim, say) the data CRC covers exactly FF FF FF FF, whose CRC-32 is 0xFFFFFFFF: the
  // erased trailer. Only the stored-CRC rule (0xFFFFFFFF written as 0x7FFFFFFF) refuses that one.
  const f = sim(16, 16);
  const rec = new RecordAt(f);
  let cases = 0;
  for (const kind of [RecordKind.Put, RecordKind.Delete, RecordKind.Checkpoint, RecordKind.Index, RecordKind.PutS, RecordKind.Move]) {
    for (let keyLength = 0; keyLength <= 4; keyLength++) {
      for (let valueLength = 0; valueLength <= 12; valueLength++) {
        const at = cases * 64; // a fresh, erased stretch each
        const hdr = new Uint8Array(16);
        encodeRecordHeader({ kind, keyLength, encoding: 0, valueLength, writtenAt: 0 }, hdr, 0);
        f.program(at, hdr);
        const h = rec.header(at);
        assert.ok(h, 'the header reads valid');
        const what = `kind ${kind}, key ${keyLength} B, value ${valueLength} B`;
        assert.not.ok(rec.dataChecks(at, h!), `${what}: erased data never checks`);
        assert.is(rec.checkedPayload(at, h!), null, `${what}: no payload from erased bytes`);
        cases++;
      }
    }
  }
  assert.is(cases, 6 * 5 * 13);
});

/**
 * Issue 12 item 2 on v3: a record whose header ends exactly at a page boundary, the page with the header
 * programmed, the next page (key, `replaces`, value, data CRC) left erased by the cut. `unit` 16 in immediate
 * mode (each write is its own commit, starting wherever the last ended); 256 in batched mode (a commit starts
 * on a page boundary, so the record must follow others in the same batch).
 */
function headerPageOnly(unit: number, durability: 'immediate' | 'batched', key: string, value: Uint8Array | null): void {
  const what = `${unit} B, ${durability}, ${value ? `put "${key}" + ${value.length} B` : `delete "${key}"`}`;
  const inner = sim(24, unit, unit + key.length);
  let lastProgramEnd = -1;
  const f = new HookedFlash(inner, (op) => {
    if (op.kind === 'program') lastProgramEnd = op.offset + op.data!.length;
  });
  const opts = { durability, batchSize: 200 };
  let store = JournalStore.format(f, opts);
  const model = new Map<string, Uint8Array>();
  if (!value) {
    store.set(key, bytes(3, 3), { flush: true }); // the key the delete removes
    model.set(key, bytes(3, 3));
  }
  // Move the journal's end so the next record's 16-byte header ends exactly at a page boundary, in the head.
  let at = -1;
  let next = durability === 'immediate' ? lastProgramEnd : -1;
  for (let n = 0; n < 200 && at < 0; n++) {
    const k = `f${n}`;
    // A filler sized to end where the header must start (when the journal's end is known and the sector has room).
    const fit = next < 0 ? 0 : (((PAGE - 16 - (next % PAGE) - keyedSize(k, 0)) % PAGE) + PAGE) % PAGE;
    const v = bytes(fit < 200 && (next % S) + fit + 128 < S ? fit : n % 13, n & 0xff);
    store.set(k, v);
    model.set(k, v);
    const info = store.info(k)!;
    // Immediate: the next commit starts where the last program ended. Batched: right after this record.
    next = durability === 'immediate' ? lastProgramEnd : info.offset + keyedSize(k, v.length);
    const sameSector = Math.floor(next / S) === Math.floor(info.offset / S);
    if (sameSector && (next + 16) % PAGE === 0 && (next % S) + 64 < S) at = next;
  }
  assert.ok(at >= 0, `${what}: found a layout with the header at a page's end`);
  const size = value ? keyedSize(key, value.length) : keyedSize(key, 0);
  let tornProgram = -1;
  f.tear = (offset, data) => {
    tornProgram = offset;
    const out = new Uint8Array(data);
    out.fill(0xff, at + 16 - offset); // the header's page completed; the record's body page never started
    return out;
  };
  cutDuring(() => {
    if (value) store.set(key, value, { flush: true });
    else store.delete(key, { flush: true });
  });
  inner.powerOn();
  // The scenario, read back from flash: the header valid, every byte after it erased.
  assert.ok(tornProgram >= 0 && tornProgram <= at && (at + size) <= S * (Math.floor(at / S) + 1), `${what}: the torn program covered the record`);
  const raw = new Uint8Array(size);
  inner.read(at, raw);
  const h = decodeRecordHeader(raw);
  assert.ok(h && h.kind === (value ? RecordKind.Put : RecordKind.Delete) && h.keyLength === key.length, `${what}: the record's header is on flash`);
  assert.ok(raw.subarray(16).every((b) => b === 0xff), `${what}: its body is erased`);
  store = JournalStore.mount(inner, opts);
  checkModel(store, model, `${what}, first mount`);
  store.set('y', bytes(1, 1), { flush: true });
  model.set('y', bytes(1, 1));
  store = JournalStore.mount(inner, opts); // unclean again: replays over the header-only record
  checkModel(store, model, `${what}, second (unclean) mount`);
  // Overwrite the keys until the sector holding it is erased (released or collected), then remount.
  const tornSector = Math.floor(at / S);
  const erasesBefore = inner.wear().counts[tornSector];
  const random = seededRandom(unit * 31 + key.length);
  const keys = [...model.keys()];
  for (let i = 0; i < 5000 && inner.wear().counts[tornSector] === erasesBefore; i++) {
    const k = keys[Math.floor(random() * keys.length)];
    const v = bytes(Math.floor(random() * 300), i & 0xff);
    store.set(k, v);
    model.set(k, v);
  }
  assert.ok(inner.wear().counts[tornSector] > erasesBefore, `${what}: the torn record's sector was erased and reused`);
  checkModel(store, model, `${what}, after the churn`);
  store.unmount();
  checkModel(JournalStore.mount(inner, opts), model, `${what}, after GC and a clean remount`);
}

t('2. a record whose key and value total 4 bytes, header page done and body page erased by the cut, never appears: 16 B units immediate, 256 B units batched', () => {
  for (const [unit, durability] of [[16, 'immediate'], [256, 'batched']] as const) {
    headerPageOnly(unit, durability, 'x', new Uint8Array([1, 2, 3]));
    headerPageOnly(unit, durability, 'abcd', new Uint8Array(0));
    headerPageOnly(unit, durability, 'abcd', null); // a DELETE whose key is 4 bytes
  }
});

t('2. the same for every split of 1 to 8 bytes of key and value (erased bytes never validate, whatever the length)', () => {
  for (let total = 1; total <= 8; total++) {
    const keyLength = Math.min(total, 1 + (total % 4));
    headerPageOnly(16, 'immediate', 'k'.repeat(keyLength), new Uint8Array(total - keyLength).fill(total));
  }
});

// ---- 3. batched: a torn commit's decision is durable -----------------------------------------

/**
 * Issue 12 item 3 on v3, and the review's "a torn record followed by an intact one in the same page stays
 * dropped on every later mount": in batched mode one commit programs R then B in the same page; the cut leaves
 * R bad (one of its value bytes never cleared) and B intact (a page clears its bits in any order). The first
 * mount ends the log at R. Every later mount, unclean, once the head has moved on and R's sector is replayed
 * as an ordinary one, must end that sector at R again: B never comes back, whatever B was (a delete, an
 * overwrite, a new key). Several such torn commits in turn, each decision checked on every mount after it.
 */
function tornBatch(unit: number): { rounds: number; laterMountsOverR: number } {
  const inner = sim(32, unit, 40 + unit);
  const f = new HookedFlash(inner);
  const opts = { durability: 'batched' as const, batchSize: 200 };
  let store = JournalStore.format(f, opts);
  const model = new Map<string, Uint8Array>();
  const put = (k: string, v: Uint8Array) => {
    store.set(k, v);
    model.set(k, v);
  };
  let laterMountsOverR = 0;
  const rounds = 6;
  for (let round = 0; round < rounds; round++) {
    const what = `${unit} B, torn commit ${round}`;
    const a = `a${round}`;
    const c = `c${round}`;
    put(a, bytes(8, 1));
    put(c, bytes(8, 3));
    store.flush();
    // Records in the batch until the next one starts inside a page (not at its start) with room for R and B.
    let next = -1;
    for (let n = 0; n < 400 && next < 0; n++) {
      const k = `p${round}-${n}`;
      put(k, bytes(n % 11, n & 0xff));
      const info = store.info(k)!;
      const end = info.offset + keyedSize(k, n % 11);
      if (Math.floor(end / S) === Math.floor(info.offset / S) && end % PAGE >= 16 && (end % PAGE) + 80 <= PAGE && (end % S) + 128 < S) next = end;
    }
    assert.ok(next >= 0, `${what}: a layout with R and B in one page`);
    // R: a new value of a (or, every third round, a delete of a); B: a delete of c, an overwrite of c, or a new key.
    const pattern = round % 3;
    if (pattern === 2) store.delete(a);
    else store.set(a, bytes(8, 0));
    const rAt = store.info(a) ? store.info(a)!.offset : next;
    assert.is(rAt, next, `${what}: R starts where the batch ended`);
    const rSize = pattern === 2 ? keyedSize(a, 0) : keyedSize(a, 8);
    const bAt = rAt + rSize;
    if (pattern === 0) store.delete(c);
    else if (pattern === 1) store.set(c, bytes(8, 4));
    else store.set(`b${round}`, bytes(8, 5));
    const pageEnd = (Math.floor(rAt / PAGE) + 1) * PAGE;
    f.tear = (offset, data) => {
      const out = new Uint8Array(data);
      out[rAt + rSize - 5 - offset] = 0xff; // R's last data byte (value, or `replaces`) never cleared: R is bad
      out.fill(0xff, pageEnd - offset); // later pages of the commit: untouched
      return out;
    };
    cutDuring(() => store.flush());
    inner.powerOn();
    // The scenario, read back: R's header valid and its data bad; B, after it in the same page, whole.
    const rec = new RecordAt(inner);
    const hR = rec.header(rAt);
    assert.ok(hR && !rec.dataChecks(rAt, hR), `${what}: R is on flash, bad`);
    const hB = rec.header(bAt);
    assert.ok(hB && rec.dataChecks(bAt, hB) && bAt + recordSize(hB.keyLength, hB.valueLength) <= pageEnd, `${what}: B is on flash, intact, in R's page`);
    store = JournalStore.mount(f, opts); // through the hooks: later rounds tear their own commit
    checkModel(store, model, `${what}, first mount (the log ends at R)`);
    const rSector = Math.floor(rAt / S);
    // Go on: the head moves to other sectors; each mount after is unclean and replays R's sector as a middle one.
    for (let later = 0; later < 3; later++) {
      for (let i = 0; i < 40; i++) put(`n${i % 30}`, bytes(30, (round * 3 + later + i) & 0xff));
      store.flush();
      const view = mountView(inner);
      const startSector = view.replayFrom === 0xffffffff ? view.chain[0] : Math.floor(view.replayFrom / S);
      const rPos = view.chain.indexOf(rSector);
      if (rPos >= 0 && rPos < view.chain.length - 1 && view.chain.indexOf(startSector) <= rPos) laterMountsOverR++;
      store = JournalStore.mount(f, opts);
      checkModel(store, model, `${what}, unclean mount ${later + 2}`);
    }
  }
  store.unmount();
  checkModel(JournalStore.mount(inner, opts), model, `${unit} B, clean mount at the end`);
  return { rounds, laterMountsOverR };
}

t('3. batched: a torn commit with an early record bad and a later one intact in the same page stays dropped on every later unclean mount, across six torn commits in turn (both units)', () => {
  for (const unit of [16, 256]) {
    const r = tornBatch(unit);
    // The scenario: later mounts replayed R's sector as a middle sector of the chain (not the head).
    assert.ok(r.laterMountsOverR >= r.rounds, `${unit} B: ${r.laterMountsOverR} later mounts replayed over a torn R`);
  }
});

t('3. batched, randomized: a commit torn with a random subset of bits in a random page of it (60 seeds, both units) recovers to a prefix of the batch, and that decision holds on every later unclean mount', () => {
  let droppedSomething = 0;
  for (const unit of [16, 256]) {
    for (let seed = 1; seed <= 30; seed++) {
      const what = `${unit} B, seed ${seed}`;
      const inner = sim(24, unit, seed);
      const f = new HookedFlash(inner);
      const random = seededRandom(seed * 7 + unit);
      const opts = { durability: 'batched' as const, batchSize: 500 };
      let store = JournalStore.format(f, opts);
      const model = new Map<string, Uint8Array>();
      for (let i = 0; i < 30 + Math.floor(random() * 60); i++) {
        const k = `k${Math.floor(random() * 12)}`;
        const v = bytes(Math.floor(random() * 40), i & 0xff);
        store.set(k, v);
        model.set(k, v);
      }
      store.flush();
      // One batch of puts and deletes (tiny values, 0-4 bytes, among them), committed by a torn flush.
      const batch: [string, Uint8Array | undefined][] = [];
      for (let i = 0; i < 4 + Math.floor(random() * 10); i++) {
        const k = `k${Math.floor(random() * 14)}`;
        const del = random() < 0.3;
        if (del && !(model.has(k) || batch.some(([b, v]) => b === k && v))) continue;
        const v = del ? undefined : bytes(Math.floor(random() * 5), 0x80 + i);
        if (v) store.set(k, v);
        else store.delete(k);
        batch.push([k, v]);
      }
      f.tear = (offset, data) => tornPages(offset, data, random);
      cutDuring(() => store.flush());
      inner.powerOn();
      store = JournalStore.mount(f, opts);
      // The state is the committed writes plus a prefix of the batch: find which.
      const keys = new Set([...model.keys(), ...batch.map(([k]) => k)]);
      let prefix = -1;
      for (let n = batch.length; n >= 0 && prefix < 0; n--) {
        const m = new Map(model);
        for (const [k, v] of batch.slice(0, n)) v ? m.set(k, v) : m.delete(k);
        if ([...keys].every((k) => equal(store.get(k), m.get(k))) && store.stats().keys === m.size) prefix = n;
      }
      assert.ok(prefix >= 0, `${what}: the first mount holds a prefix of the batch`);
      if (prefix < batch.length) droppedSomething++;
      for (const [k, v] of batch.slice(0, prefix)) v ? model.set(k, v) : model.delete(k);
      checkModel(store, model, `${what}, first mount (prefix ${prefix} of ${batch.length})`);
      for (let later = 0; later < 3; later++) {
        for (let i = 0; i < 40; i++) {
          store.set(`n${i % 20}`, bytes(30, (later * 40 + i) & 0xff));
          model.set(`n${i % 20}`, bytes(30, (later * 40 + i) & 0xff));
        }
        store.flush();
        store = JournalStore.mount(f, opts);
        checkModel(store, model, `${what}, unclean mount ${later + 2}`);
      }
    }
  }
  assert.ok(droppedSomething >= 20, `${droppedSomething} torn commits dropped part of their batch`);
});

// ---- 4. repeated cuts during GC at high fill never wedge -------------------------------------

const JOURNAL_MAGIC_BYTES = [0x44, 0x4c, 0x52, 0x54]; // "DLRT"

/**
 * Issue 12 item 4 on v3: the partition filled until the store refuses, then session after session whose first
 * flash operations are cut (torn), each session's writes running GC (copies into pack sectors, a MOVE, releases).
 * After every recovery the model holds; every set, delete and unmount works or is refused with a typed
 * PartitionFullError, never an internal StoreError (an error of any other kind fails the test); at the end the
 * store still takes deletes, new keys and a clean unmount.
 */
/**
 * A torn program as sim-flash.ts models it, drawn from `random`: the pages before one page of the write
 * complete, that page clears a random subset of its bits, later pages are untouched (HookedFlash keeps only
 * clears the write asks for).
 */
function tornPages(offset: number, data: Uint8Array, random: () => number): Uint8Array {
  const out = new Uint8Array(data);
  const firstPage = Math.floor(offset / PAGE);
  const pages = Math.floor((offset + data.length - 1) / PAGE) - firstPage + 1;
  const torn = firstPage + Math.floor(random() * pages);
  for (let i = 0; i < out.length; i++) {
    const page = Math.floor((offset + i) / PAGE);
    if (page === torn) out[i] = data[i] | Math.floor(random() * 256);
    else if (page > torn) out[i] = 0xff;
  }
  return out;
}

function cutsDuringGc(unit: number, window: number | 'gc', seed: number, rounds: number): { cuts: number; gcCuts: number; refused: number; attempts: number; fill: number } {
  const inner = sim(24, unit, seed);
  const A = anchorSectorCount(24);
  const random = seededRandom(seed);
  let armedAt = -1;
  let tearGc = false;
  let cutWas = '';
  const f: HookedFlash = new HookedFlash(inner, (op) => {
    const watching = window === 'gc' ? tearGc : window === 0 ? armedAt >= 0 : inner.opCount === armedAt;
    if (!watching) return;
    // What the operation is: a program into a headerless sector is a GC copy (a pack sector).
    if (op.kind === 'erase') cutWas = 'erase';
    else {
      const sector = Math.floor(op.offset / S);
      const first = new Uint8Array(4);
      if (op.offset === sector * S) first.set(op.data!.subarray(0, 4));
      else inner.read(sector * S, first);
      const journal = JOURNAL_MAGIC_BYTES.every((b, i) => first[i] === b);
      cutWas = sector < A ? 'anchor' : journal ? 'journal' : 'pack';
      if (tearGc && cutWas === 'pack') {
        tearGc = false;
        f.tear = (offset, data) => tornPages(offset, data, random);
      }
    }
  });
  let store = JournalStore.format(f);
  const model = new Map<string, Uint8Array>();
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
  const fill = store.stats().liveBytes / store.stats().capacityBytes;
  store.delete('k0');
  model.delete('k0');
  const live = [...model.keys()];
  let cuts = 0;
  let gcCuts = 0;
  let refused = 0;
  let attempts = 0;
  for (let round = 0; round < rounds; round++) {
    const what = `${unit} B, window ${window}, round ${round}`;
    const cutThisSession = round % 10 !== 9;
    armedAt = -1;
    cutWas = '';
    if (cutThisSession) {
      if (window === 'gc') tearGc = true; // the session's first GC copy, torn
      else if (window === 0) {
        inner.armPowerCut({ atOp: 0, effect: 'torn', kind: 'program' }); // the session's first program, whatever comes before it
        armedAt = inner.opCount; // the hook notes each op until the cut
      } else {
        armedAt = inner.opCount + Math.floor(random() * window);
        inner.armPowerCut({ atOp: armedAt, effect: 'torn' });
      }
    }
    let inFlight: { key: string; value: Uint8Array | undefined } | null = null;
    let cut = false;
    const refusedBefore = refused;
    try {
      for (let j = 0; j < 20; j++) {
        const k = live[Math.floor(random() * live.length)];
        const del = model.has(k) && random() < 0.15;
        const v = del ? undefined : bytes(200, (round + j) & 0xff);
        inFlight = { key: k, value: v };
        attempts++;
        try {
          if (v) store.set(k, v);
          else store.delete(k);
        } catch (e) {
          if (!(e instanceof PartitionFullError)) throw e;
          refused++;
          inFlight = null;
          continue;
        }
        if (v) model.set(k, v);
        else model.delete(k);
        inFlight = null;
      }
      if (!cutThisSession) store.unmount();
    } catch (e) {
      if (!isInjectedCut(e)) throw e;
      cut = true;
    }
    assert.ok(refused - refusedBefore < 20, `${what}: wedged, every write of the session refused (PartitionFullError)`);
    if (!cutThisSession || window !== 'gc') assert.is(cut, cutThisSession, `${what}: the armed cut happened (and only then)`);
    tearGc = false;
    if (cut) {
      cuts++;
      if (cutWas === 'pack') gcCuts++;
    }
    inner.powerOn();
    store = JournalStore.mount(f);
    if (!cutThisSession) assert.ok(store.stats().mountedCleanly, `${what}: a mount after unmount is clean`);
    if (inFlight) {
      // The write in flight is entirely there or entirely absent.
      const got = store.get(inFlight.key);
      if (inFlight.value ? equal(got, inFlight.value) : got === undefined) {
        if (inFlight.value) model.set(inFlight.key, inFlight.value);
        else model.delete(inFlight.key);
      }
    }
    checkModel(store, model, what);
  }
  // Not wedged: deletes, new keys and an unmount all work, and a clean mount keeps them.
  for (const k of live.slice(0, 8)) {
    store.delete(k);
    model.delete(k);
  }
  for (let i = 0; i < 8; i++) {
    store.set(`after${i}`, bytes(100, i));
    model.set(`after${i}`, bytes(100, i));
  }
  store.unmount();
  checkModel(JournalStore.mount(f), model, `${unit} B, window ${window}: after the rounds, clean`);
  return { cuts, gcCuts, refused, attempts, fill };
}

t('4. repeated torn cuts in the first flash operations of every session during GC at 99 % fill never wedge the store (a cut within the first 3 or 5 operations, at the first program, or at the first GC copy; both units)', () => {
  let gcCuts = 0;
  for (const [unit, window, seed] of [[256, 3, 259], [16, 3, 19], [256, 5, 261], [16, 5, 21], [16, 0, 678], [256, 0, 918], [16, 'gc', 31], [256, 'gc', 37]] as const) {
    const r = cutsDuringGc(unit, window, seed, 100);
    const what = `${unit} B, window ${window}`;
    assert.ok(r.fill >= 0.9, `${what}: filled to ${(r.fill * 100).toFixed(1)} % of capacity`);
    assert.ok(r.cuts >= 85, `${what}: ${r.cuts} cuts`);
    if (window === 'gc') assert.is(r.gcCuts, r.cuts, `${what}: every cut tore a GC copy`);
    gcCuts += r.gcCuts;
    // Refusals are allowed (typed), a wedge is not: almost every write at this fill is taken.
    assert.ok(r.refused * 10 < r.attempts, `${what}: ${r.refused} of ${r.attempts} writes refused`);
  }
  assert.ok(gcCuts >= 250, `${gcCuts} cuts tore a GC copy`);
});

// ---- 5. strict ECC flash: no unit programmed twice ------------------------------------------

/**
 * The flash seen through the test's own record of programmed units (beside SimFlash's strict check, which
 * refuses a second program with a 'reprogram' error): every program of a unit already programmed since its
 * sector's last erase is counted, interrupted programs included (their units count as programmed). `cutAt`
 * is where the last program before a power cut went.
 */
function unitWatch(inner: SimFlash): { f: HookedFlash; doubles: () => number; lastProgram: () => number } {
  const u = inner.programUnit;
  const programmed = new Uint8Array(inner.size / u);
  let doubles = 0;
  let last = -1;
  const f = new HookedFlash(inner, (op) => {
    if (inner.poweredOff) return;
    if (op.kind === 'erase') {
      programmed.fill(0, (op.offset * S) / u, ((op.offset + 1) * S) / u);
      return;
    }
    last = op.offset;
    for (let k = op.offset / u; k < (op.offset + op.data!.length) / u; k++) {
      if (programmed[k]) doubles++;
      programmed[k] = 1;
    }
  });
  return { f, doubles: () => doubles, lastProgram: () => last };
}

const ECC_EFFECTS: PowerCutEffect[] = ['interrupted', 'torn'];

t('5. strict ECC flash: a session after a clean unmount whose first program (its first record, at a sector boundary) is interrupted; the next sessions reprogram nothing (both units, interrupted and torn)', () => {
  for (const effect of ECC_EFFECTS) {
    for (const unit of [256, 16]) {
      const what = `${effect}, ${unit} B`;
      const inner = sim(16, unit, 5);
      assert.ok(inner.strictReprogram);
      const w = unitWatch(inner);
      let store = JournalStore.format(w.f);
      store.set('a', bytes(10, 1));
      store.unmount();
      store = JournalStore.mount(w.f);
      inner.armPowerCut({ atOp: 0, effect, kind: 'program' });
      cutDuring(() => store.set('b', bytes(10, 2)));
      // The scenario: the session's first record went to the start of a sector (the journal's next), with its header.
      assert.is(w.lastProgram() % S, 0, `${what}: the first program of the session was at a sector boundary`);
      inner.powerOn();
      store = JournalStore.mount(w.f);
      assert.is(store.get('b'), undefined, `${what}: the interrupted write never counts`);
      store.set('c', bytes(10, 3)); // threw 'reprogram' if the mount reused the marked sector unerased
      store.set('b', bytes(10, 4));
      const again = JournalStore.mount(w.f);
      assert.equal(again.get('a'), bytes(10, 1));
      assert.equal(again.get('c'), bytes(10, 3));
      assert.equal(again.get('b'), bytes(10, 4));
      assert.is(w.doubles(), 0, `${what}: units programmed twice`);
    }
  }
});

t('5. strict ECC flash: one, two or three sessions in a row that die in their first program, then a whole-sector value whose first sector is interrupted: nothing is reprogrammed, nothing lost (both units)', () => {
  for (const effect of ECC_EFFECTS) {
    for (const unit of [256, 16]) {
      for (let dead = 1; dead <= 3; dead++) {
        const what = `${effect}, ${unit} B, ${dead} dead sessions`;
        const inner = sim(24, unit, 7 + dead);
        const w = unitWatch(inner);
        let store = JournalStore.format(w.f);
        const model = new Map<string, Uint8Array>();
        for (let i = 0; i < 60; i++) {
          store.set(`s${i % 9}`, bytes(150, i));
          model.set(`s${i % 9}`, bytes(150, i));
        }
        store.unmount();
        for (let d = 0; d < dead; d++) {
          store = JournalStore.mount(w.f);
          // After a clean unmount whose token is intact, the session's first program may be a GC copy into the
          // pack head the CLOSE named, or an anchor record in the slot it named (DESIGN.md §4, token trick): the
          // next unit of a sector erased and not programmed since, as a journal header at a sector start is.
          const packHead = (store as unknown as { st: { pack: { head: number } } }).st.pack.head;
          inner.armPowerCut({ atOp: 0, effect, kind: 'program' });
          cutDuring(() => store.set(`dead${d}`, bytes(20, d)));
          const at = w.lastProgram();
          assert.ok(at % S === 0 || Math.floor(at / S) === packHead || Math.floor(at / S) < 2, `${what}: session ${d} died in its first program, at a sector boundary, in the resumed pack head or in an anchor sector (at ${at})`);
          inner.powerOn();
        }
        // A session whose first write is a whole-sector value: its first program starts a value sector.
        store = JournalStore.mount(w.f);
        inner.armPowerCut({ atOp: 0, effect, kind: 'program' });
        cutDuring(() => store.set('big', bytes(5000, 9)));
        assert.is(w.lastProgram() % S, 0, `${what}: the value's first program starts a sector`);
        inner.powerOn();
        store = JournalStore.mount(w.f);
        checkModel(store, model, `${what}, after the cuts`);
        // Go round the partition: every sector the dead sessions marked is taken again, erased first.
        for (let i = 0; i < 300; i++) {
          const v = bytes(i % 5 === 0 ? 3500 : 300, i & 0xff);
          store.set(`n${i % 8}`, v);
          model.set(`n${i % 8}`, v);
        }
        store.unmount();
        checkModel(JournalStore.mount(w.f), model, `${what}, after a pass`);
        assert.ok(inner.wear().min >= 1, `${what}: every sector was erased since (the pass went round)`);
        assert.is(w.doubles(), 0, `${what}: units programmed twice`);
      }
    }
  }
});

t('5. strict ECC flash: each of the first 40 programs of a session on an aged store interrupted in turn: recovery holds what returned, takes new writes, reprograms nothing (both units)', () => {
  let atBoundary = 0;
  for (const effect of ECC_EFFECTS) {
    for (const unit of [256, 16]) {
      for (let k = 0; k < 40; k++) {
        const what = `${effect}, ${unit} B, cut at program ${k}`;
        const inner = sim(24, unit, k + 1);
        const w = unitWatch(inner);
        let store = JournalStore.format(w.f);
        const model = new Map<string, Uint8Array>();
        for (let i = 0; i < 20; i++) {
          store.set(`w${i % 5}`, bytes(300, i));
          model.set(`w${i % 5}`, bytes(300, i));
        }
        store.unmount();
        store = JournalStore.mount(w.f);
        inner.armPowerCut({ atOp: k, effect, kind: 'program' });
        let inFlight: [string, Uint8Array] = ['', new Uint8Array(0)];
        cutDuring(() => {
          for (let i = 0; ; i++) {
            inFlight = [`w${i % 5}`, bytes(i % 7 === 6 ? 3200 : 300, 100 + i)];
            store.set(inFlight[0], inFlight[1]);
            model.set(inFlight[0], inFlight[1]);
          }
        });
        if (w.lastProgram() % S === 0) atBoundary++;
        inner.powerOn();
        store = JournalStore.mount(w.f);
        if (equal(store.get(inFlight[0]), inFlight[1])) model.set(inFlight[0], inFlight[1]);
        checkModel(store, model, `${what}, after recovery`);
        for (let i = 0; i < 30; i++) {
          store.set(`z${i % 4}`, bytes(350, i));
          model.set(`z${i % 4}`, bytes(350, i));
        }
        checkModel(JournalStore.mount(w.f), model, `${what}, after new writes and a remount`);
        assert.is(w.doubles(), 0, `${what}: units programmed twice`);
      }
    }
  }
  assert.ok(atBoundary >= 8, `${atBoundary} cuts interrupted a program at a sector boundary`);
});

// ---- review: bytes that look like metadata inside a value are data -----------------------

/** A valid v3 PUT record (header, key, `replaces` NONE, value, data CRC), as the writer would make it. */
function forgedPut(key: string, value: Uint8Array): Uint8Array {
  const k = Uint8Array.from(key, (ch) => ch.charCodeAt(0));
  const size = recordSize(k.length, REPLACES_SIZE + value.length);
  const rec = new Uint8Array(size);
  encodeRecordHeader({ kind: RecordKind.Put, keyLength: k.length, encoding: 0, valueLength: REPLACES_SIZE + value.length, writtenAt: 0, keyCheck: keyCheckOf(k) }, rec, 0);
  rec.set(k, 16);
  writeU32LE(rec, 16 + k.length, NONE);
  rec.set(value, 16 + k.length + REPLACES_SIZE);
  writeU32LE(rec, size - 4, trailerCrc(crc32(rec, 0, 16, size - 4)));
  return rec;
}

t('review: a value ending in a valid CLOSE (naming a forged empty CHECKPOINT inside it) in the head\'s last units is data, never a clean unmount (both units)', () => {
  for (const unit of [16, 256]) {
    const inner = sim(24, unit, 8);
    let lastProgramEnd = -1;
    const f = new HookedFlash(inner, (op) => {
      if (op.kind === 'program') lastProgramEnd = op.offset + op.data!.length;
    });
    let store = JournalStore.format(f);
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 200; i++) {
      store.set(`s${i % 10}`, bytes(100, i & 0xff));
      model.set(`s${i % 10}`, bytes(100, i & 0xff));
    }
    store.unmount();
    store = JournalStore.mount(f); // a session starts a fresh journal sector
    store.set('a', bytes(1500, 1));
    model.set('a', bytes(1500, 1));
    const at = lastProgramEnd;
    const sectorEnd = (Math.floor(at / S) + 1) * S;
    // One record from there to the sector's end: its value holds a forged empty CHECKPOINT, erased-looking bytes,
    // and, in the sector's last units, a CLOSE naming that checkpoint.
    const valueStart = at + 16 + 1 + REPLACES_SIZE;
    const value = bytes(sectorEnd - at - keyedSize('x', 0), 2);
    const fakeAt = 64;
    const payload = encodeCheckpointHead(0, 0, 0, []);
    encodeRecordHeader({ kind: RecordKind.Checkpoint, keyLength: 0, encoding: 0, valueLength: payload.length, writtenAt: 0 }, value, fakeAt);
    value.set(payload, fakeAt + 16);
    writeU32LE(value, fakeAt + 16 + payload.length, trailerCrc(crc32(payload)));
    value.fill(0xff, fakeAt + 16 + payload.length + 4, fakeAt + 400);
    encodeCloseRecord({ checkpoint: valueStart + fakeAt, erasedAhead: 0 }, value, sectorEnd - closeSpan(unit) - valueStart);
    store.set('x', value);
    model.set('x', value);
    // The scenario, read back: x fills the head to its end, and the head's last units hold a valid CLOSE.
    assert.is(store.info('x')!.offset, at, `${unit} B: x follows a`);
    const close = new Uint8Array(CLOSE_RECORD_SIZE);
    inner.read(sectorEnd - closeSpan(unit), close);
    assert.equal(decodeCloseRecord(close), { checkpoint: valueStart + fakeAt, erasedAhead: 0 }, `${unit} B: a valid CLOSE sits in the head's last units`);
    // Power is cut here (no unmount).
    store = JournalStore.mount(f);
    assert.is(store.stats().mountedCleanly, false, `${unit} B: not a clean unmount`);
    checkModel(store, model, `${unit} B, after the cut`);
    for (let i = 0; i < 200; i++) {
      store.set(`n${i % 9}`, bytes(120, i));
      model.set(`n${i % 9}`, bytes(120, i));
    }
    checkModel(JournalStore.mount(f), model, `${unit} B, after more writes and another cut`);
  }
});

t('review: values holding valid journal headers (seq + 1), anchor records, PUT and CLOSE records are data on every mount, clean or not, through GC; a torn header before a forged record ends its sector (both units)', () => {
  for (const unit of [16, 256]) {
    const inner = sim(32, unit, 12);
    const f = new HookedFlash(inner);
    let store = JournalStore.format(f);
    const model = new Map<string, Uint8Array>();
    const random = seededRandom(unit + 99);
    const forge = (length: number, i: number): Uint8Array => {
      const v = new Uint8Array(length).fill(0xff);
      const m = mountJournal(inner, new AnchorArea(inner, anchorSectorCount(32)));
      const head = m.chain[m.chain.length - 1];
      encodeJournalHeader({ seq: (head.header.seq + 1 + (i % 2)) >>> 0, carry: 0, next: 2 + ((7 * i) % 30), durable: NONE, fallback: NONE, wear: NONE, follows: true }, v, 0);
      const ghost = forgedPut(`ghost${i}`, bytes(5, i));
      v.set(ghost, JOURNAL_HEADER_SIZE);
      let p = JOURNAL_HEADER_SIZE + ghost.length;
      encodeCloseRecord({ checkpoint: 2 * S + 32, erasedAhead: 3 }, v, p);
      p += CLOSE_RECORD_SIZE;
      encodeAnchorRecord({ gen: 0x7ffffff0, chainStart: 2 + (i % 30), chainSeq: 1 }, v, p);
      return v;
    };
    for (let i = 0; i < 24; i++) {
      const big = i % 3 === 0;
      const v = forge(big ? S : 80 + Math.floor(random() * 400), i);
      store.set(`forged${i % 12}`, v);
      model.set(`forged${i % 12}`, v);
    }
    const noGhost = (st: JournalStore, what: string) => {
      checkModel(st, model, what);
      for (let i = 0; i < 24; i++) assert.is(st.get(`ghost${i}`), undefined, `${what}: ghost${i}`);
    };
    store = JournalStore.mount(f);
    noGhost(store, `${unit} B, unclean mount`);
    store.unmount();
    store = JournalStore.mount(f);
    noGhost(store, `${unit} B, clean mount`);
    // GC copies the small forged values into pack sectors and frees the big ones' sectors; mounts in between.
    for (let i = 0; i < 600; i++) {
      const k = `c${i % 40}`;
      const v = bytes(200 + (i % 50), i & 0xff);
      store.set(k, v);
      model.set(k, v);
      if (i % 150 === 149) {
        store = JournalStore.mount(f);
        noGhost(store, `${unit} B, churn ${i}`);
      }
    }
    // A record whose value is a forged PUT, its header torn (the rest of the program complete): nothing after it counts.
    store.unmount();
    store = JournalStore.mount(f);
    store.set('before', bytes(10, 1));
    model.set('before', bytes(10, 1));
    const carried = forgedPut('ghost0', bytes(5, 0));
    let torn = -1;
    f.tear = (offset, data) => {
      torn = offset;
      const out = new Uint8Array(data);
      // One bit of the record header's CRC never cleared (a page clears its bits in any order).
      const crcByte = (offset % S === 0 ? JOURNAL_HEADER_SIZE : 0) + 12;
      const zero = [0, 1, 2, 3, 4, 5, 6, 7].find((b) => (data[crcByte] & (1 << b)) === 0)!;
      out[crcByte] |= 1 << zero;
      return out;
    };
    cutDuring(() => store.set('carrier', carried));
    assert.ok(torn >= 0, `${unit} B: the carrier's program was torn`);
    inner.powerOn();
    store = JournalStore.mount(f);
    noGhost(store, `${unit} B, after a torn header before a forged record`);
    assert.is(store.get('carrier'), undefined);
  }
});

// ---- review: after a failed program the store stops -----------------------------------------

/** A store whose flash fails one program (worn) after 40 writes: the store, what returned, and the flash ops since. */
function afterFailedProgram(unit: number, durability: 'immediate' | 'batched') {
  const inner = sim(24, unit, 3);
  let failAt = -1;
  let programs = 0;
  let afterFailure = 0;
  const f = new HookedFlash(inner, (op) => {
    if (failAt >= 0 && programs > failAt) afterFailure++;
    if (op.kind !== 'program') return;
    if (programs++ === failAt) throw new FlashError('worn', op.offset, 'program failed: sector worn out');
  });
  const store = JournalStore.format(f, { durability, batchSize: 4 });
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
  const keptAfterRemount = (what: string, refused: string[]) => {
    const again = JournalStore.mount(inner);
    for (const [k, v] of model) {
      const got = again.get(k);
      // The write that failed may or may not have reached flash; nothing else may differ.
      if (lost && k === lost.key && got && equal(got, lost.value)) continue;
      assert.ok(got && equal(got, v), `${what}: ${k} kept`);
    }
    for (const k of refused) assert.is(again.get(k), undefined, `${what}: a refused write (${k}) never appears`);
  };
  return { store, failed, opsSince: () => afterFailure, keptAfterRemount };
}

const refusedTyped = (e: unknown) => e instanceof StoreError && e.code === 'flash-failure';

t('review: after a program fails, set, delete and flush are refused with a typed flash-failure error and nothing more is programmed or erased; a remount keeps every write that returned (both units, both durabilities)', () => {
  for (const unit of [16, 256]) {
    for (const durability of ['immediate', 'batched'] as const) {
      const what = `${unit} B, ${durability}`;
      const r = afterFailedProgram(unit, durability);
      assert.ok(r.failed instanceof Error, `${what}: the failure surfaced`);
      assert.throws(() => r.store.set('again', bytes(5, 1)), refusedTyped, `${what}: set refused`);
      assert.throws(() => r.store.delete('k1'), refusedTyped, `${what}: delete refused`);
      assert.throws(() => r.store.flush(), refusedTyped, `${what}: flush refused`);
      try {
        r.store.unmount(); // writes nothing
      } catch (e) {
        assert.ok(refusedTyped(e), `${what}: unmount fails typed, if at all`);
      }
      assert.is(r.opsSince(), 0, `${what}: flash operations after the failed program`);
      r.keptAfterRemount(what, ['again']);
    }
  }
});

// Found by this file, fixed in journal-writer.ts (every program and erase checks `failed`). Before the fix, after a failed program the journal
// stops (JournalWriter.failed), but (1) set() of a whole-sector value and a streamed beginValue() still take,
// erase and program value sectors (SectorValueWriter programs through JournalWriter.program and takes sectors
// through JournalStore.takeErased -> JournalWriter.erase, and neither checks `failed`): 315 flash operations at
// 16 B units for a 5,000-byte value, before the PUT-S is refused at JournalWriter.beginRecord; (2) the failing
// write surfaces as the raw FlashError ('worn'), where v2 reports StoreError 'flash-failure'; (3) unmount()
// throws StoreError 'flash-failure' (JournalWriter.commit -> checkUsable) where v2's returns quietly ("after a
// failed program or erase nothing more is written: the next mount recovers").
t('review: after a program fails, whole-sector and streamed values program nothing, the failure is a StoreError flash-failure, and unmount stops quietly', () => {
  for (const unit of [16, 256]) {
    for (const durability of ['immediate', 'batched'] as const) {
      const what = `${unit} B, ${durability}`;
      const r = afterFailedProgram(unit, durability);
      assert.ok(refusedTyped(r.failed), `${what}: the failing write reports a typed flash-failure`);
      assert.throws(() => r.store.set('big', bytes(5000, 7)), refusedTyped, `${what}: a whole-sector set refused`);
      assert.is(r.opsSince(), 0, `${what}: flash operations after the failure, whole-sector set`);
      assert.throws(() => {
        const w = r.store.beginValue('v', 5000);
        w.append(bytes(5000, 8));
        w.commit();
      }, refusedTyped, `${what}: a streamed value refused`);
      assert.is(r.opsSince(), 0, `${what}: flash operations after the failure, streamed value`);
      r.store.unmount(); // stops without writing, as v2's
      r.keptAfterRemount(what, ['big', 'v']);
    }
  }
});

t('review (FORMAT.md §17): a record whose header rots in a sector GC collects is dropped by the MOVE, so stats() and keys() agree before and after a remount, and the reused sector is never read as that key', () => {
  for (const unit of [16, 256]) {
    const f = new SimFlash({ size: 32 * 4096, sectorSize: 4096, programUnit: unit, seed: unit });
    let store = JournalStore.format(f);
    const value = (i: number, n = 60) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j) & 0xff);
    for (let i = 0; i < 200; i++) store.set(`key-${i}`, value(i));
    const victimKey = 'key-3';
    const at = store.info(victimKey)!.offset;
    f.flipStoredBit(at + 2, 1); // in the key-length field: the header CRC fails
    // Overwrite everything else until GC has collected the damaged record's sector (its entry gone from the index).
    let rounds = 0;
    while (store.stats().keys !== store.keys().length && rounds < 40) {
      for (let i = 0; i < 200; i++) if (i !== 3) store.set(`key-${i}`, value(i + rounds + 1));
      rounds++;
    }
    assert.ok(rounds < 40, `${unit} B: GC never reached the damaged record`);
    assert.is(store.stats().keys, 199, `${unit} B`);
    assert.ok(store.stats().corruptRecordsSkipped >= 1, `${unit} B: the loss is counted`);
    // Reuse the sector many times over, then remount: no entry comes back through a snapshot or replay.
    for (let r = 0; r < 8; r++) for (let i = 0; i < 200; i++) if (i !== 3) store.set(`key-${i}`, value(i + 100 + r));
    for (const clean of [false, true]) {
      if (clean) store.unmount();
      store = JournalStore.mount(f);
      assert.is(store.stats().keys, store.keys().length, `${unit} B, ${clean ? 'clean' : 'after a cut'}: stats and keys agree`);
      assert.is(store.stats().keys, 199, `${unit} B`);
      assert.is(store.get(victimKey), undefined);
      for (let i = 0; i < 200; i++) if (i !== 3) assert.ok(store.get(`key-${i}`)!.length === 60);
    }
  }
});

t('review (FORMAT.md §17): on 512 B and 1 KiB sectors a 255-byte key with a value just under the whole-sector threshold fits a journal sector (the threshold counts `replaces`)', () => {
  for (const sectorSize of [512, 1024]) {
    for (const unit of [16, 256]) {
      if (unit * 4 > sectorSize) continue; // a 512 B sector of two 256 B units leaves a v3 store no room
      const f = new SimFlash({ size: 64 * sectorSize, sectorSize, programUnit: unit, seed: 5 });
      const store = JournalStore.format(f);
      const key = 'k'.repeat(255);
      for (const n of [store.sectorValueThreshold - 1, store.sectorValueThreshold]) {
        const v = Uint8Array.from({ length: n }, (_, j) => j & 0xff);
        store.set(key, v);
        assert.equal(store.get(key), v, `${sectorSize} B sectors, ${unit} B unit, ${n} B value`);
      }
      store.unmount();
      assert.is(JournalStore.mount(f).get(key)!.length, store.sectorValueThreshold);
    }
  }
});

t.run();
