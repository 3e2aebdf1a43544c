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
import auditPlugin from './modules/audit/audit.plugin.js';
import authPlugin from './modules/auth/auth.plugin.js';
import idempotencyPlugin from './modules/idempotency/idempotency.plugin.js';
import type { PasswordHashingOptions } from './modules/auth/password.js';
import { AccessLogController } from './plugins/request-log.js';
import clockPlugin from './plugins/clock.js';
import dbPlugin from './plugins/db.js';
import errorsPlugin, { clientErrorHandler, frameworkErrorHandler } from './plugins/errors.js';
import inputGuardPlugin from './plugins/input-guard.js';
import keysPlugin from './plugins/keys.js';
import routePolicyPlugin from './plugins/route-policy.js';
import securityPlugin from './plugins/security.js';
import swaggerPlugin from './plugins/swagger.js';
import { healthRoutes } from './modules/health/health.routes.js';
import { authRoutes } from './modules/auth/auth.routes.js';
import { clinicsRoutes } from './modules/clinics/clinics.routes.js';
import auditExportsPlugin from './modules/audit/audit.exports.js';
import { auditRoutes } from './modules/audit/audit.routes.js';
import type { ExportLimits } from './modules/audit/audit.export-gate.js';
import { usersRoutes } from './modules/users/users.routes.js';
import { clientsRoutes } from './modules/clients/clients.routes.js';
import { journalRetention } from './modules/journal/journal.retention.js';
import { SANE_REQUEST_ID } from './schemas/headers.js';
import { templatesRoutes } from './modules/templates/templates.routes.js';
import { consentsRoutes } from './modules/consents/consents.routes.js';
import { journalRoutes } from './modules/journal/journal.routes.js';
import { attachmentsRoutes } from './modules/attachments/attachments.routes.js';
import {
  createAttachmentStore,
  erasedContentRemover,
} from './modules/attachments/attachments.stores.js';
import { recallsRoutes } from './modules/recalls/recalls.routes.js';
import { subjectsRoutes } from './modules/subjects/subjects.routes.js';

export interface BuildAppOptions {
  config: Config;
  /** The caller owns the pool: it opens it before and ends it after the app. */
  pool: pg.Pool;
  logger?: Logger;
  /** argon2id parameters; production's (OWASP floor) unless a test asks for cheaper ones. */
  passwordHashing?: PasswordHashingOptions;
  /** The clock for tokens, sessions, throttles and TOTP (tests inject a fake one). */
  now?: () => Date;
  /** How long a throttled login waits before its 429 (THROTTLED_LOGIN_DELAY_MS unless set). */
  throttledLoginDelayMs?: number;
  /** Idle-socket timeout (connectionTimeout below unless set; a test shortens it). */
  connectionTimeoutMs?: number;
  /** Audit exports' capacity, per-user limit and idle cut-off (DEFAULT_EXPORT_LIMITS unless set). */
  exportLimits?: Partial<ExportLimits>;
}

/** Request bodies above this are refused with 413 (a signed consent's PNG fits well inside). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export async function buildApp(options: BuildAppOptions) {
  const { config, pool } = options;
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config.logLevel),
    // One line per request instead of Fastify's two (plugins/request-log.ts).
    logController: new AccessLogController(),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.trustProxy,
    requestIdHeader: false,
    genReqId: (request) => {
      const offered = request.headers['x-request-id'];
      return typeof offered === 'string' && SANE_REQUEST_ID.test(offered) ? offered : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: false },
    frameworkErrors: frameworkErrorHandler,
    // HTTP timeouts, the values fastify/demo sets (after backend.cafe's "Handling HTTP
    // timeouts in Fastify"). Fastify leaves the first and second off, so an idle or
    // trickling client could hold a socket, and its memory, for as long as it likes.
    // A socket with no traffic either way for 2 minutes is destroyed: a client that
    // connects and never sends, or stops reading mid-response.
    connectionTimeout: options.connectionTimeoutMs ?? 120_000,
    // The whole request, headers and body (at most BODY_LIMIT_BYTES), must arrive within a
    // minute; the response may take longer (an audit export streams for as long as it needs).
    requestTimeout: 60_000,
    // An idle keep-alive connection is closed after 10 s (Fastify's default is 72 s). A
    // reverse proxy that pools connections to us must drop idle ones sooner than that, or a
    // request it sends as we close gets a 502 (nginx upstream keepalive_timeout, a load
    // balancer's idle timeout).
    keepAliveTimeout: 10_000,
    // The headers alone within 15 s, well before requestTimeout: a slowloris client that
    // sends a header line now and then is cut off early.
    // What Node refuses before Fastify has a request answers problem details too.
    clientErrorHandler,
    // Node's own Host check answers an empty 400; the security plugin makes the same check.
    http: { headersTimeout: 15_000, requireHostHeader: false },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: any other content type is answered 415 rather than parsed.
  app.removeContentTypeParser(['text/plain']);

  // Framework machinery first, in a fixed order; then the two domains that act on every
  // request (audit, then auth: refusing a request is itself an audited event); then the rest.
  await app.register(errorsPlugin);
  await app.register(securityPlugin);
  await app.register(inputGuardPlugin);
  await app.register(clockPlugin, { now: options.now });
  await app.register(routePolicyPlugin);
  await app.register(dbPlugin, { pool });
  await app.register(keysPlugin, { config });
  await app.register(swaggerPlugin);
  await app.register(auditPlugin, { config });
  await app.register(authPlugin, {
    config,
    passwordHashing: options.passwordHashing,
    throttledLoginDelayMs: options.throttledLoginDelayMs,
  });
  // Before the routes: it equips the ones that declare `config.idempotent`.
  await app.register(idempotencyPlugin);

  await app.register(healthRoutes, { migrations: readMigrations() });
  await app.register(authRoutes);
  await app.register(usersRoutes);
  await app.register(clinicsRoutes);
  await app.register(auditExportsPlugin, { exportLimits: options.exportLimits ?? {} });
  await app.register(auditRoutes);
  // One attachment store (ATTACHMENT_STORE) for uploads, downloads, erasure and the export zip.
  const attachmentStore = createAttachmentStore(config.attachmentStore, app.db);
  app.addHook('onClose', () => attachmentStore.close());
  await app.register(clientsRoutes, {
    retentionYears: config.retentionYears,
    retention: journalRetention,
    attachmentContent: erasedContentRemover(attachmentStore, app.log),
  });
  await app.register(templatesRoutes);
  await app.register(consentsRoutes);
  await app.register(journalRoutes, { lateEntryHours: config.lateEntryHours });
  await app.register(attachmentsRoutes, {
    maxBytes: config.attachmentMaxBytes,
    store: attachmentStore,
  });
  await app.register(recallsRoutes);
  await app.register(subjectsRoutes, {
    retentionYears: config.retentionYears,
    retention: journalRetention,
    attachmentStore,
  });

  return app;
}
