// CodeStore: the application, stored like any item (factory: the first app;
// runtime: a newer version; ephemeral: code pushed during development).

import { crc32 } from '../bytes/crc32.ts';
import { utf8Decode, utf8Encode } from '../bytes/utf8.ts';
import { storeScope, type ScopeOptions } from './tiers/store-scope.ts';
import { APPLICATION_DATA, TIER_NAMES, type Tier, type TierSet } from './tiers/tier-set.ts';

const APP = 'app';

export interface CodeInfo {
  /** CRC-32 of the code bytes: the 32-bit checksum factory test apps compare. */
  checksum: number;
  size: number;
  tier: string;
  writtenAt: number;
}

export class CodeStore {
  private readonly tiers: TierSet;
  private readonly tier: Tier | undefined;

  constructor(options: Tier | ScopeOptions = {}) {
    ({ tiers: this.tiers, tier: this.tier } = storeScope(options));
  }

  /** The code the dock would run (ephemeral, then runtime, then factory), or '' if none. */
  get(): string {
    const found = this.tiers.fetch('code', APP, this.tier);
    return found ? utf8Decode(found.bytes) : '';
  }

  info(): CodeInfo | undefined {
    const found = this.tiers.fetch('code', APP, this.tier);
    if (!found) return undefined;
    const { ref, bytes } = found;
    return { checksum: crc32(bytes), size: ref.size, tier: TIER_NAMES[ref.tier], writtenAt: ref.writtenAt };
  }

  put(source: string, options: { tier?: Tier } = {}): void {
    this.tiers.write('code', APP, utf8Encode(source), 0, options.tier ?? this.tier ?? APPLICATION_DATA, 'immediate');
  }

  delete(options: { tier?: Tier } = {}): boolean {
    return this.tiers.remove('code', APP, options.tier ?? this.tier ?? APPLICATION_DATA);
  }
}
