import type { LightMyRequestResponse } from 'fastify';
import type { Client } from '../../src/modules/clients/clients.schemas.js';
import type { TestApp } from './app.js';
import { loginAs } from './auth.js';
import { expectStatus } from './responses.js';

export function clientPayload(clinicId: string, overrides: Record<string, unknown> = {}) {
  return {
    clinicId,
    firstName: 'Test',
    lastName: 'Client',
    dateOfBirth: '1990-01-01',
    email: 'test.client@example.dk',
    ...overrides,
  };
}

/** The clinic, whose request it is, and any of clientPayload's fields to override or add. */
export type MakeClientOptions = {
  clinicId: string;
  /** Whose request it is; a new receptionist of `clinicId` if omitted. */
  headers?: Record<string, string>;
} & Record<string, unknown>;

/** POST /v1/clients through the real route; the raw response, for tests that assert it. */
export async function makeClientResponse(
  app: TestApp['app'],
  { clinicId, headers, ...overrides }: MakeClientOptions,
): Promise<LightMyRequestResponse> {
  const as = headers ?? (await loginAs(app, { role: 'reception', clinicIds: [clinicId] })).headers;
  return app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers: as,
    payload: clientPayload(clinicId, overrides),
  });
}

/** A client created through the real route: `(await makeClient(app, { clinicId })).id`. */
export async function makeClient(app: TestApp['app'], options: MakeClientOptions): Promise<Client> {
  return expectStatus<Client>(await makeClientResponse(app, options), 201, 'creating a client');
}
