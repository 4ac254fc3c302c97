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
import type { FlashPartition } from '../../hal/flash.ts';
import type { Crypto } from '../../hal/crypto.ts';
import type { Otp } from '../../hal/otp.ts';
import type { DockKeystore } from '../../hal/keystore.ts';
import type { EphemeralArea } from '../../hal/ephemeral.ts';
import { SimDisplay } from './sim-display.ts';
import { halErrorMessage, halFunctions, type HalValue } from './hal-functions.ts';

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

  /** __hal from the shared HAL table (hal-functions.ts): values converted at the boundary, errors as the bundle expects. */
  private installHal(): void {
    const vm = this.vm;
    const o = this.options;
    const display = o.display ?? new SimDisplay();
    this.display = display;
    const hal = vm.newObject();
    const toHost = (h: QuickJSHandle): HalValue => {
      const type = vm.typeof(h);
      if (type === 'string') return vm.getString(h);
      if (type === 'number') return vm.getNumber(h);
      if (type === 'object' && vm.dump(h) !== null) {
        // Bytes cross as ArrayBuffers; a copy, since the view points into memory the engine may move.
        const view = vm.getArrayBuffer(h);
        try {
          return view.value.slice();
        } finally {
          view.dispose();
        }
      }
      return vm.dump(h) as HalValue;
    };
    const toEngine = (v: HalValue): QuickJSHandle => {
      if (v === undefined) return vm.undefined;
      if (v === null) return vm.null;
      if (typeof v === 'boolean') return v ? vm.true : vm.false;
      if (typeof v === 'number') return vm.newNumber(v);
      if (typeof v === 'string') return vm.newString(v);
      if (v instanceof Uint8Array) return vm.newArrayBuffer(exact(v));
      const arr = vm.newArray();
      v.forEach((e, i) => {
        const h = toEngine(e);
        vm.setProp(arr, i, h);
        h.dispose();
      });
      return arr;
    };
    for (const [name, impl] of Object.entries(halFunctions(o, display))) {
      const f = vm.newFunction(name, (...args) => {
        try {
          return toEngine(impl(...args.map(toHost)));
        } catch (e) {
          return { error: vm.newError(halErrorMessage(e)) } as unknown as QuickJSHandle;
        }
      });
      vm.setProp(hal, name, f);
      f.dispose();
    }
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
