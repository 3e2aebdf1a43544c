import pino, { type Logger, type LoggerOptions } from 'pino';

/**
 * Paths pino removes from every log line. Request bodies are never logged, but anything that
 * carries a credential or a personal value is censored here as a second line of defence.
 */
const SENSITIVE_KEYS = [
  'password',
  'newPassword',
  'token',
  'accessToken',
  'refreshToken',
  'otp',
  'secret',
  'masterKey',
  'jwtSecret',
  'authorization',
  'cookie',
  'nationalId',
  'email',
  'phone',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-break-glass-reason"]',
  'res.headers["set-cookie"]',
  ...SENSITIVE_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'clinic-journal-api' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}
