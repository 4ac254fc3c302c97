// wakeup() timers: the queue's rules (unit tests on a fake clock), then an app
// on an idle dock on the simulated clock (100 ticks of a 30 ms repeating
// timer), a pushed app's first tick, and a clock set over the link.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TimerQueue } from '../firmware/timers.ts';
import { testEngines } from './support/engines.ts';
import { bootAppDock, factoryRom, type AppDock } from './support/app-dock.ts';
import { makePng } from './support/image-files.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { utf8Encode } from '../bytes/utf8.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';

const queue = suite('timer queue: slots, no catch-up, a busy app delays only itself');

function fake(): { t: number; q: TimerQueue; log: string[] } {
  const f = { t: 1000, q: null as unknown as TimerQueue, log: [] as string[] };
  f.q = new TimerQueue(() => f.t, (l) => f.log.push(l));
  return f;
}

queue('a repeating timer run late skips to its first slot at least half a period on: never two runs back-to-back', () => {
  const f = fake();
  const runs: number[] = [];
  f.q.wakeup(() => runs.push(f.t), 30, 30); // slots 1030, 1060, 1090, …
  f.t = 1030;
  assert.is(f.q.runDue(f.t), 1060);
  f.t = 1085; // 25 ms late for 1060: 1090 is only 5 ms away, so it is skipped too
  assert.is(f.q.runDue(f.t), 1120);
  f.t = 1120;
  f.q.runDue(f.t);
  f.t = 1250 + 14; // four slots missed (1150 … 1240), 1264 is 14 ms into the period: next slot 1270 is 6 ms away → 1300
  assert.is(f.q.runDue(f.t), 1300);
  assert.equal(runs, [1030, 1085, 1120, 1264]);
  for (let i = 1; i < runs.length; i++) assert.ok(runs[i] - runs[i - 1] >= 15, `${runs[i - 1]} → ${runs[i]}`);
});

queue('a wait the host timer cannot take (Infinity, NaN, more than 2^31 - 1 ms, negative) is refused with a RangeError naming the limit, and schedules nothing', () => {
  const f = fake();
  for (const [time, repeat] of [[Infinity, 0], [0, Infinity], [NaN, 0], [2 ** 31, 0], [-1, 0], [10, -5]]) {
    assert.throws(() => f.q.wakeup(() => {}, time, repeat), (e: unknown) => e instanceof RangeError && /0 to 2147483647 milliseconds/.test((e as Error).message), `${time}, ${repeat}`);
  }
  assert.is(f.q.runDue(f.t), -1, 'nothing was scheduled');
  f.q.wakeup(() => {}, 2 ** 31 - 1);
  assert.is(f.q.runDue(f.t), f.t + 2 ** 31 - 1, 'the longest wait is accepted');
});

queue('a task that runs long delays only the later tasks of this call; the host gets the engine back after 20 ms of tasks', () => {
  const f = fake();
  const ran: string[] = [];
  for (const name of ['a', 'b', 'c', 'd'])
    f.q.wakeup(() => {
      ran.push(name);
      f.t += 12; // each task takes 12 ms of dock time
    }, 10);
  f.t = 1010;
  const next = f.q.runDue(f.t);
  assert.equal(ran, ['a', 'b'], 'stopped once 20 ms were spent');
  assert.ok(next <= f.t, 'the rest are due now: the host comes straight back');
  f.q.runDue(f.t);
  assert.equal(ran, ['a', 'b', 'c', 'd']);
  assert.is(f.q.pending, 0);
});

queue('a task that throws is logged and keeps its schedule; cancel and stop end timers for good', () => {
  const f = fake();
  let n = 0;
  const t = f.q.wakeup(() => {
    n++;
    throw new Error('boom');
  }, 10, 10);
  f.t = 1010;
  assert.is(f.q.runDue(f.t), 1020);
  assert.equal(f.log, ['timer task failed: boom']);
  t.cancel();
  f.t = 1020;
  assert.is(f.q.runDue(f.t), -1);
  assert.is(n, 1);
  f.q.wakeup(() => n++, 5);
  f.q.stop();
  f.q.wakeup(() => n++, 5);
  f.t = 2000;
  assert.is(f.q.runDue(f.t), -1);
  assert.is(n, 1, 'a stopped queue runs nothing, even timers set after stop()');
  assert.throws(() => f.q.wakeup(null as unknown as () => void, 1), /task must be a function/);
  assert.throws(() => f.q.wakeup(() => {}, -1), /0 to 2147483647 milliseconds/);
});

const rom = factoryRom({ app: 'console.log("factory app");', config: 'images:\n  default:\n    path: ${CONFIG_PATH}/bg.png\n    type: png\n', files: { 'bg.png': makePng(8, 8) } });

const TICKER = `
var n = 0;
console.log('scheduled');
require('wakeup').wakeup(function () { n++; console.log('tick ' + n); }, 30, 30);
`;

function runtimeWith(app: string): SimFlash {
  const runtime = new SimFlash({ size: 256 * 1024, sectorSize: 4096, programUnit: 16 });
  const store = RuntimeStore.format(runtime);
  store.set('code/app', utf8Encode(app));
  store.unmount();
  return runtime;
}

const dock = suite('timers on the dock (simulated clock)');

for (const engine of testEngines('dock timers')) {
  dock(`${engine.name}: 100 ticks of a 30 ms repeating timer on an idle dock: each on its slot, none closer than 15 ms`, async () => {
    const d = await bootAppDock(engine, rom, { runtime: runtimeWith(TICKER) });
    try {
      const start = d.log.find((l) => l.line === 'scheduled')!.at;
      d.idle(100 * 30 + 5);
      const ticks = d.log.filter((l) => l.line.startsWith('tick ')).map((l) => l.at);
      assert.is(ticks.length, 100);
      const lateness = ticks.map((at, i) => at - (start + 30 * (i + 1)));
      const gaps = ticks.slice(1).map((at, i) => at - ticks[i]);
      console.log(`  ${engine.name}: 100 ticks, max lateness ${Math.max(...lateness)} ms, smallest gap ${Math.min(...gaps)} ms (simulated clock)`);
      assert.ok(Math.max(...lateness) <= 2, `max lateness ${Math.max(...lateness)} ms`);
      assert.ok(Math.min(...lateness) >= 0, 'never early');
      assert.ok(Math.min(...gaps) >= 15, `smallest gap ${Math.min(...gaps)} ms`);
    } finally {
      d.close();
    }
  });

  /** Push TICKER as the ephemeral app and restart it over the link; its ticks in the next 95 ms, in ms after it scheduled. */
  const pushTickerTicks = (d: AppDock): number[] => {
    d.eph.put('code/app', utf8Encode(TICKER), 0, 1);
    assert.equal(d.smp(64, 0), { app: 'ephemeral' });
    const start = d.log.find((l) => l.line === 'scheduled')!.at;
    d.idle(95);
    return d.log.filter((l) => l.line.startsWith('tick ')).map((l) => l.at - start);
  };

  dock(`${engine.name}: an app pushed over the link while the dock idles gets its first tick on time (the loop is woken by the serial input)`, async () => {
    const d = await bootAppDock(engine, rom);
    try {
      d.idle(777); // the factory app set no timer: the loop sleeps until something wakes it
      assert.equal(pushTickerTicks(d), [30, 60, 90]);
    } finally {
      d.close();
    }
  });

  dock(`${engine.name}: an app started after the dock's date was set over the link ticks on time (timers run on the dock clock, not the settable date)`, async () => {
    const d = await bootAppDock(engine, rom);
    try {
      assert.equal(d.smp(0, 4, { datetime: '2031-06-01T12:00:00' }), {});
      d.idle(40);
      assert.equal(pushTickerTicks(d), [30, 60, 90]);
    } finally {
      d.close();
    }
  });
}

queue.run();
dock.run();
