// The pinned replay window of a format v3 store (DESIGN.md §1.1, §3.5, §5.2):
// the capacity verdict and the reserve kept out of data's reach, the index
// cycle's pacing (forced slices, advanceWindow), and the anchor moves that
// release the chain behind the durable points.

import { checkpointSize, CHECKPOINT_ENTRY_SIZE, NONE, recordSize } from '../format.ts';
import { PartitionFullError } from '../errors.ts';
import { readU32LE } from '../../../bytes/byte-order.ts';
import { JOURNAL_HEADER_SIZE, JOURNAL_MAGIC } from './format-v3.ts';
import { entryOffset, isSectorValue } from './journal-records.ts';
import { sectorsHeldBy } from './sector-value.ts';
import { ANCHOR_COPIES, GC_RESERVE, type JournalState } from './journal-state.ts';

/** Forced index slices (about a sector each) one put may write; more only once the whole cycle is overdue. */
const SLICES_PER_PUT = 1;
/**
 * Forced slices are paced over the last quarter of the cycle's budget (slices
 * do not count against it, DESIGN.md §5.2): a cycle written late lies close
 * to the next, so the window a mount replays and pins behind the durable
 * points is shorter; a quarter budget of records (at 64 B, about 20 puts a
 * slice) still keeps a put to one slice.
 */
const CYCLE_PACED_WITHIN = 0.25;
/** Forced slices one put may write when the whole cycle is overdue (the emergency of DESIGN.md §3.5). */
const MAX_SLICES_PER_COMMIT = 4;

/**
 * Log bytes within which an index cycle completes (20 bytes a key, at least
 * 16 KiB, as v2): slices cost 8 bytes a key per cycle, so a smaller budget
 * costs programming; the pinned window is about three cycles, so a larger one
 * costs capacity. At most an eighth of the partition (a 32nd on small ones,
 * whose window must still leave room for data).
 */
export function cycleBudget(st: JournalState): number {
  const cap = Math.max(2048, Math.floor(st.flash.size / (st.N >= 256 ? 8 : 32)));
  if (st.opts.indexCycleBytes > 0) return Math.min(st.opts.indexCycleBytes, cap);
  return Math.min(Math.max(20 * st.index.size, 16 * 1024), cap);
}

/**
 * At a commit point: keep the index cycle on pace with forced slices, one
 * slice (at most a journal sector of entries) per commit, written once a
 * whole slice is due, so no single put writes a run of them.
 */
export function keepCycleDue(st: JournalState, room: (bytes: number) => void): void {
  if (st.inGc) return;
  // One slice a put: even paced over a quarter of the budget a slice is due only every few puts (about 20
  // at 64 B), so one a put catches up a lag within a few puts. Only once the whole cycle is overdue (its budget spent: the pinned window is
  // at its reserve's edge) may a put write more: the emergency of DESIGN.md §3.5.
  const limit = st.cycle.paceTarget() === 0x100000000 ? MAX_SLICES_PER_COMMIT : SLICES_PER_PUT;
  for (let i = 0; i < limit && forceSlice(st, room); i++);
}

/** Write one forced slice if one is due; true if it did. */
function forceSlice(st: JournalState, room: (bytes: number) => void): boolean {
  const target = st.cycle.paceTarget(undefined, CYCLE_PACED_WITHIN);
  if (target < 0) return false;
  const perSlice = Math.max(1, Math.floor((st.journal.payloadSize - 64) / CHECKPOINT_ENTRY_SIZE));
  const from = st.cycle.position;
  // Less than a whole slice behind (and not closing the cycle): wait, so slices stay about a sector each. A
  // range cut short by the slice size ends before the target; one that reached the target is not a whole
  // slice yet. (Its entry count cannot say: a range that stops before a group of colliding keys holds fewer
  // than perSlice, and waiting for the count stalled the cycle until its whole budget was spent, then forced
  // four slices a put for dozens of puts.)
  if (st.index.rangeFrom(from, perSlice, target).end >= target && target < 0x100000000) return false;
  // The slice fills what the head has left, unless that is little: a slice that opened a sector charged the
  // head's unused end to the cycle, which then ran faster (at 64 B and U 16, 3.5x instead of 2.6x).
  const fits = Math.floor((st.journal.room - 64) / CHECKPOINT_ENTRY_SIZE);
  const size = fits >= perSlice / 8 ? Math.min(perSlice, fits) : perSlice;
  const r = st.index.rangeFrom(from, size, target);
  // Keys sharing one home slot are never split: take them all if they alone exceed the limit.
  const end = r.end > from ? r.end : st.index.rangeFrom(from, Infinity, st.index.alignUp(from + 1)).end;
  try {
    room(64 + CHECKPOINT_ENTRY_SIZE * size);
  } catch (e) {
    if (!(e instanceof PartitionFullError)) throw e;
    return false; // no room now: the cycle catches up at a later put
  }
  st.cycle.writeForced(end, size, false);
  st.journal.commit();
  return true;
}

/**
 * Complete an index cycle at once and open a journal sector that names it,
 * so the durable points (and the anchor after them) move on and the chain
 * behind them is released. Three rounds take the oldest name past what
 * is pinned now. False if there was no sector to open.
 */
export function advanceWindow(st: JournalState): boolean {
  if (st.inGc) return false;
  const perSlice = Math.max(1, Math.floor((st.journal.payloadSize - 64) / CHECKPOINT_ENTRY_SIZE));
  // A round writes a whole cycle of slices and opens a sector after it: only if all of that fits.
  const roundSectors = Math.ceil((CHECKPOINT_ENTRY_SIZE * st.index.size + 64) / (st.journal.payloadSize - 64)) + 2;
  if (st.table.freeCount < roundSectors) return false;
  st.inGc = true;
  try {
    for (let round = 0; round < 3 && st.table.freeCount >= roundSectors; round++) {
      st.cycle.reset();
      st.cycle.writeForced(0x100000000, perSlice);
      st.journal.commit();
      if (st.table.freeCount < 1) break;
      st.journal.openNext();
      st.journal.commit();
    }
  } finally {
    st.inGc = false;
  }
  return true;
}

/** Live bytes and the largest record, exactly: one header read a key (and the PUT-S references). */
export function recount(st: JournalState): void {
  let live = 0;
  let largest = 0;
  st.index.forEach((_hash, entry) => {
    const off = entryOffset(entry);
    const h = st.rec.header(off);
    if (!h) return;
    const size = recordSize(h.keyLength, h.valueLength);
    live += st.packed(size);
    if (size > largest) largest = size;
    if (isSectorValue(entry)) {
      const ref = st.rec.sectorRef(off, h);
      const held = ref ? sectorsHeldBy(st.flash, ref) : null;
      if (held) live += held.length * st.S;
    }
  });
  st.liveBytes = live;
  st.largestRecord = largest;
  st.liveExact = true;
}

function usableForData(st: JournalState): number {
  return st.N - st.A;
}

/**
 * Sectors whose garbage GC may not reclaim, or that must stay free: GC's
 * reserve and the head's `next`; the pinned chain (the anchor's lag, the
 * two cycles a mount may replay, the head); a checkpoint.
 */
export function reserveSectors(st: JournalState): number {
  // Pinned: the anchor's lag, two cycles a mount may replay and the one under way (each the budget's
  // records plus the slices listing every key: 8 bytes a key), the head.
  const cycleBytes = cycleBudget(st) + CHECKPOINT_ENTRY_SIZE * st.index.size;
  const windowSectors = anchorLag(st) + Math.ceil((3 * cycleBytes) / st.journal.payloadSize) + 2;
  const ckpt = Math.ceil(checkpointSize(st.index.size + 1, 0) / st.S);
  // And garbage for GC to work on when the partition is full: with none outside the window, each collection
  // copies a whole sector to free nothing, the cycle falls behind and the window outgrows its reserve.
  const slack = Math.ceil(st.N / 16);
  return GC_RESERVE + 1 + windowSectors + ckpt + slack;
}

/** Journal opens the anchor may lag behind the oldest durable point before it is rewritten (DESIGN.md §1.1). */
export function anchorLag(st: JournalState): number {
  // Records are written twice: counted as half the slots' worth of records. A pass opens at most N journal
  // sectors, so with this lag an anchor sector is erased at most 4/5 as often as the average sector (2/5 where
  // the two copies share a slot, 32 bytes or more): anchors cannot take part in levelling, and they start one
  // erase ahead (the format erases them all). With a lag of N records' worth (once a pass) they led every other
  // sector: kv-workload wear 1.23. (Counting shared slots as one would halve K where they are: more capacity,
  // but runtime-v3-wear's cold-value case, whose key count follows capacity, then reached 1.625.)
  return Math.max(2, Math.ceil((5 * st.N) / 4 / ((st.A * st.anchors.slotsPerSector) / ANCHOR_COPIES)));
}

export function capacityBytes(st: JournalState): number {
  return Math.max(0, usableForData(st) - reserveSectors(st)) * st.S;
}

export function checkCapacity(st: JournalState, key: string, growth: number, footprint: number): void {
  if (growth <= 0) return;
  if (!st.liveExact && st.liveBytes + growth > capacityBytes(st)) recount(st);
  const capacity = capacityBytes(st);
  if (st.liveBytes + growth > capacity) throw new PartitionFullError(key, footprint, Math.max(0, capacity - st.liveBytes));
}

/** A journal sector joined the chain: maybe move the anchor on, and unpin what no header names any more. */
export function opened(st: JournalState, sector: number): void {
  st.chain.push(sector);
  st.chainSet.add(sector);
  // WEAR records: the on-flash head's header names one, the new header (once programmed) another.
  const wasWear = st.wearNames;
  st.wearNames = [wasWear[wasWear.length - 1] ?? NONE, st.journal.wear];
  for (const w of wasWear) if (w !== NONE && !st.wearNames.includes(w)) st.maybeFree(Math.floor(w / st.S));
  // Until the new header is on flash a mount takes the previous head, and its names: both sets stay reachable.
  const prev = st.headerNames;
  st.headerNames = [st.journal.durable, st.journal.fallback];
  const need = [...prev, ...st.headerNames];
  const keep = new Set<number>([...need, st.lastCheckpoint]);
  for (const off of [...st.checkpointPins.keys()]) {
    if (!keep.has(off)) {
      const sectors = st.checkpointPins.get(off)!;
      st.checkpointPins.delete(off);
      for (const s of sectors) st.pendingRelease.push(s);
    }
  }
  moveAnchor(st, need);
}

/** Name a later chain start when the walk has grown K sectors past what the durable points named need. */
function moveAnchor(st: JournalState, need: number[]): void {
  let pos = st.chain.length - 1;
  for (const d of need) {
    if (d === NONE) return; // before two durable points, the chain from the format is the window
    const p = st.chain.indexOf(Math.floor(d / st.S));
    if (p < 0) return;
    pos = Math.min(pos, p);
  }
  const at = st.chain.indexOf(st.anchorStart);
  const K = anchorLag(st);
  if (pos - at < K) return;
  const target = st.chain[pos];
  const seq = seqOf(st, target);
  if (seq < 0) return;
  st.anchors.write(target, seq, ANCHOR_COPIES);
  st.putErases++; // it may have erased the next anchor sector: this put refills no pool sector
  st.anchorStart = target;
  const dropped = st.chain.slice(0, pos);
  st.chain = st.chain.slice(pos);
  for (const s of dropped) {
    st.chainSet.delete(s);
    st.maybeFree(s);
  }
}

function seqOf(st: JournalState, sector: number): number {
  const b = new Uint8Array(JOURNAL_HEADER_SIZE);
  st.flash.read(sector * st.S, b);
  if (readU32LE(b, 0) !== JOURNAL_MAGIC) return -1;
  return readU32LE(b, 8);
}
