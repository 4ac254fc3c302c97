// Format v3 groundwork: which sector GC collects next. Cost-benefit, as in
// Sprite LFS and F2FS: the most (1 - u) * age / 2u, where u is the live share
// of the sector (copying a live byte costs a read and a write) and age the
// time since it was last appended to. Old, mostly dead sectors go first; a
// cold sector that is only slightly dirty waits. The 1e-3 makes empty
// sectors go oldest first rather than all tie at infinity (lowest index
// first would reuse the same sectors forever).

import type { SectorTable } from './sector-table.ts';

export function costBenefit(live: number, sectorSize: number, age: number): number {
  const u = live / sectorSize;
  return ((1 - u) * age) / (2 * u + 1e-3);
}

/**
 * The sector to collect among those `eligible` (closed journal and pack
 * sectors outside the pinned replay window: the caller decides), or -1.
 * Ties go to the lowest index.
 */
export function chooseVictim(table: SectorTable, now: number, eligible: (sector: number) => boolean): number {
  let best = -1;
  let bestScore = -Infinity;
  for (let s = 0; s < table.count; s++) {
    if (!eligible(s)) continue;
    const age = ((now - table.stamp(s)) >>> 0) + 1;
    const score = costBenefit(table.live(s), table.sectorSize, age);
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  return best;
}
