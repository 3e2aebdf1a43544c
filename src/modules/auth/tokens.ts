import { createHash, randomBytes } from 'node:crypto';
import type { FastifyJWTOptions, JWT } from '@fastify/jwt';
import type { Role } from '../../access/roles.js';
import { uuidv7 } from '../../db/ids.js';
import { Unauthorized } from '../../errors.js';
import { isUuid } from '../../schemas/uuid.js';

export const TOKEN_ISSUER = 'clinic-journal-api';
export const TOKEN_AUDIENCE = 'clinic-journal-api/v1';
/** RFC 9068's media type for JWT access tokens: a JWT of another kind is refused. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const ACCESS_TOKEN_ALGORITHM = 'HS256' as const;
export const REQUIRED_CLAIMS = ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud', 'role'];

/** The @fastify/jwt registration: one pinned algorithm, issuer, audience, type and lifetime. */
export function jwtPluginOptions(secret: string): FastifyJWTOptions {
  return {
    secret,
    sign: {
      algorithm: ACCESS_TOKEN_ALGORITHM,
      iss: TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
      header: { alg: ACCESS_TOKEN_ALGORITHM, typ: ACCESS_TOKEN_TYPE },
      // @fastify/jwt reads a number as seconds (jsonwebtoken-compatible), not fast-jwt's ms.
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    },
    verify: {
      algorithms: [ACCESS_TOKEN_ALGORITHM],
      allowedIss: TOKEN_ISSUER,
      allowedAud: TOKEN_AUDIENCE,
      checkTyp: ACCESS_TOKEN_TYPE,
      requiredClaims: REQUIRED_CLAIMS,
      // The times are checked against the app's clock in AccessTokens.verify (exp strictly,
      // nbf if present). Passing that clock to fast-jwt per call (`clockTimestamp`) made
      // @fastify/jwt build a new verifier on every request; this way its one cached verifier
      // checks signature, algorithm, type, issuer, audience and claims.
      ignoreExpiration: true,
      ignoreNotBefore: true,
    },
  };
}

/** RFC 7519 4.1.4 and 4.1.5: not on or after `exp`, not before `nbf`. */
export function withinLifetime(claims: { exp?: unknown; nbf?: unknown }, at: number): boolean {
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= at) return false;
  return claims.nbf === undefined || (typeof claims.nbf === 'number' && claims.nbf * 1000 <= at);
}

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  role: Role;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

export interface AccessTokens {
  sign(subject: { userId: string; sessionId: string; role: Role }): string;
  /** Any failure (signature, algorithm, type, time, issuer, audience, claims) is one 401. */
  verify(token: string): AccessClaims;
}

export function createAccessTokens(jwt: JWT, now: () => Date): AccessTokens {
  return {
    sign: ({ userId, sessionId, role }) =>
      jwt.sign(
        { sub: userId, sid: sessionId, role },
        { jti: uuidv7(now().getTime()), clockTimestamp: now().getTime() },
      ),
    verify(token) {
      let claims: Partial<AccessClaims>;
      const at = now().getTime();
      try {
        claims = jwt.verify<Partial<AccessClaims>>(token);
      } catch {
        throw invalidToken();
      }
      if (
        typeof claims.sub !== 'string' ||
        typeof claims.sid !== 'string' ||
        !isUuid(claims.sub) ||
        !isUuid(claims.sid) ||
        typeof claims.role !== 'string' ||
        // Not accepted "on or after" exp (fast-jwt would still accept the exact second).
        !withinLifetime(claims, at)
      ) {
        throw invalidToken();
      }
      return claims as AccessClaims;
    },
  };
}

export function invalidToken(detail = 'The access token is missing, invalid or expired.') {
  return new Unauthorized(detail, { headers: { 'www-authenticate': 'Bearer' } });
}

/** 256 random bits; only its SHA-256 is stored, so a database copy cannot be replayed. */
export function newRefreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
