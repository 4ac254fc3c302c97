// engine.timers: how late an app's 30 ms repeating timer runs, on an idle
// dock and while the dock serves SMP traffic (echo, a setting written, a
// setting read, a page of keys: one request every 5 ms), on each engine.
// - simulated clock: time moves only when the dock's loop sleeps, plus the
//   flash time the work costs by the simulator's timing model (programs,
//   erases, reads); engine CPU time is not charged. Deterministic.
// - wall clock: the same on this machine's real time; reported as medians
//   and p99s and as the ratio busy / idle (machine load moves the absolute
//   figures, less the ratio).

import { performance } from 'node:perf_hooks';
import { bootAppDock, factoryRom, type AppDock } from '../test/support/app-dock.ts';
import { testEngines, type TestEngine } from '../test/support/engines.ts';
import { makePng } from '../test/support/image-files.ts';
import { VirtualClock, wallClock, type LoopClock } from '../simulator/engine/engine-loop.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import type { BenchLine } from './runtime.ts';

const PERIOD = 30;
const TICKS = 200;
const REQUEST_EVERY_MS = 5;
const TICKER = `console.log('scheduled'); require('wakeup').wakeup(function () { console.log('tick'); }, ${PERIOD}, ${PERIOD});`;

/** Sub-millisecond wall time on the dock clock. */
const preciseWall: LoopClock = { now: () => performance.timeOrigin + performance.now(), sleep: wallClock.sleep };

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Lateness of each tick behind its slot (start + k × period), slots skipped, smallest gap between ticks. */
function measure(dock: AppDock): { medianMs: number; p99Ms: number; maxMs: number; skipped: number; minGapMs: number; ticks: number } {
  const start = dock.log.find((l) => l.line === 'scheduled')!.at;
  const ticks = dock.log.filter((l) => l.line === 'tick').map((l) => l.at);
  const slots = ticks.map((t) => Math.max(1, Math.floor((t - start) / PERIOD + 1e-9)));
  const late = ticks.map((t, i) => t - (start + slots[i] * PERIOD));
  const gaps = ticks.slice(1).map((t, i) => t - ticks[i]);
  return { medianMs: round(quantile(late, 0.5)), p99Ms: round(quantile(late, 0.99)), maxMs: round(Math.max(...late)), skipped: slots[slots.length - 1] - ticks.length, minGapMs: round(Math.min(...gaps)), ticks: ticks.length };
}

function runtimeWithTicker(): SimFlash {
  const runtime = new SimFlash({ size: 256 * 1024, sectorSize: 4096, programUnit: 16 });
  const store = RuntimeStore.format(runtime);
  store.set('code/app', utf8Encode(TICKER));
  store.unmount();
  return runtime;
}

/** One SMP request of the mix; returns nothing (answers are checked to be answers). */
function request(dock: AppDock, n: number): void {
  switch (n % 4) {
    case 0:
      dock.smp(0, 0, { d: `echo ${n} ${'x'.repeat(48)}` });
      break;
    case 1:
      dock.smp(3, 0, { name: `bench.setting${n % 8}`, val: utf8Encode(`value ${n}`), type: 'text' });
      break;
    case 2:
      dock.smp(3, 0, { name: `bench.setting${(n - 1) % 8}` }, 0);
      break;
    default:
      dock.smp(64, 7, { limit: 20 }, 0);
  }
}

async function simulated(engine: TestEngine, rom: ReturnType<typeof factoryRom>, load: 'idle' | 'smp'): Promise<BenchLine> {
  const clock = new VirtualClock();
  const runtime = runtimeWithTicker();
  let charged = 0;
  const flashUs = () => runtime.stats.timeUs;
  let dockRef: AppDock | null = null;
  const dock = await bootAppDock(engine, rom, {
    runtime,
    clock,
    afterEngineCall: () => {
      const spent = flashUs() - charged;
      charged = flashUs();
      if (dockRef) clock.spend(spent / 1000);
    },
  });
  dockRef = dock;
  charged = flashUs();
  let requests = 0;
  try {
    if (load === 'smp') {
      const next = () => {
        request(dock, requests++);
        clock.sleep(REQUEST_EVERY_MS, next);
      };
      clock.sleep(REQUEST_EVERY_MS, next);
    }
    dock.idle(TICKS * PERIOD + PERIOD / 2);
    const m = measure(dock);
    return { bench: 'engine.timers', engine: engine.name, clock: 'simulated', load, ...m, requests, note: 'lateness behind each slot; flash time charged by the timing model, engine CPU not' };
  } finally {
    dock.close();
  }
}

async function wall(engine: TestEngine, rom: ReturnType<typeof factoryRom>, load: 'idle' | 'smp'): Promise<BenchLine & { medianMs: number; p99Ms: number }> {
  const dock = await bootAppDock(engine, rom, { runtime: runtimeWithTicker(), clock: preciseWall });
  let requests = 0;
  let traffic: NodeJS.Timeout | null = null;
  try {
    if (load === 'smp') traffic = setInterval(() => request(dock, requests++), REQUEST_EVERY_MS);
    await new Promise((done) => setTimeout(done, TICKS * PERIOD + PERIOD / 2));
    const m = measure(dock);
    return { bench: 'engine.timers', engine: engine.name, clock: 'wall', load, ...m, requests };
  } finally {
    if (traffic) clearInterval(traffic);
    dock.close();
  }
}

export async function engineTimers(): Promise<BenchLine[]> {
  const rom = factoryRom({ app: 'console.log("factory app");', config: 'images:\n  default:\n    path: ${CONFIG_PATH}/bg.png\n    type: png\n', files: { 'bg.png': makePng(8, 8) } });
  const out: BenchLine[] = [];
  for (const engine of testEngines('engine.timers')) {
    out.push(await simulated(engine, rom, 'idle'), await simulated(engine, rom, 'smp'));
    const idle = await wall(engine, rom, 'idle');
    const busy = await wall(engine, rom, 'smp');
    const ratio = (a: number, b: number) => (b > 0 ? round(a / b) : null);
    out.push(idle, { ...busy, medianRatioToIdle: ratio(busy.medianMs, idle.medianMs), p99RatioToIdle: ratio(busy.p99Ms, idle.p99Ms), note: 'wall clock on this machine (Node timers, ~1 ms resolution); ratios: with SMP traffic / idle' });
  }
  return out;
}
