// The firmware bundle's entry: the engine host calls dl7450.boot(), then
// dl7450.runTimers(now) whenever the engine is idle. The datastore classes are
// exposed too, for on-target tests.

import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';
import { Datastore } from '../datastore/datastore.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { CodeStore } from '../datastore/code-store.ts';
import { checkImage } from '../images/image-check.ts';
import { encodeValue, decodeValue } from '../datastore/value-codec.ts';
import { HostCrypto, HostEphemeral, HostFlash, HostKeystore, HostOtp, hostClock, hostHal } from './host-hal.ts';
import { FactoryPartition } from '../datastore/factory/factory-partition.ts';
import { boot, emptyReport, events, factorySlots, lastBoot, mountTiers, perDock, startApp, timers, type BootReport } from './boot.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import { FactoryService } from './factory-service.ts';
import { inspectDock } from './inspect.ts';
import { DockSerial } from './link/dock-serial.ts';
import { readSlotRecord } from '../datastore/factory/factory-slots.ts';
import { peekPerDockToken } from '../datastore/factory/per-dock-section.ts';
import { SmpServer } from './smp/smp-server.ts';
import { ConsoleFrameDecoder, encodeConsoleFrames } from './smp/smp-console-frame.ts';
import { IdleCommit } from './idle-commit.ts';

const FIRMWARE_VERSION = '0.1.0';
let smp: SmpServer | null = null;
let serial: DockSerial | null = null;
const idleCommit = new IdleCommit();

/** The serial port's protocol handler (SMP + bulk lane), made on first use. */
function dockSerial(): DockSerial {
  if (!serial) serial = new DockSerial((packet) => smpServer().handle(packet), hostClock.now());
  return serial;
}

function heldTokens(flashes: HostFlash[], otp: HostOtp): string[] {
  const out: string[] = [];
  const crypto = new HostCrypto();
  flashes.forEach((flash, slot) => {
    const served = factorySlots?.mounted.active === slot;
    if (!served && !readSlotRecord(flash)) return; // staged, never committed: the dock will not serve it
    const token = peekPerDockToken(flash, crypto, otp);
    if (token !== null && out.indexOf(token) < 0) out.push(token);
  });
  return out;
}

/** The SMP server, made on first use (after boot: it needs the mounted tiers). */
function smpServer(): SmpServer {
  if (smp) return smp;
  const slots = factorySlots;
  const keystore = hostHal().perDockPublicKey ? new HostKeystore() : null;
  const factory = slots && slots.flashes.length > 1 ? new FactoryService(slots.flashes, slots.mounted, new HostCrypto(), new HostOtp(), keystore) : null;
  const dockId = hostHal().otpDockId();
  smp = new SmpServer({
    tiers: Datastore.current(),
    dockId,
    firmwareVersion: FIRMWARE_VERSION,
    clock: hostClock,
    ticks: { now: () => hostHal().clockNow() },
    appTask: () => ({ running: !!(lastBoot && lastBoot.appTier) }),
    // Pushed code runs without a dock restart (which would wipe the ephemeral tier it lives in).
    restartApp: () => startApp({ ...(lastBoot ?? emptyReport()), appTier: null, appChecksum: null, failedApps: [], appReason: null }).appTier ?? 'none',
    factory,
    events,
    requestReset: hostHal().systemReset ? () => hostHal().systemReset!() : undefined,
    inspect: () => inspectDock(lastBoot, factory, dockId, FIRMWARE_VERSION),
    openBulk: (total, sink, frameSize, window) => dockSerial().openBulk(total, sink, frameSize, window),
    identity: () => {
      const otp = new HostOtp();
      const served = Datastore.current().factory;
      return {
        dockId,
        firmware: FIRMWARE_VERSION,
        ...(keystore ? { perDockKey: keystore.perDockPublicKey() } : {}),
        locked: otp.factoryLocked(),
        factory: served ? { slot: slots ? slots.mounted.active : 0, generation: slots ? slots.mounted.generation : 0, image: served.digest } : null,
        perDock: perDock ? { token: perDock.tokenId, image: perDock.imageDigest, issued: perDock.issuedAt, station: perDock.station } : null,
        perDockStatus: lastBoot ? lastBoot.perDock : 'unknown',
        // Tokens in every committed slot, served or not: a station must not hand any of them to another dock.
        heldTokens: heldTokens(slots ? slots.flashes : [], otp),
        // A committed image is served (with its per-dock section) only after a restart.
        pendingRestart: factory ? factory.pendingRestart : false,
      };
    },
    perDockCheck: () => {
      if (!perDock) return null;
      // Proves the dock can open its own secrets; the token itself never leaves the dock over the link.
      const secrets = perDock.open();
      const crypto = new HostCrypto();
      // Digests only: the secrets stay on the dock, even for the station that sealed them.
      const values = Object.keys(secrets.values)
        .sort()
        .map((k) => `${k}=${secrets.values[k]}`)
        .join('\n');
      return { token: perDock.tokenId, tokenSha256: crypto.sha256(utf8Encode(secrets.token)), nameSha256: crypto.sha256(utf8Encode(secrets.name)), valuesSha256: crypto.sha256(utf8Encode(values)) };
    },
  });
  return smp;
}

(globalThis as Record<string, unknown>).dl7450 = {
  RuntimeStore,
  TierSet,
  Datastore,
  KvStore,
  ImageStore,
  CodeStore,
  HostFlash,
  HostCrypto,
  HostOtp,
  HostEphemeral,
  FactoryPartition,
  hostClock,
  checkImage,
  encodeValue,
  decodeValue,
  log: (m: string) => hostHal().log(m),
  boot,
  mountTiers,
  startApp: (report: BootReport) => startApp(report),
  /** Bytes from the serial port (SMP and the bulk lane); returns the bytes to send back. */
  serialRx: (bytes: ArrayBuffer): ArrayBuffer => {
    const out = dockSerial().rx(new Uint8Array(bytes));
    return out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? (out.buffer as ArrayBuffer) : (out.slice().buffer as ArrayBuffer);
  },
  SmpServer,
  ConsoleFrameDecoder,
  encodeConsoleFrames,
  runTimers: (now: number) => {
    smp?.expireStalled(now); // a streamed value whose client went quiet stops holding the runtime tier
    const queue = timers;
    let next = queue ? queue.runDue(now) : -1;
    // A task may have factory-reset the dock: the factory app's new queue says when it is next due.
    if (timers && timers !== queue) next = timers.runDue(now);
    const commitAt = Datastore.isInstalled() ? idleCommit.run(Datastore.current(), now) : -1;
    return next < 0 ? commitAt : commitAt < 0 ? next : Math.min(next, commitAt);
  },
  /** Factory reset: the app stops, the tiers reset, the factory app starts (boot.ts's reset hooks). */
  factoryReset: () => Datastore.factoryReset(),
  /** A clean stop: commit and checkpoint the runtime store so the next boot reads little. */
  shutdown: () => {
    Datastore.current().runtime?.unmount();
  },
};
