import { randomInt } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { recoveryCodes } from '../../db/schema/index.js';
import type { PasswordHasher } from './password.js';

/**
 * MFA recovery codes (API.md "Auth"): 10 single-use codes, made when a second factor is
 * confirmed, shown once, stored only as hashes.
 *
 * A code is 16 characters of Crockford's base32 (80 random bits), shown as
 * `XXXX-XXXX-XXXX-XXXX`. Its first 4 characters are kept in clear as a lookup, so a login
 * checks one hash, not ten; the other 60 bits stay secret. Each code is stored as an argon2id
 * hash with the password parameters, not as an HMAC under a keyring key: argon2 needs no key
 * to manage (nothing for `rotate-master-key` or a key loss to break), and 2^60 guesses at
 * argon2's cost make a stolen table useless offline. The cost is one extra argon2 verification
 * (in the password hashing slots) per recovery-code login and ten hashes per confirmation.
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const LENGTH = 16;
const LOOKUP = 4;

/** A new code in its display form, e.g. `7K2M-QW9D-...`. */
function newCode(): string {
  const chars = Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]);
  return [0, 4, 8, 12].map((at) => chars.slice(at, at + 4).join('')).join('-');
}

/**
 * The code as typed, made canonical: case, hyphens and spaces do not matter, and the letters
 * Crockford's base32 reads as digits (I, L → 1; O → 0) are read so. Null when it cannot be a code.
 */
export function canonicalRecoveryCode(typed: string): string | null {
  const code = typed.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (code.length !== LENGTH || [...code].some((c) => !ALPHABET.includes(c))) return null;
  return code;
}

/**
 * Ten new codes for a user, replacing any older ones, in the caller's transaction. The hashes
 * are computed before (`hashNewCodes`), so the transaction holds no hashing slot.
 */
export async function hashNewCodes(passwords: PasswordHasher) {
  const codes: string[] = [];
  const lookups = new Set<string>();
  while (codes.length < RECOVERY_CODE_COUNT) {
    const code = newCode();
    const lookup = code.slice(0, LOOKUP);
    if (lookups.has(lookup)) continue;
    lookups.add(lookup);
    codes.push(code);
  }
  const hashes = await Promise.all(
    codes.map(async (code) => {
      const canonical = canonicalRecoveryCode(code)!;
      return { lookup: canonical.slice(0, LOOKUP), codeHash: await passwords.hash(canonical) };
    }),
  );
  return { codes, hashes };
}

export async function replaceRecoveryCodes(
  tx: Executor,
  userId: string,
  hashes: readonly { lookup: string; codeHash: string }[],
  now: Date,
) {
  await deleteRecoveryCodes(tx, userId);
  await tx.insert(recoveryCodes).values(hashes.map((h) => ({ ...h, userId, createdAt: now })));
}

export async function deleteRecoveryCodes(tx: Executor, userId: string) {
  await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
}

export type RecoveryCheck =
  | { ok: true; lookup: string }
  | { ok: false; reason: 'recovery_code_invalid' }
  | { ok: false; skipped: true };

/**
 * Whether a typed code is one of the user's unused codes. An unknown lookup costs a dummy
 * verification, so timing does not tell which 4-character prefixes exist. Spending it is a
 * separate step (`spendRecoveryCode`), in the transaction that opens the session.
 */
export async function checkRecoveryCode(
  db: Executor,
  passwords: PasswordHasher,
  userId: string,
  typed: string,
  skipIf: () => boolean,
): Promise<RecoveryCheck> {
  const code = canonicalRecoveryCode(typed);
  const lookup = code?.slice(0, LOOKUP) ?? null;
  const rows = lookup
    ? await db
        .select({ codeHash: recoveryCodes.codeHash })
        .from(recoveryCodes)
        .where(
          and(
            eq(recoveryCodes.userId, userId),
            eq(recoveryCodes.lookup, lookup),
            isNull(recoveryCodes.usedAt),
          ),
        )
    : [];
  const row = rows[0];
  if (!code || !lookup || !row) {
    const dummy = await passwords.verifyDummy(typed, skipIf);
    return dummy.skipped
      ? { ok: false, skipped: true }
      : { ok: false, reason: 'recovery_code_invalid' };
  }
  const verified = await passwords.verify(row.codeHash, code, skipIf);
  if (verified.skipped) return { ok: false, skipped: true };
  return verified.ok ? { ok: true, lookup } : { ok: false, reason: 'recovery_code_invalid' };
}

/** Marks the code used; false when another login spent it first (exactly one wins). */
export async function spendRecoveryCode(
  tx: Executor,
  userId: string,
  lookup: string,
  now: Date,
): Promise<boolean> {
  const rows = await tx
    .update(recoveryCodes)
    .set({ usedAt: now })
    .where(
      and(
        eq(recoveryCodes.userId, userId),
        eq(recoveryCodes.lookup, lookup),
        isNull(recoveryCodes.usedAt),
      ),
    )
    .returning({ lookup: recoveryCodes.lookup });
  return rows.length === 1;
}
