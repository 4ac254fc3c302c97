// What happened on the dock, for `dl7450 events`: a small ring of numbered
// events the host polls (SMP is request/response; a poll with `since` never
// loses an event unless more than the ring's size happened in between, and
// then says so).

export type DockEventKind = 'key-changed' | 'app-started' | 'app-crashed' | 'factory-committed' | 'factory-reset';

export interface DockEvent {
  id: number;
  kind: DockEventKind;
  /** Seconds since 1970 (dock clock). */
  at: number;
  detail: string;
}

export class EventLog {
  private ring: DockEvent[] = [];
  private nextId = 1;

  constructor(
    private readonly now: () => number,
    private readonly size = 64,
  ) {}

  add(kind: DockEventKind, detail: string): void {
    this.ring.push({ id: this.nextId++, kind, at: Math.floor(this.now() / 1000), detail });
    if (this.ring.length > this.size) this.ring.shift();
  }

  /** Events after `since`; `missed` counts those that fell out of the ring before being read. */
  since(since: number): { events: DockEvent[]; next: number; missed: number } {
    const events = this.ring.filter((e) => e.id > since);
    const oldest = this.ring.length ? this.ring[0].id : this.nextId;
    return { events, next: this.nextId - 1, missed: Math.max(0, oldest - since - 1) };
  }
}
