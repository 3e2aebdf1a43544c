import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pendingMigrations, type Migration } from '../../db/migrate.js';
import { problem, sendProblem } from '../../plugins/errors.js';
import { problemSchema } from '../../schemas/problem.js';

const statusSchema = z.object({ status: z.literal('ok') }).meta({ id: 'HealthStatus' });

/** Liveness and readiness for orchestrators; no authentication, no data. */
export const healthRoutes: FastifyPluginAsyncZod<{ migrations: readonly Migration[] }> = async (
  app,
  { migrations },
) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['service'],
        operationId: 'checkLiveness',
        summary: 'Liveness: the process is running',
        response: { 200: statusSchema },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['service'],
        operationId: 'checkReadiness',
        summary: 'Readiness: the database answers and every migration is applied',
        response: { 200: statusSchema, 503: problemSchema },
      },
    },
    async (request, reply) => {
      try {
        const pending = await pendingMigrations(app.pool, migrations);
        if (pending.length > 0) {
          void reply.header('retry-after', '5');
          return sendProblem(reply, problem(503, 'Database migrations are pending.'));
        }
      } catch (error) {
        request.log.warn(
          { err: { code: (error as { code?: string }).code } },
          'readiness check failed',
        );
        void reply.header('retry-after', '5');
        return sendProblem(reply, problem(503, 'The database does not answer.'));
      }
      return { status: 'ok' as const };
    },
  );
};
