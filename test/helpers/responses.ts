import type { LightMyRequestResponse } from 'fastify';

/** The JSON body of `res` if it answered `status`; otherwise throws with what, status and body. */
export function expectStatus<T>(res: LightMyRequestResponse, status: number, what: string): T {
  if (res.statusCode !== status) throw new Error(`${what} answered ${res.statusCode}: ${res.body}`);
  return res.json<T>();
}
