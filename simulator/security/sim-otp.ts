// A simulated dock's OTP: fixed at "manufacture", kept in a JSON file per dock.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Otp } from '../../hal/otp.ts';

export interface OtpFacts {
  dockId: string;
  manufacturerPublicKey: Uint8Array;
  deviceSecret: Uint8Array;
  factoryLocked?: boolean;
}

export class SimOtp implements Otp {
  /** The file the fuses live in (a loaded OTP); a burnt-in-memory one keeps them in memory. */
  private path: string | null = null;

  constructor(private readonly facts: OtpFacts) {}

  /** A new dock's OTP: random id and secret, the given manufacturer key. */
  static burn(manufacturerPublicKey: Uint8Array, seed?: string): SimOtp {
    const secret = seed ? createHash('sha256').update(`secret:${seed}`).digest() : randomBytes(32);
    const id = seed ? createHash('sha256').update(`id:${seed}`).digest('hex') : randomBytes(32).toString('hex');
    return new SimOtp({ dockId: id, manufacturerPublicKey, deviceSecret: new Uint8Array(secret) });
  }

  static load(path: string): SimOtp {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { dockId: string; manufacturerPublicKey: string; deviceSecret: string; factoryLocked?: boolean };
    const otp = new SimOtp({ dockId: j.dockId, manufacturerPublicKey: new Uint8Array(Buffer.from(j.manufacturerPublicKey, 'hex')), deviceSecret: new Uint8Array(Buffer.from(j.deviceSecret, 'hex')), factoryLocked: j.factoryLocked === true });
    otp.path = path;
    return otp;
  }

  /** OTP is written once: refuse to replace an existing file. */
  save(path: string): void {
    if (existsSync(path)) throw new Error(`${path} exists: OTP is one-time programmable`);
    this.write(path);
    this.path = path;
  }

  private write(path: string): void {
    const f = this.facts;
    writeFileSync(path, JSON.stringify({ dockId: f.dockId, manufacturerPublicKey: Buffer.from(f.manufacturerPublicKey).toString('hex'), deviceSecret: Buffer.from(f.deviceSecret).toString('hex'), factoryLocked: f.factoryLocked === true }, null, 2), { mode: 0o600 });
  }

  /** The OTP file these fuses were loaded from or saved to; null for an OTP kept in memory. */
  get file(): string | null {
    return this.path;
  }

  factoryLocked(): boolean {
    return this.facts.factoryLocked === true;
  }

  /** A fuse only ever goes from intact to burnt: the file is rewritten with that one bit changed. */
  lockFactory(): void {
    if (this.facts.factoryLocked) return;
    this.facts.factoryLocked = true;
    if (this.path) this.write(this.path);
  }

  dockId(): string {
    return this.facts.dockId;
  }
  manufacturerPublicKey(): Uint8Array {
    return this.facts.manufacturerPublicKey.slice();
  }
  deviceSecret(): Uint8Array {
    return this.facts.deviceSecret.slice();
  }
}
