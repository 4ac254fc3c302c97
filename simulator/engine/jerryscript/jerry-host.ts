// Runs the firmware bundle on real JerryScript 3.0 (512 KiB heap): a small C
// host (host.c and its HAL files, built with the system cc against the kit
// and OpenSSL 3 on first use, cached under .tmp/) in a child process. Why a
// child: a fatal out-of-memory ends the engine's process (the dock would
// reset). The C host runs what a dock's firmware runs in C: the flash
// partitions on their files (native-flash.ts mirrors them back into the
// simulator's flash objects), SHA-256, Ed25519, the key store and OTP. The
// serial line, LMDB ephemeral area, display, clock, timers and any partition
// with injected faults stay in Node: each such __hal call is one synchronous
// round trip over two FIFOs (FORMAT.md beside this file), so this host has
// the same synchronous API as the QuickJS EngineHost and SimulatedDock
// drives either.
//
// Heap figures are the engine's own jerry_heap_stats, in bytes.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EngineError, type EngineOptions } from '../engine-host.ts';
import { SimDisplay } from '../sim-display.ts';
import { halErrorMessage, halFunctions, type HalFunction, type HalValue } from '../hal-functions.ts';
import { findJerryKit, type JerryKit } from './kit.ts';
import { NativePartition } from './native-flash.ts';
import { SimFlash } from '../../flash/sim-flash.ts';
import { FileFlash } from '../../flash/file-flash.ts';
import { NodeCrypto } from '../../security/node-crypto.ts';
import { SimOtp } from '../../security/sim-otp.ts';
import { SimKeystore } from '../../security/sim-keystore.ts';
import { jerrySnapshot } from '../../../flash-scripts/toolchain/jerry-snapshot.ts';

const here = import.meta.dirname;
const V = { UNDEF: 0, NULL: 1, FALSE: 2, TRUE: 3, NUMBER: 4, STRING: 5, BYTES: 6, ARRAY: 7, ERROR: 8 } as const;

export interface HeapStats {
  allocatedBytes: number;
  peakBytes: number;
  sizeBytes: number;
}

const SOURCES = ['host.c', 'frames.c', 'hal-flash.c', 'hal-crypto.c'];
const HEADERS = ['frames.h', 'hal-flash.h', 'hal-crypto.h'];

/** Build (once per source and kit) the C host; returns its path, or throws with the compiler's message. */
export function buildJerryHost(kit: JerryKit): string {
  const hash = createHash('sha256');
  for (const f of [...SOURCES, ...HEADERS]) hash.update(f).update(readFileSync(join(here, f)));
  const tag = hash.update(kit.dir).digest('hex').slice(0, 16);
  const dir = resolve(here, '..', '..', '..', '.tmp', 'jerry-host');
  const exe = join(dir, `dl7450-jerry-${tag}`);
  if (existsSync(exe)) return exe;
  mkdirSync(dir, { recursive: true });
  const part = `${exe}.${process.pid}.part`;
  const r = spawnSync('cc', ['-O2', '-Wall', '-I', kit.include, ...SOURCES.map((f) => join(here, f)), ...kit.libs, '-lcrypto', '-lm', '-o', part], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`building the JerryScript host failed (cc): ${r.error?.message ?? r.stderr.trim()}`);
  spawnSync('mv', [part, exe]);
  return exe;
}

const unavailableFor = new Map<string, string | null>();

/** Why the JerryScript host cannot run here, or null when it can (kit, cc and OpenSSL 3's headers present). Asked once per kit. */
export function jerryUnavailable(): string | null {
  const kit = findJerryKit();
  if (typeof kit === 'string') return kit;
  if (!unavailableFor.has(kit.dir)) unavailableFor.set(kit.dir, toolsMissing());
  return unavailableFor.get(kit.dir)!;
}

function toolsMissing(): string | null {
  if (spawnSync('cc', ['--version']).status !== 0) return 'no C compiler (cc) to build the JerryScript host';
  const ssl = spawnSync('cc', ['-E', '-x', 'c', '-', '-o', '/dev/null'], { input: '#include <openssl/evp.h>\n#if OPENSSL_VERSION_MAJOR < 3\n#error old\n#endif\n', encoding: 'utf8' });
  if (ssl.status !== 0) return 'no OpenSSL 3 headers to build the JerryScript host (its crypto and key store): install libssl-dev';
  return null;
}

/** HAL entries the C host runs itself, by what they need (FORMAT.md lists what stays in Node and why). */
const FLASH_ENTRIES = ['flashGeometry', 'flashRead', 'flashProgram', 'flashErase'];
const CRYPTO_ENTRIES = ['sha256', 'sha256Flash', 'verifyEd25519'];
const OTP_ENTRIES = ['otpDockId', 'otpManufacturerPublicKey', 'otpDeviceSecret', 'otpFactoryLocked', 'otpLockFactory'];
const KEYSTORE_ENTRIES = ['perDockPublicKey', 'openSealed'];

/** Exactly the simulator's own class (a subclass or a test double may behave differently: it stays in Node). */
function exactly<T>(v: unknown, cls: { prototype: T }): v is T {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === cls.prototype;
}

/** Which HAL entries run in C for these options, and the OTP file the C host reads its fuses from. */
function nativeEntries(o: EngineOptions): { names: Set<string>; otpFile: string | null } {
  const names = new Set(FLASH_ENTRIES);
  if (exactly(o.crypto, NodeCrypto)) for (const n of CRYPTO_ENTRIES) names.add(n);
  const otpFile = exactly(o.otp, SimOtp) ? o.otp.file : null;
  if (otpFile) for (const n of OTP_ENTRIES) names.add(n);
  if (otpFile && exactly(o.keystore, SimKeystore) && o.keystore.otpFile === otpFile) for (const n of KEYSTORE_ENTRIES) names.add(n);
  return { names, otpFile };
}

class Writer {
  parts: Buffer[] = [];
  u8(v: number) {
    this.parts.push(Buffer.from([v]));
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.parts.push(b);
  }
  raw(b: Uint8Array) {
    this.u32(b.length);
    this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  value(v: HalValue) {
    if (v === undefined) this.u8(V.UNDEF);
    else if (v === null) this.u8(V.NULL);
    else if (typeof v === 'boolean') this.u8(v ? V.TRUE : V.FALSE);
    else if (typeof v === 'number') {
      this.u8(V.NUMBER);
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v);
      this.parts.push(b);
    } else if (typeof v === 'string') {
      this.u8(V.STRING);
      this.raw(Buffer.from(v, 'utf8'));
    } else if (v instanceof Uint8Array) {
      this.u8(V.BYTES);
      this.raw(v);
    } else {
      this.u8(V.ARRAY);
      this.u32(v.length);
      v.forEach((e) => this.value(e));
    }
  }
  frame(): Buffer {
    const body = Buffer.concat(this.parts);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    return Buffer.concat([head, body]);
  }
}

class Reader {
  at = 0;
  constructor(readonly b: Buffer) {}
  u8() {
    return this.b[this.at++];
  }
  u32() {
    const v = this.b.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  value(): HalValue {
    const tag = this.u8();
    switch (tag) {
      case V.NULL:
        return null;
      case V.FALSE:
        return false;
      case V.TRUE:
        return true;
      case V.NUMBER: {
        const v = this.b.readDoubleLE(this.at);
        this.at += 8;
        return v;
      }
      case V.STRING:
      case V.BYTES: {
        const n = this.u32();
        const s = this.b.subarray(this.at, this.at + n);
        this.at += n;
        return tag === V.STRING ? s.toString('utf8') : new Uint8Array(s);
      }
      case V.ARRAY: {
        const n = this.u32();
        const out: HalValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.value());
        return out;
      }
      default:
        return undefined;
    }
  }
}

export class JerryHost {
  display!: SimDisplay;
  private hal: Record<string, HalFunction> = {};
  /** Partitions the C host may run on their files (when no fault is injected). */
  private lent: NativePartition[] = [];
  /** The HAL entries the C host runs itself (the rest cross to Node). */
  nativeHal: ReadonlySet<string> = new Set();
  /** HAL calls Node answered, by entry (what still crosses the FIFOs). */
  readonly bridgedCalls = new Map<string, number>();
  private dead: string | null = null;
  private watchdogMs = 0;
  /** How the firmware was loaded by startWithFirmware: run in place from a static snapshot, or parsed from source into the heap. */
  firmwareLoad: 'static-snapshot' | 'source' | null = null;
  /** Why the firmware was parsed from source (no snapshot tool in the kit), when it was. */
  firmwareNote: string | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly toEngine: number,
    private readonly fromEngine: number,
    private readonly dir: string,
    private readonly options: EngineOptions,
  ) {}

  /**
   * `literalsFile`: a static snapshot's literal list, registered before the
   * engine makes any string (a dock keeps it in flash beside the snapshot);
   * then runSnapshot() can run that snapshot.
   */
  static async start(options: EngineOptions, literalsFile?: string): Promise<JerryHost> {
    const why = jerryUnavailable();
    if (why) throw new Error(why);
    const exe = buildJerryHost(findJerryKit() as JerryKit);
    // RAM when there is a /dev/shm: copies of partitions kept in memory live here while the C host runs them.
    const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dl7450-jerry-'));
    const req = join(dir, 'to-engine');
    const ans = join(dir, 'from-engine');
    for (const f of [req, ans]) if (spawnSync('mkfifo', [f]).status !== 0) throw new Error(`mkfifo ${f} failed`);
    const child = spawn(exe, literalsFile ? [req, ans, literalsFile] : [req, ans], { stdio: ['ignore', 'inherit', 'inherit'] });
    // The C host opens `req` then `ans`; opening in the same order cannot deadlock.
    const toEngine = openSync(req, 'w');
    const fromEngine = openSync(ans, 'r');
    const host = new JerryHost(child, toEngine, fromEngine, dir, options);
    host.display = options.display ?? new SimDisplay();
    host.hal = halFunctions(options, host.display);
    const native = process.env.DL7450_JERRY_ALL_IN_NODE ? { names: new Set<string>(), otpFile: null } : nativeEntries(options);
    host.nativeHal = new Set(Object.keys(host.hal).filter((n) => native.names.has(n)));
    if (host.nativeHal.has('flashRead')) {
      const hashed = (n: number) => {
        if (options.crypto instanceof NodeCrypto) options.crypto.flashBytesHashed += n;
      };
      // The simulator's own flash classes only: a subclass may count or fault in its own methods, which C would bypass.
      for (const [name, flash] of Object.entries(options.partitions)) if (exactly(flash, SimFlash) || exactly(flash, FileFlash)) host.lent.push(new NativePartition(name, flash, dir, hashed));
    }
    const w = new Writer();
    w.u8('H'.charCodeAt(0));
    w.u32(Object.keys(host.hal).length);
    for (const name of Object.keys(host.hal)) {
      w.value(name);
      w.u8(host.nativeHal.has(name) ? 1 : 0);
    }
    w.value(native.otpFile ?? undefined);
    host.request(w, 'install HAL');
    return host;
  }

  /** Run a script in the engine's global scope; its result comes back through JSON. */
  /** Past `watchdogMs` the engine is reset, as the dock's watchdog does: this host is then gone. */
  eval(code: string, filename = 'eval.js', watchdogMs = this.options.watchdogMs ?? 10_000): unknown {
    const w = new Writer();
    w.u8('E'.charCodeAt(0));
    w.u32(watchdogMs);
    this.watchdogMs = watchdogMs;
    w.raw(Buffer.from(code, 'utf8'));
    const out = this.request(w, filename);
    return typeof out === 'string' ? JSON.parse(out) : undefined;
  }

  /**
   * A host with the firmware bundle loaded as the dock loads it: its static
   * snapshot run in place, the literal list registered first (both in flash
   * on a dock; flash-scripts/toolchain/jerry-snapshot.ts), so the firmware's
   * code costs the heap nothing. A kit without `jerry-snapshot` parses the
   * source instead (firmwareNote says so).
   */
  static async startWithFirmware(options: EngineOptions, code: string, watchdogMs?: number): Promise<JerryHost> {
    const image = jerrySnapshot(code);
    const host = await JerryHost.start(options, typeof image === 'string' ? undefined : image.literalsFile);
    if (typeof image === 'string') {
      host.eval(code, 'firmware.js', watchdogMs);
      host.firmwareLoad = 'source';
      host.firmwareNote = image;
    } else {
      host.runSnapshot(image.snapshot, 'firmware.snapshot', watchdogMs);
      host.firmwareLoad = 'static-snapshot';
    }
    return host;
  }

  /** Run a static snapshot in place (the firmware from flash: flash-scripts/toolchain/jerry-snapshot.ts); needs its literal list given to start(). */
  runSnapshot(snapshot: Uint8Array, what = 'firmware.snapshot', watchdogMs = this.options.watchdogMs ?? 10_000): void {
    const w = new Writer();
    w.u8('P'.charCodeAt(0));
    w.u32(watchdogMs);
    this.watchdogMs = watchdogMs;
    w.raw(snapshot);
    this.request(w, what);
  }

  /** dl7450.<name>(bytes) in the engine; its ArrayBuffer result (null when empty or none). */
  callBytes(name: string, bytes: Uint8Array): Uint8Array | null {
    const out = this.call(name, bytes);
    return out instanceof Uint8Array && out.length > 0 ? out : null;
  }

  /**
   * dl7450.<name>(arg) in the engine, the argument passed as a value. Why not
   * eval(`dl7450.runTimers(${now})`): JerryScript 3.0 keeps every literal a
   * parsed script names until the engine ends, so a new number in each
   * script grows the heap by about 11 bytes a call, for ever (a dock loop
   * ticking ten times a second would fill the 512 KiB heap within an hour).
   */
  call(name: string, arg: HalValue): HalValue {
    const w = new Writer();
    w.u8('C'.charCodeAt(0));
    this.watchdogMs = this.options.watchdogMs ?? 10_000;
    w.u32(this.watchdogMs);
    w.value(name);
    w.value(arg);
    return this.request(w, `dl7450.${name}`);
  }

  /** jerry_heap_stats: allocated and peak bytes of the engine's heap, and its size. */
  heapStats(): HeapStats {
    const w = new Writer();
    w.u8('S'.charCodeAt(0));
    const [allocatedBytes, peakBytes, sizeBytes] = this.request(w, 'heap stats') as number[];
    return { allocatedBytes, peakBytes, sizeBytes };
  }

  dispose(): void {
    // The C host's last changes are in the files: mirror them before they go.
    for (const p of this.lent) p.dispose();
    this.lent = [];
    if (!this.dead) {
      try {
        const w = new Writer();
        w.u8('Q'.charCodeAt(0));
        writeSync(this.toEngine, w.frame());
      } catch {
        // already gone
      }
    }
    this.dead ??= 'disposed';
    for (const fd of [this.toEngine, this.fromEngine]) {
      try {
        closeSync(fd);
      } catch {
        // closed
      }
    }
    if (this.child.exitCode === null) this.child.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Send one request. Partitions go to the C host (or come back, when a fault
   * was injected since) first; what the C host changed is mirrored back
   * after, whatever the request's outcome.
   */
  private request(w: Writer, what: string): HalValue {
    if (this.dead) throw new EngineError('exception', `the JerryScript engine is gone (${this.dead}); start a new one`);
    this.lend();
    try {
      return this.exchange(w, what);
    } finally {
      for (const p of this.lent) p.pullEngineChanges();
    }
  }

  private lend(): void {
    for (const p of this.lent) {
      if (p.attached && !p.eligible) {
        const w = new Writer();
        w.u8('D'.charCodeAt(0));
        w.value(p.name);
        try {
          this.exchange(w, `hand partition ${p.name} back`);
        } finally {
          p.detach();
        }
      } else if (!p.attached && p.eligible) {
        const a = p.prepareAttach();
        const w = new Writer();
        w.u8('A'.charCodeAt(0));
        for (const s of [a.name, a.dataPath, a.statePath]) w.value(s);
        for (const n of [a.size, a.sectorSize, a.programUnit, a.pageSize, a.timingPageSize]) w.u32(n);
        w.u8(a.strictReprogram ? 1 : 0);
        this.exchange(w, `lend partition ${p.name}`);
      } else p.pushNodeChanges();
    }
  }

  /** Write a request; answer the engine's HAL calls and log lines until its answer comes. */
  private exchange(w: Writer, what: string): HalValue {
    writeSync(this.toEngine, w.frame());
    for (;;) {
      const r = new Reader(this.readFrame(what));
      const op = String.fromCharCode(r.u8());
      if (op === 'R') return r.value();
      if (op === 'X') throw new EngineError('exception', `${String(r.value())} (${what})`);
      if (op === 'L') {
        const n = r.u32();
        const parts: string[] = [];
        for (let i = 0; i < n; i++) parts.push(String(r.value()));
        (this.options.log ?? console.log)(parts.join(' '));
      } else if (op === 'W') {
        this.dead = 'reset by the watchdog';
        throw new EngineError('watchdog', `the script ran longer than ${this.watchdogMs} ms and was stopped by the watchdog (${what}); the engine was reset`);
      } else if (op === 'F') {
        const code = r.u32();
        this.dead = `fatal error ${code}`;
        if (code === 10) throw new EngineError('out-of-memory', `the script ran out of engine memory: JerryScript's 512 KiB heap is full (${what})`);
        throw new EngineError('exception', `the engine stopped with fatal error ${code} (${what})`);
      } else if (op === 'K') {
        const name = String(r.value());
        const n = r.u32();
        const args: HalValue[] = [];
        for (let i = 0; i < n; i++) args.push(r.value());
        const answer = new Writer();
        // A Node HAL entry that reads or writes flash sees the C host's changes first, and the C host sees its changes after.
        const touchesFlash = name.startsWith('flash') || name === 'sha256Flash';
        this.bridgedCalls.set(name, (this.bridgedCalls.get(name) ?? 0) + 1);
        try {
          const fn = this.hal[name];
          if (!fn) throw new Error(`no HAL function ${name}`);
          if (touchesFlash) for (const p of this.lent) p.pullEngineChanges();
          answer.value(fn(...args));
        } catch (e) {
          answer.parts = [];
          answer.u8(V.ERROR);
          answer.raw(Buffer.from(halErrorMessage(e), 'utf8'));
        }
        if (touchesFlash) for (const p of this.lent) p.pushNodeChanges();
        writeSync(this.toEngine, answer.frame());
      }
    }
  }

  private readFrame(what: string): Buffer {
    const head = this.readExactly(4, what);
    return this.readExactly(head.readUInt32LE(0), what);
  }

  private readExactly(n: number, what: string): Buffer {
    const out = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const k = readSync(this.fromEngine, out, got, n - got, null);
      if (k === 0) {
        this.dead = 'its process ended';
        throw new EngineError('exception', `the JerryScript engine process ended (${what})`);
      }
      got += k;
    }
    return out;
  }
}
