// KvStore: the SDK's key-value store over the three tiers, plus the seeds'
// additions (namespaces, metadata queries, subscriptions, replace, per-write
// durability).

import { decodeValue, encodeValue, ValueEncoding, ValueNotStorableError, type DockValue } from './value-codec.ts';
import { Datastore } from './datastore.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA, LOOKUP_ORDER, TIER_NAMES, storageKey, type Durability, type Tier, type TierSet } from './tiers/tier-set.ts';
import { TierError } from './tiers/tier-errors.ts';
import { KeyInvalidError, KeyTooLongError } from './runtime/errors.ts';
import { MAX_KEY_BYTES } from './runtime/format.ts';
import { Utf8Checker, utf8Encode } from '../bytes/utf8.ts';

/** Separates a namespace from its keys in stored names; not allowed in keys or namespaces. */
const NS = '\u001f';

/** The stored kv name of `key` in `namespace` (none: the key itself). */
export function kvName(namespace: string | undefined, key: string): string {
  return namespace ? `${namespace}${NS}${key}` : key;
}

/** A stored kv name as the app wrote it: the key, and its namespace if it has one (for event logs). */
export function splitKvName(name: string): { namespace: string; key: string } {
  const at = name.indexOf(NS);
  return at < 0 ? { namespace: '', key: name } : { namespace: name.slice(0, at), key: name.slice(at + 1) };
}

/** The most UTF-8 bytes of a kv name (namespace, separator and key) in the runtime tier: the store's key limit less its `kv/` prefix. */
export const MAX_RUNTIME_KV_NAME_BYTES = MAX_KEY_BYTES - utf8Encode(storageKey('kv', '')).length;

/** A value written in pieces (KvStore.beginSet): append them in order, then commit; abort leaves the key as it was. */
export interface KvValueWriter {
  append(chunk: Uint8Array): void;
  commit(): void;
  abort(): void;
}

export interface KvStoreOptions {
  /** Read and write this tier only. */
  tier?: Tier;
  /** A named namespace: persists by default and reconnects by name. */
  namespace?: string;
  /** Delete this namespace's items when close() is called. */
  cleanupOnClose?: boolean;
  /** This handle's writes: 'immediate' (the default: on flash when set returns) or 'batched' (committed every few writes or on flush()). */
  durability?: Durability;
  tiers?: TierSet;
}

export interface KvWriteOptions {
  tier?: Tier;
  durability?: Durability;
}

export interface KvInfo {
  key: string;
  tier: string;
  size: number;
  /** Seconds since 1970. */
  writtenAt: number;
  encoding: number;
}

export class KvStore {
  private readonly tiers: TierSet;
  private readonly tier: Tier | undefined;
  private readonly prefix: string;
  private readonly cleanupOnClose: boolean;
  private readonly durability: Durability | undefined;

  constructor(options: Tier | KvStoreOptions = {}) {
    const o: KvStoreOptions = typeof options === 'number' ? { tier: options } : options;
    this.tiers = o.tiers ?? Datastore.current();
    this.tier = o.tier;
    if (o.namespace !== undefined && (o.namespace === '' || o.namespace.indexOf(NS) >= 0)) throw new TierError('namespace-invalid', `namespace ${JSON.stringify(o.namespace)} is empty or holds a control character`);
    this.prefix = o.namespace ? `${o.namespace}${NS}` : '';
    this.cleanupOnClose = o.cleanupOnClose ?? false;
    this.durability = o.durability;
  }

  /**
   * The value, or '' when no tier has the key (as the SDK promises): a stored
   * '' and a missing key read the same; has() tells them apart.
   */
  get(key: string): DockValue {
    const found = this.tiers.fetch('kv', this.name(key), this.tier);
    return found ? decodeValue(found.ref.encoding, found.bytes) : '';
  }

  has(key: string): boolean {
    return this.tiers.find('kv', this.name(key), this.tier) !== undefined;
  }

  set(key: string, value: DockValue, options: KvWriteOptions = {}): void {
    const tier = options.tier ?? this.tier ?? APPLICATION_DATA;
    const name = this.writeName(key, tier);
    const { encoding, bytes } = encodeValue(value, JSON.stringify(key));
    this.tiers.write('kv', name, bytes, encoding, tier, options.durability ?? this.durability);
  }

  /**
   * A value too large for the heap, written to the runtime tier in pieces of
   * a known total `length`: bytes, or (`text`) the UTF-8 bytes of a text,
   * checked as they arrive (across pieces): a piece that is not UTF-8, or a
   * commit inside a character, is refused with ValueNotStorableError and
   * the write is abandoned (the key keeps its old value). The key passes
   * the same check as set's, before anything is written. Until commit the
   * key keeps its old value and the runtime tier refuses other writes.
   */
  beginSet(key: string, length: number, options: { text?: boolean; durability?: Durability } = {}): KvValueWriter {
    const name = this.writeName(key, APPLICATION_DATA);
    if (this.tier !== undefined && this.tier !== APPLICATION_DATA) throw new TierError('tier-invalid', `beginSet writes the runtime tier only; this handle is bound to the ${TIER_NAMES[this.tier]} tier`);
    const writer = this.tiers.beginWrite('kv', name, length, options.text ? ValueEncoding.Utf8 : ValueEncoding.Bytes, options.durability ?? this.durability);
    if (!options.text) return writer;
    const utf8 = new Utf8Checker();
    const refuse = (what: string): never => {
      writer.abort();
      throw new ValueNotStorableError('value', what);
    };
    return {
      append: (chunk) => {
        if (!utf8.push(chunk)) refuse('not UTF-8 text (write it as bytes)');
        writer.append(chunk);
      },
      commit: () => {
        if (!utf8.complete) refuse('not UTF-8 text: it ends inside a character (write it as bytes)');
        writer.commit();
      },
      abort: () => writer.abort(),
    };
  }

  /** Write only if the key already has a value (in the tier written to); returns whether it did. */
  replace(key: string, value: DockValue, options: KvWriteOptions = {}): boolean {
    const tier = options.tier ?? this.tier ?? APPLICATION_DATA;
    if (!this.tiers.find('kv', this.name(key), tier)) return false;
    this.set(key, value, { ...options, tier });
    return true;
  }

  /**
   * Remove the key's value from one tier (the runtime tier unless named).
   * A factory value under the same key shows through again afterwards.
   */
  delete(key: string, options: KvWriteOptions = {}): boolean {
    return this.tiers.remove('kv', this.name(key), options.tier ?? this.tier ?? APPLICATION_DATA, options.durability ?? this.durability);
  }

  /**
   * Keys that have values, across tiers (or one), each once. With `limit`,
   * one page: at most `limit` keys after the key `after` (the last key of
   * the previous page) in listing order; an empty page ends the listing.
   * Without, every key, refused with TierError 'list-too-large' past
   * MAX_LISTED_NAMES (a whole listing must fit the engine heap).
   */
  list(filter: { prefix?: string; tier?: Tier; after?: string; limit?: number } = {}): string[] {
    const tier = filter.tier ?? this.tier;
    const tiers = tier === undefined ? LOOKUP_ORDER : [tier];
    const prefix = this.prefix + (filter.prefix ?? '');
    const visible = (n: string) => this.prefix !== '' || n.indexOf(NS) < 0;
    if (filter.limit === undefined) {
      if (filter.after !== undefined) throw new TierError('limit-invalid', 'list({ after }) needs a limit: list({ prefix, after, limit })');
      return this.tiers.names('kv', tiers, prefix).filter(visible).map((n) => n.slice(this.prefix.length));
    }
    const out: string[] = [];
    let after = filter.after === undefined ? undefined : this.prefix + filter.after;
    // Names of other namespaces are skipped, so a short page is not yet the end: read on.
    for (;;) {
      const page = this.tiers.namesPage('kv', tiers, prefix, after, filter.limit);
      for (const n of page) if (visible(n) && out.length < filter.limit) out.push(n.slice(this.prefix.length));
      if (out.length >= filter.limit || page.length < filter.limit) return out;
      after = page[page.length - 1];
    }
  }

  /** How many keys list() would return, without listing them (one pass over each tier). */
  count(filter: { prefix?: string; tier?: Tier } = {}): number {
    const tier = filter.tier ?? this.tier;
    return this.tiers.count('kv', tier === undefined ? LOOKUP_ORDER : [tier], this.prefix + (filter.prefix ?? ''), (n) => this.prefix !== '' || n.indexOf(NS) < 0);
  }

  info(key: string): KvInfo | undefined {
    const ref = this.tiers.find('kv', this.name(key), this.tier);
    return ref && { key, tier: TIER_NAMES[ref.tier], size: ref.size, writtenAt: ref.writtenAt, encoding: ref.encoding };
  }

  /** Called after a change to a key with this prefix is durable. Returns the unsubscribe function. */
  subscribe(keyOrPrefix: string, callback: (key: string, tier: string) => void): () => void {
    return this.tiers.subscribe('kv', this.prefix + keyOrPrefix, (name, tier) => callback(name.slice(this.prefix.length), TIER_NAMES[tier]));
  }

  /** Commit every batched write (of any handle) now. */
  flush(): void {
    this.tiers.flush();
  }

  /** Batched writes not yet on flash: what a power cut now would lose. */
  get pendingWrites(): number {
    return this.tiers.pendingWrites;
  }

  /** Delete every item of this namespace from the ephemeral and runtime tiers. */
  cleanup(): number {
    this.requireNamespace('cleanup');
    let n = 0;
    for (const tier of [EPHEMERAL_DATA, APPLICATION_DATA] as Tier[]) {
      if (!this.tiers.has(tier)) continue;
      // A page at a time: what was removed is gone from the next first page.
      for (let page = this.firstPage(tier); page.length > 0; page = this.firstPage(tier)) for (const name of page) if (this.tiers.remove('kv', name, tier)) n++;
    }
    return n;
  }

  /** Move this namespace's ephemeral items to the runtime tier (they then survive a restart). */
  persist(): number {
    this.requireNamespace('persist');
    if (!this.tiers.has(EPHEMERAL_DATA)) return 0;
    let n = 0;
    for (let page = this.firstPage(EPHEMERAL_DATA); page.length > 0; page = this.firstPage(EPHEMERAL_DATA)) {
      for (const name of page) {
        const { ref, bytes } = this.tiers.fetch('kv', name, EPHEMERAL_DATA)!;
        this.tiers.write('kv', name, bytes, ref.encoding, APPLICATION_DATA);
        this.tiers.remove('kv', name, EPHEMERAL_DATA);
        n++;
      }
    }
    this.tiers.flush();
    return n;
  }

  private firstPage(tier: Tier): string[] {
    return this.tiers.namesPage('kv', [tier], this.prefix, undefined, 256);
  }

  close(): void {
    if (this.cleanupOnClose && this.prefix) this.cleanup();
  }

  private requireNamespace(what: string): void {
    if (!this.prefix) throw new TierError('namespace-required', `${what}() works on a named namespace: new KvStore({ namespace: '…' })`);
  }

  /**
   * The one key check of every KvStore write, whole (set) or in pieces
   * (beginSet): the key itself (name()), and in the runtime tier the length
   * of its stored name, refused as the app wrote the key (the limit is what
   * is left after the `kv/` prefix and this handle's namespace).
   */
  private writeName(key: string, tier: Tier): string {
    const name = this.name(key);
    if (tier === APPLICATION_DATA) {
      const bytes = utf8Encode(name).length;
      if (bytes > MAX_RUNTIME_KV_NAME_BYTES) {
        const prefixBytes = utf8Encode(this.prefix).length;
        throw new KeyTooLongError(key, bytes - prefixBytes, MAX_RUNTIME_KV_NAME_BYTES - prefixBytes);
      }
    }
    return name;
  }

  private name(key: string): string {
    if (typeof key !== 'string' || key === '' || key.indexOf(NS) >= 0) throw new KeyInvalidError(`key ${JSON.stringify(key)} is empty, not a string, or holds a control character`);
    return this.prefix + key;
  }
}
