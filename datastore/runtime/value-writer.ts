// A value written in pieces: RuntimeStore.beginValue(key, length) reserves
// room for one record of known length, append() copies each chunk straight
// into the log's write buffer (sectors reach flash as they fill), commit()
// writes the trailer CRC and makes the value the key's, atomically: a record
// counts only if its CRC checks (FORMAT.md §3), so a power cut before commit
// leaves the key's old value. Nothing holds the whole value in RAM: a 2 MiB
// image is written with one sector buffer and the caller's chunk.

import { ValueStreamError } from './errors.ts';

/** What the store does for a writer (kept apart so the store's internals stay private). */
export interface ValueSink {
  append(chunk: Uint8Array): void;
  commit(): void;
  abort(): void;
}

export class ValueWriter {
  readonly key: string;
  /** Declared value length in bytes. */
  readonly length: number;
  private done = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private readonly sink: ValueSink;

  constructor(key: string, length: number, sink: ValueSink) {
    this.key = key;
    this.length = length;
    this.sink = sink;
  }

  /** Bytes appended so far. */
  get written(): number {
    return this.done;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Append the next piece. Refused (nothing written) past the declared length or after commit/abort. */
  append(chunk: Uint8Array): void {
    this.assertOpen();
    if (this.done + chunk.length > this.length) {
      throw new ValueStreamError(this.key, `appending ${chunk.length} bytes would make ${this.done + chunk.length}, more than the ${this.length} declared. Abort and begin again with the right length.`);
    }
    this.sink.append(chunk);
    this.done += chunk.length;
  }

  /** Make the value the key's. Refused (stream stays open) until exactly `length` bytes were appended. */
  commit(): void {
    this.assertOpen();
    if (this.done !== this.length) {
      throw new ValueStreamError(this.key, `${this.done} of the ${this.length} declared bytes were appended; append the rest, or abort.`);
    }
    // Committed even if the flash fails while committing: the index already names the new record
    // (as after a failed set()), so an abort now would drop the key; a remount says what is on flash.
    try {
      this.sink.commit();
    } finally {
      this.state = 'committed';
    }
  }

  /** Drop the value: the key keeps what it had. Idempotent after abort; refused after commit. */
  abort(): void {
    if (this.state === 'aborted') return;
    this.assertOpen();
    try {
      this.sink.abort();
    } finally {
      this.state = 'aborted';
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new ValueStreamError(this.key, `the stream was already ${this.state}.`);
  }
}
