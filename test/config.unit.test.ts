import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.js';
import { withDevelopmentSecrets } from '../src/dev-secrets.js';
import { tsxArgs } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

const key = randomBytes(32).toString('base64');
const jwt = randomBytes(40).toString('base64url');
const tmp = () => tempDir('journal-config-');

function errorFor(env: Record<string, string>): string {
  try {
    loadConfig({ MASTER_KEY: key, JWT_SECRET: jwt, ...env }, { dataDir: tmp() });
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return 'no error';
}

t.test('defaults follow API.md', async (t) => {
  const config = loadConfig({ MASTER_KEY: key, JWT_SECRET: jwt }, { dataDir: tmp() });
  t.equal(config.port, 3000);
  t.equal(config.host, '127.0.0.1');
  t.equal(config.retentionYears, 10);
  t.equal(config.lateEntryHours, 24);
  t.equal(config.logLevel, 'info');
  t.equal(config.databaseUrl, undefined);
  t.equal(config.apiRateLimitPerMinute, undefined);
  t.equal(config.trustProxy, false, 'X-Forwarded-For is ignored unless proxies are named');
  t.same(config.mfaRequiredRoles, []);
  t.equal(config.masterKey.length, 32);
});

t.test('every variable is parsed', async (t) => {
  const config = loadConfig(
    {
      MASTER_KEY: key,
      JWT_SECRET: jwt,
      DATABASE_URL: 'postgres://u:p@db.example:5432/journal',
      PORT: '8080',
      HOST: '0.0.0.0',
      MFA_REQUIRED_ROLES: 'admin, auditor',
      RETENTION_YEARS: '12',
      LATE_ENTRY_HOURS: '48',
      API_RATE_LIMIT_PER_MINUTE: '600',
      LOG_LEVEL: 'warn',
      TRUST_PROXY: '127.0.0.1, 10.0.0.0/8, loopback, ::1',
      BOOTSTRAP_ADMIN_USERNAME: 'root',
      BOOTSTRAP_ADMIN_PASSWORD: 'a long enough password',
    },
    { dataDir: tmp() },
  );
  t.equal(config.port, 8080);
  t.equal(config.host, '0.0.0.0');
  t.same(config.mfaRequiredRoles, ['admin', 'auditor']);
  t.equal(config.retentionYears, 12);
  t.equal(config.lateEntryHours, 48);
  t.equal(config.apiRateLimitPerMinute, 600);
  t.equal(config.logLevel, 'warn');
  t.same(config.trustProxy, ['127.0.0.1', '10.0.0.0/8', 'loopback', '::1']);
  t.same(config.bootstrapAdmin, { username: 'root', password: 'a long enough password' });
});

t.test('a bad value names its variable in one line', async (t) => {
  const cases: Record<string, Record<string, string>> = {
    PORT: { PORT: 'eighty' },
    DATABASE_URL: { DATABASE_URL: 'mysql://localhost/x' },
    MASTER_KEY: { MASTER_KEY: Buffer.alloc(16).toString('base64') },
    JWT_SECRET: { JWT_SECRET: 'short' },
    MFA_REQUIRED_ROLES: { MFA_REQUIRED_ROLES: 'admin,boss' },
    RETENTION_YEARS: { RETENTION_YEARS: '0' },
    LATE_ENTRY_HOURS: { LATE_ENTRY_HOURS: '0' },
    API_RATE_LIMIT_PER_MINUTE: { API_RATE_LIMIT_PER_MINUTE: '-5' },
    LOG_LEVEL: { LOG_LEVEL: 'loud' },
    TRUST_PROXY: { TRUST_PROXY: '10.0.0.0/99, proxy.example' },
    BOOTSTRAP_ADMIN_PASSWORD: { BOOTSTRAP_ADMIN_USERNAME: 'root' },
  };
  for (const [variable, env] of Object.entries(cases)) {
    const message = errorFor(env);
    t.match(message, new RegExp(`^Invalid configuration: ${variable} `), variable);
    t.notMatch(message, /\n/, `${variable}: one line`);
  }
  t.match(errorFor({ PORT: '70000' }), /PORT must be at most 65535/);
});

t.test('development secrets are generated once, mode 0600, and reused', async (t) => {
  const dataDir = tmp();
  const warnings: string[] = [];
  const warn = (message: string) => warnings.push(message);
  const first = loadConfig(withDevelopmentSecrets({}, { dataDir, warn }), { dataDir });
  t.equal(warnings.length, 2, 'one warning per generated secret');
  for (const file of ['master.key', 'jwt.secret']) {
    t.equal(statSync(path.join(dataDir, file)).mode & 0o777, 0o600, `${file} is 0600`);
  }
  t.equal(
    Buffer.from(readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim(), 'base64').length,
    32,
  );
  const second = loadConfig(withDevelopmentSecrets({}, { dataDir, warn }), { dataDir });
  t.equal(warnings.length, 2, 'no new warning when reused');
  t.same(second.masterKey, first.masterKey);
  t.equal(second.jwtSecret, first.jwtSecret);

  const given = withDevelopmentSecrets({ MASTER_KEY: key, JWT_SECRET: jwt }, { dataDir, warn });
  t.same(given, { MASTER_KEY: key, JWT_SECRET: jwt }, 'a secret that is set is kept');
  const env = { NODE_ENV: 'development' };
  withDevelopmentSecrets(env, { dataDir });
  t.same(env, { NODE_ENV: 'development' }, 'the given environment is not changed');
});

t.test(
  'loadConfig writes no files: without the dev-secrets step it names the secret',
  async (t) => {
    const dataDir = path.join(tmp(), 'data');
    for (const NODE_ENV of ['development', 'test']) {
      t.throws(
        () => loadConfig({ NODE_ENV, JWT_SECRET: jwt }, { dataDir }),
        new ConfigError(
          'Invalid configuration: MASTER_KEY is not set (outside production, withDevelopmentSecrets() in src/dev-secrets.ts generates one)',
        ),
      );
    }
    t.notOk(existsSync(dataDir), 'no data directory was created');
  },
);

t.test('production: the dev-secrets step writes nothing and passes the env through', async (t) => {
  const dataDir = path.join(tmp(), 'data');
  for (const NODE_ENV of ['production', 'staging']) {
    const env = { NODE_ENV };
    t.equal(
      withDevelopmentSecrets(env, { dataDir, warn: (message) => t.fail(message) }),
      env,
      NODE_ENV,
    );
  }
  t.notOk(existsSync(dataDir), 'nothing generated for production or an invalid NODE_ENV');
  t.throws(
    () => loadConfig(withDevelopmentSecrets({ NODE_ENV: 'production' }, { dataDir }), { dataDir }),
    /^Invalid configuration: MASTER_KEY is required when NODE_ENV=production$/,
  );
});

t.test('an empty secret file stops the start, naming the file', async (t) => {
  const dataDir = tmp();
  writeFileSync(path.join(dataDir, 'master.key'), '\n');
  t.throws(
    () => withDevelopmentSecrets({}, { dataDir }),
    new ConfigError(
      `Invalid configuration: MASTER_KEY file ${path.join(dataDir, 'master.key')} is empty`,
    ),
  );
});

t.test('production refuses to start without its secrets', async (t) => {
  t.match(
    errorFor({ NODE_ENV: 'production', MASTER_KEY: '' }),
    /^Invalid configuration: MASTER_KEY is required/,
  );
  t.match(
    errorFor({ NODE_ENV: 'production', JWT_SECRET: '' }),
    /^Invalid configuration: JWT_SECRET is required/,
  );
});

t.test('the process stops at start with one clear line', async (t) => {
  const result = spawnSync(process.execPath, tsxArgs('src/server.ts'), {
    cwd: tmp(),
    env: { PATH: process.env.PATH, PORT: 'abc', MASTER_KEY: key, JWT_SECRET: jwt },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.equal(result.status, 1);
  t.equal(
    result.stderr.trim(),
    'Invalid configuration: PORT must be an integer between 0 and 65535',
  );
});
