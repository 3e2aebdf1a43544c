import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { SYSTEM_CONTEXT, type RequestContext } from '../../access/context.js';
import type { Config } from '../../config.js';
import { HttpProblem } from '../../errors.js';
import { createAuditSealer, type AuditSealer } from './audit.chain.js';
import { storedChainKeyring } from './audit.chain-keys.js';
import { createReasonSealer } from './audit.reasons.js';
import { createAuditRecorder } from './audit.recorder.js';
import { verifyIncremental } from './audit.checkpoints.js';
import type { VerifyOptions, VerifyResult } from './audit.verify.js';

export interface AuditChainHandle {
  /** Seals every event committed so far (tests, verify). */
  sealNow: AuditSealer['sealNow'];
  /** Incremental from the last verified checkpoint unless `full` (audit.checkpoints.ts). */
  verify(options?: VerifyOptions & { full?: boolean }): Promise<VerifyResult>;
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

/** A request's context, also for errors raised before the auth hook built it. */
function contextOf(request: FastifyRequest): RequestContext {
  // The hook that builds it may not have run (a request refused before it, e.g. a bad header).
  const ctx: RequestContext | null = request.ctx;
  return ctx ?? { ...SYSTEM_CONTEXT, requestId: request.id };
}

/**
 * The audit door (`app.audit`, see audit.types.ts), this process's sealer of the chain, and
 * the recording of refusals: an error that carries an audit event (a 403, another clinic's
 * 404, a refused change) has it recorded before it is answered — after any transaction it
 * came out of has rolled back, so it never waits for a second connection — and answers 503
 * instead when it cannot be recorded (fail closed).
 */
async function auditPlugin(app: FastifyInstance, options: AuditPluginOptions) {
  const keys = storedChainKeyring(options.config, () => app.keys.chainKey());
  const recorder = createAuditRecorder({
    pool: app.pool,
    log: app.log,
    sealReasons: createReasonSealer(app.keys),
  });
  const sealer = createAuditSealer({ pool: app.pool, keys, log: app.log });
  app.decorate('audit', recorder);
  app.decorate('auditChain', {
    sealNow: (sealOptions) => sealer.sealNow(sealOptions),
    verify: (verifyOptions) =>
      verifyIncremental(app.pool, keys, { now: app.clock(), ...verifyOptions }),
  } satisfies AuditChainHandle);

  app.addErrorMapper(async (error, request) => {
    if (!(error instanceof HttpProblem) || !error.audit) return error;
    const { outcome = 'denied', ...event } = error.audit;
    try {
      await recorder.record(contextOf(request), [{ ...event, outcome }]);
    } catch (failure) {
      return failure;
    }
    return error;
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

export default fp(auditPlugin, {
  name: 'audit',
  fastify: '5.x',
  dependencies: ['db', 'errors', 'keys'],
});
