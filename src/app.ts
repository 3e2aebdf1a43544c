import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Config } from './config.js';
import { readMigrations } from './db/migrate.js';
import { createLogger } from './logger.js';
import auditPlugin from './plugins/audit.js';
import dbPlugin from './plugins/db.js';
import errorsPlugin from './plugins/errors.js';
import keysPlugin from './plugins/keys.js';
import securityPlugin from './plugins/security.js';
import swaggerPlugin from './plugins/swagger.js';
import { healthRoutes } from './modules/health/health.routes.js';

export interface BuildAppOptions {
  config: Config;
  /** The caller owns the pool: it opens it before and ends it after the app. */
  pool: pg.Pool;
  logger?: Logger;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request bodies above this are refused with 413 (a signed consent's PNG fits well inside). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export async function buildApp(options: BuildAppOptions) {
  const { config, pool } = options;
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config.logLevel),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: false,
    requestIdHeader: false,
    genReqId: (request) => {
      const offered = request.headers['x-request-id'];
      return typeof offered === 'string' && SANE_REQUEST_ID.test(offered) ? offered : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: false },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: any other content type is answered 415 rather than parsed.
  app.removeContentTypeParser(['text/plain']);

  // Cross-cutting machinery first, in a fixed order; domain modules after.
  await app.register(errorsPlugin);
  await app.register(securityPlugin);
  await app.register(dbPlugin, { pool });
  await app.register(auditPlugin, { config });
  await app.register(keysPlugin, { config });
  await app.register(swaggerPlugin);

  await app.register(healthRoutes, { migrations: readMigrations() });

  return app;
}
