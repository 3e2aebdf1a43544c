/**
 * A small in-memory cache of unwrapped data keys: bounded in entries (least recently used
 * goes first) and in time (an entry expires `ttlMs` after it was loaded, used or not), so a
 * key destroyed by another process stops working here within that time. The keys live only
 * in this closure: nothing here can be logged or serialised by accident.
 */
export interface DataKeyCache {
  get(clientId: string): Buffer | undefined;
  set(clientId: string, key: Buffer): void;
  /** Drops the key (it is loaded again on next use). */
  delete(clientId: string): void;
  /**
   * Drops the key and, for one lifetime, refuses to cache it again: a concurrent reader that
   * loaded it just before a destroy committed cannot put it back.
   */
  forget(clientId: string): void;
  readonly size: number;
}

export interface DataKeyCacheOptions {
  maxEntries?: number;
  ttlMs?: number;
  /** Injected in tests; milliseconds. */
  now?: () => number;
}

export function createDataKeyCache(options: DataKeyCacheOptions = {}): DataKeyCache {
  // 10 000 keys ≈ 2.5 MB. `npm run bench` reads journals of random clients: at 1000 entries
  // most reads missed and paid one more query plus an unwrap.
  const maxEntries = options.maxEntries ?? 10_000;
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { key: Buffer; expiresAt: number }>();
  const forgotten = new Map<string, number>();

  function pruneForgotten(at: number) {
    for (const [clientId, until] of forgotten) {
      if (until > at) break; // insertion order is expiry order
      forgotten.delete(clientId);
    }
  }

  return {
    get(clientId) {
      const entry = entries.get(clientId);
      if (!entry) return undefined;
      entries.delete(clientId);
      if (entry.expiresAt <= now()) return undefined;
      entries.set(clientId, entry); // most recently used last
      return entry.key;
    },
    set(clientId, key) {
      if (maxEntries <= 0) return;
      const at = now();
      pruneForgotten(at);
      if (forgotten.has(clientId)) return;
      entries.delete(clientId);
      entries.set(clientId, { key, expiresAt: at + ttlMs });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    delete(clientId) {
      entries.delete(clientId);
    },
    forget(clientId) {
      entries.delete(clientId);
      forgotten.delete(clientId);
      forgotten.set(clientId, now() + ttlMs);
      pruneForgotten(now());
    },
    get size() {
      return entries.size;
    },
  };
}
