import type { TestApp } from './app.js';
import { loginAs } from './auth.js';

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

/** A client created through the real route by a receptionist of `clinicId`; returns its id. */
export async function createClient(
  app: TestApp['app'],
  clinicId: string,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicId] });
  const res = await app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers: reception.headers,
    payload: clientPayload(clinicId, overrides),
  });
  if (res.statusCode !== 201)
    throw new Error(`creating a client answered ${res.statusCode}: ${res.body}`);
  return res.json<{ id: string }>().id;
}
