// Typed errors of the tiered datastore API. Each class has its own name (set
// in the constructor: no class fields, which JerryScript 3.0-era bundles
// lower differently) so an app can tell them apart by name, code or instanceof.

export class TierError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TierError';
  }
}

export class EphemeralFullError extends TierError {
  constructor(
    readonly key: string,
    readonly needed: number,
    readonly free: number,
  ) {
    super('ephemeral-full', `ephemeral area full: "${key}" needs ${needed} bytes but only ${free} are free. Delete cached items or store it in the runtime tier.`);
    this.name = 'EphemeralFullError';
  }
}

export class EphemeralUnavailableError extends TierError {
  constructor(
    readonly attempts: number,
    cause: string,
  ) {
    super('ephemeral-unavailable', `the ephemeral area cannot be reached after ${attempts} attempts (${cause}); the runtime and factory tiers still work.`);
    this.name = 'EphemeralUnavailableError';
  }
}

export class ReadOnlyTierError extends TierError {
  constructor(key: string) {
    super('read-only', `"${key}" is in the factory tier, which is read-only on the dock; write to the runtime or ephemeral tier instead.`);
    this.name = 'ReadOnlyTierError';
  }
}

export class TierUnavailableError extends TierError {
  constructor(tier: string, why: string) {
    super('tier-unavailable', `the ${tier} tier is not available: ${why}`);
    this.name = 'TierUnavailableError';
  }
}

/**
 * A factory reset whose runtime reformat failed (a flash failure): the app
 * was stopped, the ephemeral tier emptied and the factory app started, but
 * the runtime tier is unavailable until the dock restarts.
 */
export class RuntimeReformatError extends TierError {
  constructor(readonly reason: string) {
    super(
      'runtime-reformat-failed',
      `factory reset: the runtime tier could not be reformatted (${reason}). The ephemeral tier was emptied and the factory app runs; the runtime tier is unavailable until the dock restarts, and may then still hold its old data: restart the dock and run the factory reset again. If it fails again, the runtime flash is failing and the dock needs service.`,
    );
    this.name = 'RuntimeReformatError';
  }
}

export class TokenInvalidError extends TierError {
  constructor(why: string) {
    super('token-invalid', `image token no longer valid: ${why}. Ask ImageStore.getToken for a new one.`);
    this.name = 'TokenInvalidError';
  }
}

export class NotFoundError extends TierError {
  constructor(what: string) {
    super('not-found', `${what} does not exist`);
    this.name = 'NotFoundError';
  }
}
