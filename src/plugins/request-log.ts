import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * One access-log line per request, when its answer has gone: Fastify's own "incoming request"
 * line is dropped and its "request completed" line carries the request too (id, method, path
 * with query values censored by logger.ts, status, response time in ms). Never a body, a header
 * value or a query value. Every other log line Fastify writes stays as it is.
 */
export class AccessLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}
