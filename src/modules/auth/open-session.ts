import type { Role } from '../../access/roles.js';
import { uuidv7 } from '../../db/ids.js';
import type { Executor } from '../../db/pool.js';
import { insertRefreshToken, insertSession } from './auth.repository.js';
import { ENROLLMENT_SESSION_MS, SESSION_ABSOLUTE_MS, type SessionKind } from './session.js';
import { ACCESS_TOKEN_TTL_SECONDS, newRefreshToken, type AccessTokens } from './tokens.js';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: 'Bearer';
}

/**
 * Opens a session with its first refresh token in the caller's transaction, and signs its
 * first access token.
 */
export async function openSession(
  tx: Executor,
  deps: { tokens: AccessTokens; clock: () => Date },
  user: { id: string; role: Role },
  kind: SessionKind,
): Promise<TokenPair> {
  const at = deps.clock();
  const sessionId = uuidv7(at.getTime());
  const refresh = newRefreshToken();
  await insertSession(tx, {
    id: sessionId,
    userId: user.id,
    kind,
    now: at,
    expiresAt: new Date(
      at.getTime() + (kind === 'full' ? SESSION_ABSOLUTE_MS : ENROLLMENT_SESSION_MS),
    ),
  });
  await insertRefreshToken(tx, refresh.hash, sessionId, at);
  return {
    accessToken: deps.tokens.sign({ userId: user.id, sessionId, role: user.role }),
    refreshToken: refresh.token,
    expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    tokenType: 'Bearer',
  };
}
