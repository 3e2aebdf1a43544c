import { ACCESS_TOKEN_TTL_SECONDS } from './tokens.js';

/** Session lifetimes: idle (no request, no refresh) and absolute, whatever the activity. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
/** A session that may only enrol a second factor lives as long as one access token. */
export const ENROLLMENT_SESSION_MS = ACCESS_TOKEN_TTL_SECONDS * 1000;

export type SessionKind = 'full' | 'mfa_enrollment';

/** What a session check needs of a session and its user. */
export interface SessionLike {
  revokedAt: Date | null;
  expiresAt: Date;
  lastSeenAt: Date;
  user: { disabled: boolean };
}

/** Why a session no longer works, or null if it does. */
export function sessionEndReason(state: SessionLike, now: Date): string | null {
  if (state.revokedAt) return 'revoked';
  if (state.user.disabled) return 'user_disabled';
  if (now.getTime() >= state.expiresAt.getTime()) return 'expired';
  if (now.getTime() >= state.lastSeenAt.getTime() + SESSION_IDLE_MS) return 'idle';
  return null;
}
