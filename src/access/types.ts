import type { Role } from './roles.js';
import type { Permission } from './permissions.js';

/** Who is calling, as established from a valid access token and a live session. */
export interface AuthContext {
  userId: string;
  sessionId: string;
  username: string;
  role: Role;
  clinicIds: string[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The action this route performs (src/access/permissions.ts). */
    permission?: Permission;
    /** A route anyone may call without a token (login, refresh). */
    public?: boolean;
  }
  interface FastifyRequest {
    /** Set by the auth plugin for every authenticated route; null on public routes. */
    auth: AuthContext | null;
  }
}
