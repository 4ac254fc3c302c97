// The dock's datastore as the application sees it. The firmware installs the
// tiers at boot; `new KvStore()` and friends then use them, as in the SDK.

import { TierSet, type TierSetParts } from './tiers/tier-set.ts';
import { TierError } from './tiers/tier-errors.ts';

let installed: TierSet | null = null;

export const Datastore = {
  /** Called by the firmware at boot (and by tests). */
  install(parts: TierSetParts | TierSet): TierSet {
    installed = parts instanceof TierSet ? parts : new TierSet(parts);
    return installed;
  },
  isInstalled(): boolean {
    return installed !== null;
  },
  current(): TierSet {
    if (!installed) throw new TierError('not-installed', 'the datastore is not set up: the firmware installs it at boot (tests: Datastore.install({...}))');
    return installed;
  },
  /** Runtime and ephemeral tiers emptied; every read then returns what the factory image holds. */
  factoryReset(): void {
    Datastore.current().factoryReset();
  },
  capacity() {
    return Datastore.current().capacity();
  },
  flush(): void {
    Datastore.current().flush();
  },
};
