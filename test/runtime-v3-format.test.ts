// Format v3 groundwork (issue 18): the new byte layouts of DESIGN.md §1, checked
// against bytes written out by hand from its tables (CRCs computed here over
// those bytes), round trips on seeded random values, and the rule that
// erased bytes, or any single flipped bit, never validate.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32 } from '../bytes/crc32.ts';
import {
  decodeAnchorRecord,
  decodeJournalHeader,
  decodeListSector,
  decodeMove,
  decodePutS,
  decodeWear,
  encodeAnchorRecord,
  encodeJournalHeader,
  encodeListSector,
  encodeMove,
  encodePutS,
  encodeWear,
  listCapacity,
  moveSize,
  putSSize,
  wearSize,
  wearWidth,
  wearIsEstimate,
  encodeCloseV3,
  decodeCloseV3,
  closeV3Span,
  CLOSE_V3_RECORD_SIZE,
} from '../datastore/runtime/v3/format-v3.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const t = suite('runtime v3 byte layouts');

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  return Uint8Array.from({ length: clean.length / 2 }, (_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16));
}

/** The bytes with a little-endian CRC-32 of them appended (0xFFFFFFFF stored as 0x7FFFFFFF). */
function withCrc(body: Uint8Array): Uint8Array {
  let c = crc32(body);
  if (c === 0xffffffff) c = 0x7fffffff;
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, c, true);
  return out;
}

function flipsInvalidate(bytes: Uint8Array, valid: (b: Uint8Array) => boolean, covered: (byte: number) => boolean = () => true): void {
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    if (!covered(bit >> 3)) continue;
    const b = bytes.slice();
    b[bit >> 3] ^= 1 << (bit & 7);
    assert.not.ok(valid(b), `bit ${bit} flipped still validates`);
  }
}

t('anchor record: the bytes of §1.1, round trip, erased and flipped bits refused', () => {
  const expected = withCrc(hex('3341 04030201 07000000 cdab'));
  const got = new Uint8Array(16);
  encodeAnchorRecord({ gen: 0x01020304, chainStart: 7, chainSeq: 0xabcd }, got);
  assert.equal([...got], [...expected]);
  assert.equal(decodeAnchorRecord(got), { gen: 0x01020304, chainStart: 7, chainSeq: 0xabcd });
  assert.is(decodeAnchorRecord(new Uint8Array(16).fill(0xff)), null);
  flipsInvalidate(got, (b) => decodeAnchorRecord(b) !== null);
});

t('journal header: the bytes of §1.2 (FOLLOWS clears bit 0), round trip, blank told from invalid, flipped bits refused', () => {
  const expected = withCrc(hex('444c5254 03 fe 3412 05000000 09000000 00100000 ffffffff 20300000'));
  const header = { follows: true, carry: 0x1234, seq: 5, next: 9, durable: 0x1000, fallback: 0xffffffff, wear: 0x3020 };
  const got = new Uint8Array(32);
  encodeJournalHeader(header, got);
  assert.equal([...got], [...expected]);
  assert.equal(decodeJournalHeader(got), { kind: 'valid', header });
  const noFollows = new Uint8Array(32);
  encodeJournalHeader({ ...header, follows: false }, noFollows);
  assert.is(noFollows[5], 0xff);
  assert.equal(decodeJournalHeader(new Uint8Array(32).fill(0xff)), { kind: 'blank' });
  // A v2 sector header (version 2) is not a v3 journal header.
  const v2 = got.slice();
  v2[4] = 2;
  v2.set(withCrc(v2.subarray(0, 28)).subarray(28), 28);
  assert.equal(decodeJournalHeader(v2), { kind: 'invalid' });
  flipsInvalidate(got, (b) => decodeJournalHeader(b).kind === 'valid');
  assert.throws(() => encodeJournalHeader({ ...header, carry: 0x10000 }, new Uint8Array(32)), /16 bits/);
});

t('PUT-S value: the bytes of §1.3, both forms, round trips; malformed lengths and forms refused', () => {
  const expected = hex('00100000 78563412 00 ff 0200 0a000000 0b000000');
  const got = new Uint8Array(putSSize(2));
  encodePutS({ valueLength: 4096, valueCrc: 0x12345678, lists: false, relocation: false, sectors: [10, 11] }, got);
  assert.equal([...got], [...expected]);
  const moved = new Uint8Array(putSSize(1));
  encodePutS({ valueLength: 5_000_000, valueCrc: 1, lists: true, relocation: true, sectors: [3] }, moved);
  assert.is(moved[8], 0x81);
  assert.equal(decodePutS(moved, moved.length), { valueLength: 5_000_000, valueCrc: 1, lists: true, relocation: true, sectors: [3] });
  assert.is(decodePutS(got, got.length - 1), null, 'length disagrees with n');
  const badForm = got.slice();
  badForm[8] = 2;
  assert.is(decodePutS(badForm, badForm.length), null);
  assert.throws(() => encodePutS({ valueLength: 1, valueCrc: 0, lists: false, relocation: false, sectors: new Array(257).fill(1) }, new Uint8Array(putSSize(257))));
  const random = seededRandom(21);
  for (let i = 0; i < 200; i++) {
    const n = Math.floor(random() * 40);
    const r = { valueLength: Math.floor(random() * 2 ** 32), valueCrc: Math.floor(random() * 2 ** 32), lists: random() < 0.5, relocation: random() < 0.5, sectors: Array.from({ length: n }, () => Math.floor(random() * 2 ** 32)) };
    const b = new Uint8Array(putSSize(n));
    encodePutS(r, b);
    assert.equal(decodePutS(b, b.length), r);
  }
});

t('LIST sector: count, entries, CRC in the last 4 bytes; capacity; erased and flipped refused', () => {
  const sector = new Uint8Array(64);
  encodeListSector([5, 6, 7], sector);
  const body = hex('03000000 05000000 06000000 07000000');
  assert.equal([...sector.subarray(0, 16)], [...body]);
  assert.ok(sector.subarray(16, 60).every((b) => b === 0xff), 'unused entries stay erased');
  assert.equal([...sector.subarray(60)], [...withCrc(body).subarray(16)]);
  assert.equal(decodeListSector(sector), [5, 6, 7]);
  assert.is(listCapacity(4096), 1022);
  assert.is(decodeListSector(new Uint8Array(4096).fill(0xff)), null);
  // Every byte the CRC covers (count and entries) and the CRC itself; unused entries are not read.
  flipsInvalidate(sector, (b) => decodeListSector(b) !== null, (i) => i < 16 || i >= 60);
  assert.throws(() => encodeListSector(new Array(listCapacity(64) + 1).fill(0), new Uint8Array(64)));
});

t('MOVE and WEAR values: layouts, round trips, malformed lengths refused', () => {
  const move = new Uint8Array(moveSize(1));
  encodeMove(9, [{ hash: 0xdeadbeef, from: 0x100, to: 0x2000 }], move);
  assert.equal([...move], [...hex('09000000 efbeadde 00010000 00200000')]);
  assert.equal(decodeMove(move, move.length), { victim: 9, entries: [{ hash: 0xdeadbeef, from: 0x100, to: 0x2000 }] });
  assert.is(decodeMove(move, move.length - 1), null);
  assert.equal(decodeMove(move, 4), { victim: 9, entries: [] });
  const wear = new Uint8Array(wearSize(4));
  encodeWear([100, 101, 355, 100], wear);
  assert.equal([...wear], [...hex('01000000 64000000 00 01 ff 00')], 'one byte a sector while the spread fits 255');
  assert.equal(decodeWear(wear, wear.length), [100, 101, 355, 100]);
  assert.not.ok(wearIsEstimate(wear));
  const bad = wear.slice();
  bad[0] = 3;
  assert.is(decodeWear(bad, bad.length), null, 'an unknown version is refused');
});

t('WEAR value: two bytes a sector past a spread of 255, exact; bit 31 marks an estimate', () => {
  assert.is(wearWidth([100, 101, 400, 100]), 2);
  const wide = new Uint8Array(wearSize(4, 2));
  encodeWear([100, 101, 400, 100], wide);
  assert.equal([...wide], [...hex('02000000 64000000 0000 0100 2c01 0000')]);
  assert.equal(decodeWear(wide, wide.length), [100, 101, 400, 100], 'a count 300 above the base is kept exactly');
  assert.is(decodeWear(wide, wide.length - 1), null, 'a length that is not whole u16 deltas is refused');
  const est = new Uint8Array(wearSize(2));
  encodeWear([7, 9], est, 0, true);
  assert.equal([...est], [...hex('01000080 07000000 00 02')]);
  assert.ok(wearIsEstimate(est));
  assert.equal(decodeWear(est, est.length), [7, 9]);
  assert.throws(() => wearWidth([0, 0x10000]), 'counts more than 65535 apart do not fit');
  // A store whose two-byte table would not fit a journal sector writes one byte a sector, saturating, flagged.
  const narrow = new Uint8Array(wearSize(4));
  encodeWear([100, 101, 400, 100], narrow, 0, true, 1);
  assert.equal([...narrow], [...hex('01000080 64000000 00 01 ff 00')]);
  assert.equal(decodeWear(narrow, narrow.length), [100, 101, 355, 100], 'read low, never high');
  assert.ok(wearIsEstimate(narrow));
  const r = seededRandom(31);
  for (let i = 0; i < 200; i++) {
    const base = Math.floor(r() * 1e6);
    const spread = r() < 0.5 ? 255 : 65535;
    const counts = Array.from({ length: 1 + Math.floor(r() * 40) }, () => base + Math.floor(r() * (spread + 1)));
    const b = new Uint8Array(wearSize(counts.length, wearWidth(counts)));
    encodeWear(counts, b);
    assert.equal(decodeWear(b, b.length), counts);
  }
});

t('CLOSE record, v3: the bytes of its layout (checkpoint, WEAR, token and its check, anchor slot, pack head), round trip, flipped bits refused', () => {
  const header = hex('04 00 00 ff 1c000000 00000000');
  const headerCrc = new Uint8Array(4);
  new DataView(headerCrc.buffer).setUint32(0, crc32(header), true);
  const value = hex('40100000 00100000 05000000 d4c3b2a1 0100 0600 09000000 00020000');
  const expected = new Uint8Array([...header, ...headerCrc, ...withCrc(value)]);
  assert.is(CLOSE_V3_RECORD_SIZE, 48);
  const got = new Uint8Array(CLOSE_V3_RECORD_SIZE);
  const close = { checkpoint: 0x1040, wear: 0x1000, token: 5, tokenCheck: 0xa1b2c3d4, anchor: { sector: 1, slot: 6 }, pack: { sector: 9, offset: 0x200 } };
  encodeCloseV3(close, got);
  assert.equal([...got], [...expected]);
  assert.equal(decodeCloseV3(got), close);
  flipsInvalidate(got, (b) => decodeCloseV3(b) !== null);
  assert.is(decodeCloseV3(new Uint8Array(CLOSE_V3_RECORD_SIZE).fill(0xff)), null, 'erased bytes are no CLOSE');
  const none = new Uint8Array(CLOSE_V3_RECORD_SIZE);
  encodeCloseV3({ checkpoint: 0x1040, wear: 0xffffffff, token: 0xffffffff, tokenCheck: 0, anchor: null, pack: null }, none);
  assert.equal([...none.subarray(16, 44)], [...hex('40100000 ffffffff ffffffff 00000000 ffff ffff ffffffff ffffffff')]);
  assert.equal(decodeCloseV3(none), { checkpoint: 0x1040, wear: 0xffffffff, token: 0xffffffff, tokenCheck: 0, anchor: null, pack: null });
  assert.is(closeV3Span(16), 48);
  assert.is(closeV3Span(256), 256);
});

t.run();
