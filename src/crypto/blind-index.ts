import { createHmac, hkdfSync } from 'node:crypto';
import { InvalidIndexValue } from './errors.js';
import type { BlindIndex } from './fields.js';
import { NORMALISERS, type BlindIndexKind } from './normalise.js';

/**
 * Blind indexes: HMAC-SHA-256 of the normalised value, under a key per kind derived with
 * HKDF from the blind-index root key (its own random key, stored wrapped like a data key;
 * see client-keys.ts for why not the master key itself). A distinct HKDF info per kind means
 * an email's index never equals a phone's, and a leaked index of one kind says nothing of
 * another. Equal values give equal indexes (that is the point): an index is searchable, not
 * secret against someone who can guess the value and holds the key.
 */
export type BlindIndexer = (kind: BlindIndexKind, value: string) => BlindIndex;

export const BLIND_INDEX_VERSION = 1;

export function createBlindIndexer(root: Buffer): BlindIndexer {
  const keys = new Map<BlindIndexKind, Buffer>();
  const keyFor = (kind: BlindIndexKind) => {
    let key = keys.get(kind);
    if (!key) {
      key = Buffer.from(
        hkdfSync(
          'sha256',
          root,
          Buffer.alloc(0),
          `blind-index/v${BLIND_INDEX_VERSION}/${kind}`,
          32,
        ),
      );
      keys.set(kind, key);
    }
    return key;
  };
  return (kind, value) => {
    const normalise = NORMALISERS[kind];
    if (!normalise) throw new InvalidIndexValue(String(kind));
    const normalised = normalise(value);
    if (normalised === null) throw new InvalidIndexValue(kind);
    return createHmac('sha256', keyFor(kind)).update(normalised, 'utf8').digest() as BlindIndex;
  };
}
