import t from 'tap';
import { helmetHeaders } from '../../src/plugins/security.js';

// What @fastify/helmet 13 sent with these options, per request (collected from it before the
// headers were computed once): the same set must go out, and the two secure-context-only
// headers only over HTTPS.
const EXPECTED = {
  'content-security-policy':
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'none';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

t.test("helmet's headers, collected once", async (t) => {
  const { https, http } = helmetHeaders();
  t.same(https, EXPECTED);
  const plain = Object.fromEntries(
    Object.entries(EXPECTED).filter(
      ([name]) => name !== 'cross-origin-opener-policy' && name !== 'origin-agent-cluster',
    ),
  );
  t.same(http, plain);
  t.ok(Object.isFrozen(https) && Object.isFrozen(http), 'shared by every request, so frozen');
});
