// The dock's idle loop on the host side of the engine: it calls the
// firmware's runTimers when the next timer is due, and again straight after
// the engine took any other input (serial), since that input may have set a
// timer (a pushed app) or replaced the app. The clock is injected: Node's
// timers on a running dock, a VirtualClock in tests and benches, where time
// moves only when the loop sleeps (so figures do not depend on machine load).

export interface LoopClock {
  now(): number;
  /** Call `wake` after `ms`; returns a function that cancels it. */
  sleep(ms: number, wake: () => void): () => void;
}

export const wallClock: LoopClock = {
  now: () => Date.now(),
  sleep: (ms, wake) => {
    const t = setTimeout(wake, ms);
    return () => clearTimeout(t);
  },
};

export class EngineLoop {
  private cancelSleep: (() => void) | null = null;
  private running = false;
  private kicked = false;

  /**
   * `runTimers(now)` runs what is due and returns when the next timer is due
   * (-1: none; the loop then waits for a kick). `afterRun` follows every call
   * (the simulator saves the screen there).
   */
  constructor(
    private readonly runTimers: (now: number) => number,
    private readonly clock: LoopClock = wallClock,
    private readonly afterRun: () => void = () => {},
  ) {}

  start(): void {
    this.running = true;
    this.step();
  }

  stop(): void {
    this.running = false;
    this.cancelSleep?.();
    this.cancelSleep = null;
  }

  /**
   * The engine took input: look at the timers again on the next turn, not at
   * the end of the current sleep. Kicks in a burst (a stream of serial
   * chunks) make one look.
   */
  kick(): void {
    if (!this.running || this.kicked) return;
    this.kicked = true;
    this.cancelSleep?.();
    this.cancelSleep = this.clock.sleep(0, () => {
      this.cancelSleep = null;
      this.step();
    });
  }

  private step(): void {
    this.kicked = false;
    this.cancelSleep?.();
    this.cancelSleep = null;
    const next = this.runTimers(this.clock.now());
    this.afterRun();
    if (!this.running || next < 0) return;
    this.cancelSleep = this.clock.sleep(Math.max(0, Math.ceil(next - this.clock.now())), () => {
      this.cancelSleep = null;
      this.step();
    });
  }
}

/** Simulated time: moves only by advance(), which wakes every sleeper due on the way, in order. */
export class VirtualClock implements LoopClock {
  private sleepers: { at: number; seq: number; wake: () => void }[] = [];
  private seq = 0;

  constructor(public t = 1_736_000_000_000) {}

  now = (): number => this.t;

  sleep(ms: number, wake: () => void): () => void {
    const s = { at: this.t + ms, seq: this.seq++, wake };
    this.sleepers.push(s);
    return () => {
      this.sleepers = this.sleepers.filter((x) => x !== s);
    };
  }

  /** Move time forward by `ms`, waking sleepers at their times (a sleeper may sleep again). */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      let first: { at: number; seq: number; wake: () => void } | null = null;
      for (const s of this.sleepers) if (s.at <= until && (!first || s.at < first.at || (s.at === first.at && s.seq < first.seq))) first = s;
      if (!first) break;
      this.sleepers = this.sleepers.filter((x) => x !== first);
      if (first.at > this.t) this.t = first.at;
      first.wake();
    }
    this.t = Math.max(this.t, until);
  }

  /** Time the dock spent working (a bench charges modelled flash time): the clock moves without waking anyone. */
  spend(ms: number): void {
    this.t += ms;
  }
}
