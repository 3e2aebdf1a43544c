/**
 * Errors of the encryption door. Their messages are fixed strings: never a key, a plaintext,
 * a ciphertext or the reason a check failed (which part of an envelope was wrong would help
 * an attacker probe it). None of them is an HttpProblem: the domain decides what a caller sees.
 */

/** A sealed value or wrapped key could not be opened: tampered, moved, truncated or wrong key. */
export class DecryptionFailed extends Error {
  override name = 'DecryptionFailed';
  constructor() {
    super('The encrypted value could not be opened.');
  }
}

/** The client has no data key: never created, or destroyed (crypto-shredded). */
export class DataKeyNotFound extends Error {
  override name = 'DataKeyNotFound';
  constructor(readonly clientId: string) {
    super('The client has no data key.');
  }
}

/** A value given to a blind index does not normalise (validate input before indexing it). */
export class InvalidIndexValue extends Error {
  override name = 'InvalidIndexValue';
  constructor(readonly kind: string) {
    super(`The value is not a valid ${kind}.`);
  }
}
