// The dock's end of a bulk transfer (FORMAT.md, "Windowing"): takes DATA
// frames in any order within the window, hands the bytes on strictly in
// order, and answers every DATA frame so the host knows what to resend.
// Memory: one window of frames, allocated only once a frame arrives early.

import {
  ABORT_PROTOCOL,
  ABORT_SINK_FAILED,
  ABORT_UNKNOWN_SESSION,
  BULK_ABORT,
  BULK_ACK,
  BULK_DATA,
  MAX_PAYLOAD,
  MAX_WINDOW,
  abortPayload,
  encodeBulkFrame,
  parseAbort,
  writeAckPayload,
  type BulkFrame,
} from './bulk-frame.ts';

export interface BulkSink {
  /** Called in order with contiguous offsets; `bytes` is valid only during the call. Throw to refuse. */
  write(offset: number, bytes: Uint8Array): void;
}

export interface BulkReceiverOptions {
  session: number;
  totalBytes: number;
  frameSize: number;
  window: number;
  sink: BulkSink;
}

export class BulkReceiver {
  readonly session: number;
  readonly totalBytes: number;
  readonly frameSize: number;
  readonly window: number;
  /** Every seq below this has been handed to the sink. */
  next = 0;
  /** Bytes handed to the sink. */
  bytesReceived = 0;
  framesDuplicate = 0;
  framesOutOfOrder = 0;
  /** Frames dropped for lying beyond the window. */
  framesBeyondWindow = 0;
  /** Frames held for a hole to fill, now and at most so far. */
  buffered = 0;
  maxBuffered = 0;
  /** Why the transfer ended early: our ABORT, or the host's. */
  failure: { reason: number; text: string } | null = null;

  private readonly sink: BulkSink;
  private readonly totalFrames: number;
  private slots: Uint8Array | null = null; // window × frameSize, slot = seq % window
  private readonly slotSeq: number[];
  private readonly slotLength: number[];
  private readonly bitmap: Uint8Array;
  private readonly ackPayload: Uint8Array;

  constructor(options: BulkReceiverOptions) {
    const { session, totalBytes, frameSize, window, sink } = options;
    if (!(session >= 0 && session <= 0xffff && session % 1 === 0)) throw new RangeError(`bulk session ${session} is not a u16`);
    if (!(totalBytes >= 0 && totalBytes % 1 === 0)) throw new RangeError(`bulk total ${totalBytes} is not a byte count`);
    if (!(frameSize >= 1 && frameSize <= MAX_PAYLOAD && frameSize % 1 === 0)) throw new RangeError(`bulk frame size ${frameSize} is not 1..${MAX_PAYLOAD}`);
    if (!(window >= 1 && window <= MAX_WINDOW && window % 1 === 0)) throw new RangeError(`bulk window ${window} is not 1..${MAX_WINDOW}`);
    this.session = session;
    this.totalBytes = totalBytes;
    this.frameSize = frameSize;
    this.window = window;
    this.sink = sink;
    this.totalFrames = Math.ceil(totalBytes / frameSize);
    this.slotSeq = new Array<number>(window).fill(-1);
    this.slotLength = new Array<number>(window).fill(0);
    this.bitmap = new Uint8Array(Math.ceil((window - 1) / 8));
    this.ackPayload = new Uint8Array(4 + this.bitmap.length);
  }

  get done(): boolean {
    return this.next * this.frameSize >= this.totalBytes;
  }

  /** Take one decoded frame; returns the wire frames to send back. */
  receive(frame: BulkFrame): Uint8Array[] {
    if (frame.session !== this.session) {
      // a host still sending for a session the dock has forgotten: tell it, or it retries until "too noisy"
      if (frame.type !== BULK_DATA) return [];
      return [abortFrame(frame.session, ABORT_UNKNOWN_SESSION, `bulk session ${frame.session} is not open (the open one is ${this.session})`)];
    }
    if (frame.type === BULK_ABORT) {
      if (!this.failure) this.failure = parseAbort(frame.payload) ?? { reason: ABORT_PROTOCOL, text: 'the host aborted' };
      return [];
    }
    if (frame.type !== BULK_DATA) return [];
    if (this.failure) return [abortFrame(this.session, this.failure.reason, this.failure.text)]; // again, in case the first was lost
    const seq = frame.seq;
    if (seq >= this.totalFrames) return this.fail(ABORT_PROTOCOL, `frame ${seq} lies past the end of the transfer (${this.totalFrames} frames)`);
    const length = Math.min(this.frameSize, this.totalBytes - seq * this.frameSize);
    if (frame.payload.length !== length) return this.fail(ABORT_PROTOCOL, `frame ${seq} carries ${frame.payload.length} bytes, not ${length}`);
    if (seq < this.next) {
      this.framesDuplicate++; // its ACK was lost, or it crossed a resend: the ACK repairs either
    } else if (seq >= this.next + this.window) {
      this.framesBeyondWindow++;
    } else if (seq === this.next) {
      if (!this.deliver(seq, frame.payload)) return this.failed();
      while (!this.done) {
        const slot = this.next % this.window;
        if (this.slotSeq[slot] !== this.next) break;
        this.slotSeq[slot] = -1;
        this.buffered--;
        if (!this.deliver(this.next, this.slots!.subarray(slot * this.frameSize, slot * this.frameSize + this.slotLength[slot]))) return this.failed();
      }
      if (this.done) this.slots = null;
    } else {
      const slot = seq % this.window;
      if (this.slotSeq[slot] === seq) {
        this.framesDuplicate++;
      } else {
        if (!this.slots) this.slots = new Uint8Array(this.window * this.frameSize);
        this.slots.set(frame.payload, slot * this.frameSize);
        this.slotSeq[slot] = seq;
        this.slotLength[slot] = length;
        this.framesOutOfOrder++;
        this.buffered++;
        if (this.buffered > this.maxBuffered) this.maxBuffered = this.buffered;
      }
    }
    return [this.ack()];
  }

  private deliver(seq: number, bytes: Uint8Array): boolean {
    try {
      this.sink.write(seq * this.frameSize, bytes);
    } catch (e) {
      this.failure = { reason: ABORT_SINK_FAILED, text: `writing at offset ${seq * this.frameSize} failed: ${e instanceof Error ? e.message : String(e)}` };
      return false;
    }
    this.next = seq + 1;
    this.bytesReceived += bytes.length;
    return true;
  }

  private fail(reason: number, text: string): Uint8Array[] {
    this.failure = { reason, text };
    return this.failed();
  }

  private failed(): Uint8Array[] {
    this.slots = null; // nothing more will be delivered: give the memory back
    this.buffered = 0;
    const f = this.failure!;
    return [abortFrame(this.session, f.reason, f.text)];
  }

  private ack(): Uint8Array {
    const bitmap = this.bitmap;
    bitmap.fill(0);
    if (this.buffered > 0) {
      for (let i = 0; i < this.window - 1; i++) {
        const seq = this.next + 1 + i;
        if (this.slotSeq[seq % this.window] === seq) bitmap[i >> 3] |= 1 << (i & 7);
      }
    }
    const n = writeAckPayload(this.ackPayload, this.next, bitmap);
    return encodeBulkFrame({ type: BULK_ACK, session: this.session, seq: 0, payload: this.ackPayload.subarray(0, n) });
  }
}

function abortFrame(session: number, reason: number, text: string): Uint8Array {
  return encodeBulkFrame({ type: BULK_ABORT, session, seq: 0, payload: abortPayload(reason, text) });
}
