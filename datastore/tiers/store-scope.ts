// What a store handle works on: the installed tiers (or given ones) and,
// optionally, one tier. Shared by the SDK-shaped stores.

import { Datastore } from '../datastore.ts';
import type { Tier, TierSet } from './tier-set.ts';

export interface ScopeOptions {
  tier?: Tier;
  tiers?: TierSet;
}

export function storeScope(options: Tier | ScopeOptions): { tiers: TierSet; tier: Tier | undefined } {
  const o: ScopeOptions = typeof options === 'number' ? { tier: options } : options;
  return { tiers: o.tiers ?? Datastore.current(), tier: o.tier };
}
