// Runs the firmware bundle inside a real embedded JavaScript engine: QuickJS
// compiled to WebAssembly (quickjs-emscripten), standing in for the dock's
// JerryScript-class engine. The bundle sees only what is installed here:
// the HAL as host functions on globalThis.__hal (bytes both ways as
// ArrayBuffers), console output, and nothing else. An interrupt handler is
// the watchdog for a runaway app.
//
// Memory: QuickJS-wasm's memory limit counts allocations, not bytes (a known
// limitation of the wasm build), so the limit set here is a guard, not a
// measurement. Byte figures come from the engine's own memory report (see
// heapReport()).

import { getQuickJS, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten';
import { FlashError, type FlashPartition } from '../../hal/flash.ts';
import type { Crypto } from '../../hal/crypto.ts';
import type { Otp } from '../../hal/otp.ts';
import type { DockKeystore } from '../../hal/keystore.ts';
import type { EphemeralArea } from '../../hal/ephemeral.ts';
import { EphemeralFullError } from '../../datastore/tiers/tier-errors.ts';
import { SimDisplay } from './sim-display.ts';

export interface EngineOptions {
  partitions: Record<string, FlashPartition>;
  /** Allocation-count guard passed to QuickJS (not bytes; see above). */
  memoryLimit?: number;
  /** Watchdog: an evaluation running longer than this is interrupted. */
  watchdogMs?: number;
  now?: () => number;
  log?: (line: string) => void;
  crypto?: Crypto;
  otp?: Otp;
  keystore?: DockKeystore;
  ephemeral?: EphemeralArea | null;
  display?: SimDisplay;
  /** The chip's reset line: called when the firmware asks for a reset (the host restarts it once the UART drains). */
  onReset?: () => void;
}

function exact(view: Uint8Array): ArrayBuffer {
  return (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view.buffer : view.slice().buffer) as ArrayBuffer;
}

export class EngineError extends Error {
  constructor(
    readonly kind: 'watchdog' | 'exception' | 'out-of-memory',
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export class EngineHost {
  private deadline = Infinity;
  display!: SimDisplay;

  private constructor(
    readonly runtime: QuickJSRuntime,
    readonly vm: QuickJSContext,
    private readonly options: EngineOptions,
  ) {}

  static async start(options: EngineOptions): Promise<EngineHost> {
    const QuickJS = await getQuickJS();
    const runtime = QuickJS.newRuntime();
    if (options.memoryLimit) runtime.setMemoryLimit(options.memoryLimit);
    runtime.setMaxStackSize(512 * 1024);
    const vm = runtime.newContext();
    const host = new EngineHost(runtime, vm, options);
    runtime.setInterruptHandler(() => Date.now() > host.deadline);
    host.installHal();
    return host;
  }

  /** Evaluate code in the engine; returns its result converted to a host value. */
  eval(code: string, filename = 'eval.js', watchdogMs = this.options.watchdogMs ?? 10_000): unknown {
    this.deadline = Date.now() + watchdogMs;
    try {
      const result = this.vm.evalCode(code, filename);
      if (result.error) {
        const err = this.vm.dump(result.error) as { name?: string; message?: string; stack?: string } | string;
        result.error.dispose();
        const message = typeof err === 'string' ? err : `${err.name ?? 'Error'}: ${err.message ?? ''}`;
        if (/interrupted/i.test(message)) throw new EngineError('watchdog', `the script ran longer than ${watchdogMs} ms and was stopped by the watchdog (${filename})`);
        if (/out of memory/i.test(message)) throw new EngineError('out-of-memory', `the script ran out of engine memory (${filename})`);
        throw new EngineError('exception', `${message}${typeof err === 'object' && err.stack ? `\n${err.stack}` : ''}`);
      }
      const value = this.vm.dump(result.value);
      result.value.dispose();
      return value;
    } finally {
      this.deadline = Infinity;
    }
  }

  /** Call dl7450.<name>(bytes) in the engine with an ArrayBuffer; returns its ArrayBuffer result (null when empty). */
  callBytes(name: string, bytes: Uint8Array): Uint8Array | null {
    const vm = this.vm;
    this.deadline = Date.now() + (this.options.watchdogMs ?? 10_000);
    const ns = vm.getProp(vm.global, 'dl7450');
    const fnHandle = vm.getProp(ns, name);
    const arg = vm.newArrayBuffer(exact(bytes));
    try {
      const result = vm.callFunction(fnHandle, ns, arg);
      if (result.error) {
        const err = vm.dump(result.error);
        result.error.dispose();
        throw new EngineError('exception', `dl7450.${name} failed: ${JSON.stringify(err)}`);
      }
      const type = vm.typeof(result.value);
      let out: Uint8Array | null = null;
      if (type === 'object') {
        const view = vm.getArrayBuffer(result.value);
        out = view.value.slice();
        view.dispose();
      }
      result.value.dispose();
      return out && out.length > 0 ? out : null;
    } finally {
      arg.dispose();
      fnHandle.dispose();
      ns.dispose();
      this.deadline = Infinity;
    }
  }

  /**
   * QuickJS's own memory report (JS_ComputeMemoryUsage). In the wasm build
   * these figures count allocation units, not bytes: use them to compare
   * runs, never quote them as heap bytes.
   */
  memoryReport(): { memoryUsedUnits: number; objects: number } {
    const handle = this.runtime.computeMemoryUsage();
    const usage = this.vm.dump(handle) as { memory_used_size: number; obj_count: number };
    handle.dispose();
    return { memoryUsedUnits: usage.memory_used_size, objects: usage.obj_count };
  }

  dispose(): void {
    this.vm.dispose();
    this.runtime.dispose();
  }

  private installHal(): void {
    const vm = this.vm;
    const o = this.options;
    const hal = vm.newObject();
    const fn = (name: string, impl: (...args: QuickJSHandle[]) => QuickJSHandle | undefined) => {
      const f = vm.newFunction(name, (...args) => {
        try {
          return impl(...args);
        } catch (e) {
          // Flash errors cross as a parseable message; the bundle turns them back into FlashError.
          const msg =
            e instanceof FlashError
              ? `FLASH:${e.code}:${e.at}:${e.message}`
              : e instanceof EphemeralFullError
                ? `EPH:full:${e.needed}:${e.free}:${e.message}`
                : (e as Error).message;
          return { error: vm.newError(msg) } as unknown as QuickJSHandle;
        }
      });
      vm.setProp(hal, name, f);
      f.dispose();
    };
    const partition = (h: QuickJSHandle): FlashPartition => {
      const name = vm.getString(h);
      const p = o.partitions[name];
      if (!p) throw new Error(`no flash partition "${name}"`);
      return p;
    };
    fn('flashGeometry', (p) => {
      const f = partition(p);
      const arr = vm.newArray();
      [f.size, f.sectorSize, f.programUnit, f.pageSize ?? 256].forEach((n, i) => {
        const v = vm.newNumber(n);
        vm.setProp(arr, i, v);
        v.dispose();
      });
      return arr;
    });
    fn('flashRead', (p, off, len) => {
      const bytes = new Uint8Array(vm.getNumber(len));
      partition(p).read(vm.getNumber(off), bytes);
      return vm.newArrayBuffer(bytes.buffer);
    });
    fn('flashProgram', (p, off, data) => {
      const view = vm.getArrayBuffer(data);
      try {
        // A copy: the view points into the engine's memory, which may move.
        partition(p).program(vm.getNumber(off), view.value.slice());
      } finally {
        view.dispose();
      }
      return undefined;
    });
    fn('flashErase', (p, sector) => {
      partition(p).erase(vm.getNumber(sector));
      return undefined;
    });
    fn('clockNow', () => vm.newNumber((o.now ?? Date.now)()));
    fn('log', (m) => {
      (o.log ?? console.log)(vm.getString(m));
      return undefined;
    });
    const bytesOf = (h: QuickJSHandle): Uint8Array => {
      const view = vm.getArrayBuffer(h);
      try {
        return view.value.slice();
      } finally {
        view.dispose();
      }
    };
    const numbers = (ns: number[]) => {
      const arr = vm.newArray();
      ns.forEach((n, i) => {
        const v = vm.newNumber(n);
        vm.setProp(arr, i, v);
        v.dispose();
      });
      return arr;
    };
    const crypto = o.crypto;
    if (crypto) {
      fn('sha256', (d) => vm.newArrayBuffer(exact(crypto.sha256(bytesOf(d)))));
      fn('sha256Flash', (p, off, len) => vm.newArrayBuffer(exact(crypto.sha256Flash(partition(p), vm.getNumber(off), vm.getNumber(len)))));
      fn('verifyEd25519', (k, m, sig) => (crypto.verifyEd25519(bytesOf(k), bytesOf(m), bytesOf(sig)) ? vm.true : vm.false));
    }
    const otp = o.otp;
    if (otp) {
      fn('otpDockId', () => vm.newString(otp.dockId()));
      fn('otpManufacturerPublicKey', () => vm.newArrayBuffer(exact(otp.manufacturerPublicKey())));
      fn('otpDeviceSecret', () => vm.newArrayBuffer(exact(otp.deviceSecret())));
      fn('otpFactoryLocked', () => (otp.factoryLocked() ? vm.true : vm.false));
      fn('otpLockFactory', () => {
        otp.lockFactory();
        return undefined;
      });
    }
    const onReset = o.onReset;
    if (onReset) {
      fn('systemReset', () => {
        onReset();
        return undefined;
      });
    }
    const keystore = o.keystore;
    if (keystore) {
      fn('perDockPublicKey', () => vm.newArrayBuffer(exact(keystore.perDockPublicKey())));
      fn('openSealed', (epk, nonce, ct, tag, aad) => {
        const plain = keystore.openSealed({ ephemeralPublicKey: bytesOf(epk), nonce: bytesOf(nonce), ciphertext: bytesOf(ct), tag: bytesOf(tag) }, bytesOf(aad));
        return plain ? vm.newArrayBuffer(exact(plain)) : vm.undefined;
      });
    }
    const eph = o.ephemeral;
    if (eph) {
      fn('ephCapacity', () => vm.newNumber(eph.capacityBytes));
      fn('ephUsed', () => vm.newNumber(eph.usedBytes()));
      fn('ephGet', (k) => {
        const v = eph.get(vm.getString(k));
        return v === undefined ? vm.undefined : vm.newArrayBuffer(exact(v));
      });
      fn('ephInfo', (k) => {
        const i = eph.info(vm.getString(k));
        return i ? numbers([i.size, i.encoding, i.writtenAt, i.version]) : vm.undefined;
      });
      fn('ephReadRange', (k, off, len) => {
        const into = new Uint8Array(vm.getNumber(len));
        const n = eph.readRange(vm.getString(k), vm.getNumber(off), into);
        return vm.newArrayBuffer(exact(into.subarray(0, n)));
      });
      fn('ephPut', (k, v, enc, at) => vm.newNumber(eph.put(vm.getString(k), bytesOf(v), vm.getNumber(enc), vm.getNumber(at))));
      fn('ephDelete', (k) => (eph.delete(vm.getString(k)) ? vm.true : vm.false));
      fn('ephKeys', (prefix) => {
        const arr = vm.newArray();
        eph.keys(vm.getString(prefix)).forEach((key, i) => {
          const v = vm.newString(key);
          vm.setProp(arr, i, v);
          v.dispose();
        });
        return arr;
      });
      fn('ephClear', () => {
        eph.clear();
        return undefined;
      });
    }
    const display = o.display ?? new SimDisplay();
    this.display = display;
    fn('displayBegin', (size, type) => {
      display.begin(vm.getNumber(size), vm.getNumber(type));
      return undefined;
    });
    fn('displayChunk', (d) => {
      display.chunk(bytesOf(d));
      return undefined;
    });
    fn('displayEnd', () => {
      display.end();
      return undefined;
    });
    fn('displayText', (id, text, x, y) => {
      display.text(vm.getNumber(id), vm.getString(text), vm.getNumber(x), vm.getNumber(y));
      return undefined;
    });
    fn('displayRemoveText', (id) => {
      display.removeText(vm.getNumber(id));
      return undefined;
    });
    vm.setProp(vm.global, '__hal', hal);
    hal.dispose();
    const log = vm.newFunction('log', (...args) => {
      (o.log ?? console.log)(args.map((a) => String(vm.dump(a))).join(' '));
    });
    const consoleObj = vm.newObject();
    vm.setProp(consoleObj, 'log', log);
    vm.setProp(consoleObj, 'error', log);
    vm.setProp(vm.global, 'console', consoleObj);
    log.dispose();
    consoleObj.dispose();
  }
}
