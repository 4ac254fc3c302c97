// Names of items a page at a time, so that listing never holds more than a
// page of names in the heap (10,000 runtime keys listed whole do not fit the
// dock's 512 KiB engine heap). One order for every tier: by the hash of the
// item's storage key (the runtime index's own key hash), then by name, so a
// page needs one scan of the in-RAM index and reads from flash only the keys
// that could make the page. A cursor is the last name of the previous page.

import { utf8Encode } from '../../bytes/utf8.ts';
import { keyHash } from '../runtime/key-text.ts';
import type { RuntimeStore } from '../runtime/runtime-store.ts';

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
 * characters). One pass over the in-RAM index: a key is read from flash only
 * when its hash could still make the page, and the heap holds at most
 * `limit` names.
 */
export function runtimePage(store: RuntimeStore, keyPrefix: string, strip: number, after: NameAt | null, limit: number): NameAt[] {
  const out: NameAt[] = [];
  store.forEachKey((hash, read) => {
    if (after && hash < after.hash) return;
    if (out.length >= limit && hash > out[out.length - 1].hash) return;
    const key = read();
    if (key === undefined || !key.startsWith(keyPrefix)) return;
    const item = { hash, name: key.slice(strip) };
    if (!after || before(after, item)) keepFirst(out, item, limit);
  });
  return out;
}

/**
 * The first `limit` storage keys after the storage key `after` in listing
 * order, from keys that share one kind prefix (ordering by the full key then
 * equals ordering by name). For an area outside the engine: the host holds
 * all keys, the engine receives a page.
 */
export function ephemeralPage(keys: string[], after: string | undefined, limit: number): string[] {
  const cursor = after === undefined ? null : nameAt(after, 0);
  const page: NameAt[] = [];
  for (const k of keys) {
    const item = nameAt(k, 0);
    if (!cursor || before(cursor, item)) keepFirst(page, item, limit);
  }
  return page.map((n) => n.name);
}
