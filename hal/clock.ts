// Wall-clock time for record metadata. A dock without a set clock returns 0.
export interface Clock {
  /** Milliseconds since 1970-01-01T00:00:00Z. */
  now(): number;
}
