import jwt from '@fastify/jwt';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Role } from '../../access/roles.js';
import type { Config } from '../../config.js';
import { createAuthHook } from './auth.hook.js';
import { sessionStateReader } from './auth.repository.js';
import {
  createPasswordHasher,
  PRODUCTION_PASSWORD_HASHING,
  type PasswordHasher,
  type PasswordHashingOptions,
} from './password.js';
import { createAccessTokens, jwtPluginOptions, type AccessTokens } from './tokens.js';
import { createTotpSecretBox, type TotpSecretBox } from './totp-secret.js';

export interface Identity {
  passwords: PasswordHasher;
  tokens: AccessTokens;
  totpBox: TotpSecretBox;
  mfaRequiredRoles: readonly Role[];
  /** How long a throttled login waits before its 429. */
  throttledLoginDelayMs: number;
}

/**
 * A login refused by the throttle is answered after this delay. A guesser that waits for each
 * answer (as scripts and the benchmark's storm do) then gets one attempt per second per
 * connection instead of as many as the service can refuse, and each refusal still costs it a
 * lookup and an audit event: without the delay, cheaper refusals only meant more of them, and
 * the storm took CPU from everyone else's reads. A real user over the limit waits for
 * Retry-After anyway.
 */
export const THROTTLED_LOGIN_DELAY_MS = 1000;

declare module 'fastify' {
  interface FastifyInstance {
    identity: Identity;
  }
}

export interface AuthPluginOptions {
  config: Config;
  /** argon2id parameters; production's unless a test asks for cheaper ones. */
  passwordHashing?: PasswordHashingOptions | undefined;
  /** THROTTLED_LOGIN_DELAY_MS unless a test asks for none. */
  throttledLoginDelayMs?: number | undefined;
}

/**
 * Identity for the whole app: access tokens (@fastify/jwt), password hashing, the sealed TOTP
 * secrets, and the hook that authenticates every /v1 request and builds its context
 * (auth.hook.ts).
 */
async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
  const { config } = options;
  await app.register(jwt, jwtPluginOptions(config.jwtSecret));
  const identity: Identity = {
    passwords: createPasswordHasher(options.passwordHashing ?? PRODUCTION_PASSWORD_HASHING),
    tokens: createAccessTokens(app.jwt, app.clock),
    totpBox: createTotpSecretBox(app.keys),
    mfaRequiredRoles: config.mfaRequiredRoles,
    throttledLoginDelayMs: options.throttledLoginDelayMs ?? THROTTLED_LOGIN_DELAY_MS,
  };
  app.decorate('identity', identity);
  app.decorateRequest('ctx', null as never);
  app.addHook(
    'onRequest',
    createAuthHook({
      db: app.db,
      tokens: identity.tokens,
      clock: app.clock,
      findSessionState: sessionStateReader(app.db),
      apiRateLimitPerMinute: config.apiRateLimitPerMinute,
    }),
  );
}

export default fp(authPlugin, {
  name: 'auth',
  fastify: '5.x',
  dependencies: ['db', 'clock', 'route-policy', 'audit'],
});
