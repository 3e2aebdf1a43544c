import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createDataKeyCache } from '../../src/crypto/index.js';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

t.test('an entry lives ttlMs after it was loaded, used or not', async (t) => {
  const time = clock();
  const cache = createDataKeyCache({ ttlMs: 60_000, now: time.now });
  const key = randomBytes(32);
  cache.set('a', key);
  time.advance(59_999);
  t.equal(cache.get('a'), key);
  time.advance(1);
  t.equal(cache.get('a'), undefined, 'expired at 60 s even though it was just used');
  t.equal(cache.size, 0, 'and dropped');
});

t.test('bounded: the least recently used entry goes first', async (t) => {
  const cache = createDataKeyCache({ maxEntries: 2, now: clock().now });
  cache.set('a', randomBytes(32));
  cache.set('b', randomBytes(32));
  t.ok(cache.get('a'), 'a used: b is now the least recent');
  cache.set('c', randomBytes(32));
  t.equal(cache.size, 2);
  t.ok(cache.get('a'));
  t.equal(cache.get('b'), undefined);
  t.ok(cache.get('c'));
});

t.test('forget refuses to cache the key again for one lifetime; delete does not', async (t) => {
  const time = clock();
  const cache = createDataKeyCache({ ttlMs: 1000, now: time.now });
  cache.set('a', randomBytes(32));
  cache.forget('a');
  t.equal(cache.get('a'), undefined);
  cache.set('a', randomBytes(32)); // a reader that loaded it just before the destroy committed
  t.equal(cache.get('a'), undefined, 'not put back');
  time.advance(1000);
  cache.set('a', randomBytes(32));
  t.ok(cache.get('a'), 'cached again after the lifetime');
  cache.delete('a');
  t.equal(cache.get('a'), undefined);
  cache.set('a', randomBytes(32));
  t.ok(cache.get('a'), 'delete leaves no tombstone');
});

t.test('maxEntries 0 caches nothing', async (t) => {
  const cache = createDataKeyCache({ maxEntries: 0 });
  cache.set('a', randomBytes(32));
  t.equal(cache.get('a'), undefined);
});

t.test('the cache object shows no key when serialised or inspected', async (t) => {
  const cache = createDataKeyCache();
  const key = randomBytes(32);
  cache.set('a', key);
  const { inspect } = await import('node:util');
  t.notMatch(JSON.stringify(cache), key.toString('hex'));
  t.notMatch(inspect(cache, { depth: 10 }), key.toString('hex'));
  t.notMatch(inspect(cache, { depth: 10 }), key.toString('base64'));
});
