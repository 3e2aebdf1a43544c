import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
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
async function securityPlugin(app: FastifyInstance) {
  await app.register(helmet, {
    global: true,
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
  });
  // Browsers honour COOP and Origin-Agent-Cluster only in a secure context, and log an error
  // for a COOP they ignore: they go out only on a request that arrived over HTTPS (itself,
  // or as a proxy named in TRUST_PROXY says).
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.protocol !== 'https') {
      reply.removeHeader('cross-origin-opener-policy');
      reply.removeHeader('origin-agent-cluster');
    }
    return payload;
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
