// The `datastore` module an app imports.
export { Datastore } from './datastore.ts';
export { KvStore, type KvStoreOptions, type KvWriteOptions, type KvInfo } from './kv-store.ts';
export { ImageStore, type ImageToken, type ImageInfoView } from './image-store.ts';
export { CodeStore, type CodeInfo } from './code-store.ts';
export { FACTORY_DATA, APPLICATION_DATA, EPHEMERAL_DATA, type Tier } from './tiers/tier-set.ts';
export * from './tiers/tier-errors.ts';
export { StoreError, KeyInvalidError, KeyTooLongError, ValueTooLargeError, PartitionFullError, CorruptRecordError } from './runtime/errors.ts';
export { ValueNotStorableError } from './value-codec.ts';
