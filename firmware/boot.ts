// The dock's boot sequence: mount the runtime partition, verify and mount the
// factory partition, attach the ephemeral area, then choose the application
// (ephemeral, pushed during development → runtime, updated in the field →
// factory) and run it. An app that throws while starting is logged and the
// next stored app runs instead, so a bad update never bricks a dock. Each
// tier that fails says why; the others still serve. A factory reset stops the
// app (timers, subscriptions, text boxes), resets the tiers and starts the
// factory app, whoever asked for it (the link or the app itself).

import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { FactoryPartition, FactoryVerificationError } from '../datastore/factory/factory-partition.ts';
import { Datastore } from '../datastore/datastore.ts';
import { mountFactorySlots, type MountedSlots } from '../datastore/factory/factory-slots.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA, FACTORY_DATA, TIER_NAMES, type Tier } from '../datastore/tiers/tier-set.ts';
import { CodeStore } from '../datastore/code-store.ts';
import { HostCrypto, HostEphemeral, HostFlash, HostKeystore, HostOtp, hostClock, hostHal } from './host-hal.ts';
import { readPerDockSection, type PerDockSection } from '../datastore/factory/per-dock-section.ts';
import { TimerQueue } from './timers.ts';
import { EventLog } from './event-log.ts';
import { sdkModules } from './sdk-modules.ts';
import { Splashscreen } from './splashscreen.ts';
import { splitKvName } from '../datastore/kv-store.ts';
import { BATCH_WAIT_MS } from './idle-commit.ts';

/** Runtime writes that name no durability are on flash when they return; 'batched' is per handle or per write. */
const DEFAULT_DURABILITY = 'immediate';
/** A batched runtime write is committed with the 16th, on flush(), at a clean shutdown, or by the dock loop a second after the first uncommitted one (idle-commit.ts). */
const BATCH_SIZE = 16;

export interface BootReport {
  runtime: string;
  factory: string;
  ephemeral: string;
  /** This dock's per-dock section in the served factory slot: provisioned (token id), not provisioned, or refused and why. */
  perDock: string;
  /** The tier whose app is running, or null. */
  appTier: string | null;
  appChecksum: number | null;
  /** Apps that failed to start, with why. */
  failedApps: string[];
  /** Why the running app is the one running (CodeStore.info().reason). */
  appReason: string | null;
  /** What a runtime write that names no durability gets, and what 'batched' means here. */
  durability: string;
}

export function emptyReport(): BootReport {
  return { runtime: '', factory: '', ephemeral: '', perDock: '', appTier: null, appChecksum: null, failedApps: [], appReason: null, durability: '' };
}

export let timers: TimerQueue | null = null;
/** What happened since boot, for the link's event poll. */
export const events = new EventLog(() => hostClock.now());
/** This dock's per-dock section, when the served slot holds a valid one. */
export let perDock: PerDockSection | null = null;
/** The last boot's report (inspect shows it). */
export let lastBoot: BootReport | null = null;
/** The factory slots as mounted at boot (the link's factory writes stage into the other one). */
export let factorySlots: { flashes: HostFlash[]; mounted: MountedSlots } | null = null;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Mount the tiers, then start the app: what the dock does at power-on. */
export function boot(): BootReport {
  return startApp(mountTiers());
}

/** Mount runtime, verify factory, attach ephemeral (can take long on a fresh partition: no app watchdog). */
export function mountTiers(): BootReport {
  const hal = hostHal();
  const log = (line: string) => hal.log(line);
  const report: BootReport = { ...emptyReport(), perDock: 'not provisioned', durability: `${DEFAULT_DURABILITY} (per handle or write: 'batched' commits every ${BATCH_SIZE} writes, on flush(), or ${BATCH_WAIT_MS} ms after the first uncommitted one)` };

  let runtime: RuntimeStore | null = null;
  try {
    // Opened 'batched' so a write may ask for it; the tiers make every other write immediate.
    runtime = RuntimeStore.open(new HostFlash('runtime'), { clock: hostClock, durability: 'batched', batchSize: BATCH_SIZE });
    const s = runtime.stats();
    report.runtime = `mounted: ${s.keys} keys, ${s.freeBytes} bytes free${s.retiredSectors.length ? `, ${s.retiredSectors.length} worn sectors retired` : ''}, format v${s.format}${s.format === 2 ? ' (legacy: a factory reset moves it to v3)' : ''}`;
  } catch (e) {
    report.runtime = `unavailable: ${describe(e)}`;
  }

  let factory: FactoryPartition | null = null;
  try {
    const flashes = [new HostFlash('factory')];
    // Slot 1 exists on docks that take factory images over the link; tests may run with one slot.
    try {
      flashes.push(new HostFlash('factory-b'));
    } catch {
      /* single slot */
    }
    const mounted = mountFactorySlots(flashes, new HostCrypto(), new HostOtp());
    factorySlots = { flashes, mounted };
    factory = mounted.partition;
    if (factory) report.factory = `verified: ${factory.items().length} items, signed by the manufacturer (slot ${mounted.active}, generation ${mounted.generation})`;
    perDock = null;
    if (factory && mounted.active !== null && !hostHal().perDockPublicKey) report.perDock = 'unavailable: this host has no key store';
    else if (factory && mounted.active !== null) {
      try {
        const section = readPerDockSection(flashes[mounted.active], factory, new HostCrypto(), new HostOtp(), new HostKeystore());
        section?.open(); // a section whose secrets do not open is refused here, not when an app asks
        perDock = section;
        report.perDock = perDock ? `provisioned: token ${perDock.tokenId} (station ${perDock.station})` : 'not provisioned';
      } catch (e) {
        report.perDock = `refused: ${describe(e)}`;
      }
    }
    else report.factory = `not trusted (${mounted.error!.check}): ${mounted.error!.message}`;
  } catch (e) {
    report.factory = e instanceof FactoryVerificationError ? `not trusted (${e.check}): ${e.message}` : `unavailable: ${describe(e)}`;
  }

  let ephemeral: HostEphemeral | null = null;
  try {
    ephemeral = new HostEphemeral();
    report.ephemeral = `attached: ${ephemeral.capacityBytes} bytes`;
  } catch (e) {
    report.ephemeral = `unavailable: ${describe(e)}`;
  }

  const tiers = Datastore.install({ runtime, factory, ephemeral, clock: hostClock, ephemeralProblem: report.ephemeral, factoryProblem: report.factory, durability: DEFAULT_DURABILITY });
  tiers.subscribe('kv', '', (name, tier) => {
    const { namespace, key } = splitKvName(name);
    events.add('key-changed', `${key} (${TIER_NAMES[tier]}${namespace ? `, namespace ${namespace}` : ''})`);
  });
  tiers.resetHooks = {
    before: stopApp,
    after: (failed) => {
      // A failed reformat still ends in the factory app (it runs from the factory partition), with the runtime tier unavailable.
      const runtimeNow = failed ? { runtime: `unavailable: ${failed.reason} (a factory reset could not reformat it: restart the dock, then reset again)` } : {};
      events.add('factory-reset', failed ? `ephemeral tier emptied; the runtime tier could not be reformatted (${failed.reason}) and is unavailable until a restart; starting the factory app` : 'runtime and ephemeral tiers reset; starting the factory app');
      startApp({ ...(lastBoot ?? report), ...runtimeNow, appTier: null, appChecksum: null, failedApps: [], appReason: null }, 'factory reset');
    },
  };
  lastBoot = report;
  return report;
}

/** Stop the running app: its timers, subscriptions and text boxes go; nothing of it runs again. */
export function stopApp(): void {
  timers?.stop();
  dropAppSubscriptions();
  Splashscreen.clearTextBoxes();
  CodeStore.setRunning(null);
}

/**
 * Stop the running app, then choose and run one (ephemeral → runtime →
 * factory), falling back when one throws. `why`: what made this start
 * happen, when not the order alone (e.g. 'factory reset').
 */
export function startApp(report: BootReport, why = ''): BootReport {
  const log = (line: string) => hostHal().log(line);
  stopApp(); // the app this one replaces stops for good
  timers = newTimerQueue(log);

  for (const tier of [EPHEMERAL_DATA, APPLICATION_DATA, FACTORY_DATA] as Tier[]) {
    if (!Datastore.current().has(tier)) continue;
    const code = new CodeStore(tier).read();
    if (!code || !code.source) continue;
    const reason = report.failedApps.length ? report.failedApps.join('; ') : why || `first app in lookup order (ephemeral, runtime, factory)`;
    CodeStore.setRunning({ ...code.info, running: true, reason });
    try {
      runApp(code.source, timers, appSubscriptions);
      report.appTier = TIER_NAMES[tier];
      report.appChecksum = code.info.checksum;
      report.appReason = reason;
      events.add('app-started', `${TIER_NAMES[tier]} app`);
      break;
    } catch (e) {
      const failed = `${TIER_NAMES[tier]} app failed to start: ${describe(e)}`;
      stopApp();
      timers = newTimerQueue(log);
      report.failedApps.push(failed);
      events.add('app-crashed', failed);
      log(failed);
    }
  }
  if (report.appTier === null) log('no application could be started; the datastore still serves');
  lastBoot = report;
  return report;
}

/** The app's timers run on the dock clock (the HAL's), never the wall clock an SMP datetime moves. */
function newTimerQueue(log: (line: string) => void): TimerQueue {
  return new TimerQueue(() => hostHal().clockNow(), log, (message) => events.add('app-crashed', `a timer task threw: ${message}`));
}

/** Unsubscribe functions of the running app's KvStore subscriptions. */
let appSubscriptions: (() => void)[] = [];

function dropAppSubscriptions(): void {
  for (const unsubscribe of appSubscriptions) unsubscribe();
  appSubscriptions = [];
}

/** Run an app bundle (CommonJS shape: the SDK modules come from `require`). */
export function runApp(source: string, queue: TimerQueue, subscriptions: (() => void)[] = []): void {
  const modules = sdkModules(queue, subscriptions);
  const require = (name: string) => {
    const m = modules[name];
    if (!m) throw new Error(`the app requires "${name}", which the dock does not provide (available: ${Object.keys(modules).join(', ')})`);
    return m;
  };
  const module = { exports: {} as Record<string, unknown> };
  // eslint-disable-next-line no-new-func
  const start = new Function('require', 'module', 'exports', source);
  start(require, module, module.exports);
}
