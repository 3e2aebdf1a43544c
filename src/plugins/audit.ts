import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { BadRequest } from '../errors.js';
import { chainKeyring, createAuditSealer, type AuditSealer } from '../modules/audit/audit.chain.js';
import { PURPOSE_OF_USE } from '../modules/audit/audit.event.js';
import { createAuditRecorder } from '../modules/audit/audit.recorder.js';
import {
  verifyChain,
  type VerifyOptions,
  type VerifyResult,
} from '../modules/audit/audit.verify.js';

export interface AuditChainHandle {
  /** Seals every event committed so far (tests, verify). */
  sealNow: AuditSealer['sealNow'];
  verify(options?: VerifyOptions): Promise<VerifyResult>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The tamper-evident chain of the audit log: seal and verify. */
    auditChain: AuditChainHandle;
  }
}

export interface AuditPluginOptions {
  config: Pick<Config, 'masterKey' | 'masterKeysOld'>;
  /** Background sealing period; `false` turns it off (tests that drive sealNow themselves). */
  sealIntervalMs?: number | false;
}

/**
 * The audit door (`app.audit`, see modules/audit/audit.types.ts) and the chain's sealer for
 * this process. Also refuses a malformed `X-Purpose-Of-Use` with 400 before any route runs,
 * so a request never proceeds with a purpose the log would have to drop.
 */
async function auditPlugin(app: FastifyInstance, options: AuditPluginOptions) {
  const keys = chainKeyring(options.config);
  const recorder = createAuditRecorder({ pool: app.pool, log: app.log });
  const sealer = createAuditSealer({ pool: app.pool, keys, log: app.log });
  app.decorate('audit', recorder);
  app.decorate('auditChain', {
    sealNow: (sealOptions) => sealer.sealNow(sealOptions),
    verify: (verifyOptions) => verifyChain(app.pool, keys, verifyOptions),
  } satisfies AuditChainHandle);

  app.addHook('onRequest', async (request) => {
    const purpose = request.headers['x-purpose-of-use'];
    if (
      purpose !== undefined &&
      (typeof purpose !== 'string' || !PURPOSE_OF_USE.test(purpose.trim()))
    ) {
      throw new BadRequest('X-Purpose-Of-Use must be a short token such as treatment or billing.', [
        { path: 'headers.x-purpose-of-use', message: 'must match [A-Za-z0-9_-]{1,64}' },
      ]);
    }
  });

  const interval = options.sealIntervalMs ?? 200;
  if (interval !== false) {
    app.addHook('onReady', async () => sealer.start(interval));
  }
  app.addHook('onClose', async () => {
    await sealer.stop();
    await recorder.close();
  });
}

export default fp(auditPlugin, { name: 'audit', fastify: '5.x', dependencies: ['db'] });
