// hal/keystore.ts for a simulated dock: the key pair derived from its OTP
// device secret, kept on the host side of the engine boundary.

import type { KeyObject } from 'node:crypto';
import type { DockKeystore, SealedBox } from '../../hal/keystore.ts';
import type { Otp } from '../../hal/otp.ts';
import { SimOtp } from './sim-otp.ts';
import { dockPrivateKey, open, rawPublicKey } from '../../flash-scripts/security/seal-crypto.ts';

export class SimKeystore implements DockKeystore {
  private readonly key: KeyObject;
  private readonly publicKey: Uint8Array;
  /** The OTP file the key was derived from (a native engine host derives the same key from it); null when the OTP is in memory. */
  readonly otpFile: string | null;

  constructor(otp: Otp) {
    this.otpFile = otp instanceof SimOtp ? otp.file : null;
    this.key = dockPrivateKey(otp.deviceSecret());
    this.publicKey = rawPublicKey(this.key);
  }

  perDockPublicKey(): Uint8Array {
    return this.publicKey.slice();
  }

  openSealed(box: SealedBox, aad: Uint8Array): Uint8Array | null {
    return open(this.key, box, aad);
  }
}
