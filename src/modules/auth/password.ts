import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { ServiceUnavailable } from '../../errors.js';

export interface PasswordHashingOptions {
  /** KiB. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  /**
   * Hashes computed at once; the rest wait in a queue. Default: the number of cores less one
   * (at least one), so a login storm leaves a core to the requests of logged-in users.
   */
  maxConcurrent?: number;
  /** Longest wait in the queue before answering 503. */
  queueTimeoutMs?: number;
  /** Longest queue; beyond it a request is answered 503 at once. */
  maxQueue?: number;
}

/**
 * OWASP Password Storage Cheat Sheet's floor for argon2id: m = 19 MiB, t = 2, p = 1
 * (≈ 22 ms a hash on one core here). Raising any of them makes stored hashes rehash on login.
 */
export const PRODUCTION_PASSWORD_HASHING = {
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const satisfies PasswordHashingOptions;

/** 12 to 128 characters (code points), compared exactly as typed: no trim, no normalisation. */
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;
export function passwordLengthOk(password: string): boolean {
  const length = [...password].length;
  return length >= PASSWORD_MIN && length <= PASSWORD_MAX;
}

/**
 * A counting semaphore with a bounded, timed queue: a login storm waits for a slot or gets
 * 503, instead of every request hashing at once and starving the rest of the service.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: { grant: () => void; timer: NodeJS.Timeout }[] = [];

  constructor(
    private readonly max: number,
    private readonly maxQueue: number,
    private readonly timeoutMs: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active += 1;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxQueue) return Promise.reject(busy());
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          clearTimeout(entry.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const index = this.waiting.indexOf(entry);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(busy());
        }, this.timeoutMs),
      };
      this.waiting.push(entry);
    });
  }

  private release() {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter; `active` stays the same.
    if (next) next.grant();
    else this.active -= 1;
  }

  get stats() {
    return { active: this.active, queued: this.waiting.length };
  }
}

const SKIPPED = Symbol('skipped');

function busy() {
  return new ServiceUnavailable('The service is busy verifying passwords; try again shortly.', 2);
}

export interface PasswordHasher {
  readonly options: Required<PasswordHashingOptions>;
  hash(password: string): Promise<string>;
  /**
   * `needsRehash` is true when the stored hash was made with other parameters. `skipped` is
   * true when `skipIf`, asked once a hashing slot is free, said the answer is no longer wanted.
   */
  verify(
    hash: string,
    password: string,
    skipIf?: () => boolean,
  ): Promise<{ ok: boolean; needsRehash: boolean; skipped: boolean }>;
  /** Costs what a real verification costs, for a username that does not exist. */
  verifyDummy(password: string, skipIf?: () => boolean): Promise<{ skipped: boolean }>;
  readonly limiter: Limiter;
}

export function createPasswordHasher(options: PasswordHashingOptions): PasswordHasher {
  const resolved: Required<PasswordHashingOptions> = {
    maxConcurrent: Math.max(1, availableParallelism() - 1),
    queueTimeoutMs: 5_000,
    maxQueue: 256,
    ...options,
  };
  const params = {
    type: argon2.argon2id,
    memoryCost: resolved.memoryCost,
    timeCost: resolved.timeCost,
    parallelism: resolved.parallelism,
  };
  const limiter = new Limiter(resolved.maxConcurrent, resolved.maxQueue, resolved.queueTimeoutMs);
  let dummy: Promise<string> | undefined;
  const dummyHash = () =>
    (dummy ??= argon2.hash(randomBytes(32).toString('base64url'), params).catch((error) => {
      dummy = undefined;
      throw error;
    }));

  /** One verification in a hashing slot, unless `skipIf` says, once the slot is free, not to. */
  const check = (hash: string, password: string, skipIf: (() => boolean) | undefined) =>
    limiter.run<boolean | typeof SKIPPED>(() =>
      skipIf?.() ? Promise.resolve(SKIPPED) : argon2.verify(hash, password).catch(() => false),
    );

  return {
    options: resolved,
    limiter,
    hash: (password) => limiter.run(() => argon2.hash(password, params)),
    async verify(hash, password, skipIf) {
      const ok = await check(hash, password, skipIf);
      if (ok === SKIPPED) return { ok: false, needsRehash: false, skipped: true };
      return {
        ok,
        skipped: false,
        needsRehash:
          ok &&
          argon2.needsRehash(hash, {
            memoryCost: params.memoryCost,
            timeCost: params.timeCost,
            parallelism: params.parallelism,
          }),
      };
    },
    async verifyDummy(password, skipIf) {
      return { skipped: (await check(await dummyHash(), password, skipIf)) === SKIPPED };
    },
  };
}
