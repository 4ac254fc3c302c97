// Garbage collection of a format v3 store (DESIGN.md §3): the GC steps a
// put may run (makeRoom), victims (victim-policy.ts) and their collection
// into pack sectors announced by a MOVE record, and the pool of sectors
// erased ahead.

import { NONE, RECORD_HEADER_SIZE, RecordKind, recordSize, type RecordHeader } from '../format.ts';
import { keyHash } from '../key-text.ts';
import { PartitionFullError } from '../errors.ts';
import { readU32LE } from '../../../bytes/byte-order.ts';
import { encodeMove, JOURNAL_HEADER_SIZE, JOURNAL_MAGIC, moveSize, type MoveEntry } from './format-v3.ts';
import { SectorKind } from './sector-table.ts';
import { chooseVictim } from './victim-policy.ts';
import { entryOffset, isSectorValue, SECTOR_VALUE_FLAG } from './journal-records.ts';
import { GC_RESERVE, GC_STEPS_PER_PUT, type JournalState } from './journal-state.ts';
import { advanceWindow } from './journal-window.ts';
import { levelWear, type Collector } from './sector-levelling.ts';

/**
 * Sectors kept erased ahead (DESIGN.md §3.2): a put takes its journal and pack
 * opens from them and refills at most one, so the sectors a put's bookkeeping
 * opens (its record's journal open, a GC step's pack sector and MOVE, a
 * forced slice) cost it at most one erase.
 */
const POOL_SECTORS = 3;

/** A put starts: its allowance of GC steps and erases (DESIGN.md §3.5). */
export function beginPut(st: JournalState): void {
  st.gcStepsLeft = GC_STEPS_PER_PUT;
  st.putErases = 0;
}

/** A put ends: erase one sector into the pool if it erased nothing else and the pool is short. */
export function refillPool(st: JournalState): void {
  if (st.putErases > 0 || st.allocator.poolSize >= POOL_SECTORS || st.journal.failed) return;
  // Not while the token is unspent (its erase would come first: two erases in a put), and with the erase
  // counts read before the allocator chooses (reading them rebuilds the table and the allocator).
  if (st.token >= 0 && !st.tokenErased) return;
  st.ensureWear();
  const s = st.allocator.reserveForPool();
  if (s < 0) return;
  st.journal.erase(s); // counted by the writer's onErase hook, as every erase
  st.putErases++;
}

/**
 * Room for a write that takes `sectors` sectors (value sectors) and a record
 * of `recordBytes` in the journal: keep that free plus GC's own reserve (a
 * pack sector and a journal open for its MOVE) plus a lead. One collection
 * per write in the steady state; more only while the write or GC's reserve
 * would not fit. A delete may use GC's reserve: it only frees space.
 */
export function makeRoom(st: JournalState, key: string, sectors: number, recordBytes: number, isDelete = false): void {
  st.clock = (st.clock + 1) >>> 0;
  const need = sectors + (st.journal.room >= recordBytes ? 0 : 1);
  const lead = Math.ceil(st.N / 32);
  if (st.pendingRelease.length > 0 && st.table.freeCount < need + GC_RESERVE + lead) {
    // Sectors a batch emptied are free once its records are on flash: commit the batch early rather than collect.
    st.journal.commit();
    st.pendingOps = 0;
    st.releasePending();
  }
  let steps = 0;
  while (st.table.freeCount < need + GC_RESERVE + lead) {
    // Below the hard reserve a put runs as many steps as it takes (the emergency of DESIGN.md §3.5).
    const hard = st.table.freeCount < need + GC_RESERVE;
    if (st.gcStepsLeft <= 0 && !hard) break;
    if (steps > st.N) break;
    if (!collectOne(st)) {
      // Nothing to collect outside the pinned window: move the window on (rare; the reserve is sized for it).
      if (!hard || steps > st.N || !advanceWindow(st)) break;
    }
    steps++;
    st.gcStepsLeft--;
  }
  // A levelling move is a GC step: only in a put that has its step left.
  if (!isDelete && steps === 0 && st.gcStepsLeft > 0 && levelWear(st, st.table.freeCount - need - GC_RESERVE, collector(st))) st.gcStepsLeft--;
  // The sectors GC keeps to work with are part of what a write needs (a delete may use them).
  const required = need + (isDelete ? 0 : GC_RESERVE);
  if (st.table.freeCount < required) throw new PartitionFullError(key, required * st.S, st.table.freeCount * st.S);
}

/** A closed log sector GC may take: not pinned, not already released, not wholly live. */
function collectable(st: JournalState, s: number): boolean {
  const k = st.table.kind(s);
  if (k !== SectorKind.Journal && k !== SectorKind.Pack) return false;
  return !st.pinned(s) && !st.pendingRelease.includes(s);
}

/** Collect the sector cost-benefit picks (victim-policy.ts: old and mostly dead first); false if none can be. */
function collectOne(st: JournalState): boolean {
  const victim = chooseVictim(st.table, st.clock, (s) => collectable(st, s) && st.table.live(s) < st.S);
  if (victim < 0) return false;
  return collectIfRoom(st, victim);
}

function collectIfRoom(st: JournalState, victim: number): boolean {
  // It may open a pack sector (live bytes after a mount are estimates) and a journal sector for its MOVE
  // before the victim is free: never start one that could run out of sectors half-way.
  const moveBytes = recordSize(0, moveSize(st.liveRecords[victim] + 1));
  const stepNeed = 1 + (st.journal.room >= moveBytes ? 0 : 1);
  if (st.table.freeCount < stepNeed) return false;
  collect(st, victim);
  return true;
}

function collect(st: JournalState, victim: number): void {
  st.inGc = true;
  try {
    const S = st.S;
    const base = victim * S;
    const first = new Uint8Array(4);
    st.flash.read(base, first);
    let pos = readU32LE(first, 0) === JOURNAL_MAGIC ? base + JOURNAL_HEADER_SIZE : base;
    const moves: MoveEntry[] = [];
    const one = new Uint8Array(1);
    let moved = 0;
    const end = base + S;
    const copy = (off: number, h: RecordHeader, entry: number, slot: number): void => {
      const size = recordSize(h.keyLength, h.valueLength);
      const bytes = new Uint8Array(size);
      st.flash.read(off, bytes);
      const to = st.pack.append(bytes);
      const toEntry = isSectorValue(entry) ? (to | SECTOR_VALUE_FLAG) >>> 0 : to;
      moves.push({ hash: st.index.hashAt(slot), from: entry, to: toEntry });
      st.index.setOffset(slot, toEntry);
      st.table.addLive(Math.floor(to / S), size);
      st.liveRecords[Math.floor(to / S)]++;
      moved += size;
    };
    while (pos + RECORD_HEADER_SIZE <= end) {
      st.flash.read(pos, one);
      if (one[0] === 0xff) break;
      if (one[0] === RecordKind.Pad) {
        pos = Math.min(end, (Math.floor(pos / st.flash.programUnit) + 1) * st.flash.programUnit);
        continue;
      }
      const h = st.rec.header(pos);
      if (!h) break;
      const size = recordSize(h.keyLength, h.valueLength);
      if (pos + size > end) break;
      if (h.kind === RecordKind.Put || h.kind === RecordKind.PutS) {
        const entry = h.kind === RecordKind.PutS ? (pos | SECTOR_VALUE_FLAG) >>> 0 : pos;
        const k = st.rec.key(pos, h);
        const slot = st.index.findOffset(keyHash(k), entry);
        if (slot >= 0) copy(pos, h, entry, slot);
      }
      pos += size;
    }
    // Entries the walk could not reach (a damaged header before them): found by offset. An entry whose own
    // header is damaged cannot be copied: the MOVE drops it (to NONE), so no index entry, in RAM or replayed,
    // points into the victim once it is reused.
    const damaged: MoveEntry[] = [];
    st.index.forEach((hash, entry, slot) => {
      const off = entryOffset(entry);
      if (Math.floor(off / S) !== victim) return;
      const h = st.rec.header(off);
      if (h) copy(off, h, entry, slot);
      else damaged.push({ hash, from: entry, to: NONE });
    });
    // Removed by hash and offset after the walk: a removal shifts the slots after it.
    for (const d of damaged) {
      moves.push(d);
      const slot = st.index.findOffset(d.hash, d.from);
      if (slot >= 0) st.index.removeAt(slot);
    }
    st.corruptSkipped += damaged.length;
    st.pack.flush();
    if (moves.length > 0) {
      const value = new Uint8Array(moveSize(moves.length));
      encodeMove(victim, moves, value);
      st.appendRecord(RecordKind.Move, new Uint8Array(0), value, 0);
      st.cycle.charge(recordSize(0, value.length));
    }
    st.table.addLive(victim, -st.table.live(victim));
    st.liveRecords[victim] = 0;
    st.pendingRelease.push(victim);
    st.journal.commit();
    st.pendingOps = 0;
    void moved;
  } finally {
    st.inGc = false;
  }
}

/** What levelling may ask of GC: which log sectors it may take, and to collect one. */
function collector(st: JournalState): Collector {
  return {
    collectable: (s) => collectable(st, s),
    collectIfRoom: (s) => collectIfRoom(st, s),
  };
}
