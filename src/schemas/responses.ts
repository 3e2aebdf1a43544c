import { problemSchema } from './problem.js';

/**
 * The problem-details responses a route can answer with, for its response schema (and so
 * for the OpenAPI document): `...problemResponses(400, 401, 403)`.
 */
export function problemResponses<const S extends readonly number[]>(
  ...statuses: S
): Record<S[number], typeof problemSchema> {
  return Object.fromEntries(statuses.map((status) => [status, problemSchema])) as Record<
    S[number],
    typeof problemSchema
  >;
}

/**
 * Every route behind the auth hook can answer these (400: a malformed X-Purpose-Of-Use or
 * X-Break-Glass-Reason header is refused before any route runs).
 */
export const AUTHENTICATED_PROBLEMS = [400, 401, 403, 429, 503] as const;

/** A route without a body still parses one if sent: too large, or not JSON. */
export const BODY_PROBLEMS = [413, 415] as const;
