import { actorOf, type RequestContext } from '../../access/context.js';
import type { Role } from '../../access/roles.js';
import type { Database } from '../../db/pool.js';
import { NotFound } from '../../errors.js';
import { toPublicUser, type PublicUser } from '../../schemas/user.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { findUserById } from './auth.repository.js';
import type { KnownRefusals } from './known-refusals.js';
import { createLogin } from './login.js';
import { createMfa } from './mfa.js';
import type { PasswordHasher } from './password.js';
import { createSessions } from './refresh.js';
import { createThrottle } from './throttle.js';
import type { AccessTokens } from './tokens.js';
import type { TotpSecretBox } from './totp-secret.js';

export interface AuthServiceDeps {
  db: Database;
  audit: AuditDoor;
  passwords: PasswordHasher;
  tokens: AccessTokens;
  totpBox: TotpSecretBox;
  clock: () => Date;
  mfaRequiredRoles: readonly Role[];
  throttledLoginDelayMs: number;
  /** Throttle keys this process knows PostgreSQL refuses; one per app (default 10,000 keys). */
  knownRefusals?: KnownRefusals;
}

export type AuthService = ReturnType<typeof createAuthService>;

/** Login, refresh, logout, the caller, and the second factor (API.md "Auth"). */
export function createAuthService(deps: AuthServiceDeps) {
  const throttle = createThrottle({
    db: deps.db,
    clock: deps.clock,
    ...(deps.knownRefusals && { knownRefusals: deps.knownRefusals }),
  });
  return {
    login: createLogin({ ...deps, throttle }),
    ...createSessions({ ...deps, throttle }),
    ...createMfa({ ...deps, throttle }),
    async me(ctx: RequestContext): Promise<PublicUser> {
      const user = await findUserById(deps.db, actorOf(ctx).userId);
      if (!user) throw new NotFound('No such user.');
      // The caller's own account, read: audited like any read of a user.
      await deps.audit.record(ctx, [
        { action: 'user.read', outcome: 'success', resourceType: 'user', resourceId: user.id },
      ]);
      return toPublicUser(user);
    },
  };
}
