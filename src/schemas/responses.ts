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

/** Every route behind the auth hook can answer these. */
export const AUTHENTICATED_PROBLEMS = [401, 403, 429, 503] as const;
