// KvStore: the SDK's key-value store over the three tiers, plus the seeds'
// additions (namespaces, metadata queries, subscriptions, replace, per-write
// durability).

import { decodeValue, encodeValue, type DockValue } from './value-codec.ts';
import { Datastore } from './datastore.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA, LOOKUP_ORDER, TIER_NAMES, type Durability, type Tier, type TierSet } from './tiers/tier-set.ts';
import { TierError } from './tiers/tier-errors.ts';

/** Separates a namespace from its keys in stored names; not allowed in keys or namespaces. */
const NS = '\u001f';

export interface KvStoreOptions {
  /** Read and write this tier only. */
  tier?: Tier;
  /** A named namespace: persists by default and reconnects by name. */
  namespace?: string;
  /** Delete this namespace's items when close() is called. */
  cleanupOnClose?: boolean;
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

  constructor(options: Tier | KvStoreOptions = {}) {
    const o: KvStoreOptions = typeof options === 'number' ? { tier: options } : options;
    this.tiers = o.tiers ?? Datastore.current();
    this.tier = o.tier;
    if (o.namespace !== undefined && (o.namespace === '' || o.namespace.indexOf(NS) >= 0)) throw new TierError('namespace-invalid', `namespace ${JSON.stringify(o.namespace)} is empty or holds a control character`);
    this.prefix = o.namespace ? `${o.namespace}${NS}` : '';
    this.cleanupOnClose = o.cleanupOnClose ?? false;
  }

  /** The value, or '' when no tier has the key (as the SDK promises). */
  get(key: string): DockValue {
    const found = this.tiers.fetch('kv', this.name(key), this.tier);
    return found ? decodeValue(found.ref.encoding, found.bytes) : '';
  }

  has(key: string): boolean {
    return this.tiers.find('kv', this.name(key), this.tier) !== undefined;
  }

  set(key: string, value: DockValue, options: KvWriteOptions = {}): void {
    const { encoding, bytes } = encodeValue(value);
    this.tiers.write('kv', this.name(key), bytes, encoding, options.tier ?? this.tier ?? APPLICATION_DATA, options.durability);
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
    return this.tiers.remove('kv', this.name(key), options.tier ?? this.tier ?? APPLICATION_DATA, options.durability);
  }

  /** Keys that have values, across tiers (or one), each once. */
  list(filter: { prefix?: string; tier?: Tier } = {}): string[] {
    const tier = filter.tier ?? this.tier;
    const names = this.tiers.names('kv', tier === undefined ? LOOKUP_ORDER : [tier], this.prefix + (filter.prefix ?? ''));
    return names.filter((n) => this.prefix !== '' || n.indexOf(NS) < 0).map((n) => n.slice(this.prefix.length));
  }

  info(key: string): KvInfo | undefined {
    const ref = this.tiers.find('kv', this.name(key), this.tier);
    return ref && { key, tier: TIER_NAMES[ref.tier], size: ref.size, writtenAt: ref.writtenAt, encoding: ref.encoding };
  }

  /** Called after a change to a key with this prefix is durable. Returns the unsubscribe function. */
  subscribe(keyOrPrefix: string, callback: (key: string, tier: string) => void): () => void {
    return this.tiers.subscribe('kv', this.prefix + keyOrPrefix, (name, tier) => callback(name.slice(this.prefix.length), TIER_NAMES[tier]));
  }

  flush(): void {
    this.tiers.flush();
  }

  /** Delete every item of this namespace from the ephemeral and runtime tiers. */
  cleanup(): number {
    this.requireNamespace('cleanup');
    let n = 0;
    for (const tier of [EPHEMERAL_DATA, APPLICATION_DATA] as Tier[]) {
      if (!this.tiers.has(tier)) continue;
      for (const name of this.tiers.names('kv', [tier], this.prefix)) if (this.tiers.remove('kv', name, tier)) n++;
    }
    return n;
  }

  /** Move this namespace's ephemeral items to the runtime tier (they then survive a restart). */
  persist(): number {
    this.requireNamespace('persist');
    if (!this.tiers.has(EPHEMERAL_DATA)) return 0;
    let n = 0;
    for (const name of this.tiers.names('kv', [EPHEMERAL_DATA], this.prefix)) {
      const { ref, bytes } = this.tiers.fetch('kv', name, EPHEMERAL_DATA)!;
      this.tiers.write('kv', name, bytes, ref.encoding, APPLICATION_DATA);
      this.tiers.remove('kv', name, EPHEMERAL_DATA);
      n++;
    }
    this.tiers.flush();
    return n;
  }

  close(): void {
    if (this.cleanupOnClose && this.prefix) this.cleanup();
  }

  private requireNamespace(what: string): void {
    if (!this.prefix) throw new TierError('namespace-required', `${what}() works on a named namespace: new KvStore({ namespace: '…' })`);
  }

  private name(key: string): string {
    if (typeof key !== 'string' || key === '' || key.indexOf(NS) >= 0) throw new TierError('key-invalid', `key ${JSON.stringify(key)} is empty, not a string, or holds a control character`);
    return this.prefix + key;
  }
}
