// One-time-programmable facts of the chip, burnt on the manufacturing line.

export interface Otp {
  /** The dock's unique identifier: 64 lower-case hex digits. */
  dockId(): string;
  /** The manufacturer's Ed25519 public key (32 raw bytes): the factory partition must be signed by it. */
  manufacturerPublicKey(): Uint8Array;
  /** A 32-byte secret unique to this dock, never readable off the dock (for per-dock keys). */
  deviceSecret(): Uint8Array;
  /** The factory-lock fuse: once burnt, the factory slots can no longer be written over the link. */
  factoryLocked(): boolean;
  /** Burn the factory-lock fuse (irreversible; burning it twice is harmless). */
  lockFactory(): void;
}
