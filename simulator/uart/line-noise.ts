// Faults on a serial line at stated rates: bit errors (each bit flips with
// probability bitErrorRate) and dropped bytes (each byte lost with
// probability dropRate). Seeded, so a failing run can be replayed.

import { seededRandom } from '../seeded-random.ts';

export interface LineNoiseOptions {
  bitErrorRate?: number;
  dropRate?: number;
  seed?: number;
}

export class LineNoise {
  private readonly random: () => number;
  flippedBits = 0;
  droppedBytes = 0;

  constructor(private readonly o: LineNoiseOptions) {
    this.random = seededRandom(o.seed ?? 7);
  }

  /** The chunk as the far end receives it. */
  apply(bytes: Uint8Array): Uint8Array {
    const ber = this.o.bitErrorRate ?? 0;
    const drop = this.o.dropRate ?? 0;
    if (ber === 0 && drop === 0) return bytes;
    const out = new Uint8Array(bytes.length);
    let n = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (drop > 0 && this.random() < drop) {
        this.droppedBytes++;
        continue;
      }
      let b = bytes[i];
      if (ber > 0) {
        // Skip ahead geometrically would be faster; 8 draws a byte is fine at link speeds.
        for (let bit = 0; bit < 8; bit++) {
          if (this.random() < ber) {
            b ^= 1 << bit;
            this.flippedBits++;
          }
        }
      }
      out[n++] = b;
    }
    return out.subarray(0, n);
  }
}
