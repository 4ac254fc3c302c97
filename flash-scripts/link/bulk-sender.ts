// The host's end of a bulk transfer (firmware/link/FORMAT.md, "Windowing and
// retransmission"): keeps a window of DATA frames in flight, resends what the
// dock's ACKs show missing, and gives up with advice when the line is too bad.

import {
  ABORT_PROTOCOL,
  BULK_ABORT,
  BULK_ACK,
  BULK_DATA,
  MAX_PAYLOAD,
  MAX_WINDOW,
  encodeBulkFrame,
  parseAbort,
  parseAck,
  type BulkFrame,
} from '../../firmware/link/bulk-frame.ts';

/** Time as the sender sees it; tests inject a simulated one. */
export interface BulkClock {
  now(): number;
  /** Call `fire` after `ms`; returns a cancel function. */
  setTimer(ms: number, fire: () => void): () => void;
}

export const realClock: BulkClock = {
  now: () => performance.now(),
  setTimer: (ms, fire) => {
    const t = setTimeout(fire, ms);
    return () => clearTimeout(t);
  },
};

export interface BulkProgress {
  bytesAcked: number;
  totalBytes: number;
  framesSent: number;
  framesRetransmitted: number;
}

export interface BulkSendOptions {
  session: number;
  data: Uint8Array;
  /** As agreed with the dock when the session was opened. */
  frameSize: number;
  window: number;
  /** One wire frame to the line. Return a promise to hold the sender back until the port can take more. */
  write(wire: Uint8Array): void | Promise<void>;
  /** Deliver decoded bulk frames from the line (e.g. a SerialDemux's 'bulk' events); returns an unsubscribe function. */
  subscribe(listener: (frame: BulkFrame) => void): () => void;
  /** Resend when the oldest unacknowledged frame has waited this long. */
  timeoutMs?: number;
  /** Resends allowed per frame before the line is declared too noisy. */
  maxRetries?: number;
  onProgress?(progress: BulkProgress): void;
  clock?: BulkClock;
}

export interface BulkSendStats {
  /** Every DATA frame written, resends included. */
  framesSent: number;
  framesRetransmitted: number;
  timeouts: number;
  /** Bytes of those DATA frames on the wire (the ACKs come the other way). */
  bytesOnWire: number;
  elapsedMs: number;
}

export type BulkFailure = 'aborted' | 'too-noisy' | 'protocol';

export class BulkTransferError extends Error {
  constructor(
    readonly kind: BulkFailure,
    /** The dock's ABORT reason (1 sink failed, 2 unknown session, 3 protocol); 0 when the host gave up. */
    readonly reason: number,
    readonly text: string,
    message: string,
  ) {
    super(message);
    this.name = 'BulkTransferError';
  }
}

const ABORT_MEANING: Record<number, string> = {
  1: 'the dock could not store the data',
  2: 'the dock has no such bulk session open (it restarted, or another transfer replaced it)',
  3: 'the dock saw a frame it cannot accept (a host/dock protocol mismatch)',
};

export function sendBulk(options: BulkSendOptions): Promise<BulkSendStats> {
  return new BulkSender(options).run();
}

class BulkSender {
  private readonly o: BulkSendOptions;
  private readonly clock: BulkClock;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly totalFrames: number;
  private readonly window: number;
  /** Every seq below this is acknowledged. */
  private base = 0;
  /** The next seq never sent. */
  private fresh = 0;
  // Per in-flight frame, slot = seq % window.
  private readonly sentAt: Float64Array;
  private readonly sendOrder: Float64Array; // ordinal of its latest transmission
  private readonly retries: Uint32Array;
  private readonly sacked: Uint8Array;
  private readonly queued: Uint8Array;
  private resend: number[] = [];
  private sends = 0;
  /** Ordinal of the latest transmission known to have arrived. */
  private newestArrived = 0;
  private failure: BulkTransferError | null = null;
  private wake: (() => void) | null = null;
  private readonly stats: BulkSendStats = { framesSent: 0, framesRetransmitted: 0, timeouts: 0, bytesOnWire: 0, elapsedMs: 0 };

  constructor(o: BulkSendOptions) {
    if (!(o.frameSize >= 1 && o.frameSize <= MAX_PAYLOAD)) throw new RangeError(`bulk frame size ${o.frameSize} is not 1..${MAX_PAYLOAD}`);
    if (!(o.window >= 1 && o.window <= MAX_WINDOW)) throw new RangeError(`bulk window ${o.window} is not 1..${MAX_WINDOW}`);
    this.o = o;
    this.clock = o.clock ?? realClock;
    this.timeoutMs = o.timeoutMs ?? 1000;
    this.maxRetries = o.maxRetries ?? 10;
    this.totalFrames = Math.ceil(o.data.length / o.frameSize);
    this.window = o.window;
    this.sentAt = new Float64Array(o.window);
    this.sendOrder = new Float64Array(o.window);
    this.retries = new Uint32Array(o.window);
    this.sacked = new Uint8Array(o.window);
    this.queued = new Uint8Array(o.window);
  }

  async run(): Promise<BulkSendStats> {
    const started = this.clock.now();
    const unsubscribe = this.o.subscribe((frame) => this.onFrame(frame));
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        if (this.base >= this.totalFrames) break;
        this.checkTimeout();
        const seq = this.pick();
        if (seq >= 0) await this.transmit(seq);
        else if (!this.failure) await this.sleep();
      }
    } finally {
      unsubscribe();
      this.stats.elapsedMs = this.clock.now() - started;
    }
    return this.stats;
  }

  /** What to send next: resends first (they hold the window back), then new frames while the window has room. */
  private pick(): number {
    while (this.resend.length > 0) {
      const seq = this.resend.shift()!;
      this.queued[seq % this.window] = 0;
      if (seq >= this.base && !this.sacked[seq % this.window]) return seq;
    }
    if (this.fresh < this.totalFrames && this.fresh < this.base + this.window) return this.fresh;
    return -1;
  }

  private async transmit(seq: number): Promise<void> {
    const slot = seq % this.window;
    const again = seq < this.fresh;
    if (again) {
      if (this.retries[slot] >= this.maxRetries) {
        this.failure = new BulkTransferError(
          'too-noisy',
          0,
          `frame ${seq} was sent ${this.maxRetries + 1} times without being acknowledged`,
          `the serial line is too noisy for the bulk lane: frame ${seq} was sent ${this.maxRetries + 1} times without being acknowledged. Lower the baud rate, or check the cable (length, shielding, ground) and the connectors.`,
        );
        return;
      }
      this.retries[slot]++;
      this.stats.framesRetransmitted++;
    } else {
      this.fresh++;
      this.retries[slot] = 0;
      this.sacked[slot] = 0;
    }
    const { data, frameSize, session } = this.o;
    const wire = encodeBulkFrame({ type: BULK_DATA, session, seq, payload: data.subarray(seq * frameSize, Math.min(data.length, (seq + 1) * frameSize)) });
    this.sendOrder[slot] = ++this.sends;
    this.stats.framesSent++;
    this.stats.bytesOnWire += wire.length;
    const pending = this.o.write(wire);
    if (pending) await pending;
    this.sentAt[slot] = this.clock.now(); // the timeout runs from when the port took it
  }

  /** Retransmission timeout: the oldest frame has waited too long; resend it and the rest of the window not yet seen. */
  private checkTimeout(): void {
    if (this.base >= this.fresh || this.queued[this.base % this.window]) return;
    if (this.clock.now() - this.sentAt[this.base % this.window] < this.timeoutMs) return;
    this.stats.timeouts++;
    for (let seq = this.base; seq < this.fresh; seq++) this.queue(seq);
  }

  private queue(seq: number): void {
    const slot = seq % this.window;
    if (this.sacked[slot] || this.queued[slot]) return;
    this.queued[slot] = 1;
    this.resend.push(seq);
  }

  private sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      let cancel = () => {};
      this.wake = () => {
        this.wake = null;
        cancel();
        resolve();
      };
      // Asleep only with frames in flight and none queued, so the oldest has a send time.
      // Whole milliseconds, at least one: a timer that fires a hair early must not spin.
      const due = this.sentAt[this.base % this.window] + this.timeoutMs - this.clock.now();
      cancel = this.clock.setTimer(Math.max(1, Math.ceil(due)), () => this.wake?.());
    });
  }

  private onFrame(frame: BulkFrame): void {
    if (frame.session !== this.o.session || this.failure) return; // an older session's stragglers
    if (frame.type === BULK_ABORT) {
      const a = parseAbort(frame.payload) ?? { reason: ABORT_PROTOCOL, text: '' };
      this.failure = new BulkTransferError(
        'aborted',
        a.reason,
        a.text,
        `the dock aborted the transfer: ${ABORT_MEANING[a.reason] ?? `reason ${a.reason}`}${a.text ? ` (${a.text})` : ''}`,
      );
    } else if (frame.type === BULK_ACK) {
      this.onAck(frame.payload);
    }
    this.wake?.();
  }

  private onAck(payload: Uint8Array): void {
    const ack = parseAck(payload);
    if (!ack) return;
    if (ack.next > this.fresh) {
      this.failure = new BulkTransferError('protocol', 0, `ACK next=${ack.next}`, `the dock acknowledged frame ${ack.next - 1}, which was never sent (is another host using session ${this.o.session}?)`);
      return;
    }
    const before = this.base;
    for (let seq = this.base; seq < ack.next; seq++) this.arrived(seq);
    if (ack.next > this.base) this.base = ack.next;
    for (let i = 0; i < ack.bitmap.length * 8; i++) {
      if (!(ack.bitmap[i >> 3] & (1 << (i & 7)))) continue;
      const seq = ack.next + 1 + i;
      if (seq < this.base || seq >= this.fresh || this.sacked[seq % this.window]) continue;
      this.sacked[seq % this.window] = 1;
      this.arrived(seq);
    }
    // Selective resend: a frame still missing although one sent after its latest copy
    // has arrived is lost. Judging against its latest copy resends it at most once per
    // round trip, however many ACKs repeat the news.
    for (let seq = this.base; seq < this.fresh; seq++) {
      const slot = seq % this.window;
      if (!this.sacked[slot] && this.sendOrder[slot] < this.newestArrived) this.queue(seq);
    }
    if (this.base > before) {
      this.o.onProgress?.({
        bytesAcked: Math.min(this.o.data.length, this.base * this.o.frameSize),
        totalBytes: this.o.data.length,
        framesSent: this.stats.framesSent,
        framesRetransmitted: this.stats.framesRetransmitted,
      });
    }
  }

  private arrived(seq: number): void {
    const order = this.sendOrder[seq % this.window];
    if (order > this.newestArrived) this.newestArrived = order;
  }
}
