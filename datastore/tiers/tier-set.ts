// The three tiers behind one item namespace. An item is (kind, name): a kv
// value, an image or the code. Reads look in ephemeral, then runtime, then
// factory unless a tier is named; writes go to the runtime tier unless one is
// named; the factory tier is read-only. Tiers that are missing (no factory
// image, ephemeral area unreachable) are skipped by reads and refused by
// writes that name them, so the others keep working.

import type { EphemeralArea } from '../../hal/ephemeral.ts';
import { FlashError } from '../../hal/flash.ts';
import type { Clock } from '../../hal/clock.ts';
import { RuntimeStore, type RecordInfo, type RuntimeStoreOptions } from '../runtime/runtime-store.ts';
import type { FactoryPartition } from '../factory/factory-partition.ts';
import type { ItemKind } from '../factory/partition-format.ts';
import { SLOT_RESERVED_BYTES } from '../factory/slot-record.ts';
import { ReadOnlyTierError, RuntimeReformatError, TierError, TierUnavailableError } from './tier-errors.ts';
import { before, keepFirst, nameAt, runtimePage, type NameAt } from './name-pages.ts';

export const FACTORY_DATA = 0;
export const APPLICATION_DATA = 1;
export const EPHEMERAL_DATA = 2;
export type Tier = typeof FACTORY_DATA | typeof APPLICATION_DATA | typeof EPHEMERAL_DATA;

export const TIER_NAMES: Record<Tier, string> = { [FACTORY_DATA]: 'factory', [APPLICATION_DATA]: 'runtime', [EPHEMERAL_DATA]: 'ephemeral' };
/** Lookup order when no tier is named. */
export const LOOKUP_ORDER: Tier[] = [EPHEMERAL_DATA, APPLICATION_DATA, FACTORY_DATA];

/** The most names a whole listing returns (tens of KB of strings in the engine heap); past it, page. */
export const MAX_LISTED_NAMES = 500;

export type Durability = 'immediate' | 'batched';

export interface ItemRef {
  tier: Tier;
  kind: ItemKind;
  name: string;
  size: number;
  encoding: number;
  /** Seconds since 1970 (factory items: when the image was built). */
  writtenAt: number;
  /** Where the bytes are: a runtime or factory partition offset, or the ephemeral version. */
  location: number;
  /** Changes whenever the item is rewritten: runtime record offset, ephemeral version, factory build time. */
  version: number;
}

export interface TierSetParts {
  runtime?: RuntimeStore | null;
  factory?: FactoryPartition | null;
  ephemeral?: EphemeralArea | null;
  clock?: Clock | null;
  /** Why the ephemeral area is missing, for the errors that name it. */
  ephemeralProblem?: string;
  factoryProblem?: string;
  /**
   * Runtime writes that name no durability: 'immediate' (default; on flash
   * when the call returns) or 'batched'. A write or handle that names one
   * gets it whatever the store's own mode (the dock opens its store
   * 'batched' so that both work).
   */
  durability?: Durability;
}

/** Version: the data CRC with the write time, not the offset, which GC changes. */
function runtimeRef(kind: ItemKind, name: string, info: RecordInfo): ItemRef {
  return { tier: APPLICATION_DATA, kind, name, size: info.size, encoding: info.encoding, writtenAt: info.writtenAt, location: info.offset, version: (info.dataCrc ^ info.writtenAt) >>> 0 };
}

/** The key an item has in the runtime and ephemeral tiers. */
export function storageKey(kind: ItemKind, name: string): string {
  return `${kind === 'image' ? 'img' : kind}/${name}`;
}

export class TierSet {
  runtime: RuntimeStore | null;
  readonly factory: FactoryPartition | null;
  readonly ephemeral: EphemeralArea | null;
  readonly clock: Clock | null;
  private readonly problems: Record<Tier, string>;
  private listeners: { prefix: string; kind: ItemKind; callback: (name: string, tier: Tier) => void }[] = [];
  private pending: { kind: ItemKind; name: string; tier: Tier }[] = [];
  /** Durability of runtime writes that name none. */
  readonly durability: Durability;
  /**
   * Told around a factory reset (the firmware stops the app before and starts
   * the factory app after), whoever asked for the reset.
   */
  resetHooks: { before(): void; after(failed: RuntimeReformatError | null): void } | null = null;

  constructor(parts: TierSetParts) {
    this.durability = parts.durability ?? 'immediate';
    this.runtime = parts.runtime ?? null;
    this.factory = parts.factory ?? null;
    this.ephemeral = parts.ephemeral ?? null;
    this.clock = parts.clock ?? null;
    this.problems = {
      [FACTORY_DATA]: parts.factoryProblem ?? 'no verified factory image',
      [APPLICATION_DATA]: 'no runtime partition',
      [EPHEMERAL_DATA]: parts.ephemeralProblem ?? 'no ephemeral area',
    };
  }

  has(tier: Tier): boolean {
    return tier === FACTORY_DATA ? this.factory !== null : tier === APPLICATION_DATA ? this.runtime !== null : this.ephemeral !== null;
  }

  /** Where the item would be read from: the first tier in lookup order that has it, or the named one. */
  find(kind: ItemKind, name: string, tier?: Tier): ItemRef | undefined {
    for (const t of tier === undefined ? LOOKUP_ORDER : [tier]) {
      const ref = this.findIn(t, kind, name);
      if (ref) return ref;
    }
    return undefined;
  }

  private findIn(tier: Tier, kind: ItemKind, name: string): ItemRef | undefined {
    if (tier === EPHEMERAL_DATA) {
      const info = this.ephemeral?.info(storageKey(kind, name));
      return info && { tier, kind, name, size: info.size, encoding: info.encoding, writtenAt: info.writtenAt, location: info.version, version: info.version };
    }
    if (tier === APPLICATION_DATA) {
      const info = this.runtime?.info(storageKey(kind, name));
      return info && runtimeRef(kind, name, info);
    }
    const item = this.factory?.info(kind, name);
    return item && { tier, kind, name, size: item.length, encoding: item.type, writtenAt: this.factory!.header.builtAt, location: item.offset, version: this.factory!.header.builtAt };
  }

  /** Copy part of an item's bytes (tokens): nothing else is read. Returns bytes copied. */
  readRange(ref: ItemRef, offset: number, into: Uint8Array): number {
    if (ref.tier === EPHEMERAL_DATA) return this.ephemeral!.readRange(storageKey(ref.kind, ref.name), offset, into);
    if (ref.tier === APPLICATION_DATA) return this.runtime!.readRange(storageKey(ref.kind, ref.name), offset, into);
    return this.factory!.readRange(ref.kind, ref.name, offset, into);
  }

  /**
   * Find an item and copy its bytes into the heap, in lookup order or from the
   * named tier. One lookup per tier: the runtime tier returns record and
   * metadata from a single read.
   */
  fetch(kind: ItemKind, name: string, tier?: Tier): { ref: ItemRef; bytes: Uint8Array } | undefined {
    for (const t of tier === undefined ? LOOKUP_ORDER : [tier]) {
      if (t === APPLICATION_DATA) {
        const record = this.runtime?.getRecord(storageKey(kind, name));
        if (record) return { ref: runtimeRef(kind, name, record.info), bytes: record.value };
        continue;
      }
      const ref = this.findIn(t, kind, name);
      if (!ref) continue;
      const bytes = t === EPHEMERAL_DATA ? this.ephemeral!.get(storageKey(kind, name)) : this.factory!.read(kind, name);
      if (bytes) return { ref, bytes };
    }
    return undefined;
  }

  write(kind: ItemKind, name: string, bytes: Uint8Array, encoding: number, tier: Tier = APPLICATION_DATA, durability?: Durability): void {
    this.writable(tier, name);
    const key = storageKey(kind, name);
    if (tier === EPHEMERAL_DATA) this.ephemeral!.put(key, bytes, encoding, this.now());
    else this.runtime!.set(key, bytes, { encoding, flush: (durability ?? this.durability) === 'immediate' });
    this.changed(kind, name, tier);
  }

  /**
   * A runtime item written in pieces of a known total (RuntimeStore.beginValue):
   * nothing is held whole in the heap; subscribers hear of it at commit, as of
   * any write. While it is open the runtime tier refuses other writes.
   */
  beginWrite(kind: ItemKind, name: string, length: number, encoding: number, durability?: Durability): { append(chunk: Uint8Array): void; commit(): void; abort(): void } {
    this.writable(APPLICATION_DATA, name);
    const writer = this.runtime!.beginValue(storageKey(kind, name), length, { encoding, flush: (durability ?? this.durability) === 'immediate' });
    return {
      append: (chunk) => writer.append(chunk),
      commit: () => {
        writer.commit();
        this.changed(kind, name, APPLICATION_DATA);
      },
      abort: () => writer.abort(),
    };
  }

  remove(kind: ItemKind, name: string, tier: Tier = APPLICATION_DATA, durability?: Durability): boolean {
    this.writable(tier, name);
    const key = storageKey(kind, name);
    const removed = tier === EPHEMERAL_DATA ? this.ephemeral!.delete(key) : this.runtime!.delete(key, { flush: (durability ?? this.durability) === 'immediate' });
    if (removed) this.changed(kind, name, tier);
    return removed;
  }

  /**
   * Names of items of a kind, each once, across the given tiers (default
   * all), in listing order (name-pages.ts). Bounded: more than
   * MAX_LISTED_NAMES is refused with a typed error (list a page at a time
   * with namesPage) instead of filling the engine heap.
   */
  names(kind: ItemKind, tiers: Tier[] = LOOKUP_ORDER, prefix = ''): string[] {
    const page = this.namesPage(kind, tiers, prefix, undefined, MAX_LISTED_NAMES + 1);
    if (page.length > MAX_LISTED_NAMES) throw new TierError('list-too-large', `more than ${MAX_LISTED_NAMES} ${kind === 'image' ? 'images' : 'keys'} match "${prefix}": list them a page at a time with list({ prefix, after, limit })`);
    return page;
  }

  /**
   * Up to `limit` names after `after` in listing order (the order of every
   * page: the hash of the storage key, then the name). Holds one page in the
   * heap; the ephemeral area's keys under the prefix come from the host.
   */
  namesPage(kind: ItemKind, tiers: Tier[], prefix: string, after: string | undefined, limit: number): string[] {
    if (!(limit >= 1)) throw new TierError('limit-invalid', `limit ${limit} must be a number of names, 1 or more`);
    const keyPrefix = storageKey(kind, prefix);
    const strip = storageKey(kind, '').length;
    const cursor: NameAt | null = after === undefined ? null : nameAt(storageKey(kind, after), strip);
    const page: NameAt[] = [];
    const offer = (item: NameAt) => {
      if (!cursor || before(cursor, item)) keepFirst(page, item, limit);
    };
    for (const t of tiers) {
      if (t === EPHEMERAL_DATA && this.ephemeral) for (const k of this.ephemeralKeys(keyPrefix, after === undefined ? undefined : storageKey(kind, after), limit)) offer(nameAt(k, strip));
      if (t === APPLICATION_DATA && this.runtime) for (const item of runtimePage(this.runtime, keyPrefix, strip, cursor, limit)) offer(item);
      if (t === FACTORY_DATA && this.factory) for (const i of this.factory.items(kind)) if (i.name.startsWith(prefix)) offer(nameAt(storageKey(kind, i.name), strip));
    }
    return page.map((n) => n.name);
  }

  /**
   * How many names of a kind the given tiers hold under a prefix, each once,
   * counting those `visible` accepts: one pass per tier, nothing kept but the
   * count (a name in several tiers is counted once).
   */
  count(kind: ItemKind, tiers: Tier[], prefix: string, visible: (name: string) => boolean = () => true): number {
    const keyPrefix = storageKey(kind, prefix);
    const strip = storageKey(kind, '').length;
    const counted: Tier[] = [];
    const inCounted = (name: string) => counted.some((t) => this.find(kind, name, t) !== undefined);
    let n = 0;
    // The runtime tier first: the big one is then counted without asking the others about each name.
    const order: Tier[] = [...tiers.filter((x) => x === APPLICATION_DATA), ...tiers.filter((x) => x !== APPLICATION_DATA)];
    for (const t of order) {
      if (t === EPHEMERAL_DATA && this.ephemeral) {
        const consider = (k: string) => {
          if (visible(k.slice(strip)) && !inCounted(k.slice(strip))) n++;
        };
        const eph = this.ephemeral;
        if (!eph.keysPage) eph.keys(keyPrefix).forEach(consider);
        else for (let page = eph.keysPage(keyPrefix, undefined, 256); page.length > 0; page = eph.keysPage(keyPrefix, page[page.length - 1], 256)) page.forEach(consider);
      }
      if (t === APPLICATION_DATA && this.runtime)
        this.runtime.forEachKey((_hash, read) => {
          const k = read();
          if (k !== undefined && k.startsWith(keyPrefix) && visible(k.slice(strip)) && !inCounted(k.slice(strip))) n++;
        });
      if (t === FACTORY_DATA && this.factory) for (const i of this.factory.items(kind)) if (i.name.startsWith(prefix) && visible(i.name) && !inCounted(i.name)) n++;
      counted.push(t);
    }
    return n;
  }

  /** Ephemeral storage keys: a page from an area that pages (the engine's host), else all (in Node, outside any engine heap). */
  private ephemeralKeys(keyPrefix: string, after: string | undefined, limit: number): string[] {
    const eph = this.ephemeral!;
    return eph.keysPage ? eph.keysPage(keyPrefix, after, limit) : eph.keys(keyPrefix);
  }

  /** Commit batched runtime writes; then tell subscribers about them. */
  flush(): void {
    this.runtime?.flush();
    this.deliver();
  }

  /** Runtime writes accepted but not yet committed. */
  get pendingWrites(): number {
    return this.runtime ? this.runtime.pendingWrites : 0;
  }

  subscribe(kind: ItemKind, prefix: string, callback: (name: string, tier: Tier) => void): () => void {
    const entry = { prefix, kind, callback };
    this.listeners.push(entry);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== entry);
    };
  }

  private changed(kind: ItemKind, name: string, tier: Tier): void {
    if (this.listeners.length === 0) return;
    this.pending.push({ kind, name, tier });
    // Subscribers hear of a write once it is durable: now for ephemeral and immediate runtime writes.
    if (!this.runtime || this.runtime.pendingWrites === 0) this.deliver();
  }

  private deliver(): void {
    const due = this.pending;
    this.pending = [];
    for (const change of due) {
      for (const l of this.listeners) if (l.kind === change.kind && change.name.startsWith(l.prefix)) l.callback(change.name, change.tier);
    }
  }

  private writable(tier: Tier, name: string): void {
    if (tier === FACTORY_DATA) throw new ReadOnlyTierError(name);
    if (!this.has(tier)) throw new TierUnavailableError(TIER_NAMES[tier], this.problems[tier]);
  }

  /**
   * Back to exactly what the factory image holds: the ephemeral area is
   * emptied and the runtime partition reformatted. Reformatting is one sector
   * open (atomic): a power cut leaves the old runtime data or none, and the
   * factory tier is never written. A reformat that fails (flash failure)
   * leaves the runtime tier unavailable (what its partition holds is not
   * known until a mount reads it), still starts the factory app, and then
   * throws RuntimeReformatError.
   */
  factoryReset(): void {
    const hooks = this.resetHooks;
    hooks?.before();
    this.ephemeral?.clear();
    let failed: RuntimeReformatError | null = null;
    if (this.runtime) {
      try {
        this.runtime = RuntimeStore.reformat(this.runtime);
      } catch (e) {
        // Power lost mid-reformat: on a dock nothing runs after it (the simulator's flash says so by throwing).
        if (e instanceof FlashError && e.code === 'power-loss') throw e;
        failed = new RuntimeReformatError(e instanceof Error ? e.message : String(e));
        this.runtime = null;
        this.problems[APPLICATION_DATA] = 'a factory reset could not reformat it: restart the dock, then run the factory reset again';
      }
    }
    this.pending = [];
    hooks?.after(failed);
    if (failed) throw failed;
  }

  /** Used and free bytes per tier. */
  capacity(): { tier: string; usedBytes: number; freeBytes: number; capacityBytes: number; available: boolean }[] {
    const out = [];
    if (this.factory) {
      const h = this.factory.header;
      // The slot's last sector holds its commit record (factory/FORMAT.md §7): not room for images.
      out.push({ tier: 'factory', usedBytes: h.perDockOffset, freeBytes: h.partitionSize - SLOT_RESERVED_BYTES - h.perDockOffset - h.perDockCapacity, capacityBytes: h.partitionSize - SLOT_RESERVED_BYTES, available: true });
    } else out.push({ tier: 'factory', usedBytes: 0, freeBytes: 0, capacityBytes: 0, available: false });
    if (this.runtime) {
      const s = this.runtime.stats();
      out.push({ tier: 'runtime', usedBytes: s.liveBytes, freeBytes: s.freeBytes, capacityBytes: s.capacityBytes, available: true });
    } else out.push({ tier: 'runtime', usedBytes: 0, freeBytes: 0, capacityBytes: 0, available: false });
    if (this.ephemeral) {
      const used = this.ephemeral.usedBytes();
      out.push({ tier: 'ephemeral', usedBytes: used, freeBytes: this.ephemeral.capacityBytes - used, capacityBytes: this.ephemeral.capacityBytes, available: true });
    } else out.push({ tier: 'ephemeral', usedBytes: 0, freeBytes: 0, capacityBytes: 0, available: false });
    return out;
  }

  now(): number {
    return this.clock ? Math.floor(this.clock.now() / 1000) >>> 0 : 0;
  }
}
