import type { TestApp } from './app.js';
import { expectStatus } from './responses.js';

export interface PublishedTemplate {
  id: string;
  key: string;
  version: number;
  body: string;
}

/** Publishes a consent template through the real route as `headers` (an admin); throws unless 201. */
export async function publishTemplate(
  app: TestApp['app'],
  headers: { authorization: string },
  payload: { key: string; treatmentTypes: string[] } & Record<string, unknown>,
): Promise<PublishedTemplate> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/consent-templates',
    headers,
    payload: { title: 'Consent', body: `I consent (${payload.key}).`, language: 'da', ...payload },
  });
  return expectStatus<PublishedTemplate>(res, 201, 'publishing a template');
}
