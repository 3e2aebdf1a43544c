import type { LightMyRequestResponse } from 'fastify';
import type { Consent } from '../../src/modules/consents/consents.schemas.js';
import type { TestApp } from './app.js';
import { expectStatus } from './responses.js';

/** A consent to record: a default signer name, no signedAt (the server's now) unless given. */
export type SignConsentOptions = {
  clientId: string;
  templateId: string;
  headers: Record<string, string>;
  signedAt?: string;
} & Record<string, unknown>;

/** POST /v1/clients/:id/consents; the raw response, for tests that assert it. */
export function signConsentResponse(
  app: TestApp['app'],
  { clientId, templateId, headers, ...overrides }: SignConsentOptions,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: `/v1/clients/${clientId}/consents`,
    headers,
    payload: { templateId, signerName: 'Test Signer', ...overrides },
  });
}

/** A signed consent recorded through the real route as `headers`; throws unless 201. */
export async function signConsent(
  app: TestApp['app'],
  options: SignConsentOptions,
): Promise<Consent> {
  return expectStatus<Consent>(await signConsentResponse(app, options), 201, 'recording a consent');
}
