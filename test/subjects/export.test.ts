import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsentResponse } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';

/** Rows of the few SQL checks below. */
type Row = { n: number; text: string; first_name_enc: Buffer } & Record<string, unknown>;

interface Export {
  client: { id: string; firstName: string; email: string | null };
  legalHold: { active: boolean };
  marketingHistory: { optIn: boolean }[];
  consents: { id: string; signerName: string; template: { body: string } }[];
  journal: {
    notes: string;
    products: { batchNumber: string }[];
    amendments: { notes: string }[];
  }[];
  accessLog: { id: string; action: string; clientId: string }[];
}

t.test(
  'data-subject export: everything held about the client, decrypted, and audited',
  async (t) => {
    const { app, db } = await buildTestApp(t);
    const clinic = await createClinic(app);
    const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
    const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
    const { id: clientId } = await makeClient(app, {
      clinicId: clinic,
      firstName: 'Export',
      email: 'export.me@example.dk',
      marketingOptIn: true,
    });

    const template = await publishTemplate(app, admin.headers, {
      key: 'pmu-brows',
      body: 'I consent to pigment in my brows.',
      treatmentTypes: ['pmu'],
    });
    const consent = await signConsentResponse(app, {
      clientId,
      templateId: template.id,
      headers: reception.headers,
      signerName: 'Export Signer',
    });
    t.equal(consent.statusCode, 201, consent.body);
    t.equal(
      (
        await app.inject({
          method: 'GET',
          url: `/v1/clients/${clientId}`,
          headers: reception.headers,
        })
      ).statusCode,
      200,
    );

    const before = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1',
      [clientId],
    );
    const res = await app.inject({
      method: 'GET',
      url: `/v1/clients/${clientId}/export`,
      headers: admin.headers,
    });
    t.equal(res.statusCode, 200, res.body);
    const document = res.json<Export>();
    t.match(document.client, { id: clientId, firstName: 'Export', email: 'export.me@example.dk' });
    t.same(
      document.marketingHistory.map((entry) => entry.optIn),
      [true],
    );
    t.equal(document.legalHold.active, false);
    t.equal(document.consents.length, 1);
    t.match(document.consents[0], {
      signerName: 'Export Signer',
      template: { body: 'I consent to pigment in my brows.' },
    });
    t.equal(
      document.accessLog.length,
      before.rows[0]!.n,
      'every audit event about the client is in the export',
    );
    t.ok(document.accessLog.every((event) => event.clientId === clientId));
    t.same(
      document.accessLog.map((event) => event.action).slice(-1),
      ['client.create'],
      'access log newest first, ending with the creation',
    );
    const exported = await db.pool.query<Row>(
      "SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1 AND action = 'client.export'",
      [clientId],
    );
    t.equal(exported.rows[0]?.n, 1, 'the export itself is audited');

    const auditor = await loginAs(app, { role: 'auditor', clinicIds: [clinic] });
    t.equal(
      (
        await app.inject({
          method: 'GET',
          url: `/v1/clients/${clientId}/export`,
          headers: auditor.headers,
        })
      ).statusCode,
      403,
    );
    t.equal(
      (
        await app.inject({
          method: 'GET',
          url: `/v1/clients/${clientId}/export`,
          headers: reception.headers,
        })
      ).statusCode,
      403,
    );
    const otherAdmin = await loginAs(app, { role: 'admin' });
    t.equal(
      (
        await app.inject({
          method: 'GET',
          url: `/v1/clients/${clientId}/export`,
          headers: otherAdmin.headers,
        })
      ).statusCode,
      200,
      'an admin of no clinic of the client exports it too: admins are organisation-wide',
    );
  },
);
