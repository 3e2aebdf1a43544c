import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
  RouteHandlerMethod,
} from 'fastify';
import fp from 'fastify-plugin';
import { actorOf, type IdempotencyScope } from '../../access/context.js';
import { DataKeyNotFound } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import { NotFound, UnprocessableContent } from '../../errors.js';
import { problemSchema } from '../../schemas/problem.js';
import { hashKey, inProgress, KeyTaken, keyOf } from './idempotency.key.js';
import { drainRawBody, hashBody, requestHash, tapRawBody } from './idempotency.body.js';
import {
  claim,
  findLive,
  findLiveKey,
  IDEMPOTENCY_WINDOW_MS,
  RESPONSE_FIELD,
  type LiveKey,
} from './idempotency.repository.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Retry-safe with `Idempotency-Key` (API.md "Conventions"): the route's service hands its
     * answer to `ctx.idempotency.remember(tx, …)` inside the write's transaction.
     */
    idempotent?: boolean;
    /**
     * For an idempotent write of no client (a user, clinic or template): re-renders the
     * resource its service remembered (`remember(tx, { resourceId })`) through the normal,
     * audited read, for a replay. Nothing of the answer itself is kept.
     */
    idempotentReplay?: (request: FastifyRequest, resourceId: string) => Promise<unknown>;
    /**
     * The route's service claims the key in its write's one statement (`rowFor`, then
     * `assertFree` when nothing was written): no look-up before the handler, so a first
     * keyed write costs no extra round trip; a replay or a 422 is answered once the handler
     * failed (its statement wrote nothing, or a rule refused the retry).
     */
    idempotentFolded?: boolean;
  }
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/**
 * Retry-safe writes. A route declares `config: { idempotent: true }`; this plugin then
 * documents the header (and 409/422), hashes the request, and before the handler either
 * replays the remembered answer (audited as `idempotency.replay`), refuses a different
 * request under the same key (422), or gives the context an `idempotency` scope whose
 * `remember` the service's write transaction calls (so the key's row commits with the write
 * and its audit event, or not at all). Only 2xx answers reach `remember`.
 *
 * What is kept holds no personal value in clear. A client's write seals its answer under the
 * client's data key (erasure makes it noise and deletes the row). A write of no client (user,
 * clinic, template) keeps no body at all, only its status and `resourceId`, and a replay
 * re-renders that resource through the route's normal, audited read (`idempotentReplay`):
 * a user's names are personal values with no client key to seal them under, and sealing them
 * under the master key would add a second, unrotated copy to protect; re-reading keeps the
 * one door (and its audit event) there already is. The price: such a replay shows the
 * resource as it is now, which differs from the first answer only if it changed meanwhile.
 */
async function idempotencyPlugin(app: FastifyInstance) {
  const { db, keys, audit } = app;

  interface RouteTraits {
    status: number;
    multipart: boolean;
    folded: boolean;
    replay: ((request: FastifyRequest, resourceId: string) => Promise<unknown>) | undefined;
  }

  /**
   * Answers a request from its key's live row: 422 for another request under the key, else
   * the remembered answer (audited as a replay). Undefined when the row's client was erased
   * (the key answers as never used).
   */
  async function answerFrom(
    request: FastifyRequest,
    reply: FastifyReply,
    found: LiveKey,
    replay: RouteTraits['replay'],
  ): Promise<FastifyReply | undefined> {
    if (!found.requestHash.equals(await requestHash(request))) {
      throw new UnprocessableContent(
        'This Idempotency-Key was used for a different request (method, path or body).',
      );
    }
    let body: unknown = null;
    if (found.responseEnc !== null && found.clientId !== null) {
      try {
        const cipher = await keys.cipherFor(db, found.clientId);
        body = cipher.open(RESPONSE_FIELD, found.id, found.responseEnc);
      } catch (error) {
        if (!(error instanceof DataKeyNotFound)) throw error;
        return undefined;
      }
    }
    await audit.record(request.ctx, [
      {
        action: 'idempotency.replay',
        outcome: 'success',
        resourceType: 'idempotency_key',
        resourceId: found.id,
        clientId: found.clientId,
      },
    ]);
    if (found.resourceId !== null) {
      if (!replay) throw new Error(`${request.routeOptions.url}: no idempotentReplay`);
      body = await replay(request, found.resourceId);
    }
    reply.code(found.status).header('idempotency-replayed', 'true');
    return reply.send(body);
  }

  function preHandlerFor({
    status,
    multipart,
    folded,
    replay,
  }: RouteTraits): preHandlerAsyncHookHandler {
    return async function idempotencyPreHandler(request: FastifyRequest, reply: FastifyReply) {
      const key = keyOf(request);
      if (key === undefined) return;
      const actorId = actorOf(request.ctx).userId;
      const keyHash = hashKey(key);
      // A folded write claims the key in its own statement; its key is looked up only when
      // that wrote nothing or the handler failed (foldedHandler).
      const found = folded ? undefined : await findLiveKey(app.pool, actorId, keyHash, app.clock());
      if (found) {
        if (multipart) await drainRawBody(request);
        const answered = await answerFrom(request, reply, found, replay);
        if (answered) return answered;
        // An upload's body is spent by now; its erased client answers 404, as a new run would.
        if (multipart) throw new NotFound('Client not found.');
      }
      const at = () => {
        const now = app.clock();
        return { createdAt: now, expiresAt: new Date(now.getTime() + IDEMPOTENCY_WINDOW_MS) };
      };
      if (multipart) tapRawBody(request);
      // A JSON body is hashed by now; a multipart one once its handler has read it.
      const hash = multipart ? undefined : await requestHash(request);
      const scope: IdempotencyScope = {
        async remember(executor, answer) {
          const byResource = 'resourceId' in answer;
          if (byResource && !replay) {
            throw new Error(
              `${request.routeOptions.url}: remembers a resource, no idempotentReplay`,
            );
          }
          const ok = await claim(executor, keys, {
            id: uuidv7(),
            actorId,
            keyHash,
            requestHash: hash ?? (await requestHash(request)),
            clientId: byResource ? null : answer.clientId,
            resourceId: byResource ? answer.resourceId : null,
            status,
            body: byResource ? null : answer.body,
            ...at(),
          });
          if (!ok) throw inProgress();
        },
        rowFor(answer) {
          if (!hash) throw new Error('idempotency: a one-statement write has a JSON body');
          const id = uuidv7();
          return {
            id,
            actorId,
            keyHash,
            requestHash: hash,
            clientId: answer.clientId,
            status,
            resourceId: null,
            responseEnc: answer.seal(id),
            ...at(),
          };
        },
        async assertFree(executor) {
          const taken = await findLive(executor, actorId, keyHash, app.clock());
          if (taken) throw new KeyTaken(taken);
        },
      };
      request.ctx = Object.freeze({ ...request.ctx, idempotency: Object.freeze(scope) });
    };
  }

  /**
   * A folded route's handler: when it fails under a key (its statement found the key taken,
   * or a rule refused the retry of a write that succeeded before), the key's live row answers
   * as it would have before the handler: a replay, or 422. Without a live row the failure
   * stands (a 4xx is not remembered).
   */
  function foldedHandler(handler: RouteHandlerMethod, traits: RouteTraits): RouteHandlerMethod {
    return async function foldedIdempotent(this: FastifyInstance, request, reply) {
      try {
        return await handler.call(this, request, reply);
      } catch (error) {
        const key = request.ctx.idempotency === undefined ? undefined : keyOf(request);
        if (key === undefined) throw error;
        const found =
          error instanceof KeyTaken
            ? error.found
            : await findLiveKey(
                app.pool,
                actorOf(request.ctx).userId,
                hashKey(key),
                app.clock(),
              ).catch(() => undefined);
        const answered = found && (await answerFrom(request, reply, found, traits.replay));
        if (!answered) throw error;
        return answered;
      }
    };
  }

  app.addHook('onRoute', (route) => {
    if (route.config?.idempotent !== true) return;
    const where = `${[route.method].flat().join(',')} ${route.url}`;
    const schema = route.schema;
    const response = schema?.response as Record<string, unknown> | undefined;
    if (!schema || !response)
      throw new Error(`${where}: an idempotent route declares its responses`);
    const success = Object.keys(response)
      .map(Number)
      .filter((code) => code >= 200 && code < 300);
    if (success.length !== 1) throw new Error(`${where}: an idempotent route has one 2xx answer`);
    const status = success[0]!;
    schema.requestHeaders = [...(schema.requestHeaders ?? []), 'Idempotency-Key'];
    schema.responseHeaders = {
      ...schema.responseHeaders,
      [status]: [...(schema.responseHeaders?.[status] ?? []), 'Idempotency-Replayed'],
    };
    response[409] ??= problemSchema;
    response[422] ??= problemSchema;
    const multipart = (schema.consumes ?? []).includes('multipart/form-data');
    const folded = route.config.idempotentFolded === true;
    if (folded && multipart) throw new Error(`${where}: a folded idempotent route takes JSON`);
    if (!multipart) route.preParsing = [...asArray(route.preParsing), hashBody];
    const traits = { status, multipart, folded, replay: route.config.idempotentReplay };
    route.preHandler = [...asArray(route.preHandler), preHandlerFor(traits)];
    if (folded) route.handler = foldedHandler(route.handler, traits);
  });
}

export default fp(idempotencyPlugin, {
  name: 'idempotency',
  fastify: '5.x',
  dependencies: ['db', 'keys', 'audit', 'clock'],
});
