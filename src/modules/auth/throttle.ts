import { createHash } from 'node:crypto';
import type { Database } from '../../db/pool.js';
import { bumpCounter, deleteCounter, readCounters } from './auth.repository.js';
import { KnownRefusals } from './known-refusals.js';

/**
 * Throttling: fixed windows counted in PostgreSQL, so every process sees the same count.
 * Guessing at one account never locks its rightful user out (API.md "Auth", ASVS 6.1.1,
 * NIST SP 800-63B): failures are counted per account *and address*, so an address that has
 * been failing for an account is refused (even with the right password) while the same
 * account still logs in from anywhere else; per address (shared by a clinic's tablets, so a
 * higher limit); and per account, a hard ceiling over an hour past which every address is
 * refused.
 */
export const THROTTLE = {
  windowMs: 15 * 60 * 1000,
  loginPerAccountAndAddress: 10,
  loginPerAddress: 50,
  loginAccountCeiling: 100,
  ceilingWindowMs: 60 * 60 * 1000,
  refreshPerAddress: 30,
} as const;

/** A counter key, the count at which it refuses, and its window (THROTTLE.windowMs if absent). */
export type Limit = readonly [key: string, limit: number, windowMs?: number];

const windowOf = (limit: Limit | undefined) => limit?.[2] ?? THROTTLE.windowMs;

/**
 * The one normalisation of a username, for the lookup and the throttle alike: ASCII letters
 * lower-cased, nothing else touched. Usernames are ASCII (users.schemas.ts USERNAME_PATTERN),
 * so `lower()` of a stored one is this too; a name with `İ` or `K` (Kelvin) in it matches no
 * account and counts as its own unknown name, instead of reaching an account under a throttle
 * key of its own (JS and PostgreSQL lower-case those differently).
 */
export function canonicalUsername(username: string): string {
  return username.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The counters of a login: the account (its id, or the hashed canonical name when there is no
 * such account: the table holds no names) at this address, the address, and the account.
 */
export function loginLimits(
  account: { userId: string } | { canonicalUsername: string },
  ip: string,
): { limits: Limit[]; accountAtAddress: string } {
  const who = 'userId' in account ? account.userId : `name:${sha256(account.canonicalUsername)}`;
  const accountAtAddress = `login:account:${who}:ip:${ip}`;
  return {
    accountAtAddress,
    limits: [
      [accountAtAddress, THROTTLE.loginPerAccountAndAddress],
      [`login:ip:${ip}`, THROTTLE.loginPerAddress],
      [`login:account:${who}`, THROTTLE.loginAccountCeiling, THROTTLE.ceilingWindowMs],
    ],
  };
}

export interface Throttle {
  /**
   * Seconds until the caller may try again, or null. A key this process already knows to be
   * over its limit is refused without a counter read (KnownRefusals); otherwise PostgreSQL's
   * counters decide, and a refusal there is remembered until its window ends.
   */
  retryAfter(limits: readonly Limit[]): Promise<number | null>;
  /** Whether this process already knows one of the keys to be refused (no database). */
  knownRefused(limits: readonly Limit[]): number | null;
  countFailure(limits: readonly Limit[]): Promise<void>;
  reset(key: string): Promise<void>;
}

export function createThrottle(deps: {
  db: Database;
  clock: () => Date;
  /** Throttle keys this process knows PostgreSQL refuses; one per app (default 10,000 keys). */
  knownRefusals?: KnownRefusals;
}): Throttle {
  const { db, clock } = deps;
  const refusals = deps.knownRefusals ?? new KnownRefusals();

  function knownRefused(limits: readonly Limit[]): number | null {
    const ms = refusals.retryAfterMs(
      limits.map(([key]) => key),
      clock().getTime(),
    );
    return ms === null ? null : ms / 1000;
  }

  return {
    knownRefused,

    async retryAfter(limits) {
      const known = knownRefused(limits);
      if (known !== null) return known;
      const at = clock().getTime();
      const counters = await readCounters(
        db,
        limits.map(([key]) => key),
      );
      let retryAfterMs = 0;
      for (const counter of counters) {
        const entry = limits.find(([key]) => key === counter.key);
        const limit = entry?.[1] ?? Infinity;
        const windowEnd = counter.windowStartedAt.getTime() + windowOf(entry);
        if (counter.count >= limit && windowEnd > at) {
          retryAfterMs = Math.max(retryAfterMs, windowEnd - at);
          refusals.remember(counter.key, windowEnd, at);
        }
      }
      return retryAfterMs > 0 ? retryAfterMs / 1000 : null;
    },

    async countFailure(limits) {
      for (const entry of limits) {
        const [key, limit] = entry;
        const at = clock();
        const counter = await bumpCounter(db, key, at, windowOf(entry));
        // This failure took the shared counter to its limit: every process's next check refuses.
        if (counter.count >= limit) {
          refusals.remember(key, counter.windowStartedAt.getTime() + windowOf(entry), at.getTime());
        }
      }
    },

    async reset(key) {
      await deleteCounter(db, key);
      // Only a race (failures reaching the limit while this attempt was hashing) can have taught
      // this process a refusal for the name; another process that learnt it keeps refusing the
      // name until the window ends, as if the success had come a moment later.
      refusals.forget(key);
    },
  };
}
