// The dock's key store: a per-dock X25519 key pair derived inside the crypto
// engine from the OTP device secret. The private half never reaches the
// script heap; the factory station seals per-dock secrets to the public half
// (datastore/factory/FORMAT.md §8), so a flash dump of one dock reveals
// nothing and a section copied to another dock does not open there.

export interface SealedBox {
  /** The sender's one-time X25519 public key (32 bytes). */
  ephemeralPublicKey: Uint8Array;
  /** AES-256-GCM nonce (12 bytes). */
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  /** AES-256-GCM tag (16 bytes). */
  tag: Uint8Array;
}

export interface DockKeystore {
  /** The dock's X25519 public key (32 bytes). */
  perDockPublicKey(): Uint8Array;
  /**
   * Open a box sealed to this dock: X25519(dock private key, ephemeral public
   * key) → HKDF-SHA256 → AES-256-GCM with `aad`. null when it does not open
   * (sealed to another dock, or damaged).
   */
  openSealed(box: SealedBox, aad: Uint8Array): Uint8Array | null;
}
