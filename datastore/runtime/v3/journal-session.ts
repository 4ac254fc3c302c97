// A format v3 store's sessions (DESIGN.md §2, §4): what a mount derives
// from the journal (the index, the free map, the token a clean unmount left),
// the WEAR records that carry the erase counts, and a clean unmount's end of
// the log (WEAR, checkpoint, the next session's token, CLOSE).

import { writeU32LE } from '../../../bytes/byte-order.ts';
import {
  CHECKPOINT_ENTRY_SIZE,
  checkpointSize,
  encodeCheckpointEntry,
  encodeCheckpointHead,
  NONE,
  RECORD_HEADER_SIZE,
  RecordKind,
  recordSize,
} from '../format.ts';
import { closeV3Span, CLOSE_V3_RECORD_SIZE, encodeCloseV3, encodePutS, encodeWear, putSSize, wearSize, wearWidth } from './format-v3.ts';
import { SectorKind, SectorTable } from './sector-table.ts';
import { SectorAllocator } from './sector-allocator.ts';
import { CHECKPOINT_IN_SECTORS, mountJournal, tokenCheckOf } from './journal-mount.ts';
import { entryOffset, isSectorValue } from './journal-records.ts';
import { sectorsHeldBy, SectorValueWriter } from './sector-value.ts';
import { GC_RESERVE, NO_OWNER, type JournalState } from './journal-state.ts';
import { makeRoom } from './journal-gc.ts';
import { recount } from './journal-window.ts';

/** Free sectors an unmount reads (32 bytes each) looking for a token that does not read blank. */
const TOKEN_TRIES = 8;
/** A made token's first 32 bytes: "DLTK", the head's seq, zeros (anything but blank would do). */
const TOKEN_MARKER_MAGIC = 0x4b544c44;
const TOKEN_MARKER_BYTES = 32;

/** Mount: the store's state from the journal (journal-mount.ts), and the token a clean unmount left. */
export function load(st: JournalState): void {
  // The mount reads the anchors through this store's AnchorArea, which then knows the newest record to follow.
  const m = mountJournal(st.flash, st.anchors);
  st.index = m.index;
  st.cleanMount = m.clean;
  st.corruptSkipped = m.corruptSkipped;
  st.largestRecord = m.largestRecord;
  const head = m.chain[m.chain.length - 1];
  st.journal.durable = m.durable;
  st.journal.fallback = m.fallback;
  st.headerNames = [head.header.durable, head.header.fallback];
  st.journal.wear = m.wear ? m.wear.offset : NONE;
  st.wearNames = [head.header.wear, st.journal.wear];
  st.anchorStart = m.anchorStart;
  st.chain = m.chain.map((l) => l.sector);
  deriveSectors(st, head.header.next, { liveBytes: m.liveBytes, largestRecord: m.largestRecord, exact: m.clean }, m.wear?.counts ?? undefined);
  st.wearEstimated = !(m.wear && m.wear.exact);
  if (m.wear && m.wear.counts === null) st.unreadWear = m.wear.offset;
  // The token trick: the token the head's CLOSE names stays reserved for the first open (intact or not: while
  // that CLOSE may be read again, nothing else may program the token). Intact, it proves nothing was erased or
  // programmed since the clean unmount, so the head's `next` is still as its erase left it, and so is the
  // anchor slot after the newest record.
  let trusted = false;
  const t = m.close ? m.close.token : NONE;
  if (t !== NONE && t >= st.A && t < st.N && st.table.kind(t) === SectorKind.Free) {
    st.token = t;
    st.table.setKind(t, SectorKind.Journal);
    trusted = m.tokenIntact;
    if (trusted && m.close!.anchor) st.anchors.resume(m.close!.anchor.sector, m.close!.anchor.slot);
    const p = trusted ? m.close!.pack : null;
    const pk = p && p.sector < st.N ? st.table.kind(p.sector) : -1;
    if (p && p.sector >= st.A && p.sector !== t && !st.chainSet.has(p.sector) && p.sector !== head.header.next && (pk === SectorKind.Free || pk === SectorKind.Pack || pk === SectorKind.Journal) && p.offset < st.S && p.offset % st.flash.programUnit === 0) {
      st.table.setKind(p.sector, SectorKind.Pack);
      // Its live bytes were estimated from a mean record size: never more than the bytes it holds.
      const live = st.table.live(p.sector);
      if (live > p.offset) st.table.addLive(p.sector, p.offset - live);
      st.pack.resume(p.sector, p.offset);
    }
  }
  st.journal.resume({ head: head.sector, seq: head.header.seq, next: head.header.next, nextTrusted: trusted });
  if (m.cycleInProgress) st.cycle.resume(m.cycleInProgress.start, m.cycleInProgress.next);
  st.changedSinceCheckpoint = !m.clean;
}

/** The free map after a mount: everything no reference reaches is free (DESIGN.md §2 step 5). */
function deriveSectors(st: JournalState, next: number, totals: { liveBytes: number; largestRecord: number; exact: boolean }, eraseCounts?: number[]): void {
  const t = new SectorTable(st.N, st.S, eraseCounts);
  for (let a = 0; a < st.A; a++) t.setKind(a, SectorKind.Anchor);
  st.chainSet.clear();
  for (const s of st.chain) {
    t.setKind(s, SectorKind.Journal);
    st.chainSet.add(s);
  }
  t.setKind(next, SectorKind.Journal);
  // Small records are counted, not read (a header read a key would cost a mount 16 bytes a key);
  // the value sectors of PUT-S records must be read to know which sectors are free.
  let valueBytes = 0;
  let smallCount = 0;
  const counts = new Uint32Array(st.N);
  st.valueOwner.fill(NO_OWNER);
  st.index.forEach((hash, entry) => {
    const off = entryOffset(entry);
    const s = Math.floor(off / st.S);
    if (s >= st.N) return;
    if (t.kind(s) === SectorKind.Free) t.setKind(s, SectorKind.Journal);
    counts[s]++;
    smallCount++;
    if (!isSectorValue(entry)) return;
    const h = st.rec.header(off);
    const ref = h ? st.rec.sectorRef(off, h) : null;
    const held = ref ? sectorsHeldBy(st.flash, ref) : null;
    if (!held) return;
    for (const v of held) {
      if (v < st.N) {
        t.setKind(v, SectorKind.Value);
        t.addLive(v, st.S);
        st.valueOwner[v] = hash;
      }
    }
    valueBytes += held.length * st.S;
  });
  const meanSmall = smallCount > 0 ? Math.max(RECORD_HEADER_SIZE + 1, (totals.liveBytes - valueBytes) / smallCount) : 0;
  st.liveRecords = counts;
  for (let s = 0; s < st.N; s++) if (counts[s] > 0) t.addLive(s, Math.min(st.S, meanSmall * counts[s]) | 0);
  for (const d of [st.journal.durable, st.journal.fallback, ...st.headerNames]) st.pinCheckpoint(d, t);
  for (const w of st.wearNames) {
    const s = w === NONE ? -1 : Math.floor(w / st.S);
    if (s >= 0 && s < st.N && t.kind(s) === SectorKind.Free) t.setKind(s, SectorKind.Journal);
  }
  st.table = t;
  st.allocator = new SectorAllocator(t);
  // Exact after a clean mount (the checkpoint's totals); after a cut, the last slice's, recounted before
  // a capacity verdict depends on them (recount).
  st.liveBytes = Math.max(totals.liveBytes, valueBytes);
  st.largestRecord = totals.largestRecord;
  st.liveExact = totals.exact;
  // Ties between equally worn sectors go on from after the head's next.
  st.allocator.startAt(next + 1);
}

/**
 * Erases between WEAR records: a quarter of the partition (what a mount after a
 * cut may under-count: a quarter pass, benign for levelling, which works on
 * differences), at least 16. A record is a byte a sector: at a 16th (the first
 * choice) it cost 0.4 % more programming on 4 KiB values, past issue 18's
 * 1.02x at 16 B units.
 */
export function wearInterval(st: JournalState): number {
  return Math.max(16, Math.ceil(st.N / 4));
}

/** Bytes of a WEAR record now, or 0 if the table does not fit a journal sector (then counts restart estimated). */
function wearRecordBytes(st: JournalState): number {
  const room = st.journal.payloadSize - closeV3Span(st.flash.programUnit) - st.flash.programUnit;
  // Two bytes a sector when the spread needs them and they fit; else one, saturating (flagged an estimate).
  const wide = wearWidth(st.eraseCounts()) === 2 && recordSize(0, wearSize(st.N, 2)) <= room;
  st.wearWidthPlanned = wide ? 2 : 1;
  const bytes = recordSize(0, wearSize(st.N, st.wearWidthPlanned));
  return bytes <= room ? bytes : 0;
}

/** Append and commit a WEAR record between writes (after a cut, a mount starts its estimate there). */
export function writeWear(st: JournalState): void {
  if (st.inGc || !st.mounted) return;
  const bytes = wearRecordBytes(st);
  if (bytes === 0 || st.table.freeCount < GC_RESERVE) return;
  st.inGc = true;
  try {
    st.journal.reserve(bytes, 0);
    const at = appendWear(st);
    st.journal.commit();
    st.journal.wear = at;
  } finally {
    st.inGc = false;
  }
}

/** The WEAR record, encoded from the table as it is now (the caller has reserved room: nothing erases after). */
function appendWear(st: JournalState): number {
  const counts = st.eraseCounts();
  // The width wearRecordBytes planned (the room reserved for it): narrower than the counts need saturates.
  const width = st.wearWidthPlanned;
  const value = new Uint8Array(wearSize(st.N, width));
  encodeWear(counts, value, 0, st.wearEstimated || wearWidth(counts) > width, width);
  const at = st.appendRecord(RecordKind.Wear, new Uint8Array(0), value, 0);
  st.erasesSinceWear = 0;
  return at;
}

/**
 * A clean unmount's end of the log: a WEAR record, a full checkpoint (inline
 * if both fit a journal sector, else in sectors), then the CLOSE record in
 * the head's last units, naming the checkpoint, the WEAR record, a token and
 * the anchor slot to go on at. Every erase happens before the WEAR record is
 * encoded, so its counts are the session's final ones.
 */
export function closeLog(st: JournalState): void {
  if (!st.liveExact) recount(st);
  const entries = st.index.size;
  const head = encodeCheckpointHead(entries, st.liveBytes, st.largestRecord, []);
  const payload = new Uint8Array(checkpointSize(entries, 0));
  payload.set(head);
  let p = head.length;
  st.index.forEach((hash, entry) => {
    encodeCheckpointEntry(hash, entry, payload, p);
    p += CHECKPOINT_ENTRY_SIZE;
  });
  const span = closeV3Span(st.flash.programUnit);
  let wearBytes = wearRecordBytes(st);
  let value = payload;
  let encoding = 0;
  let taken: number[] = [];
  if (recordSize(0, payload.length) + wearBytes + span + st.flash.programUnit > st.journal.payloadSize - 64) {
    makeRoom(st, '(checkpoint)', Math.ceil(payload.length / st.S), 64, true);
    const w = new SectorValueWriter(st.flash, payload.length, () => st.takeErased(SectorKind.Value), (o, d) => st.journal.program(o, d));
    w.append(payload);
    const ref = w.finish();
    value = new Uint8Array(putSSize(ref.sectors.length));
    encodePutS(ref, value);
    encoding = CHECKPOINT_IN_SECTORS;
    taken = w.taken;
    wearBytes = wearRecordBytes(st); // the erases above may have widened the table
  }
  st.journal.reserve(recordSize(0, value.length) + wearBytes, span);
  // From here nothing erases but makeToken (before the WEAR record is encoded).
  const found = chooseToken(st);
  const token = found >= 0 ? found : makeToken(st);
  const tokenCheck = token >= 0 ? tokenCheckOf(st.flash, token) : null;
  const wearAt = wearBytes > 0 ? appendWear(st) : NONE;
  const at = st.appendRecord(RecordKind.Checkpoint, new Uint8Array(0), value, encoding);
  if (taken.length > 0) st.checkpointPins.set(at, taken);
  st.journal.commit();
  if (wearAt !== NONE) st.journal.wear = wearAt;
  st.lastCheckpoint = at;
  st.changedSinceCheckpoint = false;
  const close = new Uint8Array(CLOSE_V3_RECORD_SIZE);
  encodeCloseV3({ checkpoint: at, wear: wearAt, token: tokenCheck !== null ? token : NONE, tokenCheck: tokenCheck ?? 0, anchor: st.anchors.continuation(), pack: st.pack.continuation() }, close);
  st.journal.putAtEnd(close);
}

/**
 * No free sector qualifies as a token (early in a partition's life they are
 * all blank): make one. Erase the least-worn free sector and program a
 * marker into its first unit; nothing ever reads it but the next mount's
 * token check. One erase, only at unmounts that find no token. -1 if no
 * sector is free.
 */
function makeToken(st: JournalState): number {
  if (st.table.freeCount === 0) return -1;
  const s = st.takeErased(SectorKind.Journal);
  const marker = new Uint8Array(Math.max(st.flash.programUnit, TOKEN_MARKER_BYTES)).fill(0xff);
  writeU32LE(marker, 0, TOKEN_MARKER_MAGIC);
  writeU32LE(marker, 4, st.journal.headSeq);
  marker.fill(0, 8, TOKEN_MARKER_BYTES);
  st.journal.program(s * st.S, marker.subarray(0, Math.ceil(TOKEN_MARKER_BYTES / st.flash.programUnit) * st.flash.programUnit));
  st.table.setKind(s, SectorKind.Free);
  return s;
}

/**
 * The token for the next session (DESIGN.md §4): a free sector whose first
 * 32 bytes do not read blank, the least worn of them (the next session's
 * first erase is the token's, as the allocator would have chosen). At most
 * TOKEN_TRIES sectors are read (32 bytes each). -1 if none qualifies: the
 * next session then erases `next` again.
 */
function chooseToken(st: JournalState): number {
  const free: number[] = [];
  for (let s = st.A; s < st.N; s++) if (st.table.kind(s) === SectorKind.Free && !st.pinned(s)) free.push(s);
  free.sort((a, b) => st.table.wear(a) - st.table.wear(b) || a - b);
  for (let i = 0; i < free.length && i < TOKEN_TRIES; i++) if (tokenCheckOf(st.flash, free[i]) !== null) return free[i];
  return -1;
}
