// What every runtime store offers its callers, whatever its on-flash format:
// options, per-record facts and statistics. The format v3 store (v3/journal-store.ts)
// and the legacy format v2 store (ring-store.ts) both take and give these.
import type { Clock } from '../../hal/clock.ts';

export type Durability = 'immediate' | 'batched';

export interface RuntimeStoreOptions {
  /**
   * 'immediate': every set/delete is on flash when it returns.
   * 'batched': writes collect in RAM and are committed every `batchSize`
   * operations, when a sector fills, or on flush(). A power cut loses the
   * operations since the last commit (the newest ones; order is kept).
   */
  durability?: Durability;
  batchSize?: number;
  clock?: Clock;
  /** Largest value accepted; default: 40 % of the partition's payload capacity. */
  maxValueBytes?: number;
  /**
   * Log bytes within which a cycle of the rolling index snapshot completes
   * (FORMAT.md §5.2): replay after a power cut reads about twice this. Default:
   * 24 bytes per key, at least 16 KiB, at most an eighth of the partition.
   */
  indexCycleBytes?: number;
}

export interface WriteOptions {
  /** Application's value type tag, returned by get/info. Default 0 (raw bytes). */
  encoding?: number;
  /** Commit this write before returning even in 'batched' mode (a critical value). */
  flush?: boolean;
}

export interface RecordInfo {
  key: string;
  /** Value size in bytes. */
  size: number;
  encoding: number;
  /** Seconds since 1970 when the value was written. */
  writtenAt: number;
  /** Partition offset of the record (for tokens and inspection). It changes when GC moves the record. */
  offset: number;
  /** The record's data CRC: names this version of the value, and survives GC moves. */
  dataCrc: number;
}

export interface StoreStats {
  /** On-flash format: 3 (the default) or 2 (a legacy partition, kept until a factory reset moves it to 3). */
  format: 2 | 3;
  keys: number;
  liveBytes: number;
  freeBytes: number;
  capacityBytes: number;
  usableSectors: number;
  retiredSectors: number[];
  indexHeapBytes: number;
  corruptRecordsSkipped: number;
  mountedCleanly: boolean;
  headSector: number;
  tailSector: number;
  /** Format v3: the erase counts behind wear levelling are an estimate (never above the truth): erases went uncounted after a power cut. */
  wearEstimated?: boolean;
}
