// The firmware bundle's entry. For now it exposes the datastore to the engine
// host as globalThis.dl7450; the boot sequence and app loader come next.

import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';
import { Datastore } from '../datastore/datastore.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { CodeStore } from '../datastore/code-store.ts';
import { checkImage } from '../images/image-check.ts';
import { encodeValue, decodeValue } from '../datastore/value-codec.ts';
import { HostFlash, hostClock, hostHal } from './host-hal.ts';

(globalThis as Record<string, unknown>).dl7450 = {
  RuntimeStore,
  TierSet,
  Datastore,
  KvStore,
  ImageStore,
  CodeStore,
  HostFlash,
  hostClock,
  checkImage,
  encodeValue,
  decodeValue,
  log: (m: string) => hostHal().log(m),
};
