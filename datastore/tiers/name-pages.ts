// Names of items a page at a time, so that listing never holds more than a
// page of names in the heap (10,000 runtime keys listed whole do not fit the
// dock's 512 KiB engine heap). One order for every tier: by the hash of the
// item's storage key (the runtime index's own key hash), then by name, so a
// page needs one scan of the in-RAM index and reads from flash only the keys
// it returns. A cursor is the last name of the previous page.

import { keyHash, utf8Encode } from '../runtime/key-text.ts';
import type { RuntimeStore } from '../runtime/runtime-store.ts';

/** Index entries read per scan. */
const BATCH = 128;

export interface NameAt {
  hash: number;
  name: string;
}

export function nameAt(storage: string, strip: number): NameAt {
  return { hash: keyHash(utf8Encode(storage)), name: storage.slice(strip) };
}

/** a before b in listing order. */
export function before(a: NameAt, b: NameAt): boolean {
  return a.hash < b.hash || (a.hash === b.hash && a.name < b.name);
}

/** Insert into an ordered page, keeping at most `limit` (the first ones); duplicates dropped. */
export function keepFirst(page: NameAt[], item: NameAt, limit: number): void {
  let i = page.length;
  while (i > 0 && before(item, page[i - 1])) i--;
  if (i > 0 && page[i - 1].hash === item.hash && page[i - 1].name === item.name) return;
  if (i >= limit) return;
  page.splice(i, 0, item);
  if (page.length > limit) page.pop();
}

/**
 * The first `limit` runtime keys after `after` in listing order whose storage
 * key starts with `keyPrefix` (names are the keys without their first `strip`
 * characters). Scans the index in batches of `limit` hashes: only keys of a
 * batch are read from flash.
 */
export function runtimePage(store: RuntimeStore, keyPrefix: string, strip: number, after: NameAt | null, limit: number): NameAt[] {
  const out: NameAt[] = [];
  // A batch holds a reader per entry: bounded on its own, whatever the page size.
  const size = Math.min(limit, BATCH);
  let floor = after ? after.hash : 0;
  for (;;) {
    // Up to `limit` entries with the smallest hashes >= floor; ties at the edge all kept, so every
    // entry with a hash up to the batch's last is in it.
    const batch: { hash: number; read: () => string | undefined }[] = [];
    store.forEachKey((hash, read) => {
      if (hash < floor) return;
      if (batch.length >= size && hash > batch[batch.length - 1].hash) return;
      let i = batch.length;
      while (i > 0 && hash < batch[i - 1].hash) i--;
      batch.splice(i, 0, { hash, read });
      while (batch.length > size && batch[batch.length - 1].hash !== batch[size - 1].hash) batch.pop();
    });
    for (const b of batch) {
      const key = b.read();
      if (key === undefined || !key.startsWith(keyPrefix)) continue;
      const item = { hash: b.hash, name: key.slice(strip) };
      if (!after || before(after, item)) keepFirst(out, item, limit);
    }
    const top = batch.length > 0 ? batch[batch.length - 1].hash : 0xffffffff;
    if (out.length >= limit || batch.length < size || top === 0xffffffff) return out;
    floor = top + 1;
  }
}
