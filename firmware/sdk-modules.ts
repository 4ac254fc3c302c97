// The modules a dock app imports, as the app loader hands them out. The
// vendor SDK's names (get_token, set_background, dock_id) sit beside ours as
// the same function objects, not wrappers (README: "Vendor SDK names").

import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { CodeStore } from '../datastore/code-store.ts';
import { Datastore } from '../datastore/datastore.ts';
import { ValueNotStorableError } from '../datastore/value-codec.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA, FACTORY_DATA } from '../datastore/tiers/tier-set.ts';
import { EphemeralFullError, EphemeralUnavailableError, NotFoundError, ReadOnlyTierError, RuntimeReformatError, TierError, TierUnavailableError, TokenInvalidError } from '../datastore/tiers/tier-errors.ts';
import { CorruptRecordError, KeyInvalidError, KeyTooLongError, PartitionFullError, StoreError, ValueTooLargeError } from '../datastore/runtime/errors.ts';
import { ImageInvalidError } from '../images/image-check.ts';
import { BMP, JPEG, NONE, PNG } from '../images/image-type.ts';
import { Splashscreen } from './splashscreen.ts';
import { hostHal } from './host-hal.ts';
import { perDock } from './boot.ts';
import { Timer, type TimerQueue } from './timers.ts';

const dockId = () => hostHal().otpDockId();
// Per-dock data from the factory line: opened on each call, never cached in the heap.
const dockInfo = {
  dockId,
  dock_id: dockId,
  name: () => (perDock ? perDock.open().name : ''),
  enrolmentToken: () => (perDock ? perDock.open().token : ''),
  perDockValue: (key: string) => (perDock ? (perDock.open().values[key] ?? '') : ''),
};

/** The error classes an app can test with instanceof (each has its own name and code). */
const errors = {
  TierError,
  EphemeralFullError,
  EphemeralUnavailableError,
  ReadOnlyTierError,
  TierUnavailableError,
  TokenInvalidError,
  NotFoundError,
  RuntimeReformatError,
  ValueNotStorableError,
  StoreError,
  KeyInvalidError,
  KeyTooLongError,
  ValueTooLargeError,
  PartitionFullError,
  CorruptRecordError,
  ImageInvalidError,
};

/**
 * `subscriptions` collects the app's unsubscribe functions: when another app
 * is started in its place (pushed code, factory reset), its callbacks are
 * dropped with it.
 */
export function sdkModules(timers: TimerQueue, subscriptions: (() => void)[] = []): Record<string, unknown> {
  class AppKvStore extends KvStore {
    override subscribe(keyOrPrefix: string, callback: (key: string, tier: string) => void): () => void {
      // An app stopped (for example by its own factory reset) hears nothing more, like its timers.
      if (timers.isStopped) return () => {};
      const unsubscribe = super.subscribe(keyOrPrefix, callback);
      subscriptions.push(unsubscribe);
      return unsubscribe;
    }
  }
  return {
    datastore: { KvStore: AppKvStore, ImageStore, CodeStore, Datastore, FACTORY_DATA, APPLICATION_DATA, EPHEMERAL_DATA, ...errors },
    image: { NONE, PNG, BMP, JPEG },
    dock: { DockInfo: () => dockInfo },
    wakeup: { wakeup: (task: () => void, ms: number, repeatMs = 0) => timers.wakeup(task, ms, repeatMs), Timer },
    splashscreen: { Splashscreen },
  };
}
