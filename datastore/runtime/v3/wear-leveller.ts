// Format v3: static wear levelling (DESIGN.md §3.6). Allocation already takes
// the least-worn free sector; when even that one is more than a bound more
// worn than some sector holding data, that data is cold and keeps a
// little-worn sector out of circulation: move it (the store copies a value
// sector to a newly allocated one and re-points its PUT-S record, and
// collects a journal or pack sector as a GC victim).

import { SectorKind, type SectorTable } from './sector-table.ts';

/** The spread allowed before a move: max(6, mean / 3). It grows with age, so moves get rarer. */
export function wearSpreadBound(meanWear: number): number {
  return Math.max(6, Math.ceil(meanWear / 3));
}

/**
 * The data sector to move now, or -1. `movable` says which sectors holding
 * data may be moved (not a head, not pinned: the caller decides).
 */
export function levellingMove(table: SectorTable, movable: (sector: number) => boolean): number {
  let freeMin = Infinity;
  let dataMin = Infinity;
  let candidate = -1;
  for (let s = 0; s < table.count; s++) {
    const k = table.kind(s);
    const w = table.wear(s);
    if (k === SectorKind.Free) {
      if (w < freeMin) freeMin = w;
    } else if (w < dataMin && k !== SectorKind.Retired && k !== SectorKind.Anchor && movable(s)) {
      dataMin = w;
      candidate = s;
    }
  }
  if (candidate < 0 || freeMin === Infinity) return -1;
  return freeMin - dataMin > wearSpreadBound(table.meanWear()) ? candidate : -1;
}
