// A settings value too large to assemble in the engine heap, written to the
// runtime tier as its parts arrive (RuntimeStore.beginValue through
// TierSet.beginWrite): only `bytes` and `text` values, whose stored bytes are
// the bytes sent; text is checked as UTF-8 across part boundaries. Until the
// last part commits it, the key keeps its old value (a power cut, an abort or
// a client that goes away leaves it as it was) and the runtime tier refuses
// other writes, so a transfer that stalls is dropped after STALL_MS.

import { RC, SmpRefusal } from './smp-errors.ts';
import { Utf8Checker } from '../../bytes/utf8.ts';

/** A streamed value with no part for this long is aborted (the runtime tier takes writes again). */
export const STALL_MS = 10_000;

interface Writer {
  append(chunk: Uint8Array): void;
  commit(): void;
  abort(): void;
}

export class ValueStream {
  received = 0;
  private lastAt: number;
  private readonly utf8 = new Utf8Checker();

  constructor(
    readonly name: string,
    readonly length: number,
    private readonly writer: Writer,
    private readonly text: boolean,
    now: number,
  ) {
    this.lastAt = now;
  }

  /** Takes the part at `off`; true once the value is whole and committed. A gap, an overrun or bad UTF-8 is refused (the caller aborts). */
  add(off: number, data: Uint8Array, now: number): boolean {
    if (off < this.received) return false; // a retried part: acknowledged, not written twice
    if (off > this.received || off + data.length > this.length) throw new SmpRefusal(RC.INVALID, `expected off ${this.received} and at most ${this.length} bytes in all`);
    if (this.text && !this.utf8.push(data)) this.notText();
    this.writer.append(data);
    this.received += data.length;
    this.lastAt = now;
    if (this.received < this.length) return false;
    if (this.text && !this.utf8.complete) throw new SmpRefusal(RC.INVALID, `${this.name}: the value is not UTF-8 text (it ends inside a character; send it with type bytes)`);
    this.writer.commit();
    return true;
  }

  stalled(now: number): boolean {
    return now - this.lastAt > STALL_MS;
  }

  abort(): void {
    this.writer.abort();
  }

  private notText(): never {
    throw new SmpRefusal(RC.INVALID, `${this.name}: the value is not UTF-8 text (send it with type bytes)`);
  }
}
