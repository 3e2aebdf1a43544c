import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BadRequest } from '../errors.js';
import {
  CONTROL_MESSAGE,
  JSON_MAX_DEPTH,
  hasControl,
  hasForbiddenControl,
  jsonTextDepthExceeds,
} from '../schemas/text.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `'route'`: the route refuses control characters in its body itself (login does, so that
     * such an attempt is audited and throttled like any other failed login).
     */
    inputGuard?: 'route';
  }
}

/** Headers whose value is free text (a stated reason): tab allowed, as in a body's free text. */
const FREE_TEXT_HEADERS = new Set(['x-break-glass-reason']);

/** The path (`body.answers.a`) of the first string or key holding a refused control, or null. */
export function findControl(
  value: unknown,
  path: string,
  refused: (text: string) => boolean = hasForbiddenControl,
): string | null {
  // Bodies are at most JSON_MAX_DEPTH deep (the parser below), queries and headers flat.
  if (typeof value === 'string') return refused(value) ? path : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value)) {
    const where = `${path}.${key}`;
    if (refused(key)) return path;
    const found = findControl(child, where, refused);
    if (found !== null) return found;
  }
  return null;
}

function refuse(path: string, message = CONTROL_MESSAGE): never {
  throw new BadRequest('The request is not valid.', [{ path, message }]);
}

/**
 * Bad input never reaches a database or a walker (API.md "Conventions"): a JSON body nested
 * deeper than 32 levels is refused from its text, before it is parsed; then, before any
 * schema runs, a control character (other than tab, CR and LF) in any string of the body,
 * query or path, or any control character in a header, answers 400 naming where. Which body
 * strings are single-line (no tab, CR or LF either) the route's schema says
 * (schemas/text.ts `singleLine`).
 */
async function inputGuardPlugin(app: FastifyInstance) {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string; // parseAs: 'string'
    if (jsonTextDepthExceeds(text)) {
      done(
        new BadRequest('The request is not valid.', [
          { path: 'body', message: `must not nest deeper than ${JSON_MAX_DEPTH} levels` },
        ]),
        undefined,
      );
      return;
    }
    void parseJson(request, text, done);
  });

  app.addHook('preValidation', async (request: FastifyRequest) => {
    for (const [name, value] of Object.entries(request.headers)) {
      const refused = FREE_TEXT_HEADERS.has(name) ? hasForbiddenControl : hasControl;
      const found = findControl(value, `headers.${name}`, refused);
      if (found !== null) refuse(`headers.${name}`);
    }
    const found =
      findControl(request.params, 'params') ??
      findControl(request.query, 'querystring') ??
      (request.routeOptions.config.inputGuard === 'route'
        ? null
        : findControl(request.body, 'body'));
    if (found !== null) refuse(found);
  });
}

export default fp(inputGuardPlugin, { name: 'input-guard', fastify: '5.x' });
