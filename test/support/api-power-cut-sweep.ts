// Power-cut sweep through the device API: KvStore and ImageStore writes over
// runtime + factory (+ ephemeral, which a cut wipes like a restart), with
// factory resets in the workload. Before every program or erase of the
// runtime partition, the flash is cloned, that operation is cut on the clone,
// and a fresh boot must show either the state before the interrupted API call
// or the state after it, with every factory value intact underneath.

import { SimFlash } from '../../simulator/flash/sim-flash.ts';
import { seededRandom } from '../../simulator/seeded-random.ts';
import { RuntimeStore } from '../../datastore/runtime/runtime-store.ts';
import { NotFormattedError } from '../../datastore/runtime/errors.ts';
import { TierSet } from '../../datastore/tiers/tier-set.ts';
import { KvStore } from '../../datastore/kv-store.ts';
import { ImageStore } from '../../datastore/image-store.ts';
import type { FactoryPartition } from '../../datastore/factory/factory-partition.ts';
import { PNG } from '../../images/image-type.ts';
import { makePng } from './image-files.ts';
import { HookedFlash, isInjectedCut } from './power-cut-sweep.ts';

export interface ApiSweepResult {
  operations: number;
  factoryResets: number;
  /** Programs and erases the simulated flash itself counted (independent of the hook that cuts). */
  flashOperations: number;
  cutPoints: number;
  violations: number;
  firstViolations: string[];
}

type Model = Map<string, string>; // runtime kv values as JSON text; images as 'img:<seed>'

export function apiPowerCutSweep(factory: FactoryPartition, operations = 400, seed = 5): ApiSweepResult {
  const random = seededRandom(seed);
  const sim = new SimFlash({ size: 32 * 4096, sectorSize: 4096, programUnit: 16, seed });
  const images = new Map<number, Uint8Array>();
  const imageOf = (n: number) => {
    if (!images.has(n)) images.set(n, makePng(8 + (n % 7), 8));
    return images.get(n)!;
  };
  let before: Model = new Map();
  let after: Model | null = null;
  let opIndex = 0; // the hook's count, for messages
  let cutPoints = 0;
  let violations = 0;
  const firstViolations: string[] = [];
  let checking = false;

  const observe = (tiers: TierSet, keys: Set<string>): Model => {
    const kv = new KvStore({ tiers, tier: 1 });
    const img = new ImageStore({ tiers, tier: 1 });
    const seen: Model = new Map();
    for (const k of keys) {
      if (k.startsWith('img:')) {
        const [bytes] = img.get(k.slice(4));
        if (bytes.length > 0) {
          const n = [...images.entries()].find(([, b]) => b.length === bytes.length && b.every((x, i) => x === bytes[i]))?.[0];
          seen.set(k, `img:${n ?? 'unknown'}`);
        }
      } else if (kv.has(k)) seen.set(k, JSON.stringify(kv.get(k)));
    }
    return seen;
  };
  const same = (a: Model, b: Model) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

  const check = ({ kind, offset, data }: { kind: 'program' | 'erase'; offset: number; data?: Uint8Array }) => {
    if (checking) return;
    opIndex++;
    checking = true;
    cutPoints++;
    const clone = sim.clone();
    clone.armPowerCut({ atOp: clone.opCount, effect: 'torn' });
    let cut = false;
    try {
      if (kind === 'program') clone.program(offset, data!);
      else clone.erase(offset);
    } catch (e) {
      if (!isInjectedCut(e)) throw e; // anything but the injected cut is a bug under test
      cut = true;
    }
    if (!cut) throw new Error(`flash op ${opIndex}: the armed cut did not happen`);
    clone.powerOn();
    if (!formatted) {
      // format() had not returned: no store yet (mount says so, typed) or an empty one.
      try {
        if (RuntimeStore.mount(clone).size !== 0) {
          violations++;
          if (firstViolations.length < 5) firstViolations.push(`flash op ${opIndex}: a format cut short left keys`);
        }
      } catch (e) {
        if (!(e instanceof NotFormattedError)) {
          violations++;
          if (firstViolations.length < 5) firstViolations.push(`flash op ${opIndex}: mount after a cut format threw ${(e as Error).message}`);
        }
      }
      checking = false;
      return;
    }
    try {
      // Recovery through mount: open() would format a store it cannot mount, and a failed
      // recovery would then look like an empty, valid store.
      const tiers = new TierSet({ runtime: RuntimeStore.mount(clone), factory, ephemeral: null });
      const keys = new Set([...before.keys(), ...(after?.keys() ?? []), ...tiers.names('kv', [1]), ...tiers.names('image', [1]).map((t) => `img:${t}`)]);
      const seen = observe(tiers, keys);
      if (!same(seen, before) && !(after && same(seen, after))) {
        violations++;
        if (firstViolations.length < 5) firstViolations.push(`flash op ${opIndex}: runtime state is neither before nor after the interrupted call (${seen.size} items vs ${before.size}/${after?.size})`);
      }
      // Factory values always show through where runtime has none.
      const kv = new KvStore({ tiers });
      if (!seen.has('dock_name') && kv.get('dock_name') !== 'Meeting Room 4') {
        violations++;
        if (firstViolations.length < 5) firstViolations.push(`flash op ${opIndex}: factory value lost`);
      }
    } catch (e) {
      violations++;
      if (firstViolations.length < 5) firstViolations.push(`flash op ${opIndex}: boot threw ${(e as Error).message}`);
    }
    checking = false;
  };

  let formatted = false;
  let tiers = new TierSet({ runtime: RuntimeStore.format(new HookedFlash(sim, check)), factory, ephemeral: null });
  formatted = true;
  let resets = 0;
  for (let i = 0; i < operations; i++) {
    const r = random();
    const key = `key-${Math.floor(random() * 12)}`;
    after = new Map(before);
    if (r < 0.03) {
      after = new Map();
      tiers.factoryReset();
      resets++;
    } else if (r < 0.13) {
      after.delete(key);
      new KvStore({ tiers }).delete(key);
    } else if (r < 0.2) {
      after.set('dock_name', JSON.stringify(`Room ${i}`));
      new KvStore({ tiers }).set('dock_name', `Room ${i}`);
    } else if (r < 0.3) {
      const n = Math.floor(random() * 5);
      after.set(`img:promo-${n % 2}`, `img:${n}`);
      new ImageStore({ tiers }).put(`promo-${n % 2}`, imageOf(n), PNG);
    } else if (r < 0.33) {
      after = null;
      const runtime = tiers.runtime!;
      runtime.unmount();
      tiers = new TierSet({ runtime: RuntimeStore.mount(runtime.flash), factory, ephemeral: null });
      after = new Map(before);
    } else {
      const value = { n: i, pad: 'x'.repeat(Math.floor(random() * 300)) };
      after.set(key, JSON.stringify(value));
      new KvStore({ tiers }).set(key, value);
    }
    before = after;
    after = null;
  }
  return { operations, factoryResets: resets, flashOperations: sim.opCount, cutPoints, violations, firstViolations };
}
