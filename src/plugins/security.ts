import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import fp from 'fastify-plugin';
import { BadRequest } from '../errors.js';

/**
 * Security headers on every response, errors and 404s included: helmet's set (nosniff,
 * frame denial, CSP, HSTS...) plus `Cache-Control: no-store`, since every answer of this
 * service may hold health data that no shared or browser cache should keep.
 *
 * The CSP is /docs' too (Swagger UI needs nothing inline: plugins/swagger.ts). It has no
 * `upgrade-insecure-requests`, helmet's default: TLS and HSTS are the reverse proxy's job,
 * and on a host reached over plain HTTP (a LAN name, a test box) the upgrade rewrote every
 * asset of /docs to https:// and left the page blank.
 */
const HELMET: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      styleSrc: ["'self'"],
      scriptSrc: ["'self'"],
      frameAncestors: ["'none'"],
      upgradeInsecureRequests: null,
    },
  },
};

// Browsers honour COOP and Origin-Agent-Cluster only in a secure context, and log an error
// for a COOP they ignore: they go out only on a request that arrived over HTTPS (itself,
// or as a proxy named in TRUST_PROXY says).
const SECURE_CONTEXT_ONLY = new Set(['cross-origin-opener-policy', 'origin-agent-cluster']);

/**
 * The headers helmet's middleware sets with these options, collected once: none of them
 * depends on the request (no CSP nonces), and building the middleware per request (as
 * @fastify/helmet does) was 2–3 % of the service's CPU per read.
 */
export function helmetHeaders(options: Readonly<HelmetOptions> = HELMET): {
  https: Readonly<Record<string, string>>;
  http: Readonly<Record<string, string>>;
} {
  const https: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      https[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader() {},
  };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {});
  const http = Object.fromEntries(
    Object.entries(https).filter(([name]) => !SECURE_CONTEXT_ONLY.has(name)),
  );
  return { https: Object.freeze(https), http: Object.freeze(http) };
}

async function securityPlugin(app: FastifyInstance) {
  const headers = helmetHeaders();
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(request.protocol === 'https' ? headers.https : headers.http);
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    // RFC 9112 3.2: an HTTP/1.1 request without Host is a 400. Node's own check answered it
    // with an empty body, so buildApp turns that off and it is made here, as problem details.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new BadRequest('An HTTP/1.1 request must carry a Host header.');
    }
  });
}

export default fp(securityPlugin, { name: 'security', fastify: '5.x' });
