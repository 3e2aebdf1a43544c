import { z } from 'zod';

const uuid = z.uuid();

/** The one UUID check (RFC 9562, as zod's `z.uuid()` validates request ids). */
export function isUuid(value: unknown): value is string {
  return uuid.safeParse(value).success;
}
