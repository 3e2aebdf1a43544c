/**
 * How the permission matrix (matrix.test.ts) exercises each /v1 route. Every route the app
 * registers must have an entry here, keyed `METHOD /url` as registered: a route without one
 * fails the suite. Expected statuses come from the permission table (src/access/permissions.ts)
 * and the route's own config.permission, not from here: an entry only says how to build a
 * valid request for each variant and what a success looks like.
 *
 * Variants: `own` a resource of the caller's clinic (or no resource at all), `other` one of
 * another clinic, `missing` an id that does not exist. Leave out the variants that do not apply.
 */
import { randomBytes } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import type { Role } from '../../src/access/roles.js';
import { uuidv7 } from '../../src/db/ids.js';
import { totpCode } from '../../src/modules/auth/totp.js';
import type { TestApp } from '../helpers/app.js';
import { createUser, login, loginAs, TEST_PASSWORD } from '../helpers/auth.js';
import { clientPayload, makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntry } from '../helpers/journal.js';
import { updateUser } from '../../src/modules/users/users.repository.js';
import { publishTemplate } from '../helpers/templates.js';

export type Variant = 'own' | 'other' | 'missing';

export interface MatrixContext {
  app: TestApp['app'];
  /** The caller's clinic and another one. */
  ownClinicId: string;
  otherClinicId: string;
  role: Role;
  /** Authorization header of a fresh session of a `role` user in the own clinic. */
  headers: { authorization: string };
  now: () => Date;
}

export interface RouteCase {
  /** Status of a successful call. */
  ok: number;
  /** A resource of another clinic answers 404 like a missing one. */
  clinicScoped: boolean;
  build: Partial<Record<Variant, (ctx: MatrixContext) => Promise<InjectOptions>>>;
}

const unique = () => randomBytes(5).toString('hex');

async function userIn(ctx: MatrixContext, clinicId: string) {
  return (await createUser(ctx.app, { role: 'reception', clinicIds: [clinicId] })).id;
}

export const ROUTE_CASES: Record<string, RouteCase> = {
  'POST /v1/auth/login': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => {
        const user = await createUser(ctx.app, { role: ctx.role, clinicIds: [ctx.ownClinicId] });
        return {
          method: 'POST',
          url: '/v1/auth/login',
          payload: { username: user.username, password: TEST_PASSWORD },
        };
      },
    },
  },
  'POST /v1/auth/refresh': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => {
        const user = await createUser(ctx.app, { role: ctx.role, clinicIds: [ctx.ownClinicId] });
        const session = await login(ctx.app, { username: user.username, password: user.password });
        return {
          method: 'POST',
          url: '/v1/auth/refresh',
          payload: { refreshToken: session.refreshToken },
        };
      },
    },
  },
  'POST /v1/auth/logout': {
    ok: 204,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({ method: 'POST', url: '/v1/auth/logout', headers: ctx.headers }),
    },
  },
  'GET /v1/auth/me': {
    ok: 200,
    clinicScoped: false,
    build: { own: async (ctx) => ({ method: 'GET', url: '/v1/auth/me', headers: ctx.headers }) },
  },
  'POST /v1/auth/mfa/enroll': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({ method: 'POST', url: '/v1/auth/mfa/enroll', headers: ctx.headers }),
    },
  },
  'POST /v1/auth/mfa/confirm': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => {
        const enroll = await ctx.app.inject({
          method: 'POST',
          url: '/v1/auth/mfa/enroll',
          headers: ctx.headers,
        });
        const secret = enroll.json<{ secret: string }>().secret;
        return {
          method: 'POST',
          url: '/v1/auth/mfa/confirm',
          headers: ctx.headers,
          payload: { code: totpCode(secret, ctx.now().getTime()) },
        };
      },
    },
  },
  // Admins manage users and clinics across clinics: these are not clinic-scoped.
  'POST /v1/users': {
    ok: 201,
    clinicScoped: false,
    build: Object.fromEntries(
      (['own', 'other'] as const).map((variant) => [
        variant,
        async (ctx: MatrixContext): Promise<InjectOptions> => ({
          method: 'POST',
          url: '/v1/users',
          headers: ctx.headers,
          payload: {
            username: `new-${unique()}`,
            password: TEST_PASSWORD,
            role: 'reception',
            displayName: 'New User',
            clinicIds: [variant === 'own' ? ctx.ownClinicId : ctx.otherClinicId],
          },
        }),
      ]),
    ),
  },
  'GET /v1/users': {
    ok: 200,
    clinicScoped: false,
    build: { own: async (ctx) => ({ method: 'GET', url: '/v1/users', headers: ctx.headers }) },
  },
  'GET /v1/users/:id': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'GET',
        url: `/v1/users/${await userIn(ctx, ctx.ownClinicId)}`,
        headers: ctx.headers,
      }),
      other: async (ctx) => ({
        method: 'GET',
        url: `/v1/users/${await userIn(ctx, ctx.otherClinicId)}`,
        headers: ctx.headers,
      }),
      missing: async (ctx) => ({
        method: 'GET',
        url: `/v1/users/${uuidv7()}`,
        headers: ctx.headers,
      }),
    },
  },
  'PATCH /v1/users/:id': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'PATCH',
        url: `/v1/users/${await userIn(ctx, ctx.ownClinicId)}`,
        headers: ctx.headers,
        payload: { displayName: 'Renamed' },
      }),
      other: async (ctx) => ({
        method: 'PATCH',
        url: `/v1/users/${await userIn(ctx, ctx.otherClinicId)}`,
        headers: ctx.headers,
        payload: { displayName: 'Renamed' },
      }),
      missing: async (ctx) => ({
        method: 'PATCH',
        url: `/v1/users/${uuidv7()}`,
        headers: ctx.headers,
        payload: { displayName: 'Renamed' },
      }),
    },
  },
  'POST /v1/users/:id/mfa/reset': {
    ok: 204,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'POST',
        url: `/v1/users/${await userIn(ctx, ctx.ownClinicId)}/mfa/reset`,
        headers: ctx.headers,
      }),
      other: async (ctx) => ({
        method: 'POST',
        url: `/v1/users/${await userIn(ctx, ctx.otherClinicId)}/mfa/reset`,
        headers: ctx.headers,
      }),
      missing: async (ctx) => ({
        method: 'POST',
        url: `/v1/users/${uuidv7()}/mfa/reset`,
        headers: ctx.headers,
      }),
    },
  },
  'POST /v1/clinics': {
    ok: 201,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'POST',
        url: '/v1/clinics',
        headers: ctx.headers,
        payload: { name: `Clinic ${unique()}` },
      }),
    },
  },
  'GET /v1/clinics': {
    ok: 200,
    clinicScoped: false,
    build: { own: async (ctx) => ({ method: 'GET', url: '/v1/clinics', headers: ctx.headers }) },
  },
  'GET /v1/audit-events': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({ method: 'GET', url: '/v1/audit-events', headers: ctx.headers }),
    },
  },
  'GET /v1/audit-events/export': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'GET',
        url: '/v1/audit-events/export?format=ndjson',
        headers: ctx.headers,
      }),
    },
  },
  'GET /v1/audit-events/verify': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({ method: 'GET', url: '/v1/audit-events/verify', headers: ctx.headers }),
    },
  },
  'GET /v1/clients/:id/access-log': clientRoute(200, (id) => ({
    method: 'GET',
    url: `/v1/clients/${id}/access-log`,
  })),
  'POST /v1/clients': {
    ok: 201,
    clinicScoped: true,
    build: {
      own: async (ctx) => ({
        method: 'POST',
        url: '/v1/clients',
        headers: ctx.headers,
        payload: clientPayload(ctx.ownClinicId),
      }),
      other: async (ctx) => ({
        method: 'POST',
        url: '/v1/clients',
        headers: ctx.headers,
        payload: clientPayload(ctx.otherClinicId),
      }),
      missing: async (ctx) => ({
        method: 'POST',
        url: '/v1/clients',
        headers: ctx.headers,
        payload: clientPayload(uuidv7()),
      }),
    },
  },
  'GET /v1/clients': {
    ok: 200,
    clinicScoped: true,
    build: {
      own: async (ctx) => ({
        method: 'GET',
        url: `/v1/clients?clinicId=${ctx.ownClinicId}`,
        headers: ctx.headers,
      }),
      other: async (ctx) => ({
        method: 'GET',
        url: `/v1/clients?clinicId=${ctx.otherClinicId}`,
        headers: ctx.headers,
      }),
      missing: async (ctx) => ({
        method: 'GET',
        url: `/v1/clients?clinicId=${uuidv7()}`,
        headers: ctx.headers,
      }),
    },
  },
  'POST /v1/clients/search': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'POST',
        url: '/v1/clients/search',
        headers: ctx.headers,
        payload: { email: 'test.client@example.dk' },
      }),
    },
  },
  'GET /v1/clients/:id': clientRoute(200, (id) => ({ method: 'GET', url: `/v1/clients/${id}` })),
  'PATCH /v1/clients/:id': clientRoute(200, (id) => ({
    method: 'PATCH',
    url: `/v1/clients/${id}`,
    payload: { marketingOptIn: true },
  })),
  'PUT /v1/clients/:id/legal-hold': clientRoute(200, (id) => ({
    method: 'PUT',
    url: `/v1/clients/${id}/legal-hold`,
    payload: { active: true, reason: 'Complaint under review' },
  })),
  'PUT /v1/clients/:id/restriction': clientRoute(200, (id) => ({
    method: 'PUT',
    url: `/v1/clients/${id}/restriction`,
    payload: { active: true, reason: 'Accuracy of an entry disputed' },
  })),
  'GET /v1/clients/:id/export': clientRoute(200, (id) => ({
    method: 'GET',
    url: `/v1/clients/${id}/export`,
  })),
  'DELETE /v1/clients/:id': clientRoute(204, (id) => ({
    method: 'DELETE',
    url: `/v1/clients/${id}`,
    payload: { reason: 'The client asked to be forgotten' },
  })),
  'POST /v1/clients/:id/consents': clientRouteWith(201, async (ctx, id) => ({
    method: 'POST',
    url: `/v1/clients/${id}/consents`,
    payload: { templateId: await templateIn(ctx), signerName: 'Matrix Client' },
  })),
  'GET /v1/clients/:id/consents': clientRoute(200, (id) => ({
    method: 'GET',
    url: `/v1/clients/${id}/consents`,
  })),
  'GET /v1/clients/:id/consents/:consentId': consentRoute(200, (id, consentId) => ({
    method: 'GET',
    url: `/v1/clients/${id}/consents/${consentId}`,
  })),
  'POST /v1/clients/:id/consents/:consentId/withdraw': consentRoute(200, (id, consentId) => ({
    method: 'POST',
    url: `/v1/clients/${id}/consents/${consentId}/withdraw`,
    payload: { reason: 'Changed my mind' },
  })),
  'POST /v1/clients/:id/journal': consentRoute(201, (id, _consentId, ctx) => ({
    method: 'POST',
    url: `/v1/clients/${id}/journal`,
    payload: entryPayload(ctx),
  })),
  'GET /v1/clients/:id/journal': clientRoute(200, (id) => ({
    method: 'GET',
    url: `/v1/clients/${id}/journal`,
  })),
  'GET /v1/clients/:id/journal/:entryId': entryRoute(200, (id, entryId) => ({
    method: 'GET',
    url: `/v1/clients/${id}/journal/${entryId}`,
  })),
  'POST /v1/clients/:id/journal/:entryId/amendments': entryRoute(201, (id, entryId) => ({
    method: 'POST',
    url: `/v1/clients/${id}/journal/${entryId}/amendments`,
    payload: { notes: 'Corrected dose', reason: 'Typing error' },
  })),
  'POST /v1/clients/:id/journal/:entryId/countersign': additionRoute(
    200,
    'responsible',
    (id, entryId) => ({
      method: 'POST',
      url: `/v1/clients/${id}/journal/${entryId}/countersign`,
    }),
  ),
  'POST /v1/clients/:id/journal/:entryId/entered-in-error': additionRoute(
    200,
    'author',
    (id, entryId) => ({
      method: 'POST',
      url: `/v1/clients/${id}/journal/${entryId}/entered-in-error`,
      payload: { reason: 'Written on the wrong client' },
    }),
  ),
  'POST /v1/clients/:id/journal/:entryId/statements': entryRoute(201, (id, entryId) => ({
    method: 'POST',
    url: `/v1/clients/${id}/journal/${entryId}/statements`,
    payload: { text: 'I disagree with the entry.' },
  })),
  // Attachments: a consent scan, which both reception and practitioners may handle.
  'POST /v1/clients/:id/attachments': consentRoute(201, (id, consentId) => ({
    method: 'POST',
    url: `/v1/clients/${id}/attachments`,
    ...scanUpload(consentId),
  })),
  'GET /v1/clients/:id/attachments': clientRoute(200, (id) => ({
    method: 'GET',
    url: `/v1/clients/${id}/attachments`,
  })),
  'GET /v1/clients/:id/attachments/:attachmentId': attachmentRoute(200, (id, attachmentId) => ({
    method: 'GET',
    url: `/v1/clients/${id}/attachments/${attachmentId}`,
  })),
  'GET /v1/clients/:id/attachments/:attachmentId/content': attachmentRoute(
    200,
    (id, attachmentId) => ({
      method: 'GET',
      url: `/v1/clients/${id}/attachments/${attachmentId}/content`,
    }),
  ),
  ...Object.fromEntries(
    (['PUT', 'PATCH', 'DELETE'] as const).map((method) => [
      `${method} /v1/clients/:id/attachments/:attachmentId`,
      {
        ok: 405,
        clinicScoped: false,
        build: {
          own: async (ctx: MatrixContext): Promise<InjectOptions> => ({
            method,
            url: `/v1/clients/${uuidv7()}/attachments/${uuidv7()}`,
            headers: ctx.headers,
          }),
        },
      },
    ]),
  ),
  'POST /v1/clients/:id/journal-drafts': clientRoute(201, (id) => ({
    method: 'POST',
    url: `/v1/clients/${id}/journal-drafts`,
    payload: { treatmentType: JOURNAL_TREATMENT, notes: 'Started' },
  })),
  'GET /v1/clients/:id/journal-drafts/:draftId': draftRoute(200, (id, draftId) => ({
    method: 'GET',
    url: `/v1/clients/${id}/journal-drafts/${draftId}`,
  })),
  'PATCH /v1/clients/:id/journal-drafts/:draftId': draftRoute(200, (id, draftId) => ({
    method: 'PATCH',
    url: `/v1/clients/${id}/journal-drafts/${draftId}`,
    payload: { notes: 'Changed' },
  })),
  'DELETE /v1/clients/:id/journal-drafts/:draftId': draftRoute(204, (id, draftId) => ({
    method: 'DELETE',
    url: `/v1/clients/${id}/journal-drafts/${draftId}`,
  })),
  'POST /v1/clients/:id/journal-drafts/:draftId/sign': draftRoute(201, (id, draftId) => ({
    method: 'POST',
    url: `/v1/clients/${id}/journal-drafts/${draftId}/sign`,
  })),
  'GET /v1/journal-drafts': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({ method: 'GET', url: '/v1/journal-drafts', headers: ctx.headers }),
    },
  },
  // Entries are immutable: these answer 405 to whoever may write the journal.
  ...Object.fromEntries(
    (['PUT', 'PATCH', 'DELETE'] as const).map((method) => [
      `${method} /v1/clients/:id/journal/:entryId`,
      {
        ok: 405,
        clinicScoped: false,
        build: {
          own: async (ctx: MatrixContext): Promise<InjectOptions> => ({
            method,
            url: `/v1/clients/${uuidv7()}/journal/${uuidv7()}`,
            headers: ctx.headers,
          }),
        },
      } satisfies RouteCase,
    ]),
  ),
  'GET /v1/recalls': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'GET',
        url: '/v1/recalls?batchNumber=MX-1',
        headers: ctx.headers,
      }),
    },
  },
  // Consent templates are global: no clinic scope.
  'POST /v1/consent-templates': {
    ok: 201,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'POST',
        url: '/v1/consent-templates',
        headers: ctx.headers,
        payload: templatePayload(),
      }),
    },
  },
  'GET /v1/consent-templates': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({ method: 'GET', url: '/v1/consent-templates', headers: ctx.headers }),
    },
  },
  'GET /v1/consent-templates/:id': {
    ok: 200,
    clinicScoped: false,
    build: {
      own: async (ctx) => ({
        method: 'GET',
        url: `/v1/consent-templates/${await templateIn(ctx)}`,
        headers: ctx.headers,
      }),
      missing: async (ctx) => ({
        method: 'GET',
        url: `/v1/consent-templates/${uuidv7()}`,
        headers: ctx.headers,
      }),
    },
  },
};

const clientIn = async (ctx: MatrixContext, clinicId: string) =>
  (await makeClient(ctx.app, { clinicId })).id;

/** A route on one client: own clinic's client, another clinic's (404) and a missing id (404). */
function clientRoute(
  ok: number,
  request: (clientId: string) => Omit<InjectOptions, 'headers'>,
): RouteCase {
  const withHeaders = (ctx: MatrixContext, id: string): InjectOptions => ({
    ...request(id),
    headers: ctx.headers,
  });
  return {
    ok,
    clinicScoped: true,
    build: {
      own: async (ctx) => withHeaders(ctx, await clientIn(ctx, ctx.ownClinicId)),
      other: async (ctx) => withHeaders(ctx, await clientIn(ctx, ctx.otherClinicId)),
      missing: async (ctx) => withHeaders(ctx, uuidv7()),
    },
  };
}

function templatePayload(treatmentType = 'matrix-treatment') {
  return {
    key: `matrix-${unique()}`,
    title: 'Matrix consent',
    body: 'I consent to the matrix treatment.',
    treatmentTypes: [treatmentType],
    language: 'en',
  };
}

/** A consent template published through the real route by an admin; returns its id. */
async function templateIn(ctx: MatrixContext, treatmentType?: string): Promise<string> {
  const admin = await loginAs(ctx.app, { role: 'admin', clinicIds: [ctx.ownClinicId] });
  return (await publishTemplate(ctx.app, admin.headers, templatePayload(treatmentType))).id;
}

/** Like clientRoute, for requests that need more setup (e.g. a template to sign). */
function clientRouteWith(
  ok: number,
  request: (ctx: MatrixContext, clientId: string) => Promise<Omit<InjectOptions, 'headers'>>,
): RouteCase {
  const withHeaders = async (ctx: MatrixContext, id: string): Promise<InjectOptions> => ({
    ...(await request(ctx, id)),
    headers: ctx.headers,
  });
  return {
    ok,
    clinicScoped: true,
    build: {
      own: async (ctx) => withHeaders(ctx, await clientIn(ctx, ctx.ownClinicId)),
      other: async (ctx) => withHeaders(ctx, await clientIn(ctx, ctx.otherClinicId)),
      missing: async (ctx) => withHeaders(ctx, uuidv7()),
    },
  };
}

/** A client of `clinicId` with one signed consent, recorded by a receptionist there. */
async function consentIn(
  ctx: MatrixContext,
  clinicId: string,
  treatmentType?: string,
): Promise<{ clientId: string; consentId: string }> {
  const clientId = await clientIn(ctx, clinicId);
  const templateId = await templateIn(ctx, treatmentType);
  const reception = await loginAs(ctx.app, { role: 'reception', clinicIds: [clinicId] });
  const consent = await signConsent(ctx.app, {
    clientId,
    templateId,
    headers: reception.headers,
    signerName: 'Matrix Client',
    signedAt: new Date(ctx.now().getTime() - 3_600_000).toISOString(),
  });
  return { clientId, consentId: consent.id };
}

/** A multipart upload of a small scanned consent (a PDF) for `consentId`. */
function scanUpload(consentId: string): Pick<InjectOptions, 'payload'> & {
  headers: Record<string, string>;
} {
  const boundary = `matrix${unique()}`;
  const payload = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n` +
      JSON.stringify({ kind: 'consent-scan', consentId }) +
      `\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"\r\n` +
      `Content-Type: application/pdf\r\n\r\n%PDF-1.4\n% matrix scan\n%%EOF\n\r\n--${boundary}--\r\n`,
  );
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** A client of `clinicId` with a consent scan attached by a receptionist there. */
async function attachmentIn(ctx: MatrixContext, clinicId: string) {
  const { clientId, consentId } = await consentIn(ctx, clinicId);
  const reception = await loginAs(ctx.app, { role: 'reception', clinicIds: [clinicId] });
  const upload = scanUpload(consentId);
  const res = await ctx.app.inject({
    method: 'POST',
    url: `/v1/clients/${clientId}/attachments`,
    payload: upload.payload,
    headers: { ...reception.headers, ...upload.headers },
  });
  if (res.statusCode !== 201) throw new Error(`attaching a scan: ${res.statusCode} ${res.body}`);
  return { clientId, attachmentId: res.json<{ id: string }>().id };
}

function attachmentRoute(
  ok: number,
  request: (clientId: string, attachmentId: string) => Omit<InjectOptions, 'headers'>,
): RouteCase {
  const build = (clinic: 'own' | 'other') => async (ctx: MatrixContext) => {
    const { clientId, attachmentId } = await attachmentIn(
      ctx,
      clinic === 'own' ? ctx.ownClinicId : ctx.otherClinicId,
    );
    return { ...request(clientId, attachmentId), headers: ctx.headers };
  };
  return {
    ok,
    clinicScoped: true,
    build: {
      own: build('own'),
      other: build('other'),
      missing: async (ctx) => ({ ...request(uuidv7(), uuidv7()), headers: ctx.headers }),
    },
  };
}

/** A route on one consent of one client: own clinic's, another clinic's, missing ids. */
function consentRoute(
  ok: number,
  request: (
    clientId: string,
    consentId: string,
    ctx: MatrixContext,
  ) => Omit<InjectOptions, 'headers'> & { headers?: Record<string, string> },
): RouteCase {
  const build = (clinic: 'own' | 'other') => async (ctx: MatrixContext) => {
    const { clientId, consentId } = await consentIn(
      ctx,
      clinic === 'own' ? ctx.ownClinicId : ctx.otherClinicId,
      JOURNAL_TREATMENT,
    );
    const built = request(clientId, consentId, ctx);
    return { ...built, headers: { ...built.headers, ...ctx.headers } };
  };
  return {
    ok,
    clinicScoped: true,
    build: {
      own: build('own'),
      other: build('other'),
      missing: async (ctx) => {
        const built = request(uuidv7(), uuidv7(), ctx);
        return { ...built, headers: { ...built.headers, ...ctx.headers } };
      },
    },
  };
}

const JOURNAL_TREATMENT = 'matrix-treatment';

function entryPayload(ctx: MatrixContext) {
  return {
    treatmentType: JOURNAL_TREATMENT,
    performedAt: new Date(ctx.now().getTime() - 1_800_000).toISOString(),
    notes: 'Matrix treatment notes',
    products: [{ name: 'Filler', batchNumber: 'MX-1' }],
  };
}

/** A client of `clinicId` with a consent and one journal entry by a practitioner there. */
async function entryIn(
  ctx: MatrixContext,
  clinicId: string,
): Promise<{ clientId: string; entryId: string }> {
  const { clientId } = await consentIn(ctx, clinicId, JOURNAL_TREATMENT);
  const practitioner = await loginAs(ctx.app, { role: 'practitioner', clinicIds: [clinicId] });
  const entry = await writeEntry(ctx.app, {
    clientId,
    headers: practitioner.headers,
    ...entryPayload(ctx),
  });
  return { clientId, entryId: entry.id };
}

/**
 * A route only an entry's author or responsible practitioner may take: in the own clinic, a
 * practitioner caller is made that (with an authorisationId when it must be responsible).
 */
function additionRoute(
  ok: number,
  as: 'author' | 'responsible',
  request: (clientId: string, entryId: string) => Omit<InjectOptions, 'headers'>,
): RouteCase {
  const own = async (ctx: MatrixContext) => {
    if (ctx.role !== 'practitioner') {
      const { clientId, entryId } = await entryIn(ctx, ctx.ownClinicId);
      return { ...request(clientId, entryId), headers: ctx.headers };
    }
    const me = (
      await ctx.app.inject({ method: 'GET', url: '/v1/auth/me', headers: ctx.headers })
    ).json<{ id: string }>();
    const { clientId } = await consentIn(ctx, ctx.ownClinicId, JOURNAL_TREATMENT);
    let author = ctx.headers;
    let responsibleId: string | undefined;
    if (as === 'responsible') {
      await updateUser(ctx.app.db, me.id, { authorisationId: 'MX001', updatedAt: ctx.now() });
      author = (await loginAs(ctx.app, { role: 'practitioner', clinicIds: [ctx.ownClinicId] }))
        .headers;
      responsibleId = me.id;
    }
    const entry = await writeEntry(ctx.app, {
      clientId,
      headers: author,
      ...entryPayload(ctx),
      ...(responsibleId && { responsibleId }),
    });
    return { ...request(clientId, entry.id), headers: ctx.headers };
  };
  const base = entryRoute(ok, request);
  return { ...base, build: { ...base.build, own } };
}

/**
 * A route on one of the caller's drafts (a complete one, so it can be signed). The caller
 * writes it when it may; for other roles it is some practitioner's (403 comes first anyway).
 * Another clinic's: a draft of its practitioner there.
 */
function draftRoute(
  ok: number,
  request: (clientId: string, draftId: string) => Omit<InjectOptions, 'headers'>,
): RouteCase {
  const build = (clinic: 'own' | 'other') => async (ctx: MatrixContext) => {
    const clinicId = clinic === 'own' ? ctx.ownClinicId : ctx.otherClinicId;
    const { clientId } = await consentIn(ctx, clinicId, JOURNAL_TREATMENT);
    const author =
      clinic === 'own' && ctx.role === 'practitioner'
        ? ctx.headers
        : (await loginAs(ctx.app, { role: 'practitioner', clinicIds: [clinicId] })).headers;
    const res = await ctx.app.inject({
      method: 'POST',
      url: `/v1/clients/${clientId}/journal-drafts`,
      headers: author,
      payload: entryPayload(ctx),
    });
    if (res.statusCode !== 201) throw new Error(`draft: ${res.statusCode} ${res.body}`);
    return { ...request(clientId, res.json<{ id: string }>().id), headers: ctx.headers };
  };
  return {
    ok,
    clinicScoped: true,
    build: {
      own: build('own'),
      other: build('other'),
      missing: async (ctx) => ({ ...request(uuidv7(), uuidv7()), headers: ctx.headers }),
    },
  };
}

/** A route on one journal entry: own clinic's, another clinic's, missing ids. */
function entryRoute(
  ok: number,
  request: (clientId: string, entryId: string) => Omit<InjectOptions, 'headers'>,
): RouteCase {
  const build = (clinic: 'own' | 'other') => async (ctx: MatrixContext) => {
    const { clientId, entryId } = await entryIn(
      ctx,
      clinic === 'own' ? ctx.ownClinicId : ctx.otherClinicId,
    );
    return { ...request(clientId, entryId), headers: ctx.headers };
  };
  return {
    ok,
    clinicScoped: true,
    build: {
      own: build('own'),
      other: build('other'),
      missing: async (ctx) => ({ ...request(uuidv7(), uuidv7()), headers: ctx.headers }),
    },
  };
}
