import type { RequestContext } from './context.js';
import type { Permission } from './permissions.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The action this route performs (src/access/permissions.ts). */
    permission?: Permission;
    /** A route anyone may call without a token (login, refresh). */
    public?: boolean;
    /** Usable by a session that may only enrol a second factor (me, logout, mfa/*). */
    mfaEnrollment?: boolean;
  }
  interface FastifyRequest {
    /** This request's context (access/context.ts), built once by the auth hook. */
    ctx: RequestContext;
  }
}
