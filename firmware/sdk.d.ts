// Types of the modules a dock app imports (resolved by the firmware at run time).
// Vendor SDK names (get_token, set_background, dock_id) are the same functions as ours.
declare module 'datastore' {
  export { KvStore, ImageStore, CodeStore, Datastore, FACTORY_DATA, APPLICATION_DATA, EPHEMERAL_DATA } from '../datastore/index.ts';
  export { TierError, EphemeralFullError, EphemeralUnavailableError, ReadOnlyTierError, TierUnavailableError, TokenInvalidError, NotFoundError } from '../datastore/tiers/tier-errors.ts';
  export { StoreError, KeyInvalidError, KeyTooLongError, ValueTooLargeError, PartitionFullError, CorruptRecordError } from '../datastore/runtime/errors.ts';
  export { ValueNotStorableError } from '../datastore/value-codec.ts';
  export { ImageInvalidError } from '../images/image-check.ts';
}
declare module 'image' {
  export { NONE, PNG, BMP, JPEG } from '../images/image-type.ts';
}
declare module 'splashscreen' {
  export { Splashscreen } from './splashscreen.ts';
}
declare module 'wakeup' {
  export { Timer } from './timers.ts';
  /** Runs `task` after `timeMs`, then every `repeatMs` if > 0 (the dock clock; see README for resolution). */
  export function wakeup(task: () => void, timeMs: number, repeatMs?: number): import('./timers.ts').Timer;
}
declare module 'dock' {
  export function DockInfo(): {
    dockId(): string;
    /** The vendor SDK's name for dockId. */
    dock_id(): string;
    /** From the factory line's per-dock data ('' on a dock not provisioned). */
    name(): string;
    enrolmentToken(): string;
    perDockValue(key: string): string;
  };
}
declare const console: { log(...args: unknown[]): void; error(...args: unknown[]): void };
