// Typed errors of the runtime store. Each says what was wrong, what to do,
// and carries the figures that matter. None of them leaves the store changed.

export type StoreErrorCode =
  | 'key-invalid'
  | 'key-too-long'
  | 'value-too-large'
  | 'partition-full'
  | 'corrupt-record'
  | 'not-formatted'
  | 'geometry'
  | 'unmounted'
  | 'value-stream'
  | 'flash-failure';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

export class KeyInvalidError extends StoreError {
  constructor(reason: string) {
    super('key-invalid', `invalid key: ${reason}. Use a non-empty string key.`);
    this.name = 'KeyInvalidError';
  }
}

export class KeyTooLongError extends StoreError {
  readonly keyBytes: number;
  readonly limit: number;
  constructor(key: string, keyBytes: number, limit: number) {
    super('key-too-long', `key "${key.length > 40 ? key.slice(0, 40) + '…' : key}" is ${keyBytes} bytes of UTF-8; keys are at most ${limit} bytes. Use a shorter key.`);
    this.name = 'KeyTooLongError';
    this.keyBytes = keyBytes;
    this.limit = limit;
  }
}

export class ValueTooLargeError extends StoreError {
  readonly valueBytes: number;
  readonly limit: number;
  constructor(key: string, valueBytes: number, limit: number) {
    super('value-too-large', `value for "${key}" is ${valueBytes} bytes; this partition stores values of at most ${limit} bytes. Split the value or store it in the ephemeral tier.`);
    this.name = 'ValueTooLargeError';
    this.valueBytes = valueBytes;
    this.limit = limit;
  }
}

export class PartitionFullError extends StoreError {
  readonly needed: number;
  readonly free: number;
  constructor(key: string, needed: number, free: number) {
    super('partition-full', `runtime partition full: writing "${key}" needs ${needed} bytes but only ${free} bytes are free. Delete keys you no longer need.`);
    this.name = 'PartitionFullError';
    this.needed = needed;
    this.free = free;
  }
}

export class CorruptRecordError extends StoreError {
  readonly offset: number;
  constructor(key: string, offset: number, what: string) {
    super('corrupt-record', `stored value of "${key}" at flash offset ${offset} is corrupt (${what}); it was not returned. Write the key again or delete it.`);
    this.name = 'CorruptRecordError';
    this.offset = offset;
  }
}

export class NotFormattedError extends StoreError {
  constructor(detail: string) {
    super('not-formatted', `the partition holds no runtime store (${detail}). Format it first (RuntimeStore.format).`);
    this.name = 'NotFormattedError';
  }
}

/** Misuse of a streamed value (RuntimeStore.beginValue): nothing was changed by the call that threw. */
export class ValueStreamError extends StoreError {
  constructor(key: string, detail: string) {
    super('value-stream', `streamed value for "${key}": ${detail}`);
    this.name = 'ValueStreamError';
  }
}
