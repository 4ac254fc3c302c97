// Static wear levelling of a format v3 store (wear-leveller.ts, DESIGN.md
// §3.6): a cold log sector is collected by GC, a cold value or list sector
// relocated here, re-pointed by a new PUT-S for the same key and value.

import { keyIntact, recordSize, RecordKind, type RecordHeader } from '../format.ts';
import { keyHash } from '../key-text.ts';
import { encodeListSector, encodePutS, listCapacity, putSSize, type SectorValueRef } from './format-v3.ts';
import { SectorKind } from './sector-table.ts';
import { levellingMove } from './wear-leveller.ts';
import { entryOffset, isSectorValue, REPLACES_SIZE, SECTOR_VALUE_FLAG } from './journal-records.ts';
import { valueSectorsOf } from './sector-value.ts';
import { NO_OWNER, type JournalState } from './journal-state.ts';

/** What levelling asks of GC (journal-gc.ts): which log sectors it may take, and to collect one. */
export interface Collector {
  collectable(s: number): boolean;
  collectIfRoom(s: number): boolean;
}

/**
 * Static wear levelling (wear-leveller.ts, DESIGN.md §3.6): when the
 * least-worn free sector is more worn than a sector holding data by more
 * than the bound, that data is cold: a log sector is collected, a value
 * sector relocated, so the little-worn sector goes back into circulation.
 * Looked at in a write (not a delete or an internal write) that ran no GC
 * step, once each time something was erased since the last look: at most
 * one move a write, and never a second step beside a collection.
 * `spare`: free sectors beyond what the write itself and GC's reserve need.
 */
export function levelWear(st: JournalState, spare: number, gc: Collector): boolean {
  if (st.journal.eraseOps === st.levelledAtErases || spare < 1) return false;
  st.levelledAtErases = st.journal.eraseOps;
  const cold = levellingMove(st.table, (s) => gc.collectable(s) || relocatable(st, s));
  if (cold < 0) return false;
  if (st.table.kind(cold) === SectorKind.Value) {
    if (!relocate(st, cold, spare)) return false;
    st.levellingMoves.relocated++;
  } else {
    if (!gc.collectIfRoom(cold)) return false;
    st.levellingMoves.collected++;
  }
  return true;
}

/** A value or list sector levelling may move: named by a PUT-S, not pinned, not on its way out. */
function relocatable(st: JournalState, s: number): boolean {
  return st.table.kind(s) === SectorKind.Value && st.valueOwner[s] !== NO_OWNER && !st.pinned(s) && !st.pendingRelease.includes(s);
}

/**
 * Move one value sector: copy it to a freshly allocated sector, then append
 * a PUT-S for the same key and value (relocation bit, the old record's
 * encoding and time) naming the new sector in its place, and commit; the
 * old sector is released after the commit (rule R). In a value named
 * through list sectors, a moved value sector means its list sector is
 * rewritten too (a second new sector), and a list sector is copied as it
 * is. A cut before the commit leaves the new sectors unnamed (free at
 * mount) and the old record in force; after it, the new record replaces the
 * old one as any PUT-S does. False if nothing was moved.
 */
function relocate(st: JournalState, sector: number, spare: number): boolean {
  const hash = st.valueOwner[sector];
  let ref: SectorValueRef | null = null;
  let values: number[] | null = null;
  let h: RecordHeader | null = null;
  const slot = st.index.find(hash, (entry) => {
    if (!isSectorValue(entry)) return false;
    h = st.rec.header(entryOffset(entry));
    ref = h ? st.rec.sectorRef(entryOffset(entry), h) : null;
    if (!ref) return false;
    if (ref.sectors.includes(sector)) return true;
    values = ref.lists ? valueSectorsOf(st.flash, ref) : null; // reads the list sectors (at most 2)
    return values !== null && values.includes(sector);
  });
  if (slot < 0 || !ref || !h) {
    st.valueOwner[sector] = NO_OWNER; // no record names it (a damaged one, say): leave it be
    return false;
  }
  const old: SectorValueRef = ref;
  const oldHeader: RecordHeader = h;
  const oldEntry = st.index.offsetAt(slot);
  const oldOffset = entryOffset(oldEntry);
  const key = st.rec.key(oldOffset, oldHeader);
  if (!keyIntact(oldHeader, key) || keyHash(key) !== hash) {
    st.valueOwner[sector] = NO_OWNER;
    return false;
  }
  const S = st.S;
  const u = st.flash.programUnit;
  // What to write: the sector's copy, and (a value sector of a list-form value) its list rewritten.
  let at = old.sectors.indexOf(sector); // the reference entry that changes
  let copyBytes: number; // the units of `sector` its writer programmed
  let list: number[] | null = null; // the entries of the list sector to rewrite, or null
  if (at >= 0) {
    copyBytes = old.lists ? S : Math.ceil(Math.min(S, old.valueLength - at * S) / u) * u;
  } else {
    const all = values as number[] | null;
    if (!all) return false;
    const per = listCapacity(S);
    const p = all.indexOf(sector);
    at = Math.floor(p / per);
    copyBytes = Math.ceil(Math.min(S, old.valueLength - p * S) / u) * u;
    list = all.slice(at * per, (at + 1) * per);
  }
  const refBytes = new Uint8Array(putSSize(old.sectors.length));
  const size = recordSize(key.length, REPLACES_SIZE + refBytes.length);
  // At most two erases, as a GC step (a pack open and a journal open): a rewritten list takes two sectors, so
  // its PUT-S must fit the journal head (else the move waits for a later look).
  const opensJournal = st.journal.room < size;
  if (list && opensJournal) return false;
  if (spare < (list ? 2 : 1) + (opensJournal ? 1 : 0)) return false;
  const bytes = new Uint8Array(copyBytes);
  st.flash.read(sector * S, bytes);
  const released = list ? [sector, old.sectors[at]] : [sector];
  st.inGc = true;
  try {
    const to = st.takeErased(SectorKind.Value, false); // levelling's copy: from the pool, one of the put's erases
    st.valueOwner[to] = hash;
    st.table.addLive(to, S);
    st.journal.program(to * S, bytes);
    let named = to;
    if (list) {
      const page = new Uint8Array(S);
      encodeListSector(list.map((s) => (s === sector ? to : s)), page);
      named = st.takeErased(SectorKind.Value, false);
      st.valueOwner[named] = hash;
      st.table.addLive(named, S);
      st.journal.program(named * S, page);
    }
    const moved: SectorValueRef = { ...old, relocation: true, sectors: old.sectors.slice() };
    moved.sectors[at] = named;
    encodePutS(moved, refBytes);
    const rec = st.appendRecord(RecordKind.PutS, key, refBytes, oldHeader.encoding, oldEntry, oldHeader.writtenAt);
    st.chargeJournal(size);
    const recSector = Math.floor(rec / S);
    st.table.addLive(recSector, size);
    st.liveRecords[recSector]++;
    st.index.setOffset(slot, (rec | SECTOR_VALUE_FLAG) >>> 0);
    // The old record leaves its sector; of the sectors it named, only the moved ones are released.
    const oldSector = Math.floor(oldOffset / S);
    st.table.addLive(oldSector, -Math.min(recordSize(oldHeader.keyLength, oldHeader.valueLength), st.table.live(oldSector)));
    if (st.liveRecords[oldSector] > 0) st.liveRecords[oldSector]--;
    st.maybeFree(oldSector);
    for (const s of released) {
      st.valueOwner[s] = NO_OWNER;
      st.pendingRelease.push(s);
    }
    st.journal.commit();
    st.pendingOps = 0;
  } finally {
    st.inGc = false;
  }
  return true;
}
