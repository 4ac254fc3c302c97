// One direction of a simulated UART. A pseudo-terminal (or an in-process
// pipe) moves bytes as fast as the host can; a real UART moves baud/10 bytes
// a second (8N1: a start bit, eight data bits, a stop bit). Bytes pushed here
// come out at that rate, in order, in small pieces, as a UART's FIFO would
// hand them to the firmware. baud null: no pacing (fast tests).

export class PacedLine {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  /** When the line finishes sending what was handed out so far (ms, fractional). */
  private lineFreeAt = 0;
  private closed = false;
  /** Bytes that went through. */
  bytes = 0;

  constructor(
    readonly baudRate: number | null,
    private readonly sink: (bytes: Uint8Array) => void,
    /** Tick: a coarser tick means fewer, larger pieces. */
    private readonly tickMs = 2,
  ) {}

  push(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    if (this.baudRate === null) {
      this.bytes += bytes.length;
      this.sink(bytes);
      return;
    }
    // An idle line starts sending now; a busy one carries on where it is (late ticks lose no line time).
    if (this.queued === 0) this.lineFreeAt = Math.max(this.lineFreeAt, performance.now());
    this.queue.push(bytes.slice());
    this.queued += bytes.length;
    if (!this.timer) this.pump();
  }

  /** Bytes waiting to go over the line. */
  get backlog(): number {
    return this.queued;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.queued = 0;
  }

  private pump(): void {
    this.timer = null;
    if (this.closed || this.queued === 0) return;
    const now = performance.now();
    const perMs = this.baudRate! / 10 / 1000;
    const budget = Math.floor((now - this.lineFreeAt) * perMs);
    if (budget > 0) {
      const out = this.take(budget);
      this.lineFreeAt += out.length / perMs;
      this.bytes += out.length;
      this.sink(out);
    }
    if (this.queued > 0 && !this.closed) this.timer = setTimeout(() => this.pump(), this.tickMs);
  }

  private take(n: number): Uint8Array {
    const size = Math.min(n, this.queued);
    const out = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const head = this.queue[0];
      const k = Math.min(head.length, size - at);
      out.set(head.subarray(0, k), at);
      at += k;
      if (k === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(k);
    }
    this.queued -= size;
    return out;
  }
}
