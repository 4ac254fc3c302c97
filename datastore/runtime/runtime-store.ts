// The runtime tier's store, whatever format its partition holds. New and
// reformatted partitions get format v3 (v3/journal-store.ts). A partition
// formatted v2 by earlier firmware keeps mounting as v2 (ring-store.ts), with
// every promise of v2, until a factory reset moves it to v3. That move is the
// only migration: v3 cannot be built in place beside v2 data without free
// space to copy it to, and a copy through the ephemeral area would not survive
// a restart (v3/DESIGN.md §7 step 6).
import type { FlashPartition } from '../../hal/flash.ts';
import { NotFormattedError } from './errors.ts';
import { RingStore } from './ring-store.ts';
import { JournalStore, MIN_SECTORS } from './v3/journal-store.ts';
import { anchorSectorCount } from './v3/anchor.ts';
import type { RuntimeStoreOptions } from './store-api.ts';

export type { Durability, RecordInfo, RuntimeStoreOptions, StoreStats, WriteOptions } from './store-api.ts';

/** A mounted runtime store: format v3, or a legacy v2 partition. Both keep the same promises. */
export type RuntimeStore = JournalStore | RingStore;

/** v3's reserve leaves no room for data on partitions this small; the ring needs less. */
const v3Fits = (flash: FlashPartition) => flash.size / flash.sectorSize >= MIN_SECTORS;

/** Mount the partition's store, v3 or legacy v2. NotFormattedError if it holds neither. */
function mount(flash: FlashPartition, options: RuntimeStoreOptions = {}): RuntimeStore {
  if (!v3Fits(flash)) return RingStore.mount(flash, options);
  try {
    return JournalStore.mount(flash, options);
  } catch (e) {
    if (!(e instanceof NotFormattedError)) throw e;
    try {
      return RingStore.mount(flash, options);
    } catch (e2) {
      if (e2 instanceof NotFormattedError) throw e; // v3's message: format it first
      throw e2;
    }
  }
}

/** An empty store: format v3 (v2 below v3's minimum size). Over a v2 store use reformat(), which is atomic. */
function format(flash: FlashPartition, options: RuntimeStoreOptions = {}): RuntimeStore {
  return v3Fits(flash) ? JournalStore.format(flash, options) : RingStore.format(flash, options);
}

/**
 * An empty v3 store in place of `store` (factory reset). From v3 this is v3's
 * own format. From v2 it is atomic as well: v2's own reformat first (one
 * sector open: the old data is gone at once), then the v3 format, which
 * leaves that empty v2 head alone until its anchor is on flash. A cut before
 * then mounts the empty v2 store, and open() finishes the move.
 */
function reformat(store: RuntimeStore, options: RuntimeStoreOptions = store.options): RuntimeStore {
  if (store instanceof JournalStore) return store.reformat();
  if (!v3Fits(store.flash)) return store.reformat();
  const anchors = anchorSectorCount(store.flash.size / store.flash.sectorSize);
  let ring = store.reformat();
  // The v3 format erases the anchor sectors first of all: step v2's head off them.
  while (ring.stats().headSector < anchors) ring = ring.reformat();
  return JournalStore.format(store.flash, options, ring.stats().headSector);
}

/**
 * What a dock does at power-on: mount what the partition holds; format v3 if
 * it holds no store. A legacy v2 store with no keys is moved to v3 on the way
 * (nothing to lose; it is what a cut during a factory reset leaves).
 */
function open(flash: FlashPartition, options: RuntimeStoreOptions = {}): RuntimeStore {
  let store: RuntimeStore;
  try {
    store = mount(flash, options);
  } catch (e) {
    if (e instanceof NotFormattedError) return format(flash, options);
    throw e;
  }
  if (store instanceof RingStore && store.size === 0 && v3Fits(flash)) return reformat(store, options);
  return store;
}

export const RuntimeStore = { mount, format, open, reformat };
