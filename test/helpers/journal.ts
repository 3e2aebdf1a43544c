import type { LightMyRequestResponse } from 'fastify';
import type { Entry } from '../../src/modules/journal/journal.schemas.js';
import type { TestApp } from './app.js';
import { expectStatus } from './responses.js';

const HOUR = 3_600_000;

/** An entry's fields: performed an hour before the app's clock and default notes unless given. */
export type EntryFields = { treatmentType: string; performedAt?: string } & Record<string, unknown>;

/** Whose client the entry is for and whose request it is, with the entry's fields. */
export type WriteEntryOptions = { clientId: string; headers: Record<string, string> } & EntryFields;

/** POST /v1/clients/:id/journal; the raw response, for tests that assert it (201 or a refusal). */
export function writeEntryResponse(
  app: TestApp['app'],
  { clientId, headers, treatmentType, performedAt, ...overrides }: WriteEntryOptions,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: `/v1/clients/${clientId}/journal`,
    headers,
    payload: {
      treatmentType,
      performedAt: performedAt ?? new Date(app.clock().getTime() - HOUR).toISOString(),
      notes: 'Treatment notes',
      ...overrides,
    },
  });
}

/** A journal entry written through the real route as `headers`; throws unless 201. */
export async function writeEntry(app: TestApp['app'], options: WriteEntryOptions): Promise<Entry> {
  return expectStatus<Entry>(await writeEntryResponse(app, options), 201, 'writing an entry');
}
