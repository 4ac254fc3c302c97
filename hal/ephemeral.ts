// The ephemeral area: up to 128 MiB of memory outside the script engine's
// heap, gone at a dock restart. Values stay there; the script sees copies
// only when it asks for them (get), or ranges (readRange, for tokens).

export interface EphemeralItemInfo {
  size: number;
  /** The application's value type tag (as in runtime records). */
  encoding: number;
  /** Seconds since 1970. */
  writtenAt: number;
  /** Bumped on every write of the key: tokens name a version. */
  version: number;
}

export interface EphemeralArea {
  readonly capacityBytes: number;
  usedBytes(): number;
  get(key: string): Uint8Array | undefined;
  info(key: string): EphemeralItemInfo | undefined;
  /** Copy value bytes [offset, offset + into.length) into `into`; returns bytes copied. */
  readRange(key: string, offset: number, into: Uint8Array): number;
  /** Throws EphemeralFullError (from datastore) when the value does not fit. Returns the new version. */
  put(key: string, value: Uint8Array, encoding: number, writtenAt: number): number;
  delete(key: string): boolean;
  keys(prefix?: string): string[];
  /**
   * Optional: one page of keys with `prefix` after `after` in the tiers' listing order, at most
   * `limit` (an area that offers it keeps listing out of the script heap; without it, keys() is used).
   */
  keysPage?(prefix: string, after: string | undefined, limit: number): string[];
  /** Remove everything (factory reset, restart). */
  clear(): void;
}
