import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { PERMISSIONS, type Permission } from '../access/permissions.js';

/** A /v1 route and its access policy, as registered (the permission-matrix test walks these). */
export interface ApiRoute {
  method: string;
  url: string;
  permission: Permission | undefined;
  public: boolean;
  /** Declares `config.idempotent`: retry-safe with Idempotency-Key (modules/idempotency). */
  idempotent: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every /v1 route registered so far with its policy (HEAD twins left out). */
    apiRoutes: readonly ApiRoute[];
  }
}

export function isApiRoute(url: string | undefined): boolean {
  return url !== undefined && (url === '/v1' || url.startsWith('/v1/'));
}

/**
 * Authentication is on by default for every /v1 route: a route must declare the permission it
 * needs (src/access/permissions.ts) or say it is public, or the app refuses to start. The
 * routes and their policies are kept for the permission-matrix test.
 */
async function routePolicyPlugin(app: FastifyInstance) {
  const apiRoutes: ApiRoute[] = [];
  app.decorate('apiRoutes', apiRoutes);
  app.addHook('onRoute', (route) => {
    if (!isApiRoute(route.url)) return;
    const permission = route.config?.permission;
    const isPublic = route.config?.public === true;
    const methods = Array.isArray(route.method) ? route.method.join(',') : route.method;
    if (permission !== undefined && isPublic) {
      throw new Error(
        `${methods} ${route.url}: a route is either public or needs a permission, not both`,
      );
    }
    if (permission === undefined && !isPublic) {
      throw new Error(`${methods} ${route.url}: declare config.permission or config.public`);
    }
    if (permission !== undefined && !Object.hasOwn(PERMISSIONS, permission)) {
      throw new Error(`${methods} ${route.url}: unknown permission "${String(permission)}"`);
    }
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      apiRoutes.push({
        method,
        url: route.url,
        permission,
        public: isPublic,
        idempotent: route.config?.idempotent === true,
      });
    }
  });
}

export default fp(routePolicyPlugin, { name: 'route-policy', fastify: '5.x' });
