// CodeStore: the application, stored like any item (factory: the first app;
// runtime: a newer version; ephemeral: code pushed during development).
// info() describes the app that is running (the firmware says which when it
// starts one, and why that one); info({ tier }) a stored one.

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
  /** Whether this is the code the dock is running now. */
  running: boolean;
  /** For the running app: why this one runs (first in lookup order, or which app failed first, or a factory reset). */
  reason?: string;
}

/** The app the firmware started last, as it was when started (null: none, or not on a dock). */
let runningApp: CodeInfo | null = null;

export class CodeStore {
  private readonly tiers: TierSet;
  private readonly tier: Tier | undefined;

  constructor(options: Tier | ScopeOptions = {}) {
    ({ tiers: this.tiers, tier: this.tier } = storeScope(options));
  }

  /** Called by the firmware's app loader: the app now running (null when it stops). */
  static setRunning(info: CodeInfo | null): void {
    runningApp = info;
  }

  /** The code the dock would run (ephemeral, then runtime, then factory), or '' if none. */
  get(): string {
    const found = this.read();
    return found ? found.source : '';
  }

  /**
   * The running app by default (on a dock that runs one); with { tier } (or
   * a handle made for a tier), the code stored there. undefined: no code.
   */
  info(options: { tier?: Tier } = {}): CodeInfo | undefined {
    const tier = options.tier ?? this.tier;
    if (tier === undefined && runningApp) return { ...runningApp };
    return this.read(tier)?.info;
  }

  /** Source and description of the stored code, in one read. */
  read(tier: Tier | undefined = this.tier): { source: string; info: CodeInfo } | undefined {
    const found = this.tiers.fetch('code', APP, tier);
    if (!found) return undefined;
    const { ref, bytes } = found;
    const checksum = crc32(bytes);
    const t = TIER_NAMES[ref.tier];
    const running = runningApp !== null && runningApp.tier === t && runningApp.checksum === checksum;
    return { source: utf8Decode(bytes), info: { checksum, size: ref.size, tier: t, writtenAt: ref.writtenAt, running } };
  }

  put(source: string, options: { tier?: Tier } = {}): void {
    this.tiers.write('code', APP, utf8Encode(source), 0, options.tier ?? this.tier ?? APPLICATION_DATA, 'immediate');
  }

  delete(options: { tier?: Tier } = {}): boolean {
    return this.tiers.remove('code', APP, options.tier ?? this.tier ?? APPLICATION_DATA);
  }
}
