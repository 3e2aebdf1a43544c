/**
 * The brand types of the encryption door. Types only, no runtime code: the database schema
 * (src/db/schema/columns.ts) types its columns with them, and only the door makes values of
 * them, so a plain string or an arbitrary buffer cannot be written to an encrypted column.
 */
declare const sealedValue: unique symbol;
declare const blindIndexValue: unique symbol;

/** A sealed field value (an envelope, see envelope.ts) that opens to a `T`. */
export type Sealed<T = unknown> = Buffer & { readonly [sealedValue]: T };

/** An HMAC blind index of a normalised value; only `blindIndex(...)` makes one. */
export type BlindIndex = Buffer & { readonly [blindIndexValue]: true };
