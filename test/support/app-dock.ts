// A dock for app tests: the firmware bundle in an engine (QuickJS or
// JerryScript 3.0) over simulated flash, a signed factory image holding a
// given factory app and ROM store, an LMDB ephemeral area, and a simulated
// clock that only the dock's idle loop (simulator/engine/engine-loop.ts)
// moves: timer figures do not depend on how loaded the machine is. SMP
// requests go in as serial bytes, as over the line.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFirmware } from '../../flash-scripts/toolchain/firmware-build.ts';
import { SimDisplay } from '../../simulator/engine/sim-display.ts';
import { SimFlash } from '../../simulator/flash/sim-flash.ts';
import { NodeCrypto } from '../../simulator/security/node-crypto.ts';
import { SimOtp } from '../../simulator/security/sim-otp.ts';
import { LmdbEphemeral } from '../../simulator/ephemeral/lmdb-ephemeral.ts';
import { EngineLoop, VirtualClock, type LoopClock } from '../../simulator/engine/engine-loop.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../../flash-scripts/romstore/factory-image-builder.ts';
import { encodePacket, decodePacket } from '../../firmware/smp/smp-packet.ts';
import { ConsoleFrameDecoder, encodeConsoleFrames } from '../../firmware/smp/smp-console-frame.ts';
import { flashHolding } from './factory-flash.ts';
import type { TestEngine } from './engines.ts';

const KiB = 1024;
const firmware = buildFirmware();

export interface RomFiles {
  /** The factory app's source (JavaScript, CommonJS as `dl7450 build` writes it). */
  app: string;
  /** ROM-store config lines after `code:` is added; paths relative to the ROM directory. */
  config: string;
  files?: Record<string, Uint8Array>;
}

export interface FactoryRom {
  image: Uint8Array;
  otp: SimOtp;
}

/** Sign a factory image holding `rom` with a fresh key; the OTP trusts that key. */
export function factoryRom(rom: RomFiles): FactoryRom {
  const work = mkdtempSync(join(tmpdir(), 'dl7450-app-rom-'));
  try {
    const keys = generateSigningKeys(join(work, 'keys'));
    const dir = join(work, 'rom');
    mkdirSync(dir);
    for (const [name, bytes] of Object.entries(rom.files ?? {})) writeFileSync(join(dir, name), bytes);
    writeFileSync(join(dir, 'app.js'), rom.app);
    writeFileSync(join(dir, 'config.yaml'), `${rom.config}code:\n  path: \${CONFIG_PATH}/app.js\n`);
    const image = buildFactoryImage(loadRomStoreConfig(join(dir, 'config.yaml')), loadPrivateKey(keys.privatePath), { partitionSize: 1024 * KiB, builtAt: 1_700_000_000 }).image;
    return { image, otp: SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'app-tests') };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface AppDock {
  host: { eval(code: string, filename?: string, watchdogMs?: number): unknown; callBytes(name: string, bytes: Uint8Array): Uint8Array | null; dispose(): void };
  display: SimDisplay;
  clock: LoopClock;
  loop: EngineLoop;
  /** Console lines with the dock-clock time each was printed at. */
  log: { at: number; line: string }[];
  report: Record<string, unknown>;
  runtime: SimFlash;
  factory: SimFlash;
  eph: LmdbEphemeral;
  /** One SMP request over the serial path; resolves to the answer's payload. */
  smp(group: number, id: number, body?: Record<string, unknown>, op?: 0 | 2): Record<string, unknown>;
  /** Let `ms` of simulated dock time pass with the idle loop running the timers. */
  idle(ms: number): void;
  close(keepEphemeral?: boolean): void;
}

let docks = 0;

export interface AppDockOptions {
  runtime?: SimFlash;
  factory?: SimFlash;
  /** Default: a new VirtualClock. The wall clock (wallClock) for wall-clock figures. */
  clock?: LoopClock;
  /** Called after every engine call (timers, serial input): a bench charges modelled flash time here. */
  afterEngineCall?: () => void;
  ephemeralPath?: string;
  /** Keep what the ephemeral area holds (a restart wipes it; a test may want to look first). */
  freshEphemeral?: boolean;
}

/** Boot the dock (mount, start the app) and start its idle loop on a simulated clock. */
export async function bootAppDock(engine: TestEngine, rom: FactoryRom, options: AppDockOptions = {}): Promise<AppDock> {
  const code = (await firmware).code;
  const runtime = options.runtime ?? new SimFlash({ size: 256 * KiB, sectorSize: 4 * KiB, programUnit: 16 });
  const factory = options.factory ?? flashHolding(rom.image, 1024 * KiB);
  const clock = options.clock ?? new VirtualClock();
  const log: AppDock['log'] = [];
  const display = new SimDisplay();
  const ephemeralPath = options.ephemeralPath ?? join('/dev/shm', `dl7450-app-${process.pid}-${docks++}`);
  const eph = LmdbEphemeral.open(ephemeralPath, { fresh: options.freshEphemeral ?? true, capacityBytes: 8 * 1024 * KiB });
  const host = (await engine.start({ partitions: { runtime, factory }, crypto: new NodeCrypto(), otp: rom.otp, ephemeral: eph, display, now: clock.now, log: (line) => log.push({ at: clock.now(), line }), watchdogMs: 5000 })) as AppDock['host'];
  host.eval(code, 'firmware.js');
  const report = host.eval('dl7450.boot()', 'boot') as Record<string, unknown>;
  const after = options.afterEngineCall ?? (() => {});
  const loop = new EngineLoop((now) => {
    const next = host.eval(`dl7450.runTimers(${now})`) as number;
    after();
    return next;
  }, clock);
  loop.start();
  let sequence = 0;
  const decoder = new ConsoleFrameDecoder();
  return {
    host,
    display,
    clock,
    loop,
    log,
    report,
    runtime,
    factory,
    eph,
    smp(group, id, body = {}, op = 2) {
      const request = encodeConsoleFrames(encodePacket({ op, version: 1, flags: 0, group, sequence: sequence++ & 0xff, id }, body));
      const out = host.callBytes('serialRx', request);
      after();
      loop.kick(); // as the simulated dock does after serial input
      const packets = out ? decoder.push(out).filter((e) => e.kind === 'packet') : [];
      if (packets.length !== 1) throw new Error(`expected one answer, got ${packets.length}`);
      return decodePacket((packets[0] as { packet: Uint8Array }).packet).payload;
    },
    idle(ms) {
      if (!(clock instanceof VirtualClock)) throw new Error('idle() moves a simulated clock; on the wall clock, wait');
      clock.advance(ms);
    },
    close(keepEphemeral = false) {
      loop.stop();
      host.dispose();
      eph.close();
      if (!keepEphemeral) rmSync(ephemeralPath, { recursive: true, force: true });
    },
  };
}
