// The modules a dock app imports, as the app loader hands them out.

import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { CodeStore } from '../datastore/code-store.ts';
import { Datastore } from '../datastore/datastore.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA, FACTORY_DATA } from '../datastore/tiers/tier-set.ts';
import { BMP, JPEG, NONE, PNG } from '../images/image-type.ts';
import { Splashscreen } from './splashscreen.ts';
import { hostHal } from './host-hal.ts';
import { perDock } from './boot.ts';
import type { TimerQueue } from './timers.ts';

/**
 * `subscriptions` collects the app's unsubscribe functions: when another app
 * is started in its place (pushed code), its callbacks are dropped with it.
 */
export function sdkModules(timers: TimerQueue, subscriptions: (() => void)[] = []): Record<string, unknown> {
  class AppKvStore extends KvStore {
    override subscribe(keyOrPrefix: string, callback: (key: string, tier: string) => void): () => void {
      const unsubscribe = super.subscribe(keyOrPrefix, callback);
      subscriptions.push(unsubscribe);
      return unsubscribe;
    }
  }
  return {
    datastore: { KvStore: AppKvStore, ImageStore, CodeStore, Datastore, FACTORY_DATA, APPLICATION_DATA, EPHEMERAL_DATA },
    image: { NONE, PNG, BMP, JPEG },
    dock: {
      DockInfo: () => ({
        dockId: () => hostHal().otpDockId(),
        // Per-dock data from the factory line: opened on each call, never cached in the heap.
        name: () => (perDock ? perDock.open().name : ''),
        enrolmentToken: () => (perDock ? perDock.open().token : ''),
        perDockValue: (key: string) => (perDock ? (perDock.open().values[key] ?? '') : ''),
      }),
    },
    wakeup: { wakeup: (task: () => void, ms: number, repeatMs = 0) => timers.wakeup(task, ms, repeatMs) },
    splashscreen: { Splashscreen },
  };
}
