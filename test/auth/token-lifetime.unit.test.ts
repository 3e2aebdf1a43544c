import t from 'tap';
import { withinLifetime } from '../../src/modules/auth/tokens.js';

// fast-jwt's one cached verifier ignores the times (tokens.ts); this check is the only one.
t.test('exp: accepted before it, refused at and after it (RFC 7519 "on or after")', async (t) => {
  const exp = 1_800_000_000;
  t.ok(withinLifetime({ exp }, exp * 1000 - 1));
  t.notOk(withinLifetime({ exp }, exp * 1000));
  t.notOk(withinLifetime({ exp }, exp * 1000 + 1));
  t.notOk(withinLifetime({}, 0), 'no exp: refused');
  t.notOk(withinLifetime({ exp: String(exp) }, 0), 'a string exp: refused');
});

t.test('nbf: refused before it, accepted from it; a non-number is refused', async (t) => {
  const exp = 1_800_000_000;
  const nbf = exp - 600;
  t.notOk(withinLifetime({ exp, nbf }, nbf * 1000 - 1));
  t.ok(withinLifetime({ exp, nbf }, nbf * 1000));
  t.notOk(withinLifetime({ exp, nbf: 'soon' }, nbf * 1000));
});
