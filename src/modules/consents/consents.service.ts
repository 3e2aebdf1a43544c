import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, Conflict, NotFound } from '../../errors.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import { CLIENT_FIELDS } from '../clients/clients.fields.js';
import { scopedClient } from '../clients/clients.scope.js';
import { templatesRepository } from '../templates/templates.repository.js';
import { documentHash, type SignedDocument } from './consents.document.js';
import { CONSENT_FIELDS, presentConsent, presentConsentDetail } from './consents.present.js';
import { consentsRepository as repo } from './consents.repository.js';
import type { Consent, ConsentDetail, CreateConsentInput } from './consents.schemas.js';

/** A paper form recorded later may carry its real date, at most this far back. */
export const SIGNED_AT_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** Tolerated clock difference between a tablet and the server. */
const CLOCK_SKEW_MS = 60 * 1000;

export interface ConsentsServiceDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  clock: () => Date;
}

export function createConsentsService(deps: ConsentsServiceDeps) {
  const { db, keys, audit, clock } = deps;

  function event(
    action: string,
    clientId: string,
    consentId: string | null,
    outcome: AuditEventInput['outcome'] = 'success',
  ): AuditEventInput {
    return {
      action,
      outcome,
      resourceType: consentId === null ? 'client' : 'consent',
      resourceId: consentId ?? clientId,
      clientId,
    };
  }

  function checkSignedAt(signedAt: Date, recordedAt: Date) {
    const invalid = (message: string) =>
      new BadRequest('The request is not valid.', [{ path: 'body.signedAt', message }]);
    if (signedAt.getTime() > recordedAt.getTime() + CLOCK_SKEW_MS) {
      throw invalid('must not be in the future');
    }
    if (signedAt.getTime() < recordedAt.getTime() - SIGNED_AT_MAX_AGE_MS) {
      throw invalid('must be at most 30 days ago');
    }
  }

  return {
    async create(
      ctx: RequestContext,
      clientId: string,
      input: CreateConsentInput,
    ): Promise<Consent> {
      const actor = actorOf(ctx);
      const recordedAt = clock();
      const signedAt = input.signedAt === undefined ? recordedAt : new Date(input.signedAt);
      checkSignedAt(signedAt, recordedAt);
      return db.transaction(async (tx) => {
        const { client } = await scopedClient(tx, ctx, clientId, 'consent.create');
        const template = await templatesRepository.find(tx, input.templateId);
        if (!template) {
          throw new BadRequest('The request is not valid.', [
            { path: 'body.templateId', message: 'is not a published consent template' },
          ]);
        }
        const cipher = await keys.cipherFor(tx, clientId);
        const id = uuidv7();
        const signed: SignedDocument = {
          template: {
            id: template.id,
            key: template.key,
            version: template.version,
            body: template.body,
          },
          client: {
            id: clientId,
            firstName: cipher.open(CLIENT_FIELDS.firstName, clientId, client.firstName),
            lastName: cipher.open(CLIENT_FIELDS.lastName, clientId, client.lastName),
            dateOfBirth: cipher.open(CLIENT_FIELDS.dateOfBirth, clientId, client.dateOfBirth),
          },
          signerName: input.signerName,
          signatureImage: input.signatureImage ?? null,
          answers: input.answers ?? null,
          signedAt: signedAt.toISOString(),
        };
        const row = await repo.insert(tx, {
          id,
          clientId,
          clinicId: client.clinicId,
          templateId: template.id,
          signerName: cipher.seal(CONSENT_FIELDS.signerName, id, input.signerName),
          signatureImage:
            input.signatureImage === undefined
              ? null
              : cipher.seal(CONSENT_FIELDS.signatureImage, id, input.signatureImage),
          answers:
            input.answers === undefined
              ? null
              : cipher.seal(CONSENT_FIELDS.answers, id, input.answers),
          signedAt,
          recordedAt,
          witnessedBy: actor.userId,
          documentHash: null,
          documentHashEnc: cipher.seal(CONSENT_FIELDS.documentHash, id, documentHash(signed)),
        });
        await audit.write(tx, ctx, [event('consent.create', clientId, id)]);
        return presentConsent(cipher, row, template);
      });
    },

    async list(ctx: RequestContext, clientId: string): Promise<Consent[]> {
      await scopedClient(db, ctx, clientId, 'consent.list');
      const rows = await repo.listForClient(db, clientId);
      const cipher = await keys.cipherFor(db, clientId);
      const consents = rows.map((row) => presentConsent(cipher, row.consent, row.template));
      await audit.record(ctx, [event('consent.list', clientId, null)]);
      return consents;
    },

    async get(ctx: RequestContext, clientId: string, consentId: string): Promise<ConsentDetail> {
      await scopedClient(db, ctx, clientId, 'consent.read');
      const row = await repo.find(db, clientId, consentId);
      if (!row) throw new NotFound('Consent not found.');
      const detail = presentConsentDetail(
        await keys.cipherFor(db, clientId),
        row.consent,
        row.template,
      );
      await audit.record(ctx, [event('consent.read', clientId, consentId)]);
      return detail;
    },

    /** Withdrawal is a status, never a delete; withdrawing twice is a conflict. */
    async withdraw(
      ctx: RequestContext,
      clientId: string,
      consentId: string,
      reason: string,
    ): Promise<Consent> {
      const actor = actorOf(ctx);
      return db.transaction(async (tx) => {
        await scopedClient(tx, ctx, clientId, 'consent.withdraw');
        const current = await repo.find(tx, clientId, consentId, { forUpdate: true });
        if (!current) throw new NotFound('Consent not found.');
        if (current.consent.status === 'withdrawn') {
          throw Conflict.rule('already_withdrawn', 'The consent has already been withdrawn.');
        }
        const cipher = await keys.cipherFor(tx, clientId);
        const row = await repo.withdraw(tx, consentId, {
          withdrawnAt: clock(),
          withdrawnBy: actor.userId,
          withdrawalReason: cipher.seal(CONSENT_FIELDS.withdrawalReason, consentId, reason),
        });
        await audit.write(tx, ctx, [event('consent.withdraw', clientId, consentId)]);
        return presentConsent(cipher, row, current.template);
      });
    },
  };
}

export type ConsentsService = ReturnType<typeof createConsentsService>;
