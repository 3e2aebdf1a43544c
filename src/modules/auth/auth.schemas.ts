import { z } from 'zod';
import { roleSchema } from '../../schemas/user.js';
import { ACCESS_TOKEN_TTL_SECONDS } from './tokens.js';

/**
 * Login takes the password exactly as typed. Bounds only keep the work per request small;
 * a value outside them simply cannot match (the 12–128 rule applies when one is set).
 */
export const loginBodySchema = z
  .strictObject({
    username: z.string().min(1).max(256),
    password: z.string().min(1).max(1024),
    otp: z
      .string()
      .max(16)
      .optional()
      .describe('The current code of the authenticator, once a second factor is set up'),
    recoveryCode: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe(
        'Instead of `otp`: one of the recovery codes shown at confirmation (single use; case, ' +
          'spaces and hyphens do not matter)',
      ),
  })
  .refine((body) => body.otp === undefined || body.recoveryCode === undefined, {
    message: 'give otp or recoveryCode, not both',
    path: ['recoveryCode'],
  })
  // The README's first admin (BOOTSTRAP_ADMIN_USERNAME=admin), so "Try it out" logs in.
  .meta({
    id: 'LoginRequest',
    requestExample: { username: 'admin', password: 'choose 12 to 128 characters' },
  });

export const refreshBodySchema = z
  .strictObject({
    refreshToken: z.string().min(1).max(512).describe('The refreshToken of the last pair'),
  })
  .meta({
    id: 'RefreshRequest',
    requestExample: { refreshToken: 'pW3rQm2v8xT1sYk5nB0cL7dF4gH9jA6eZ2uI1oP0qRs' },
  });

export const tokenPairSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z
    .int()
    .min(1)
    .max(ACCESS_TOKEN_TTL_SECONDS)
    .describe('Seconds until the access token expires'),
});

export const loginResponseSchema = tokenPairSchema
  .extend({
    user: z.object({
      id: z.uuid(),
      username: z.string(),
      role: roleSchema,
      clinicIds: z.array(z.uuid()),
    }),
    mfaEnrollmentRequired: z
      .boolean()
      .describe(
        'True when the role requires a second factor that is not set up yet: the session can only ' +
          'enrol one (POST /v1/auth/mfa/enroll, /confirm), then log in again with an otp.',
      ),
  })
  .meta({ id: 'LoginResponse' });

export const refreshResponseSchema = tokenPairSchema.meta({ id: 'TokenPair' });

export const mfaEnrollResponseSchema = z
  .object({ secret: z.string(), otpauthUrl: z.string() })
  .meta({ id: 'MfaEnrollment' });

export const mfaEnrollBodySchema = z
  .strictObject({
    password: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe('Your password: needed when your login is 5 minutes old or more'),
  })
  .meta({ id: 'MfaEnrollRequest', requestExample: { password: 'choose 12 to 128 characters' } });

export const mfaConfirmBodySchema = z
  .strictObject({
    code: z.string().regex(/^\d{6}$/, 'must be the 6 digits shown by the authenticator'),
  })
  .meta({ id: 'MfaConfirmation', requestExample: { code: '123456' } });

export const mfaConfirmResponseSchema = z
  .object({
    recoveryCodes: z
      .array(z.string().regex(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/))
      .length(10)
      .describe(
        'Ten single-use codes that log in instead of `otp` (as `recoveryCode`) when the ' +
          'authenticator is lost. Shown only here, once; only their hashes are kept.',
      ),
  })
  .meta({ id: 'MfaRecoveryCodes' });
