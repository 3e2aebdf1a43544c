/**
 * This process's memory of throttle keys that PostgreSQL's shared counter has already refused,
 * each until the end of its window. A login storm then costs no counter read per attempt.
 *
 * It may only refuse earlier what the shared counter has already refused, never allow more:
 * a key is remembered only once its counter in PostgreSQL has reached the limit, until that
 * window's end (a counter at its limit stays there until then: a successful login, the only
 * thing that resets a counter early, is itself refused by the counter meanwhile, but for a
 * race where it passed the check just before the limit was reached). A key not
 * known here, or evicted, goes to PostgreSQL as before, so PostgreSQL stays the source of
 * truth across processes.
 *
 * Bounded: at most `maxKeys` entries; expired ones are dropped when met, and the oldest
 * remembered when full (Map iteration order is insertion order; remembering again moves a
 * key to the back).
 */
export class KnownRefusals {
  private readonly until = new Map<string, number>();

  constructor(private readonly maxKeys = 10_000) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new Error('maxKeys must be at least 1');
  }

  /** Milliseconds until the latest known refusal among `keys` ends, or null if none is known. */
  retryAfterMs(keys: readonly string[], at: number): number | null {
    let longest = 0;
    for (const key of keys) {
      const end = this.until.get(key);
      if (end === undefined) continue;
      if (end <= at) this.until.delete(key);
      else longest = Math.max(longest, end - at);
    }
    return longest > 0 ? longest : null;
  }

  /** PostgreSQL's counter for `key` is at its limit until `windowEnd` (ms since the epoch). */
  remember(key: string, windowEnd: number, at: number) {
    if (windowEnd <= at) return;
    this.until.delete(key);
    this.until.set(key, windowEnd);
    if (this.until.size <= this.maxKeys) return;
    for (const [old, end] of this.until) {
      if (end <= at) this.until.delete(old);
    }
    for (const old of this.until.keys()) {
      if (this.until.size <= this.maxKeys) break;
      this.until.delete(old);
    }
  }

  forget(key: string) {
    this.until.delete(key);
  }

  get size() {
    return this.until.size;
  }
}
