// wakeup(task, ms, repeatMs): the SDK's timers. The host's event loop calls
// runDue(now) when the engine is idle; a task that throws is logged and, if
// repeating, keeps its schedule.

export interface Timer {
  cancel(): void;
}

interface Entry {
  id: number;
  due: number;
  repeatMs: number;
  task: () => void;
  cancelled: boolean;
}

export class TimerQueue {
  private entries: Entry[] = [];
  private nextId = 1;

  constructor(
    private readonly now: () => number,
    private readonly log: (line: string) => void,
    /** Told of every task that throws (the dock's event log reports it as an app crash). */
    private readonly onTaskError: (message: string) => void = () => {},
  ) {}

  wakeup(task: () => void, timeMs: number, repeatMs = 0): Timer {
    if (typeof task !== 'function') throw new TypeError('wakeup(task, timeMs, repeatMs): task must be a function');
    if (!(timeMs >= 0) || !(repeatMs >= 0)) throw new RangeError('wakeup: times must be zero or more milliseconds');
    const entry: Entry = { id: this.nextId++, due: this.now() + timeMs, repeatMs, task, cancelled: false };
    this.entries.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Run every task due at `now`; returns when the next one is due, or -1 if none. */
  runDue(now: number): number {
    const due = this.entries.filter((e) => !e.cancelled && e.due <= now).sort((a, b) => a.due - b.due || a.id - b.id);
    for (const e of due) {
      if (e.cancelled) continue;
      try {
        e.task();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.log(`timer task failed: ${message}`);
        this.onTaskError(message);
      }
      if (e.repeatMs > 0 && !e.cancelled) e.due = Math.max(e.due + e.repeatMs, now + 1);
      else e.cancelled = true;
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
