import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { ROLES, type Role } from './access/roles.js';
import { s3ConfigFrom, s3EnvShape, type S3StoreConfig } from './config.s3.js';

/** A configuration problem; `message` is one line that names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const emptyToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const base64Key32 = z
  .string()
  .trim()
  .refine((value) => /^[A-Za-z0-9+/]{43}=$/.test(value), 'must be base64 of exactly 32 bytes')
  .transform((value) => Buffer.from(value, 'base64'));

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be an integer between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true;
  const [address, prefix, extra] = entry.split('/');
  if (extra !== undefined || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const envSchema = z.object({
  NODE_ENV: z.preprocess(
    emptyToUndefined,
    z.enum(['development', 'production', 'test']).default('development'),
  ),
  DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine(
        (value) => /^postgres(ql)?:\/\//.test(value) && URL.canParse(value),
        'must be a postgres:// or postgresql:// URL',
      )
      .optional(),
  ),
  MIGRATION_DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine(
        (value) => /^postgres(ql)?:\/\//.test(value) && URL.canParse(value),
        'must be a postgres:// or postgresql:// URL',
      )
      .optional(),
  ),
  PORT: z.preprocess(emptyToUndefined, integer(0, 65535).optional()),
  HOST: z.preprocess(emptyToUndefined, z.string().trim().min(1).default('127.0.0.1')),
  MASTER_KEY: z.preprocess(emptyToUndefined, base64Key32.optional()),
  MASTER_KEYS_OLD: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean),
      )
      .pipe(z.array(base64Key32))
      .optional(),
  ),
  JWT_SECRET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine((value) => Buffer.byteLength(value) >= 32, 'must be at least 32 bytes')
      .optional(),
  ),
  BOOTSTRAP_ADMIN_USERNAME: z.preprocess(emptyToUndefined, z.string().trim().min(1).optional()),
  BOOTSTRAP_ADMIN_PASSWORD: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .min(12, 'must be 12 to 128 characters')
      .max(128, 'must be 12 to 128 characters')
      .optional(),
  ),
  MFA_REQUIRED_ROLES: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean),
      )
      .pipe(
        z.array(
          z.enum(ROLES, { message: `must be a comma-separated list of ${ROLES.join(', ')}` }),
        ),
      )
      .default([]),
  ),
  RETENTION_YEARS: z.preprocess(emptyToUndefined, integer(1, 100).default(10)),
  LATE_ENTRY_HOURS: z.preprocess(emptyToUndefined, integer(1, 8760).default(24)),
  API_RATE_LIMIT_PER_MINUTE: z.preprocess(emptyToUndefined, integer(1, 1_000_000).optional()),
  TRUST_PROXY: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .trim()
      .transform((value, context): string[] => {
        const entries = value.split(',').map((part) => part.trim());
        if (entries.every(isProxyAddress)) return entries;
        context.addIssue({
          code: 'custom',
          message:
            'must be a comma-separated list of proxy addresses, CIDR ranges, loopback, linklocal or uniquelocal',
        });
        return z.NEVER;
      })
      .optional(),
  ),
  ATTACHMENT_MAX_BYTES: z.preprocess(
    emptyToUndefined,
    integer(1, 1024 * 1024 * 1024).default(20 * 1024 * 1024),
  ),
  ATTACHMENT_STORE: z.preprocess(
    emptyToUndefined,
    z.enum(['postgres', 's3'], { message: 'must be postgres or s3' }).default('postgres'),
  ),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().optional()),
  ...s3EnvShape,
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  ),
});

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  /** Unset: the service runs an embedded PostgreSQL under `dataDir/pg`. */
  databaseUrl: string | undefined;
  /** The owner, for migrations; DATABASE_URL then has data rights only (src/db/grants.ts). */
  migrationDatabaseUrl: string | undefined;
  port: number;
  host: string;
  /** Current master key-encryption key (32 bytes). */
  masterKey: Buffer;
  /** Older master keys that may still unwrap data keys until they are retired. */
  masterKeysOld: Buffer[];
  jwtSecret: string;
  bootstrapAdmin: { username: string; password: string } | undefined;
  mfaRequiredRoles: Role[];
  retentionYears: number;
  /** A journal entry signed more than this many hours after performedAt is recordedLate. */
  lateEntryHours: number;
  apiRateLimitPerMinute: number | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Largest attachment accepted (bytes), ATTACHMENT_MAX_BYTES. */
  attachmentMaxBytes: number;
  /** Where sealed attachment chunks live (ATTACHMENT_STORE); `s3` comes with its settings. */
  attachmentStore: { kind: 'postgres' } | { kind: 's3'; s3: S3StoreConfig };
  /**
   * Which reverse proxies' X-Forwarded-For to believe (Fastify's trustProxy): unset, the
   * socket's address is the client's. Behind a proxy, login throttling per address and the
   * audit log's `ip` need this, or every client looks like the proxy.
   */
  trustProxy: string[] | false;
  dataDir: string;
}

/** Where development secrets and the embedded database live unless told otherwise. */
export const DEFAULT_DATA_DIR = '.data';

export interface LoadConfigOptions {
  /** Where development keys and the embedded database live. Default `DATA_DIR`, else `./.data`. */
  dataDir?: string;
}

/**
 * Parses the environment once. Throws ConfigError whose message is one line naming the
 * first bad variable; nothing else in the code base reads process.env. A pure function: it
 * reads and writes no files (development secrets come from withDevelopmentSecrets in
 * src/dev-secrets.ts, which the server and the CLI apply to the environment first).
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  options: LoadConfigOptions = {},
): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${variable} ${issue?.message ?? 'is invalid'}`);
  }
  const values = parsed.data;
  const dataDir = path.resolve(options.dataDir ?? values.DATA_DIR ?? DEFAULT_DATA_DIR);
  const production = values.NODE_ENV === 'production';

  if (
    (values.BOOTSTRAP_ADMIN_USERNAME === undefined) !==
    (values.BOOTSTRAP_ADMIN_PASSWORD === undefined)
  ) {
    const missing =
      values.BOOTSTRAP_ADMIN_USERNAME === undefined
        ? 'BOOTSTRAP_ADMIN_USERNAME'
        : 'BOOTSTRAP_ADMIN_PASSWORD';
    throw new ConfigError(
      `Invalid configuration: ${missing} must be set together with the other BOOTSTRAP_ADMIN_* variable`,
    );
  }

  let attachmentStore: Config['attachmentStore'] = { kind: 'postgres' };
  if (values.ATTACHMENT_STORE === 's3') {
    const s3 = s3ConfigFrom(values);
    if ('missing' in s3) {
      throw new ConfigError(
        `Invalid configuration: ${s3.missing} is required when ATTACHMENT_STORE=s3`,
      );
    }
    attachmentStore = { kind: 's3', s3 };
  }

  const masterKey = values.MASTER_KEY ?? missingSecret('MASTER_KEY', production);
  const jwtSecret = values.JWT_SECRET ?? missingSecret('JWT_SECRET', production);

  return {
    nodeEnv: values.NODE_ENV,
    databaseUrl: values.DATABASE_URL,
    migrationDatabaseUrl: values.MIGRATION_DATABASE_URL,
    port: values.PORT ?? 3000,
    host: values.HOST,
    masterKey,
    masterKeysOld: values.MASTER_KEYS_OLD ?? [],
    jwtSecret,
    bootstrapAdmin:
      values.BOOTSTRAP_ADMIN_USERNAME !== undefined && values.BOOTSTRAP_ADMIN_PASSWORD !== undefined
        ? { username: values.BOOTSTRAP_ADMIN_USERNAME, password: values.BOOTSTRAP_ADMIN_PASSWORD }
        : undefined,
    mfaRequiredRoles: values.MFA_REQUIRED_ROLES,
    retentionYears: values.RETENTION_YEARS,
    lateEntryHours: values.LATE_ENTRY_HOURS,
    apiRateLimitPerMinute: values.API_RATE_LIMIT_PER_MINUTE,
    logLevel: values.LOG_LEVEL,
    attachmentMaxBytes: values.ATTACHMENT_MAX_BYTES,
    attachmentStore,
    trustProxy: values.TRUST_PROXY ?? false,
    dataDir,
  };
}

function missingSecret(variable: string, production: boolean): never {
  throw new ConfigError(
    production
      ? `Invalid configuration: ${variable} is required when NODE_ENV=production`
      : `Invalid configuration: ${variable} is not set (outside production, withDevelopmentSecrets() in src/dev-secrets.ts generates one)`,
  );
}
