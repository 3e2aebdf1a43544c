import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { BadRequest, Conflict } from '../../errors.js';
import { IDEMPOTENCY_KEY } from '../../schemas/headers.js';
import type { LiveKey } from './idempotency.repository.js';

const HEADER = 'idempotency-key';

/** The request's Idempotency-Key (400 when malformed), or undefined without one. */
export function keyOf(request: FastifyRequest): string | undefined {
  const raw = request.headers[HEADER];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !IDEMPOTENCY_KEY.test(raw)) {
    throw new BadRequest('Idempotency-Key must be 1–255 printable ASCII characters.', [
      { path: `headers.${HEADER}`, message: 'must match [\\x21-\\x7E]{1,255}' },
    ]);
  }
  return raw;
}

const IN_PROGRESS =
  'A request with this Idempotency-Key is still running (or has just finished); retry it.';

export function inProgress(): Conflict {
  return Conflict.rule('idempotency_in_progress', IN_PROGRESS);
}

/**
 * A one-statement write found its key held by a live row (`assertFree`): a folded route's
 * handler answers from that row; anywhere else it is the 409 it extends.
 */
export class KeyTaken extends Conflict {
  constructor(readonly found: LiveKey) {
    super(IN_PROGRESS, { extensions: { rule: 'idempotency_in_progress' } });
  }
}

/** What the key's row holds of the key: its SHA-256. */
export const hashKey = (key: string) => createHash('sha256').update(key).digest();
