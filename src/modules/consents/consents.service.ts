import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, Conflict, NotFound } from '../../errors.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import { CLIENT_FIELDS } from '../clients/clients.fields.js';
import { refuseWhileRestricted, scopedClient } from '../clients/clients.scope.js';
import { findUserById } from '../auth/auth.repository.js';
import { PHOTO_SCOPES } from '../templates/templates.schemas.js';
import { templatesRepository, type TemplateRow } from '../templates/templates.repository.js';
import { documentHash, type SignedDocument } from './consents.document.js';
import { CONSENT_FIELDS, presentConsent, presentConsentDetail } from './consents.present.js';
import { consentsRepository as repo } from './consents.repository.js';
import type { Consent, ConsentDetail, CreateConsentInput } from './consents.schemas.js';

/** A paper form recorded later may carry its real date, at most this far back. */
export const SIGNED_AT_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** The client is informed at most this long before signing (API.md "Consents"). */
export const INFORMED_AT_MAX_AGE_MS = 90 * 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
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

  const invalid = (path: string, message: string) =>
    new BadRequest('The request is not valid.', [{ path, message }]);

  /** informedBy, informedAt and photoScopes against the template and the client's clinic. */
  async function checkEvidence(
    executor: Executor,
    input: CreateConsentInput,
    template: TemplateRow,
    clinicId: string,
    signedAt: Date,
  ) {
    if (input.informedBy !== undefined) {
      const informer = await findUserById(executor, input.informedBy);
      if (
        !informer ||
        informer.disabled ||
        informer.role !== 'practitioner' ||
        !informer.clinicIds.includes(clinicId)
      ) {
        throw invalid('body.informedBy', "must be a practitioner of the client's clinic");
      }
      if (template.requiresAuthorisation && informer.authorisationId === null) {
        throw invalid(
          'body.informedBy',
          'must be an authorised practitioner (the template requires authorisation)',
        );
      }
    }
    if (input.informedAt !== undefined) {
      const informedAt = new Date(input.informedAt).getTime();
      if (informedAt > signedAt.getTime())
        throw invalid('body.informedAt', 'must not be after signedAt');
      if (informedAt < signedAt.getTime() - INFORMED_AT_MAX_AGE_MS) {
        throw invalid('body.informedAt', 'must be at most 90 days before signedAt');
      }
    }
    const offered = new Set(template.photoScopes);
    const index = (input.photoScopes ?? []).findIndex((scope) => !offered.has(scope));
    if (index >= 0) {
      throw invalid(`body.photoScopes.${index}`, "is not one of the template's photoScopes");
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
        const { client } = await scopedClient(tx, ctx, clientId, 'consent.create', {
          forShare: true,
        });
        refuseWhileRestricted(client, clientId, 'consent.create');
        const template = await templatesRepository.find(tx, input.templateId);
        if (!template) {
          throw new BadRequest('The request is not valid.', [
            { path: 'body.templateId', message: 'is not a published consent template' },
          ]);
        }
        await checkEvidence(tx, input, template, client.clinicId, signedAt);
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
          informedBy: input.informedBy ?? null,
          informedAt: input.informedAt === undefined ? null : new Date(input.informedAt),
          photoScopes: PHOTO_SCOPES.filter((scope) => input.photoScopes?.includes(scope)),
          expiresAt:
            template.validForDays === null
              ? null
              : new Date(signedAt.getTime() + template.validForDays * DAY_MS),
        });
        await audit.write(tx, ctx, [event('consent.create', clientId, id)]);
        const consent = presentConsent(cipher, row, template);
        await ctx.idempotency?.remember(tx, { clientId, body: consent });
        return consent;
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
        await scopedClient(tx, ctx, clientId, 'consent.withdraw', { forShare: true });
        const current = await repo.find(tx, clientId, consentId, { forUpdate: true });
        if (!current) throw new NotFound('Consent not found.');
        if (current.consent.status === 'withdrawn') {
          throw Conflict.rule('already_withdrawn', 'The consent has already been withdrawn.', {
            audit: {
              action: 'consent.withdraw',
              resourceType: 'consent',
              resourceId: consentId,
              clientId,
              reason: 'already_withdrawn',
            },
          });
        }
        const cipher = await keys.cipherFor(tx, clientId);
        const row = await repo.withdraw(tx, consentId, {
          withdrawnAt: clock(),
          withdrawnBy: actor.userId,
          withdrawalReason: cipher.seal(CONSENT_FIELDS.withdrawalReason, consentId, reason),
        });
        await audit.write(tx, ctx, [event('consent.withdraw', clientId, consentId)]);
        const consent = presentConsent(cipher, row, current.template);
        await ctx.idempotency?.remember(tx, { clientId, body: consent });
        return consent;
      });
    },
  };
}

export type ConsentsService = ReturnType<typeof createConsentsService>;
