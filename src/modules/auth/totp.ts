import { Secret, TOTP } from 'otpauth';

/** RFC 6238 with the parameters every authenticator app supports: SHA-1, 6 digits, 30 s. */
const PERIOD = 30;
const ISSUER = 'Clinic Journal';

function totpFor(secret: Buffer, label = 'user') {
  return new TOTP({
    issuer: ISSUER,
    label,
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD,
    secret: new Secret({ buffer: new Uint8Array(secret).buffer }),
  });
}

export function newTotpSecret(): Buffer {
  return Buffer.from(new Uint8Array(new Secret({ size: 20 }).buffer));
}

export function totpEnrollment(secret: Buffer, label: string) {
  const totp = totpFor(secret, label);
  return { secret: totp.secret.base32, otpauthUrl: totp.toString() };
}

/**
 * The time-step counter a code belongs to (±1 step of clock drift), or null if it matches
 * none. The caller records the counter so that the same code never works twice.
 */
export function matchTotp(secret: Buffer, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const totp = totpFor(secret);
  const delta = totp.validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return null;
  return totp.counter({ timestamp: now }) + delta;
}

/** For tests and the CLI: the code an authenticator would show at `now`. */
export function totpCode(secretBase32: string, now: number): string {
  return new TOTP({
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD,
    secret: Secret.fromBase32(secretBase32),
  }).generate({
    timestamp: now,
  });
}
