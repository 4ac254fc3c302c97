// One upload sent in parts over SMP (a file-system group upload, or a
// settings value written with `off`): assembled in order in a buffer of its
// announced length, bounded so it fits the engine heap. A part that repeats
// one already taken (the client did not hear the answer) is acknowledged,
// not written twice.

import { RC, SmpRefusal } from './smp-errors.ts';

export class PartUpload {
  readonly bytes: Uint8Array;
  received = 0;

  private constructor(
    readonly name: string,
    total: number,
    /** What the first part said beside the bytes (a settings value's type). */
    readonly note: unknown,
  ) {
    this.bytes = new Uint8Array(total);
  }

  /** The upload a first part (off 0) starts: `len` is its whole size, at most `limit` (`what` names it in the refusal). */
  static start(name: string, len: unknown, limit: number, what: string, note?: unknown): PartUpload {
    if (typeof len !== 'number' || !(len > 0) || Math.floor(len) !== len) throw new SmpRefusal(RC.INVALID, `the first part of ${what} needs len (its whole size in bytes)`);
    if (len > limit) throw new SmpRefusal(RC.NO_MEMORY, `${what} is ${len} bytes; one sent over the link is assembled in the dock's heap and may be at most ${limit}`);
    return new PartUpload(name, len, note);
  }

  /**
   * Takes the part at `off`; true once the upload is whole. A gap or an
   * overrun is refused with `refuse` (the group's own error form).
   */
  add(off: number, data: Uint8Array, refuse: (message: string) => SmpRefusal): boolean {
    if (off < this.received) return false;
    if (off > this.received || off + data.length > this.bytes.length) throw refuse(`expected off ${this.received} and at most ${this.bytes.length} bytes in all`);
    this.bytes.set(data, off);
    this.received += data.length;
    return this.received === this.bytes.length;
  }
}
