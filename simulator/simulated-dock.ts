// A simulated DL-7450 on the desktop: flash partitions kept as files in a dock
// directory (they survive a restart), OTP in otp.json, the ephemeral area in
// LMDB on /dev/shm (wiped at every boot), the firmware bundle in QuickJS, and
// a screen written to splash.png. Without a factory image it builds the
// built-in one (images/default-rom-store) with a development key kept in the
// dock directory.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { FileFlash } from './flash/file-flash.ts';
import { NodeCrypto } from './security/node-crypto.ts';
import { SimOtp } from './security/sim-otp.ts';
import { SimKeystore } from './security/sim-keystore.ts';
import { LmdbEphemeral } from './ephemeral/lmdb-ephemeral.ts';
import { EngineHost } from './engine/engine-host.ts';
import { EngineLoop, wallClock } from './engine/engine-loop.ts';
import { JerryHost } from './engine/jerryscript/jerry-host.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { StoreError } from '../datastore/runtime/errors.ts';
import { openPort } from '../flash-scripts/link/serial-line.ts';
import { baudOf, parseConnection, type Transport } from '../flash-scripts/link/transport.ts';
import { PacedLine } from './uart/paced-line.ts';
import { LineNoise, type LineNoiseOptions } from './uart/line-noise.ts';
import { SimDisplay } from './engine/sim-display.ts';
import { DockLock } from './dock-lock.ts';
import { buildFirmware } from '../flash-scripts/toolchain/firmware-build.ts';
import { buildApp } from '../flash-scripts/toolchain/app-build.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';

const root = resolve(import.meta.dirname, '..');
const MiB = 1024 * 1024;
const GEOMETRY = { size: 13 * MiB, sectorSize: 4096, programUnit: 256 };

export interface DockOptions {
  dir: string;
  /** A factory image file to flash (otherwise the built-in one, on first start). */
  factory?: string;
  /** An OTP file (otherwise one is burnt on first start). */
  otp?: string;
  /**
   * A new dock's manufacturer keys (a directory with factory.key and
   * factory.pub, as `dl7450 keys generate` writes): its OTP trusts that key and
   * its first factory image is signed with it. Default: a development key pair
   * made for this dock in <dir>/dev-keys.
   */
  keys?: string;
  log?: (line: string) => void;
  /** Fault: cut power at the Nth program or erase of the runtime partition (counted from boot). */
  powerCutAfter?: number;
  /** Fault: flip bits read from both partitions at this rate per bit. */
  bitFlipRate?: number;
  /** The engine the bundle runs on: QuickJS (default) or JerryScript 3.0 (the dock's engine; needs the kit and cc). */
  engine?: 'quickjs' | 'jerryscript';
  /** Fault: which partition powerCutAfter counts on (default the runtime partition). */
  powerCutPartition?: 'runtime' | 'factory' | 'factory-b';
  /** Fault: noise on the serial line, both directions. */
  lineNoise?: LineNoiseOptions;
  /** What this dock is for, shown to a second process that tries to open the same directory. */
  role?: string;
  /** Status lines for slow steps (a new dock's first boot takes seconds): what it is doing now. */
  onStatus?: (line: string) => void;
}

export interface BootResult {
  report: { runtime: string; factory: string; ephemeral: string; perDock: string; appTier: string | null; failedApps: string[]; durability: string };
  splashPath: string;
}

export class SimulatedDock {
  private host: EngineHost | JerryHost | null = null;
  private eph: LmdbEphemeral | null = null;
  private runtime: FileFlash | null = null;
  private factory: FileFlash | null = null;
  private display = new SimDisplay();
  private timer: NodeJS.Timeout | null = null;
  /** The timer loop while run() runs; serial input kicks it. */
  private loop: EngineLoop | null = null;
  private onStop: (() => void) | null = null;
  private factoryB: FileFlash | null = null;
  private lines: { rx: PacedLine; tx: PacedLine; close(): void }[] = [];
  private restarting = false;
  private restartUnderWay: Promise<BootResult> | null = null;
  private stopped = false;
  private lock: DockLock | null = null;

  constructor(readonly options: DockOptions) {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  }

  /**
   * What the dock's factory reset does, on a stopped dock: runtime reformatted
   * (atomic), ephemeral wiped. A running dock is refused (DockBusyError): reset
   * it through its line instead.
   */
  static factoryReset(dir: string): void {
    const lock = DockLock.acquire(dir, 'sim factory-reset');
    try {
      const runtime = FileFlash.open(join(dir, 'runtime.flash'), GEOMETRY);
      try {
        // Atomic over a store (v2 or v3): the old data or none after a cut, never part of it.
        let store: RuntimeStore | null = null;
        try {
          store = RuntimeStore.mount(runtime);
        } catch (e) {
          if (!(e instanceof StoreError)) throw e;
        }
        if (store) RuntimeStore.reformat(store);
        else RuntimeStore.format(runtime);
      } finally {
        runtime.close();
      }
      rmSync(ephemeralPath(dir), { recursive: true, force: true });
    } finally {
      lock.release();
    }
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
      rmSync(join(dir, 'factory-b.flash'), { force: true });
      const image = new Uint8Array(readFileSync(this.options.factory));
      const flash = FileFlash.open(factoryPath, GEOMETRY);
      flash.program(0, padTo(image, GEOMETRY.programUnit));
      flash.close();
      return;
    }
    if (existsSync(otpPath) && existsSync(factoryPath)) return;
    // A new dock: a development signing key, OTP with its public half, the built-in factory image.
    this.options.onStatus?.('new dock: burning its OTP and building its factory image…');
    const keyDir = this.options.keys ?? join(dir, 'dev-keys');
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
    // One owner per dock directory: refused here, before any file is touched, if another process (or dock) has it.
    this.lock ??= DockLock.acquire(this.options.dir, this.options.role ?? 'simulated dock');
    await this.provisionIfNew();
    const dir = this.options.dir;
    const log = this.options.log ?? ((l: string) => console.log(l));
    const blankRuntime = !existsSync(join(dir, 'runtime.flash'));
    this.runtime = FileFlash.open(join(dir, 'runtime.flash'), GEOMETRY);
    this.factory = FileFlash.open(join(dir, 'factory.flash'), GEOMETRY);
    // Slot 1: new factory images arrive here over the link (datastore/factory/FORMAT.md §7).
    this.factoryB = FileFlash.open(join(dir, 'factory-b.flash'), GEOMETRY);
    if (this.options.powerCutAfter !== undefined) this.partition(this.options.powerCutPartition ?? 'runtime').armPowerCut({ atOp: this.options.powerCutAfter, effect: 'torn' });
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
    this.options.onStatus?.('building the firmware bundle and starting the engine…');
    const firmware = (await buildFirmware()).code;
    const otp = SimOtp.load(join(dir, 'otp.json'));
    const engineOptions = {
      partitions: { runtime: this.runtime, factory: this.factory, 'factory-b': this.factoryB },
      crypto: new NodeCrypto(),
      otp,
      keystore: new SimKeystore(otp),
      ephemeral: this.eph,
      display: this.display,
      log,
      watchdogMs: 5000,
      onReset: () => this.resetWhenDrained(),
    };
    // JerryScript runs the firmware as the dock does, from its static snapshot in place; QuickJS parses the bundle.
    const host = this.options.engine === 'jerryscript' ? await JerryHost.startWithFirmware(engineOptions, firmware) : await EngineHost.start(engineOptions);
    if (host instanceof JerryHost && host.firmwareNote) log(`firmware parsed from source on JerryScript: ${host.firmwareNote}`);
    if (this.stopped) {
      host.dispose();
      throw new Error('the dock was shut down while it booted');
    }
    this.host = host;
    if (!(host instanceof JerryHost)) host.eval(firmware, 'firmware.js');
    this.options.onStatus?.(blankRuntime ? `formatting the ${GEOMETRY.size / 1024 / 1024} MiB runtime partition (first boot only) and mounting the tiers…` : 'mounting the tiers…');
    // Mounting may format a fresh 13 MiB partition: the app's watchdog applies only to the app.
    this.host.eval('globalThis.__boot = dl7450.mountTiers(); 1', 'mount', 120_000);
    const report = this.host.eval('dl7450.startApp(globalThis.__boot)', 'app start') as BootResult['report'];
    this.display.save(this.splashPath, 0); // the picture the boot report names, as the app left it
    this.loop?.kick(); // a restart while run() runs: the new app's timers, now
    return { report, splashPath: this.splashPath };
  }

  /** The engine heap in bytes (jerry_heap_stats) on a JerryScript dock; null on QuickJS, whose figures are not bytes. */
  engineHeap(): { allocatedBytes: number; peakBytes: number; sizeBytes: number } | null {
    return this.host instanceof JerryHost ? this.host.heapStats() : null;
  }

  /**
   * Run the app's timers until stop() (or for `ms` milliseconds); the screen
   * is saved as it changes. Serial input wakes the loop (engine-loop.ts), so
   * a timer set by a pushed app is not left waiting for the next poll.
   */
  run(ms = Infinity): Promise<void> {
    return new Promise((done) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        loop.stop();
        if (this.loop === loop) this.loop = null;
        if (this.timer) clearTimeout(this.timer);
        done();
      };
      const loop = new EngineLoop(
        (now) => {
          if (this.stopped || this.poweredOff) {
            finish();
            return -1;
          }
          if (!this.host || this.restarting) return now + 50; // restarting over the link: the app comes back
          try {
            // On JerryScript the time crosses as a value: a new literal in each script would stay in its heap (JerryHost.call).
            const next = (this.host instanceof JerryHost ? this.host.call('runTimers', now) : this.host.eval(`dl7450.runTimers(${now})`)) as number;
            return next < 0 ? now + 1000 : next; // idle: still look now and then (a power cut ends run())
          } catch (e) {
            if (this.poweredOff) {
              finish();
              return -1;
            }
            throw e;
          }
        },
        wallClock,
        () => {
          if (!finished) this.display.save(this.splashPath);
        },
      );
      this.loop = loop;
      if (ms !== Infinity) this.timer = setTimeout(finish, ms);
      this.onStop = finish;
      loop.start();
    });
  }

  get screen(): SimDisplay {
    return this.display;
  }

  /**
   * Serve the dock's serial port on a line (a pty end from ptyPair, or a real
   * port): SMP and the bulk lane, decoded by the firmware. A pty ignores
   * baud, so both directions are paced here at the line's rate (baud null:
   * unpaced, for fast tests).
   */
  async serveSerial(conn: string, options: { unthrottled?: boolean; hostEnd?: string } = {}): Promise<void> {
    const spec = parseConnection(conn);
    const baud = baudOf(spec);
    const port = await openPort(spec.target, baud);
    this.serveLine(
      {
        write: (b) => port.write(b),
        onData: (l) => port.on('data', (chunk: Buffer) => l(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))),
        close: () => port.close(),
      },
      options.unthrottled ? null : baud,
    );
    // sim://<dir> reads the lock: the host end of the line when known, else only that the dock is busy.
    this.lock?.setLine(conn, options.hostEnd ?? null);
  }

  /**
   * The host end of an in-process line to this dock (sim:// when no dock
   * process serves the directory). `baud` paces it like a UART; null: unpaced.
   */
  attachInProcess(baud: number | null): Transport {
    let hostListener: (b: Uint8Array) => void = () => {};
    let dockListener: (b: Uint8Array) => void = () => {};
    // Each side hears the other on a later turn of the event loop, as through a real port.
    this.serveLine({ write: (b) => setImmediate(() => hostListener(b)), onData: (l) => (dockListener = l), close: () => {} }, baud);
    return {
      description: `simulated dock in ${this.options.dir}${baud ? ` at ${baud} baud` : ''}`,
      baudRate: baud,
      write: async (b) => {
        const copy = b.slice();
        setImmediate(() => dockListener(copy));
      },
      onData: (l) => (hostListener = l),
      close: async () => {},
    };
  }

  private serveLine(end: { write(b: Uint8Array): void; onData(l: (b: Uint8Array) => void): void; close(): void }, baud: number | null): void {
    const log = this.options.log ?? ((l: string) => console.log(l));
    const noiseIn = this.options.lineNoise ? new LineNoise(this.options.lineNoise) : null;
    const noiseOut = this.options.lineNoise ? new LineNoise({ ...this.options.lineNoise, seed: (this.options.lineNoise.seed ?? 7) + 1 }) : null;
    const tx = new PacedLine(baud, (b) => {
      if (!this.cablePulled) end.write(noiseOut ? noiseOut.apply(b) : b);
    });
    const rx = new PacedLine(baud, (b) => {
      if (!this.host || this.poweredOff || this.restarting) return;
      let out: Uint8Array | null;
      try {
        out = this.host.callBytes('serialRx', b);
      } catch (e) {
        if (this.poweredOff) return;
        log(`serial: the firmware failed on input: ${(e as Error).message}`);
        return;
      }
      if (out) tx.push(out);
      this.loop?.kick();
    });
    end.onData((b) => {
      if (!this.cablePulled) rx.push(noiseIn ? noiseIn.apply(b) : b);
    });
    this.lines.push({ rx, tx, close: () => end.close() });
  }

  /**
   * The firmware pulled the reset line (OS reset over the link): no more
   * input is taken; once the answer is on the wire the dock restarts (its
   * RAM, the ephemeral tier, is lost).
   */
  private resetWhenDrained(): void {
    this.restarting = true;
    const wait = () => {
      if (this.lines.some((l) => l.tx.backlog > 0)) return void setTimeout(wait, 5);
      setTimeout(() => {
        void this.restart().catch((e) => (this.options.log ?? console.log)(`restart failed: ${(e as Error).message}`));
      }, 20);
    };
    setTimeout(wait, 0); // the answer is queued when the firmware returns, after this call
  }

  /** Restart the dock as its reset line would: engine stopped cleanly, RAM wiped, boot again; serial lines stay attached. */
  restart(): Promise<BootResult> {
    if (this.stopped) return Promise.reject(new Error('the dock is shut down'));
    // One restart at a time: a second request joins the one under way.
    if (this.restartUnderWay) return this.restartUnderWay;
    this.restarting = true;
    this.restartUnderWay = (async () => {
      try {
        this.stopEngine();
        return await this.boot();
      } finally {
        this.restarting = false;
        this.restartUnderWay = null;
      }
    })();
    return this.restartUnderWay;
  }

  /** True once a simulated power cut has happened: the dock is dead until the next start. */
  get poweredOff(): boolean {
    return (this.runtime?.poweredOff || this.factory?.poweredOff || this.factoryB?.poweredOff) ?? false;
  }

  /** A partition of the running dock (tests: counters and faults). */
  partition(name: 'runtime' | 'factory' | 'factory-b'): FileFlash {
    const p = name === 'runtime' ? this.runtime : name === 'factory' ? this.factory : this.factoryB;
    if (!p) throw new Error('the dock is not running');
    return p;
  }

  /** The serial cable: pulled, nothing passes either way. */
  cablePulled = false;

  /** Stop the engine cleanly: the runtime store writes a checkpoint so the next boot is fast. */
  shutdown(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.onStop?.();
    for (const l of this.lines) {
      l.rx.close();
      l.tx.close();
      l.close();
    }
    this.lines = [];
    this.stopEngine();
    this.lock?.release();
    this.lock = null;
  }

  private stopEngine(): void {
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
    this.factoryB?.close();
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
