// wakeup(task, ms, repeatMs): the SDK's timers, on the dock clock (the HAL's
// monotonic clock, not the wall clock an SMP datetime sets). The host's loop
// calls runDue(now) when the engine is idle and again when the returned time
// comes (resolution: the host's timer, ~1 ms; see README). Rules:
// - a repeating timer keeps its slots (start + n × repeatMs); one that ran
//   late skips to its first slot at least half a period after it ran, so it
//   never runs back-to-back to catch up;
// - one call runs the tasks that were due when it began, in due order, and
//   stops early once they have taken BUSY_MS: a busy app delays only its own
//   timers, the dock serves its serial line in between;
// - a task that throws is logged and, if repeating, keeps its schedule.

/** The SDK's Timer: what wakeup returns. */
export class Timer {
  constructor(private readonly entry: { cancelled: boolean }) {}
  cancel(): void {
    this.entry.cancelled = true;
  }
}

interface Entry {
  id: number;
  due: number;
  repeatMs: number;
  task: () => void;
  cancelled: boolean;
}

/** The longest wait a timer may ask for (a signed 32-bit millisecond count, as setTimeout). */
const MAX_WAIT_MS = 2147483647;

/** How long one runDue call may run tasks before it hands the engine back to the host. */
const BUSY_MS = 20;

export class TimerQueue {
  private entries: Entry[] = [];
  private nextId = 1;
  /** Set by stop(): the queue of an app that was stopped schedules and runs nothing more. */
  private stopped = false;

  /** The app this queue belongs to was stopped: it may start nothing more (timers, subscriptions). */
  get isStopped(): boolean {
    return this.stopped;
  }

  constructor(
    private readonly now: () => number,
    private readonly log: (line: string) => void,
    /** Told of every task that throws (the dock's event log reports it as an app crash). */
    private readonly onTaskError: (message: string) => void = () => {},
  ) {}

  wakeup(task: () => void, timeMs: number, repeatMs = 0): Timer {
    if (typeof task !== 'function') throw new TypeError('wakeup(task, time_ms, repeat_ms): task must be a function');
    // The host's timer takes at most 2^31 - 1 ms; Infinity or more would wake the dock every millisecond.
    if (!(timeMs >= 0 && timeMs <= MAX_WAIT_MS) || !(repeatMs >= 0 && repeatMs <= MAX_WAIT_MS)) {
      throw new RangeError(`wakeup: time_ms and repeat_ms are 0 to ${MAX_WAIT_MS} milliseconds (about 24.8 days), got ${timeMs} and ${repeatMs}`);
    }
    const entry: Entry = { id: this.nextId++, due: this.now() + timeMs, repeatMs, task, cancelled: this.stopped };
    if (!this.stopped) this.entries.push(entry);
    return new Timer(entry);
  }

  /** Cancel every timer, for good (the app is being stopped). */
  stop(): void {
    this.stopped = true;
    for (const e of this.entries) e.cancelled = true;
    this.entries = [];
  }

  /** Run the tasks due at `now`; returns when the next one is due (the dock clock), or -1 if none. */
  runDue(now: number): number {
    const due = this.entries.filter((e) => !e.cancelled && e.due <= now).sort((a, b) => a.due - b.due || a.id - b.id);
    const began = this.now();
    for (const e of due) {
      if (e.cancelled) continue;
      if (this.now() - began >= BUSY_MS) break; // the rest stay due: the host comes straight back
      try {
        e.task();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.log(`timer task failed: ${message}`);
        this.onTaskError(message);
      }
      if (e.repeatMs > 0 && !e.cancelled) {
        // The first slot at least half a period after this run ended: late ticks are skipped, never bunched.
        const ran = this.now();
        const slots = Math.max(1, Math.ceil((ran + e.repeatMs / 2 - e.due) / e.repeatMs));
        e.due += slots * e.repeatMs;
      } else e.cancelled = true;
    }
    this.entries = this.entries.filter((e) => !e.cancelled);
    let next = -1;
    for (const e of this.entries) if (next < 0 || e.due < next) next = e.due;
    return next;
  }

  get pending(): number {
    return this.entries.filter((e) => !e.cancelled).length;
  }
}
