import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, DEFAULT_DATA_DIR } from './config.js';

export interface DevelopmentSecretsOptions {
  /** Where the generated secrets live (and the embedded database). Default `./.data`. */
  dataDir?: string;
  /** Called once per secret generated (not when one is reused). */
  warn?: (message: string) => void;
}

const SECRETS = [
  {
    variable: 'MASTER_KEY',
    file: 'master.key',
    generate: () => randomBytes(32).toString('base64'),
  },
  {
    variable: 'JWT_SECRET',
    file: 'jwt.secret',
    generate: () => randomBytes(48).toString('base64url'),
  },
] as const;

/** NODE_ENV as loadConfig reads it outside production: unset or blank means development. */
function isDevelopment(nodeEnv: string | undefined): boolean {
  return (
    nodeEnv === undefined ||
    nodeEnv.trim() === '' ||
    nodeEnv === 'development' ||
    nodeEnv === 'test'
  );
}

/**
 * The one place that writes configuration files, so that loadConfig can stay a pure parse.
 * Outside production, a MASTER_KEY or JWT_SECRET the environment lacks is generated once
 * into the data directory (mode 0600) and read back on every later start, so encrypted data
 * stays readable across restarts. Returns the environment with those values filled in; the
 * given one is not changed. In production (or with a NODE_ENV loadConfig will refuse) it
 * returns the environment as it is and writes nothing: loadConfig then refuses to start
 * without the secrets.
 */
export function withDevelopmentSecrets(
  env: Record<string, string | undefined>,
  options: DevelopmentSecretsOptions = {},
): Record<string, string | undefined> {
  if (!isDevelopment(env.NODE_ENV)) return env;
  const dataDir = path.resolve(options.dataDir ?? (env.DATA_DIR || DEFAULT_DATA_DIR));
  const filled = { ...env };
  for (const secret of SECRETS) {
    if ((env[secret.variable] ?? '').trim() !== '') continue;
    filled[secret.variable] = storedOrGenerated(dataDir, secret, options.warn);
  }
  return filled;
}

function storedOrGenerated(
  dataDir: string,
  secret: (typeof SECRETS)[number],
  warn: ((message: string) => void) | undefined,
): string {
  const file = path.join(dataDir, secret.file);
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (stored === '') {
      throw new ConfigError(`Invalid configuration: ${secret.variable} file ${file} is empty`);
    }
    return stored;
  }
  mkdirSync(dataDir, { recursive: true });
  const value = secret.generate();
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  warn?.(
    `${secret.variable} is not set: generated a development value into ${file}; set ${secret.variable} in production`,
  );
  return value;
}
