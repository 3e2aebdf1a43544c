/**
 * A front desk's journey, written as a client developer would write it against the types
 * openapi-typescript generates from openapi.yaml (./openapi.d.ts) and openapi-fetch: no
 * cast, no hand-written type. client.test.ts type-checks this file against freshly
 * generated types (strict, exactOptionalPropertyTypes) and runs it against the service, so
 * a document that stops describing the server fails there.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './openapi.js';

type Problem = components['schemas']['Problem'];

export interface JourneyResult {
  steps: string[];
  refusals: NonNullable<Problem['rule']>[];
  exportedLines: number;
  csvHeader: string;
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`journey: ${what}`);
}

/** Logs in and returns a client that sends the access token on every call. */
async function signIn(
  baseUrl: string,
  credentials: { username: string; password: string },
): Promise<{ api: Client<paths>; userId: string }> {
  const anonymous = createClient<paths>({ baseUrl });
  const { data, error } = await anonymous.POST('/v1/auth/login', { body: credentials });
  if (error) throw new Error(`login as ${credentials.username}: ${error.status} ${error.detail}`);
  const api = createClient<paths>({
    baseUrl,
    headers: { authorization: `Bearer ${data.accessToken}` },
  });
  return { api, userId: data.user.id };
}

/** What a 409 means to the front desk: the one place it branches on `rule`. */
function explain(problem: Problem): string {
  const rule: Problem['rule'] = problem.rule;
  switch (rule) {
    case 'consent_missing':
      return 'record a signed consent first';
    case 'already_withdrawn':
      return 'nothing to do: the consent is withdrawn already';
    case 'legal_hold':
    case 'retention':
      return `the record must be kept${problem.retainUntil ? ` until ${problem.retainUntil}` : ''}`;
    case 'consent_withdrawn':
    case 'consent_after_treatment':
    case 'cooling_off':
    case 'minimum_age':
    case 'consent_expired':
    case 'consent_outdated':
      return 'the treatment may not be recorded under this consent';
    case 'authorisation_required':
    case 'responsible_not_authorised':
    case 'performer_not_allowed':
      return 'an authorised practitioner must perform or be responsible for the treatment';
    case 'ink_record_missing':
      return 'list each ink with its batch number and supplier';
    case 'processing_restricted':
      return 'processing of this client is restricted';
    case 'already_countersigned':
    case 'already_entered_in_error':
      return 'nothing to do: done already';
    case 'photo_consent_missing':
      return 'record a consent that allows clinical photos first';
    case 'idempotency_in_progress':
      return 'the same request is still running: retry it with the same Idempotency-Key';
    case undefined:
      return problem.detail;
  }
}

export async function journey(
  baseUrl: string,
  admin: { username: string; password: string },
): Promise<JourneyResult> {
  const steps: string[] = [];
  const refusals: NonNullable<Problem['rule']>[] = [];
  const suffix = Date.now().toString(36);

  // The admin sets up a clinic, its practitioner, an auditor, and a consent template.
  const { api: asAdmin } = await signIn(baseUrl, admin);
  const clinic = await asAdmin.POST('/v1/clinics', { body: { name: `Klinik Nord ${suffix}` } });
  if (!clinic.data) throw new Error(`create clinic: ${clinic.error?.detail}`);
  const otherClinic = await asAdmin.POST('/v1/clinics', { body: { name: `Klinik Syd ${suffix}` } });
  if (!otherClinic.data) throw new Error(`create clinic: ${otherClinic.error?.detail}`);
  const password = 'another long password';
  const staff = async (
    username: string,
    role: components['schemas']['UserCreate']['role'],
    clinicId: string,
  ) => {
    const created = await asAdmin.POST('/v1/users', {
      body: { username, password, role, displayName: username, clinicIds: [clinicId] },
    });
    if (!created.data) throw new Error(`create ${username}: ${created.error?.detail}`);
    check(created.response.status === 201, 'a user is created with 201');
    return created.data;
  };
  await staff(`dr.hansen.${suffix}`, 'practitioner', clinic.data.id);
  await staff(`dr.berg.${suffix}`, 'practitioner', otherClinic.data.id);
  await staff(`auditor.${suffix}`, 'auditor', clinic.data.id);
  const template = await asAdmin.POST('/v1/consent-templates', {
    body: {
      key: `botox-${suffix}`,
      title: 'Botulinum toxin',
      body: 'Jeg giver samtykke til behandling med botulinumtoksin.',
      language: 'da',
      treatmentTypes: ['botox'],
      minimumAge: 18,
    },
  });
  if (!template.data) throw new Error(`publish template: ${template.error?.detail}`);
  check(template.data.version === 1, 'a new key is version 1');
  steps.push('admin: clinic, users, template');

  // The practitioner registers the client, finds her again, records her consent.
  const { api: asPractitioner } = await signIn(baseUrl, {
    username: `dr.hansen.${suffix}`,
    password,
  });
  const created = await asPractitioner.POST('/v1/clients', {
    body: {
      clinicId: clinic.data.id,
      firstName: 'Karen',
      lastName: 'Jensen',
      dateOfBirth: '1985-03-14',
      nationalId: '140385-1234',
      email: `karen.${suffix}@example.dk`,
      phone: '71 74 11 08',
      address: { street: 'Juelsmindevej 57', postalCode: '7120', city: 'Vejle', country: 'DK' },
    },
  });
  if (!created.data) throw new Error(`create client: ${created.error?.detail}`);
  const clientId = created.data.id;
  check(created.data.phone === '+4571741108', 'the phone is stored as E.164');
  const found = await asPractitioner.POST('/v1/clients/search', {
    body: { email: `KAREN.${suffix}@example.dk` },
  });
  check(found.data?.items.some((item) => item.id === clientId) === true, 'search finds her');
  steps.push('practitioner: client created and found');

  const path = { id: clientId };
  const missing = await asPractitioner.POST('/v1/clients/{id}/journal', {
    params: { path },
    body: { treatmentType: 'botox', performedAt: new Date().toISOString(), notes: 'Glabella.' },
  });
  check(missing.response.status === 409, 'no consent yet: 409');
  if (missing.error?.rule) refusals.push(missing.error.rule);
  steps.push(`409: ${missing.error ? explain(missing.error) : 'none'}`);

  const consent = await asPractitioner.POST('/v1/clients/{id}/consents', {
    params: { path },
    body: {
      templateId: template.data.id,
      signerName: 'Karen Jensen',
      answers: { pregnant: false },
      signedAt: new Date(Date.now() - 60_000).toISOString(),
    },
  });
  if (!consent.data) throw new Error(`record consent: ${consent.error?.detail}`);
  check(consent.data.status === 'active', 'the consent is active');

  const entry = await asPractitioner.POST('/v1/clients/{id}/journal', {
    params: { path, header: { 'X-Purpose-Of-Use': 'treatment' } },
    body: {
      treatmentType: 'botox',
      performedAt: new Date().toISOString(),
      notes: 'Glabella 20 E; no bruising.',
      treatedAreas: ['glabella'],
      products: [{ name: 'Botox 100 E', batchNumber: `C${suffix}`, quantity: 20, unit: 'E' }],
    },
  });
  if (!entry.data) throw new Error(`write journal: ${entry.error?.detail}`);
  check(entry.data.consentId === consent.data.id, 'the entry names its consent');
  const journal = await asPractitioner.GET('/v1/clients/{id}/journal', {
    params: { path, query: { limit: 10 } },
  });
  check(journal.data?.items.length === 1, 'the journal holds the entry');
  check(journal.data?.nextCursor === null, 'one page');
  check(journal.response.headers.get('x-request-id') !== null, 'every answer has a request id');
  steps.push('practitioner: consent, journal entry, journal read');

  // A practitioner of another clinic reads it only by breaking the glass, stating why.
  const { api: asColleague } = await signIn(baseUrl, { username: `dr.berg.${suffix}`, password });
  const hidden = await asColleague.GET('/v1/clients/{id}/journal', { params: { path } });
  check(hidden.response.status === 404, "another clinic's client is not found");
  const glass = await asColleague.GET('/v1/clients/{id}/journal/{entryId}', {
    params: {
      path: { id: clientId, entryId: entry.data.id },
      header: { 'X-Break-Glass-Reason': 'Acute allergic reaction; the treating clinic is closed' },
    },
  });
  check(glass.data?.id === entry.data.id, 'break-glass reads the entry');
  steps.push('break-glass read');

  const withdraw = () =>
    asPractitioner.POST('/v1/clients/{id}/consents/{consentId}/withdraw', {
      params: { path: { id: clientId, consentId: consent.data.id } },
      body: { reason: 'The client changed her mind' },
    });
  const withdrawn = await withdraw();
  check(withdrawn.data?.status === 'withdrawn', 'the consent is withdrawn');
  const twice = await withdraw();
  if (twice.error?.rule) refusals.push(twice.error.rule);
  steps.push(`409: ${twice.error ? explain(twice.error) : 'none'}`);

  // The auditor exports the trail: NDJSON (one AuditEvent per line) and CSV, read as text.
  const { api: asAuditor } = await signIn(baseUrl, { username: `auditor.${suffix}`, password });
  const ndjson = await asAuditor.GET('/v1/audit-events/export', { parseAs: 'text' });
  if (ndjson.error) throw new Error(`export: ${ndjson.error.detail}`);
  check(
    ndjson.response.headers.get('content-type')?.startsWith('application/x-ndjson') === true,
    'NDJSON by default',
  );
  const lines = ndjson.data.split('\n').filter((line) => line.length > 0);
  const events: unknown[] = lines.map((line): unknown => JSON.parse(line));
  check(
    events.every((event) => typeof event === 'object' && event !== null && 'action' in event),
    'every line is an event',
  );
  const csv = await asAuditor.GET('/v1/audit-events/export', {
    params: { query: { format: 'csv' } },
    parseAs: 'text',
  });
  if (csv.error) throw new Error(`export csv: ${csv.error.detail}`);
  check(
    csv.response.headers.get('content-disposition')?.startsWith('attachment;') === true,
    'the export is a file',
  );
  steps.push('auditor: export as NDJSON and CSV');

  return {
    steps,
    refusals,
    exportedLines: lines.length,
    csvHeader: csv.data.split('\r\n')[0] ?? '',
  };
}
