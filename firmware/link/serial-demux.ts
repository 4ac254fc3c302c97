// Splits the serial byte stream into SMP console lines and bulk frames
// (FORMAT.md, "Sharing the line"), on the dock and on the host alike.
// Input may arrive in any pieces. Every bad start costs at most the bytes up
// to where it is found out, then the demux looks at the stream afresh: a stray
// 0x02 on an SMP-only line must not swallow the console until a 0x00 that
// may never come.

import { MAX_LINE } from '../smp/smp-console-frame.ts';
import { CobsReader } from './cobs.ts';
import { BULK_START, CRC_SIZE, HEADER_SIZE, MAX_BODY, MAX_PAYLOAD, decodeBulkBody, isBulkFrameType, type BulkFrame } from './bulk-frame.ts';

export type DemuxEvent = { kind: 'smp'; bytes: Uint8Array } | { kind: 'bulk'; frame: BulkFrame } | { kind: 'damaged'; reason: string };

const SMP_FIRST = 0x06;
const SMP_FIRST_NEXT = 0x09;
const SMP_MORE = 0x04;
const SMP_MORE_NEXT = 0x14;
const NEWLINE = 0x0a;

const IDLE = 0;
const SMP_MARK = 1; // seen 0x06 or 0x04, the second marker byte must follow
const SMP_LINE = 2;
const BULK = 3;
const BULK_END = 4; // a whole frame is in; its 0x00 delimiter is due

export class SerialDemux {
  /** Bytes passed over outside any frame (console text, noise, false starts). */
  noiseBytes = 0;
  /** Frames begun but dropped (each also reported as a 'damaged' event). */
  damagedFrames = 0;

  private state = IDLE;
  private readonly line = new Uint8Array(MAX_LINE);
  private lineLength = 0;
  private readonly body = new CobsReader(new Uint8Array(MAX_BODY));
  private expected = 0; // body length once the header is in, else 0

  push(bytes: Uint8Array): DemuxEvent[] {
    const events: DemuxEvent[] = [];
    for (let i = 0; i < bytes.length; i++) {
      while (!this.step(bytes[i], events)) {
        // the byte ended a false or broken start: look at it again from idle
      }
    }
    return events;
  }

  /** False when the byte was not consumed and must be seen again from idle. */
  private step(b: number, events: DemuxEvent[]): boolean {
    switch (this.state) {
      case IDLE:
        if (b === SMP_FIRST || b === SMP_MORE) {
          this.line[0] = b;
          this.lineLength = 1;
          this.state = SMP_MARK;
        } else if (b === BULK_START) {
          this.body.reset();
          this.body.push(b);
          this.expected = 0;
          this.state = BULK;
        } else {
          this.noiseBytes++;
        }
        return true;
      case SMP_MARK:
        if (b !== (this.line[0] === SMP_FIRST ? SMP_FIRST_NEXT : SMP_MORE_NEXT)) return this.notAStart();
        this.line[this.lineLength++] = b;
        this.state = SMP_LINE;
        return true;
      case SMP_LINE:
        if (b === 0) {
          this.damaged(events, 'a 0x00 inside an SMP line (line noise, or a bulk frame with a damaged start)');
          return true;
        }
        if (b !== NEWLINE && this.lineLength >= MAX_LINE - 1) {
          this.damaged(events, `an SMP line ran past ${MAX_LINE} bytes without its newline`);
          return false;
        }
        this.line[this.lineLength++] = b;
        if (b === NEWLINE) {
          events.push({ kind: 'smp', bytes: this.line.slice(0, this.lineLength) });
          this.state = IDLE;
        }
        return true;
      case BULK:
        return this.bulkByte(b, events);
      default: // BULK_END
        this.state = IDLE;
        return b === 0; // anything else: the delimiter was lost, perhaps this starts the next frame
    }
  }

  private bulkByte(b: number, events: DemuxEvent[]): boolean {
    const r = this.body;
    if (b === 0) {
      if (r.length === 0) {
        this.noiseBytes += 2; // a lone 0x02, then a delimiter
        this.state = IDLE;
        return true;
      }
      this.damaged(events, 'a bulk frame ended before its length (bytes lost?)');
      return true;
    }
    if (!r.push(b)) {
      this.damaged(events, 'a bulk frame overran the largest frame');
      return false;
    }
    const n = r.length;
    if (n === 1 && !isBulkFrameType(r.out[0])) return this.notAStart();
    if (n === HEADER_SIZE) {
      const length = (r.out[8] << 8) | r.out[9];
      if (length > MAX_PAYLOAD) {
        this.damaged(events, `a bulk frame says ${length} payload bytes, more than ${MAX_PAYLOAD}`);
        return false;
      }
      this.expected = HEADER_SIZE + length + CRC_SIZE;
    }
    if (this.expected === 0 || n < this.expected) return true;
    if (n > this.expected || !r.complete) {
      this.damaged(events, 'a bulk frame ran past its length without its delimiter');
      return false;
    }
    // Whole: decode now rather than at the delimiter, so a lost delimiter costs no frame.
    const result = decodeBulkBody(r.out.slice(0, n));
    if (result.ok) events.push({ kind: 'bulk', frame: result.frame });
    else this.damaged(events, result.reason);
    this.state = BULK_END;
    return true;
  }

  /** The byte taken for a frame start was noise; the current byte is to be seen again from idle. */
  private notAStart(): false {
    this.noiseBytes++;
    this.state = IDLE;
    return false;
  }

  private damaged(events: DemuxEvent[], reason: string): void {
    this.damagedFrames++;
    events.push({ kind: 'damaged', reason });
    this.state = IDLE;
  }
}
