import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { FastifyRequest, preParsingAsyncHookHandler } from 'fastify';

/**
 * A request's identity under an Idempotency-Key (API.md "Conventions"): the SHA-256 of its
 * method, its path with the query string, and the SHA-256 of its body bytes as they arrived.
 */
const HEADER = 'idempotency-key';
const bodyHashes = new WeakMap<FastifyRequest, Buffer | Promise<Buffer>>();
const EMPTY_BODY_HASH = createHash('sha256').digest();

/**
 * JSON bodies: the bytes hashed on their way to the parser (a preParsing hook), by a pass-
 * through piped onto the payload. Not `stream.pipeline`: per request, its AbortController
 * (aborted, with a DOMException, on every finish) cost more than the hashing itself.
 */
export const hashBody: preParsingAsyncHookHandler = async (request, _reply, payload) => {
  if (request.headers[HEADER] === undefined) return payload;
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      bodyHashes.set(request, hash.digest());
      callback();
    },
  });
  // What pipeline did besides: a failed or cut-off body fails the parser's stream too.
  payload.once('error', (error) => tap.destroy(error));
  payload.once('close', () => {
    if (!payload.readableEnded)
      tap.destroy(new Error('idempotency: the body did not arrive whole'));
  });
  return payload.pipe(tap);
};

/**
 * A multipart body is read by its handler straight from the socket (@fastify/multipart reads
 * `request.raw`, not the preParsing stream), after the preHandler: so its bytes are hashed
 * beside that reader. The stream is paused first, so the listener does not start the flow;
 * the handler's pipe does, and both see every chunk. The hash is ready when the body ended,
 * which is before the service's write transaction remembers the answer.
 */
export function tapRawBody(request: FastifyRequest): void {
  const raw = request.raw;
  const hash = createHash('sha256');
  if (raw.readableEnded) {
    bodyHashes.set(request, hash.digest());
    return;
  }
  raw.pause();
  raw.on('data', (chunk: Buffer) => hash.update(chunk));
  const digest = new Promise<Buffer>((resolve, reject) => {
    raw.once('end', () => resolve(hash.digest()));
    raw.once('close', () => {
      if (!raw.readableEnded) reject(new Error('idempotency: the body did not arrive whole'));
    });
  });
  digest.catch(() => {}); // awaited only when the write succeeds
  bodyHashes.set(request, digest);
}

/** The same, reading the whole body here (the handler will not run: a replay or a 422). */
export async function drainRawBody(request: FastifyRequest): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of request.raw) hash.update(chunk as Buffer);
  bodyHashes.set(request, hash.digest());
}

export async function requestHash(request: FastifyRequest): Promise<Buffer> {
  return createHash('sha256')
    .update(`${request.method}\n${request.url}\n`)
    .update((await bodyHashes.get(request)) ?? EMPTY_BODY_HASH)
    .digest();
}
