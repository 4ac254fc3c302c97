// A simulated DL-7450 on the desktop: flash partitions kept as files in a dock
// directory (they survive a restart), OTP in otp.json, the ephemeral area in
// LMDB on /dev/shm (wiped at every boot), the firmware bundle in QuickJS, and
// a screen written to splash.png. Without a factory image it builds the
// built-in one (images/default-rom-store) with a development key kept in the
// dock directory.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { FileFlash } from '../../simulator/flash/file-flash.ts';
import { NodeCrypto } from '../../simulator/security/node-crypto.ts';
import { SimOtp } from '../../simulator/security/sim-otp.ts';
import { LmdbEphemeral } from '../../simulator/ephemeral/lmdb-ephemeral.ts';
import { EngineHost } from '../../simulator/engine/engine-host.ts';
import { RuntimeStore } from '../../datastore/runtime/runtime-store.ts';
import { ConsoleFrameDecoder, encodeConsoleFrames } from '../../firmware/smp/smp-console-frame.ts';
import { openLine, parseConnection } from '../link/serial-line.ts';
import { SimDisplay } from '../../simulator/engine/sim-display.ts';
import { buildFirmware } from '../toolchain/firmware-build.ts';
import { buildApp } from '../toolchain/app-build.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../signing-keys.ts';
import { loadRomStoreConfig } from '../romstore/romstore-config.ts';
import { buildFactoryImage } from '../romstore/factory-image-builder.ts';

const root = resolve(import.meta.dirname, '..', '..');
const MiB = 1024 * 1024;
const GEOMETRY = { size: 13 * MiB, sectorSize: 4096, programUnit: 256 };

export interface DockOptions {
  dir: string;
  /** A factory image file to flash (otherwise the built-in one, on first start). */
  factory?: string;
  /** An OTP file (otherwise one is burnt on first start). */
  otp?: string;
  log?: (line: string) => void;
  /** Fault: cut power at the Nth program or erase of the runtime partition (counted from boot). */
  powerCutAfter?: number;
  /** Fault: flip bits read from both partitions at this rate per bit. */
  bitFlipRate?: number;
}

export interface BootResult {
  report: { runtime: string; factory: string; ephemeral: string; appTier: string | null; failedApps: string[] };
  splashPath: string;
}

export class SimulatedDock {
  private host: EngineHost | null = null;
  private eph: LmdbEphemeral | null = null;
  private runtime: FileFlash | null = null;
  private factory: FileFlash | null = null;
  private display = new SimDisplay();
  private timer: NodeJS.Timeout | null = null;
  private ports: { close(cb?: () => void): void }[] = [];

  constructor(readonly options: DockOptions) {
    mkdirSync(options.dir, { recursive: true });
  }

  /** What the dock's factory reset does, on a stopped dock: runtime reformatted (atomic), ephemeral wiped. */
  static factoryReset(dir: string): void {
    const runtime = FileFlash.open(join(dir, 'runtime.flash'), GEOMETRY);
    try {
      RuntimeStore.format(runtime);
    } finally {
      runtime.close();
    }
    rmSync(ephemeralPath(dir), { recursive: true, force: true });
  }

  get splashPath(): string {
    return join(this.options.dir, 'splash.png');
  }

  /** Prepare OTP and the factory partition if this dock is new. */
  private async provisionIfNew(): Promise<void> {
    const dir = this.options.dir;
    const otpPath = join(dir, 'otp.json');
    const factoryPath = join(dir, 'factory.flash');
    if (this.options.factory) {
      if (!this.options.otp) throw new Error('--factory needs --otp (the OTP holding the key that signed it)');
      copyFileSync(this.options.otp, otpPath);
      rmSync(factoryPath, { force: true });
      const image = new Uint8Array(readFileSync(this.options.factory));
      const flash = FileFlash.open(factoryPath, GEOMETRY);
      flash.program(0, padTo(image, GEOMETRY.programUnit));
      flash.close();
      return;
    }
    if (existsSync(otpPath) && existsSync(factoryPath)) return;
    // A new dock: a development signing key, OTP with its public half, the built-in factory image.
    const keyDir = join(dir, 'dev-keys');
    if (!existsSync(join(keyDir, 'factory.key'))) generateSigningKeys(keyDir);
    const otp = SimOtp.burn(loadPublicKeyRaw(join(keyDir, 'factory.pub')), `sim:${resolve(dir)}`);
    rmSync(otpPath, { force: true });
    otp.save(otpPath);
    const rom = join(dir, 'rom');
    mkdirSync(rom, { recursive: true });
    const defaults = join(root, 'images', 'default-rom-store');
    copyFileSync(join(defaults, 'config.yaml'), join(rom, 'config.yaml'));
    copyFileSync(join(defaults, 'default.png'), join(rom, 'default.png'));
    writeFileSync(join(rom, 'app.js'), (await buildApp(join(root, 'firmware', 'default-app', 'app.ts'))).code);
    const built = buildFactoryImage(loadRomStoreConfig(join(rom, 'config.yaml')), loadPrivateKey(join(keyDir, 'factory.key')));
    rmSync(factoryPath, { force: true });
    const flash = FileFlash.open(factoryPath, GEOMETRY);
    flash.program(0, padTo(built.image, GEOMETRY.programUnit));
    flash.close();
  }

  async boot(): Promise<BootResult> {
    await this.provisionIfNew();
    const dir = this.options.dir;
    const log = this.options.log ?? ((l: string) => console.log(l));
    this.runtime = FileFlash.open(join(dir, 'runtime.flash'), GEOMETRY);
    this.factory = FileFlash.open(join(dir, 'factory.flash'), GEOMETRY);
    if (this.options.powerCutAfter !== undefined) this.runtime.armPowerCut({ atOp: this.options.powerCutAfter, effect: 'torn' });
    if (this.options.bitFlipRate) {
      this.runtime.setReadBitFlipRate(this.options.bitFlipRate);
      this.factory.setReadBitFlipRate(this.options.bitFlipRate);
    }
    // The ephemeral area lives in RAM outside the engine and is wiped at every boot.
    const ephPath = ephemeralPath(dir);
    try {
      this.eph = LmdbEphemeral.open(ephPath, { fresh: true });
    } catch (e) {
      log(`ephemeral area unavailable: ${(e as Error).message}`);
      this.eph = null;
    }
    this.display = new SimDisplay();
    this.host = await EngineHost.start({
      partitions: { runtime: this.runtime, factory: this.factory },
      crypto: new NodeCrypto(),
      otp: SimOtp.load(join(dir, 'otp.json')),
      ephemeral: this.eph,
      display: this.display,
      log,
      watchdogMs: 5000,
    });
    this.host.eval((await buildFirmware()).code, 'firmware.js');
    // Mounting may format a fresh 13 MiB partition: the app's watchdog applies only to the app.
    this.host.eval('globalThis.__boot = dl7450.mountTiers(); 1', 'mount', 120_000);
    const report = this.host.eval('dl7450.startApp(globalThis.__boot)', 'app start') as BootResult['report'];
    this.display.save(this.splashPath);
    return { report, splashPath: this.splashPath };
  }

  /** Run the app's timers until stop() (or for `ms` milliseconds); the screen is saved as it changes. */
  run(ms = Infinity): Promise<void> {
    return new Promise((done) => {
      const until = Date.now() + ms;
      const step = () => {
        if (!this.host || this.poweredOff) return done();
        let next: number;
        try {
          next = this.host.eval(`dl7450.runTimers(${Date.now()})`) as number;
        } catch (e) {
          if (this.poweredOff) return done();
          throw e;
        }
        this.display.save(this.splashPath);
        const now = Date.now();
        if (now >= until) return done();
        const wait = Math.min(next < 0 ? 1000 : Math.max(0, next - now), until - now);
        this.timer = setTimeout(step, wait);
      };
      step();
    });
  }

  get screen(): SimDisplay {
    return this.display;
  }

  /**
   * Serve SMP on a serial line (a pty end from socat, or a real port). A pty
   * ignores baud, so answers are paced here at the line's rate.
   */
  async serveSerial(conn: string): Promise<void> {
    const port = await openLine(conn);
    const spec = parseConnection(conn);
    const decoder = new ConsoleFrameDecoder();
    const bytesPerMs = spec.baudRate / 10 / 1000; // 8N1: ten bits a byte
    let lineFreeAt = 0;
    const log = this.options.log ?? ((l: string) => console.log(l));
    port.on('data', (chunk: Buffer) => {
      for (const e of decoder.push(new Uint8Array(chunk))) {
        if (e.kind === 'error') log(`serial: dropped a damaged frame (${e.reason})`);
        if (e.kind !== 'packet' || !this.host || this.poweredOff) continue;
        const reply = this.host.callBytes('smpHandle', e.packet);
        if (!reply) continue;
        const wire = encodeConsoleFrames(reply);
        const now = Date.now();
        const start = Math.max(now, lineFreeAt);
        lineFreeAt = start + wire.length / bytesPerMs;
        setTimeout(() => port.write(wire), start - now);
      }
    });
    this.ports.push(port);
  }

  /** True once a simulated power cut has happened: the dock is dead until the next start. */
  get poweredOff(): boolean {
    return this.runtime?.poweredOff ?? false;
  }

  /** Stop the engine cleanly: the runtime store writes a checkpoint so the next boot is fast. */
  shutdown(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const p of this.ports) p.close();
    this.ports = [];
    if (this.host && this.poweredOff) {
      // No clean stop after a power cut: the next boot recovers.
      this.host.dispose();
      this.host = null;
    }
    if (this.host) {
      try {
        this.host.eval('dl7450.shutdown()', 'shutdown');
      } finally {
        this.host.dispose();
        this.host = null;
      }
    }
    this.eph?.close();
    // The dock is off: its RAM, the ephemeral area, is gone.
    rmSync(ephemeralPath(this.options.dir), { recursive: true, force: true });
    this.runtime?.close();
    this.factory?.close();
  }
}

function ephemeralPath(dir: string): string {
  return join('/dev/shm', `dl7450-dock-${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16)}`);
}

function padTo(image: Uint8Array, unit: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(image.length / unit) * unit).fill(0xff);
  out.set(image);
  return out;
}
