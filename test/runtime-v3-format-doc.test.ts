// Keeps datastore/runtime/v3/FORMAT.md honest: every offset | size | field
// table in it is parsed and checked against the codecs. Each table has a
// fixture here: bytes made by the code under test (format-v3.ts, format.ts,
// and a real JournalStore on a simulated flash for the keyed record), and the
// value each field must hold, taken from the fixture's distinctive inputs or
// computed here independently (CRCs by a bitwise CRC-32 of this file's own).
// A row whose offset, size or name is wrong, a field missing from a table, a
// table without a fixture, a record kind the decoder accepts but the page
// does not list, or a CRC stored other than as §2.3 says: each fails a test.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  decodeAnchorRecord,
  decodeCloseV3,
  decodeJournalHeader,
  decodeListSector,
  decodeMove,
  decodePutS,
  decodeWear,
  encodeAnchorRecord,
  encodeCloseV3,
  encodeJournalHeader,
  encodeListSector,
  encodeMove,
  encodePutS,
  encodeWear,
  putSSize,
} from '../datastore/runtime/v3/format-v3.ts';
import {
  decodeCheckpointFixed,
  decodeIndexSlice,
  decodeRecordHeader,
  decodeSectorHeader,
  encodeCheckpointEntry,
  encodeCheckpointHead,
  encodeIndexHead,
  encodeRecordHeader,
  encodeSectorHeader,
  indexSliceEntries,
  RecordKind,
} from '../datastore/runtime/format.ts';
import { entryOffset, isKeyed, isSectorValue, RecordAt } from '../datastore/runtime/v3/journal-records.ts';
import { keyHash } from '../datastore/runtime/key-text.ts';
import { JournalStore } from '../datastore/runtime/v3/journal-store.ts';
import { tokenCheckOf } from '../datastore/runtime/v3/journal-mount.ts';
import { RingStore } from '../datastore/runtime/ring-store.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { NotFormattedError } from '../datastore/runtime/errors.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';

const t = suite('runtime v3 FORMAT.md matches the codecs');

// ---- the page, parsed ---------------------------------------------------------------

const DOC_PATH = resolve(import.meta.dirname, '../datastore/runtime/v3/FORMAT.md');
const DOC = readFileSync(DOC_PATH, 'utf8');

interface Table {
  /** Heading above the table, without its section number. */
  title: string;
  columns: string[];
  rows: string[][];
  line: number;
}

function parseTables(md: string): Table[] {
  const lines = md.split('\n');
  const out: Table[] = [];
  let title = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^#+\s+(.*)$/.exec(lines[i]);
    if (h) {
      title = h[1].replace(/^[\d.]+\s+/, '').trim();
      continue;
    }
    if (!lines[i].startsWith('|') || (i > 0 && lines[i - 1].startsWith('|'))) continue;
    const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
    const table: Table = { title, columns: cells(lines[i]), rows: [], line: i + 1 };
    for (let j = i + 2; j < lines.length && lines[j].startsWith('|'); j++) table.rows.push(cells(lines[j]));
    out.push(table);
  }
  return out;
}

const TABLES = parseTables(DOC);
const LAYOUTS = TABLES.filter((tb) => tb.columns[0] === 'offset' && tb.columns[1] === 'size' && tb.columns[2] === 'field');

interface Row {
  offset: string;
  size: string;
  field: string;
}

function rowsOf(tb: Table): Row[] {
  return tb.rows.map((r) => ({ offset: r[0], size: r[1], field: r[2].replace(/`/g, '').trim() }));
}

/** An offset or size as the page writes them: sums of terms like 20, 4Rc, k, S-4, w·N. */
function evaluate(expr: string, vars: Record<string, number>): number {
  const s = expr.replace(/\s+/g, '');
  const factor = '\\d*[A-Za-z]*';
  if (!new RegExp(`^[+-]?${factor}(·${factor})*([+-]${factor}(·${factor})*)*$`).test(s) || s === '') throw new Error(`cannot read "${expr}"`);
  let total = 0;
  for (const m of s.matchAll(/([+-]?)([^+-]+)/g)) {
    let term = m[1] === '-' ? -1 : 1;
    for (const f of m[2].split('·')) {
      const [, digits, name] = /^(\d*)([A-Za-z]*)$/.exec(f)!;
      if (name && !(name in vars)) throw new Error(`"${expr}": no value for ${name}`);
      term *= (digits === '' ? 1 : Number(digits)) * (name ? vars[name] : 1);
    }
    total += term;
  }
  return total;
}

// ---- an independent CRC-32 (bitwise) and CRC-7/MMC ------------------------------------

function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c ^= bytes[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** Rule 2.2. */
function stored(c: number): number {
  return c === 0xffffffff ? 0x7fffffff : c;
}

function crc7(bytes: Uint8Array): number {
  let c = 0;
  for (const b of bytes) {
    for (let k = 7; k >= 0; k--) {
      const top = ((c >> 6) & 1) ^ ((b >> k) & 1);
      c = (c << 1) & 0x7f;
      if (top) c ^= 0x09;
    }
  }
  return c;
}

function le(values: Array<[number, number]>): Uint8Array {
  const out: number[] = [];
  for (const [v, size] of values) for (let i = 0; i < size; i++) out.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  return Uint8Array.from(out);
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A record header built from the page's §6.1 table, not by the codec. */
function headerBytes(kind: number, keyLength: number, encoding: number, keyCheck: number, valueLength: number, writtenAt: number): Uint8Array {
  const body = le([[kind, 1], [keyLength, 1], [encoding, 1], [keyCheck, 1], [valueLength, 4], [writtenAt, 4]]);
  return cat(body, le([[crc32(body), 4]]));
}

// ---- fixtures: bytes from the code, values from the inputs ------------------------------

type Expected = number | number[] | Uint8Array;

interface Fixture {
  /** The bytes the table describes start at `base`. */
  bytes: Uint8Array;
  base?: number;
  vars?: Record<string, number>;
  fields: Record<string, Expected>;
  /** Where the layout ends (relative to base): the rows must tile [0, end). */
  end: number;
  /** Bytes the table does not describe may lie between rows (LIST: unused entries). */
  gaps?: boolean;
}

function anchorFixture(): Fixture {
  const bytes = new Uint8Array(16);
  encodeAnchorRecord({ gen: 0x0a0b0c0d, chainStart: 0x11223344, chainSeq: 0x5566 }, bytes);
  return { bytes, end: 16, fields: { magic: 0x4133, gen: 0x0a0b0c0d, chainStart: 0x11223344, chainSeq: 0x5566, crc: stored(crc32(bytes, 0, 12)) } };
}

function journalHeaderFixture(): Fixture {
  const bytes = new Uint8Array(32);
  const h = { seq: 0x1a2b3c4d, carry: 0x0e0f, next: 0x00000123, durable: 0x00045678, fallback: 0x00012345, wear: 0x0009abcd, follows: true };
  encodeJournalHeader(h, bytes);
  assert.equal(decodeJournalHeader(bytes), { kind: 'valid', header: h }, 'the journal header decodes to what was encoded');
  return {
    bytes,
    end: 32,
    fields: { magic: 0x54524c44, version: 3, flags: 0xfe, carry: 0x0e0f, seq: 0x1a2b3c4d, next: 0x123, durable: 0x45678, fallback: 0x12345, wear: 0x9abcd, crc: stored(crc32(bytes, 0, 28)) },
  };
}

function recordHeaderFixture(): Fixture {
  const bytes = new Uint8Array(16);
  const h = { kind: RecordKind.PutS, keyLength: 0x2a, encoding: 0x5c, keyCheck: 0x3d, valueLength: 0x00012345, writtenAt: 0x6789abcd };
  encodeRecordHeader(h, bytes);
  assert.equal(decodeRecordHeader(bytes), h, 'the record header decodes to what was encoded');
  return { bytes, end: 16, fields: { kind: 0x06, keyLength: 0x2a, encoding: 0x5c, keyCheck: 0x3d, valueLength: 0x12345, writtenAt: 0x6789abcd, headerCrc: crc32(bytes, 0, 12) } };
}

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + 5) & 0xff);
}

/** A PUT written twice by a real store: the second record's bytes, read back from flash. */
function keyedFixture(): Fixture {
  const f = new SimFlash({ size: 64 * 512, sectorSize: 512, programUnit: 16, seed: 5 });
  const s = JournalStore.format(f);
  const key = 'κey-07';
  const keyBytes = new TextEncoder().encode(key);
  s.set(key, pattern(40, 1), { encoding: 9 });
  const first = s.info(key)!.offset;
  const value = pattern(37, 2);
  s.set(key, value, { encoding: 9 });
  const at = s.info(key)!.offset;
  const bytes = f.snapshot();
  const k = keyBytes.length;
  const v = value.length;
  const replaces = le([[first, 4]]);
  const rec = new RecordAt(f);
  const h = rec.header(at)!;
  assert.is(rec.replaces(at, h), first, 'RecordAt reads replaces where the page puts it');
  assert.is(rec.payloadAt(at, h), at + 20 + k, 'RecordAt finds the value where the page puts it');
  return {
    bytes,
    base: at,
    vars: { k, v },
    end: 20 + k + v + 4,
    fields: {
      header: headerBytes(RecordKind.Put, k, 9, crc7(keyBytes), 4 + v, 0),
      key: keyBytes,
      replaces: first,
      value,
      dataCrc: stored(crc32(cat(keyBytes, replaces, value))),
    },
  };
}

function indexEntryFixture(): Fixture {
  const bytes = new Uint8Array(8);
  encodeCheckpointEntry(0xcafebabe, 0x80001234, bytes, 0);
  return { bytes, end: 8, fields: { keyHash: 0xcafebabe, entry: 0x80001234 } };
}

function putSFixture(): Fixture {
  const sectors = [0x101, 0x202, 0x303];
  const bytes = new Uint8Array(putSSize(sectors.length));
  const ref = { valueLength: 0x00abcdef, valueCrc: 0x13579bdf, lists: true, relocation: false, sectors };
  encodePutS(ref, bytes);
  assert.equal(decodePutS(bytes, bytes.length), ref, 'the PUT-S reference decodes to what was encoded');
  return { bytes, vars: { n: 3 }, end: 24, fields: { valueLength: 0xabcdef, valueCrc: 0x13579bdf, form: 1, reserved: 0xff, count: 3, sectors } };
}

function listFixture(): Fixture {
  const S = 512;
  const sectors = [7, 0x0102, 0x0a0b0c, 0x11];
  const bytes = new Uint8Array(S);
  encodeListSector(sectors, bytes);
  assert.equal(decodeListSector(bytes), sectors, 'the list decodes to what was encoded');
  for (let i = 4 + 4 * sectors.length; i < S - 4; i++) assert.is(bytes[i], 0xff, `LIST byte ${i} between the entries and crc is 0xFF`);
  return { bytes, vars: { c: 4, S }, end: S, gaps: true, fields: { count: 4, sectors, crc: stored(crc32(bytes, 0, 4 + 4 * sectors.length)) } };
}

const MOVES = [
  { hash: 0xdeadbeef, from: 0x00001234, to: 0x80005678 },
  { hash: 0x01020304, from: 0x0000a0b0, to: 0x0000c0d0 },
];

function moveBytes(): Uint8Array {
  const bytes = new Uint8Array(4 + 12 * MOVES.length);
  encodeMove(0x00000abc, MOVES, bytes);
  assert.equal(decodeMove(bytes, bytes.length), { victim: 0xabc, entries: MOVES }, 'the MOVE value decodes to what was encoded');
  return bytes;
}

function moveFixture(): Fixture {
  return { bytes: moveBytes(), vars: { m: 2 }, end: 28, fields: { victim: 0xabc, entries: MOVES.flatMap((e) => [e.hash, e.from, e.to]) } };
}

function moveEntryFixture(): Fixture {
  return { bytes: moveBytes(), base: 4, end: 12, fields: { hash: MOVES[0].hash, from: MOVES[0].from, to: MOVES[0].to } };
}

const ENTRIES: Array<[number, number]> = [
  [0x0badf00d, 0x00000c40],
  [0x5eed5eed, 0x80002a00],
  [0x7a7b7c7d, 0x00003f10],
];

function withEntries(head: Uint8Array, entries: Array<[number, number]>): Uint8Array {
  const out = new Uint8Array(head.length + 8 * entries.length);
  out.set(head);
  entries.forEach(([h, o], i) => encodeCheckpointEntry(h, o, out, head.length + 8 * i));
  return out;
}

function checkpointFixture(): Fixture {
  const bytes = withEntries(encodeCheckpointHead(3, 0x00031337, 0x00000777, [0x21, 0x43]), ENTRIES);
  assert.equal(decodeCheckpointFixed(bytes), { version: 1, entryCount: 3, liveBytes: 0x31337, largestRecord: 0x777, retiredCount: 2 });
  return {
    bytes,
    vars: { Rc: 2, E: 3 },
    end: 20 + 8 + 24,
    fields: { version: 1, entryCount: 3, liveBytes: 0x31337, largestRecord: 0x777, retiredCount: 2, retired: [0x21, 0x43], entries: ENTRIES.flat() },
  };
}

const CLOSE = { checkpoint: 0x00012340, wear: 0x00034560, token: 0x00000a0b, tokenCheck: 0x9e3779b9, anchor: { sector: 0x0102, slot: 0x0304 }, pack: { sector: 0x00000c0d, offset: 0x00000e00 } };

function closeFixture(): Fixture {
  const bytes = new Uint8Array(48);
  encodeCloseV3(CLOSE, bytes);
  assert.equal(decodeCloseV3(bytes), CLOSE, 'the CLOSE record decodes to what was encoded');
  const value = le([[CLOSE.checkpoint, 4], [CLOSE.wear, 4], [CLOSE.token, 4], [CLOSE.tokenCheck, 4], [0x0102, 2], [0x0304, 2], [0xc0d, 4], [0xe00, 4]]);
  return {
    bytes,
    end: 48,
    fields: {
      header: headerBytes(RecordKind.Close, 0, 0, 0xff, 28, 0),
      checkpoint: CLOSE.checkpoint,
      wear: CLOSE.wear,
      token: CLOSE.token,
      tokenCheck: CLOSE.tokenCheck,
      anchorSector: 0x0102,
      anchorSlot: 0x0304,
      packSector: 0xc0d,
      packOffset: 0xe00,
      dataCrc: stored(crc32(value)),
    },
  };
}

function indexSliceFixture(): Fixture {
  const s = { cycleStart: 0x00012300, rangeStart: 0x10000000, rangeEnd: 0x30000000, liveBytes: 0x00045678, largestRecord: 0x00000321, exact: false };
  const bytes = withEntries(encodeIndexHead(s, [0x55, 0x66]), ENTRIES.slice(0, 2));
  const d = decodeIndexSlice(bytes, bytes.length);
  assert.equal(d, { version: 1, ...s, retiredCount: 2 }, 'the INDEX value decodes to what was encoded');
  assert.is(indexSliceEntries(d!, bytes.length), 2);
  return {
    bytes,
    vars: { Ri: 2, M: 2 },
    end: 28 + 8 + 16,
    fields: {
      version: 0x80000001,
      cycleStart: 0x12300,
      rangeStart: 0x10000000,
      rangeEnd: 0x30000000,
      liveBytes: 0x45678,
      largestRecord: 0x321,
      retiredCount: 2,
      retired: [0x55, 0x66],
      entries: ENTRIES.slice(0, 2).flat(),
    },
  };
}

function wearFixture(): Fixture {
  // A spread over 255: two-byte deltas (version 2), flagged as an estimate.
  const counts = [1000, 1300, 1001, 1017];
  const bytes = new Uint8Array(8 + 2 * counts.length);
  encodeWear(counts, bytes, 0, true);
  assert.equal(decodeWear(bytes, bytes.length), counts);
  return { bytes, vars: { w: 2, N: 4 }, end: 16, fields: { version: 0x80000002, base: 1000, deltas: [0, 300, 1, 17] } };
}

/** Table title (heading without its number) and which table under it → fixture. */
const FIXTURES: Array<{ title: string; nth: number; make: () => Fixture }> = [
  { title: 'Anchor record', nth: 0, make: anchorFixture },
  { title: 'Journal header', nth: 0, make: journalHeaderFixture },
  { title: 'Record header', nth: 0, make: recordHeaderFixture },
  { title: 'Keyed records (PUT, PUT-S, DELETE)', nth: 0, make: keyedFixture },
  { title: 'Index entries', nth: 0, make: indexEntryFixture },
  { title: 'PUT-S reference', nth: 0, make: putSFixture },
  { title: 'LIST sector', nth: 0, make: listFixture },
  { title: 'MOVE', nth: 0, make: moveFixture },
  { title: 'MOVE', nth: 1, make: moveEntryFixture },
  { title: 'CHECKPOINT', nth: 0, make: checkpointFixture },
  { title: 'CLOSE', nth: 0, make: closeFixture },
  { title: 'INDEX slice', nth: 0, make: indexSliceFixture },
  { title: 'WEAR', nth: 0, make: wearFixture },
];

function tableFor(title: string, nth: number): Table | undefined {
  return LAYOUTS.filter((tb) => tb.title === title)[nth];
}

// ---- the check -------------------------------------------------------------------------

function readLE(bytes: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + bytes[at + i];
  return v;
}

/** What is wrong with `rows` as a description of the fixture's bytes (empty: nothing). */
function check(rows: Row[], fx: Fixture, layout = true): string[] {
  const errors: string[] = [];
  const vars = fx.vars ?? {};
  const base = fx.base ?? 0;
  const spans: Array<{ from: number; to: number; field: string }> = [];
  for (const row of rows) {
    let off: number;
    let size: number;
    try {
      off = evaluate(row.offset, vars);
      size = evaluate(row.size, vars);
    } catch (e) {
      errors.push(`${row.field}: ${(e as Error).message}`);
      continue;
    }
    spans.push({ from: off, to: off + size, field: row.field });
    const want = fx.fields[row.field];
    if (want === undefined) {
      errors.push(`row "${row.field}" names no field of the encoded layout`);
      continue;
    }
    const at = base + off;
    if (off < 0 || size <= 0 || at + size > fx.bytes.length) {
      errors.push(`${row.field}: bytes ${off}..${off + size - 1} lie outside the encoded ${fx.end} bytes`);
      continue;
    }
    if (want instanceof Uint8Array) {
      const got = fx.bytes.subarray(at, at + size);
      if (size !== want.length || got.some((b, i) => b !== want[i])) errors.push(`${row.field}: the ${size} bytes at ${off} are not the field's ${want.length}`);
    } else if (Array.isArray(want)) {
      const each = size / want.length;
      if (![1, 2, 4].includes(each)) {
        errors.push(`${row.field}: ${size} bytes do not hold ${want.length} integers`);
        continue;
      }
      const got = want.map((_, i) => readLE(fx.bytes, at + i * each, each));
      if (got.some((g, i) => g !== want[i])) errors.push(`${row.field}: at ${off} reads ${got.map((g) => g.toString(16))}, expected ${want.map((w) => w.toString(16))}`);
    } else {
      if (![1, 2, 4].includes(size)) {
        errors.push(`${row.field}: a ${size}-byte integer`);
        continue;
      }
      const got = readLE(fx.bytes, at, size);
      if (got !== want) errors.push(`${row.field}: at offset ${off}, size ${size} reads 0x${got.toString(16)}, expected 0x${want.toString(16)}`);
    }
  }
  if (!layout) return errors;
  for (const name of Object.keys(fx.fields)) if (!rows.some((r) => r.field === name)) errors.push(`field "${name}" has no row`);
  spans.sort((a, b) => a.from - b.from);
  let pos = 0;
  for (const s of spans) {
    if (s.from < pos) errors.push(`${s.field} overlaps the row before it`);
    if (s.from > pos && !fx.gaps) errors.push(`bytes ${pos}..${s.from - 1} before ${s.field} are in no row`);
    pos = Math.max(pos, s.to);
  }
  if (pos !== fx.end) errors.push(`the rows end at ${pos}, the layout at ${fx.end}`);
  return errors;
}

// ---- tests -------------------------------------------------------------------------------

t('every offset | size | field table has a fixture, and every fixture its table', () => {
  assert.ok(LAYOUTS.length >= FIXTURES.length, `${LAYOUTS.length} layout tables found in ${DOC_PATH}`);
  for (const fx of FIXTURES) assert.ok(tableFor(fx.title, fx.nth), `no layout table #${fx.nth + 1} under a heading "${fx.title}"`);
  for (const tb of LAYOUTS) {
    const nth = LAYOUTS.filter((o) => o.title === tb.title).indexOf(tb);
    assert.ok(
      FIXTURES.some((fx) => fx.title === tb.title && fx.nth === nth),
      `FORMAT.md line ${tb.line}: the table under "${tb.title}" is checked by no fixture (add one here)`,
    );
  }
});

for (const { title, nth, make } of FIXTURES) {
  t(`"${title}"${nth ? ` (table ${nth + 1})` : ''}: each row's offset and size hold its field, and the rows cover the layout`, () => {
    const tb = tableFor(title, nth);
    if (!tb) return assert.unreachable(`no table "${title}"`);
    const errors = check(rowsOf(tb), make());
    assert.equal(errors, [], `FORMAT.md line ${tb.line}:\n  ${errors.join('\n  ')}`);
  });
}

t('the check is sharp: any row moved by one byte either way, or two rows swapped, fails on its value alone', () => {
  for (const { title, nth, make } of FIXTURES) {
    const tb = tableFor(title, nth);
    if (!tb) continue;
    const rows = rowsOf(tb);
    const fx = make();
    for (let i = 0; i < rows.length; i++) {
      for (const d of ['+1', '-1']) {
        const moved = rows.map((r, j) => (j === i ? { ...r, offset: r.offset + d } : r));
        assert.ok(check(moved, fx, false).length > 0, `${title}: "${rows[i].field}" at ${rows[i].offset}${d} still passes`);
      }
      if (i > 0) {
        const swapped = rows.map((r, j) => (j === i ? { ...r, field: rows[i - 1].field } : j === i - 1 ? { ...r, field: rows[i].field } : r));
        assert.ok(check(swapped, fx).length > 0, `${title}: rows "${rows[i - 1].field}" and "${rows[i].field}" swapped still pass`);
      }
    }
  }
});

t('§6.2 lists exactly the record kinds the decoder accepts, by the code names, and which of them carry a key', () => {
  const tb = TABLES.find((x) => x.title === 'Record kinds' && x.columns[0] === 'code');
  if (!tb) return assert.unreachable('no kinds table (code | kind | keyLength | …) under "Record kinds"');
  const documented = new Map<number, { name: string; keyed: boolean }>();
  for (const r of tb.rows) documented.set(parseInt(r[0], 16), { name: r[1], keyed: r[2].startsWith('1..') });
  const accepted: number[] = [];
  const header = new Uint8Array(16);
  for (let kind = 0; kind < 256; kind++) {
    encodeRecordHeader({ kind: kind as RecordKind, keyLength: 3, encoding: 0, valueLength: 8, writtenAt: 0 }, header);
    if (decodeRecordHeader(header)) accepted.push(kind);
  }
  const records = [...documented.keys()].filter((k) => k !== 0x00 && k !== 0xff).sort((a, b) => a - b);
  assert.equal(records, accepted, 'record kinds in §6.2 (PAD and ERASED aside) = kinds decodeRecordHeader accepts');
  assert.equal(documented.get(0x00)?.name, 'PAD');
  assert.equal(documented.get(0xff)?.name, 'ERASED');
  for (const [code, d] of documented) {
    assert.is(d.name.replace(/-/g, '').toLowerCase(), String(RecordKind[code]).toLowerCase(), `0x${code.toString(16)} is called ${RecordKind[code]} in format.ts`);
    if (code !== 0x00 && code !== 0xff) assert.is(d.keyed, isKeyed(code as RecordKind), `${d.name}: keyLength 1..255 in §6.2 iff a keyed kind (replaces)`);
  }
});

// The 4 bytes that, appended to `prefix`, make its CRC-32 `target` (CRC-32 is affine: run the table back from the target).
const TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  return c >>> 0;
});
function forge(prefix: Uint8Array, target: number): Uint8Array {
  let r = ~target >>> 0;
  const idx: number[] = [];
  for (let k = 0; k < 4; k++) {
    const i = TABLE.findIndex((x) => x >>> 24 === r >>> 24);
    idx.unshift(i);
    r = ((r ^ TABLE[i]) << 8) >>> 0;
  }
  let reg = ~crc32(prefix) >>> 0;
  const out = new Uint8Array(4);
  for (let k = 0; k < 4; k++) {
    out[k] = (reg ^ idx[k]) & 0xff;
    reg = (TABLE[idx[k]] ^ (reg >>> 8)) >>> 0;
  }
  const whole = cat(prefix, out);
  assert.is(crc32(whole), target, 'forged bytes give the CRC asked for');
  return out;
}

t('§2.2-2.3: each CRC whose computed value is 0xFFFFFFFF is stored as the page\'s table says, and still checks', () => {
  assert.is(crc32(Uint8Array.of(0xff, 0xff, 0xff, 0xff)), 0xffffffff, 'CRC-32 of FF FF FF FF');
  const tb = TABLES.find((x) => x.columns[0] === 'structure' && x.columns[2] === 'covers');
  if (!tb) return assert.unreachable('no checksum table (structure | checksum | covers | rule 2.2 | …)');
  const rule = new Map(tb.rows.map((r) => [r[0].replace(/\s*\(.*\)$/, ''), r[3].startsWith('yes')]));
  const NONE32 = 0xffffffff;
  const cases: Record<string, () => { storedCrc: number; decodes: boolean }> = {
    'anchor record': () => {
      // Bytes 8..11 (chainStart's high half and chainSeq) chosen so the CRC of 0..11 is 0xFFFFFFFF.
      const head = le([[0x4133, 2], [0x01020304, 4], [0x0a0b, 2]]);
      const tail = forge(head, NONE32);
      const b = new Uint8Array(16);
      const chainStart = 0x0a0b + (tail[0] | (tail[1] << 8)) * 0x10000;
      encodeAnchorRecord({ gen: 0x01020304, chainStart, chainSeq: tail[2] | (tail[3] << 8) }, b);
      return { storedCrc: readLE(b, 12, 4), decodes: decodeAnchorRecord(b) !== null };
    },
    'journal header': () => {
      const head = cat(le([[0x54524c44, 4], [3, 1], [0xff, 1], [0, 2], [5, 4], [9, 4], [0x1000, 4], [NONE32, 4]]));
      const wear = readLE(forge(head, NONE32), 0, 4);
      const b = new Uint8Array(32);
      encodeJournalHeader({ seq: 5, carry: 0, next: 9, durable: 0x1000, fallback: NONE32, wear, follows: false }, b);
      return { storedCrc: readLE(b, 28, 4), decodes: decodeJournalHeader(b).kind === 'valid' };
    },
    'record header': () => {
      const head = le([[RecordKind.Put, 1], [3, 1], [0, 1], [0x11, 1], [12, 4]]);
      const writtenAt = readLE(forge(head, NONE32), 0, 4);
      const b = new Uint8Array(16);
      encodeRecordHeader({ kind: RecordKind.Put, keyLength: 3, encoding: 0, keyCheck: 0x11, valueLength: 12, writtenAt }, b);
      return { storedCrc: readLE(b, 12, 4), decodes: decodeRecordHeader(b) !== null };
    },
    record: () => {
      // A CLOSE whose value's CRC is 0xFFFFFFFF: packOffset chosen for it.
      const head = le([[0x2000, 4], [NONE32, 4], [9, 4], [0x1234, 4], [0, 2], [4, 2], [7, 4]]);
      const packOffset = readLE(forge(head, NONE32), 0, 4);
      const b = new Uint8Array(48);
      encodeCloseV3({ checkpoint: 0x2000, wear: NONE32, token: 9, tokenCheck: 0x1234, anchor: { sector: 0, slot: 4 }, pack: { sector: 7, offset: packOffset } }, b);
      return { storedCrc: readLE(b, 44, 4), decodes: decodeCloseV3(b) !== null };
    },
    'token check': () => {
      // A token sector whose first 32 bytes have the CRC 0xFFFFFFFF.
      const f = new SimFlash({ size: 64 * 512, sectorSize: 512, programUnit: 16, seed: 6 });
      const head = pattern(28, 4);
      f.program(5 * 512, cat(head, forge(head, NONE32)));
      const check = tokenCheckOf(f, 5);
      return { storedCrc: check ?? 0, decodes: check !== null && tokenCheckOf(f, 6) === null };
    },
    'PUT-S value': () => {
      // A real store: a whole-sector value whose CRC is 0xFFFFFFFF.
      const f = new SimFlash({ size: 64 * 512, sectorSize: 512, programUnit: 16, seed: 9 });
      const s = JournalStore.format(f);
      const prefix = pattern(s.sectorValueThreshold + 100, 3);
      const value = cat(prefix, forge(prefix, NONE32));
      s.set('blob', value);
      const at = s.info('blob')!.offset;
      const got = s.get('blob');
      return { storedCrc: readLE(f.snapshot(), at + 16 + 4 + 4 + 4, 4), decodes: got !== undefined && got.every((x, i) => x === value[i]) };
    },
    'LIST sector': () => {
      const head = le([[3, 4], [0x40, 4], [0x41, 4]]);
      const last = readLE(forge(head, NONE32), 0, 4);
      const b = new Uint8Array(512);
      encodeListSector([0x40, 0x41, last], b);
      return { storedCrc: readLE(b, 508, 4), decodes: decodeListSector(b) !== null };
    },
  };
  assert.equal([...rule.keys()].sort(), Object.keys(cases).sort(), 'the checksum table lists these structures');
  for (const [name, run] of Object.entries(cases)) {
    const r = run();
    assert.is(r.storedCrc, rule.get(name) ? 0x7fffffff : 0xffffffff, `${name}: a CRC of 0xFFFFFFFF is stored ${rule.get(name) ? 'as 0x7FFFFFFF' : 'as is'}`);
    assert.ok(r.decodes, `${name}: it still checks`);
  }
});

t('§2.3, §5.1: erased bytes never validate; a blank journal header reads blank', () => {
  const ff = (n: number) => new Uint8Array(n).fill(0xff);
  assert.is(decodeAnchorRecord(ff(16)), null);
  assert.equal(decodeJournalHeader(ff(32)), { kind: 'blank' });
  assert.is(decodeRecordHeader(ff(16)), null);
  assert.is(decodeCloseV3(ff(48)), null);
  assert.is(decodeListSector(ff(512)), null);
});

t('§6.4: bit 31 of an entry marks a PUT-S, bits 0..30 are the offset; keyHash is FNV-1a 32', () => {
  assert.is(entryOffset(0x80001234), 0x1234);
  assert.ok(isSectorValue(0x80001234));
  assert.not.ok(isSectorValue(0x7fffffff));
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode('dock/settings')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  assert.is(keyHash(new TextEncoder().encode('dock/settings')), h);
});

t('§4.3, §8: a format writes the first anchor record twice in sector 0 naming a seq-1 header; v2 and v3 refuse each other, the runtime store tells them apart', () => {
  // §4.2.3: the copies at bytes 0 and 16 of sector 0, as two 16-byte slots (U = 16) or one slot (U = 256).
  for (const unit of [256, 16]) {
    const u = new SimFlash({ size: 64 * 512, sectorSize: 512, programUnit: unit, seed: 4 });
    JournalStore.format(u);
    const c = u.snapshot();
    assert.ok(decodeAnchorRecord(c.subarray(0, 16)) && decodeAnchorRecord(c.subarray(16, 32)), `U = ${unit}: copies at 0 and 16`);
    assert.ok(c.subarray(32, Math.max(32, unit)).every((x) => x === 0xff), `U = ${unit}: the rest of the slot is 0xFF`);
  }
  const f = new SimFlash({ size: 64 * 512, sectorSize: 512, programUnit: 16, seed: 4 });
  JournalStore.format(f);
  const b = f.snapshot();
  const a0 = decodeAnchorRecord(b.subarray(0, 16));
  const a1 = decodeAnchorRecord(b.subarray(16, 32));
  assert.ok(a0 && a1, 'slots 0 and 1 of sector 0 hold anchor records');
  assert.equal(a0, a1, 'the two copies are the same record');
  assert.equal({ gen: a0!.gen, chainSeq: a0!.chainSeq }, { gen: 1, chainSeq: 1 });
  const head = decodeJournalHeader(b.subarray(a0!.chainStart * 512, a0!.chainStart * 512 + 32));
  assert.ok(head.kind === 'valid' && head.header.seq === 1 && head.header.durable === 0xffffffff && head.header.wear === 0xffffffff);
  // §8.1: each header reader refuses the other version's header.
  const v2 = new Uint8Array(32);
  encodeSectorHeader({ seq: 5, eraseCount: 1, carry: 0, tailSector: 0, checkpoint: 0xffffffff, fresh: false }, v2);
  assert.equal(decodeJournalHeader(v2), { kind: 'invalid' });
  assert.is(decodeSectorHeader(b.subarray(a0!.chainStart * 512, a0!.chainStart * 512 + 32)).kind, 'invalid');
  // §8.2: each format's own mount reports the other's partition as unformatted; the runtime store's mount tells them apart.
  assert.throws(() => RingStore.mount(f), (e: unknown) => e instanceof NotFormattedError);
  assert.is(RuntimeStore.mount(f).stats().format, 3);
  const g = new SimFlash({ size: 64 * 512, sectorSize: 512, programUnit: 16, seed: 4 });
  RingStore.format(g).set('x', Uint8Array.of(1));
  assert.throws(() => JournalStore.mount(g), (e: unknown) => e instanceof NotFormattedError);
  const legacy = RuntimeStore.open(g);
  assert.is(legacy.stats().format, 2, 'open() mounts a v2 partition holding keys as v2');
  assert.equal(legacy.get('x'), Uint8Array.of(1));
  assert.is(RuntimeStore.open(new SimFlash({ size: 64 * 512, sectorSize: 512, programUnit: 16, seed: 4 })).stats().format, 3, 'a blank partition is formatted v3');
});

t.run();
