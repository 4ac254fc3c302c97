// What `dl7450 inspect` shows: the tiers and their use, the keys, images with
// their metadata, the factory slots and the runtime partition's wear. Per-dock
// data is named but never shown: it holds secrets.

import { Datastore } from '../datastore/datastore.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { imageTypeName } from '../images/image-type.ts';
import type { FactoryService } from './factory-service.ts';
import type { BootReport } from './boot.ts';

/** Enough for a person to read; `dl7450 kv list` pages through the rest. */
const MAX_KEYS = 200;

export function inspectDock(boot: BootReport | null, factory: FactoryService | null, dockId: string, firmwareVersion: string): Record<string, unknown> {
  const tiers = Datastore.current();
  const kv = new KvStore({ tiers });
  const keys = { count: kv.count(), first: kv.list({ limit: MAX_KEYS }) };
  const images = new ImageStore({ tiers });
  const runtime = tiers.runtime;
  const status = factory?.status();
  return {
    dock: { id: dockId, firmware: firmwareVersion },
    boot: boot ? { runtime: boot.runtime, factory: boot.factory, ephemeral: boot.ephemeral, app: boot.appTier ?? 'none', appReason: boot.appReason ?? '', durability: boot.durability } : {},
    tiers: tiers.capacity(),
    keys: { count: keys.count, names: keys.first, truncated: keys.count > MAX_KEYS },
    images: images.list({ limit: MAX_KEYS }).map((tag) => {
      const i = images.info(tag)!;
      return { tag, tier: i.tier, type: imageTypeName(i.type), bytes: i.size, ...(i.width !== undefined ? { width: i.width, height: i.height } : {}) };
    }),
    factory: {
      locked: status ? status.locked : null,
      activeSlot: status ? status.active : null,
      generation: status ? status.generation : 0,
      items: (tiers.factory?.items() ?? []).map((i) => (i.kind === 'per-dock' ? { kind: i.kind, name: i.name, capacity: i.length, contents: 'redacted' } : { kind: i.kind, name: i.name, bytes: i.length })),
    },
    wear: runtime ? runtime.wear() : null,
  };
}

