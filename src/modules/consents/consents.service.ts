import type { FastifyRequest } from 'fastify';
import type { AuthContext } from '../../access/types.js';
import { jsonField, textField, type ClientCipher, type ClientKeys } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest, Conflict, NotFound } from '../../errors.js';
import type { AuditEventInput, AuditRecorder } from '../audit/audit.types.js';
import type { ClientRow } from '../clients/clients.repository.js';
import { scopedClient } from '../clients/clients.scope.js';
import { CLIENT_FIELDS } from '../clients/clients.service.js';
import { templatesRepository } from '../templates/templates.repository.js';
import { documentHash, type SignedDocument } from './consents.document.js';
import {
  consentsRepository as repo,
  type ConsentRow,
  type TemplateRow,
} from './consents.repository.js';
import type { Consent, ConsentDetail, CreateConsentInput } from './consents.schemas.js';

/** Where each personal part of a consent is sealed (under the client's data key). */
export const CONSENT_FIELDS = {
  signerName: textField('consents', 'signer_name_enc'),
  signatureImage: textField('consents', 'signature_image_enc'),
  answers: jsonField<Record<string, unknown>>('consents', 'answers_enc'),
  withdrawalReason: textField('consents', 'withdrawal_reason_enc'),
} as const;

/** A paper form recorded later may carry its real date, at most this far back. */
export const SIGNED_AT_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** Tolerated clock difference between a tablet and the server. */
const CLOCK_SKEW_MS = 60 * 1000;

export interface ConsentsServiceDeps {
  db: Database;
  keys: ClientKeys;
  audit: AuditRecorder;
  now?: () => Date;
}

type Request = FastifyRequest | null;

export function presentConsent(consent: ConsentRow, template: TemplateRow): Consent {
  return {
    id: consent.id,
    clientId: consent.clientId,
    templateId: template.id,
    templateKey: template.key,
    templateVersion: template.version,
    signedAt: consent.signedAt.toISOString(),
    recordedAt: consent.recordedAt.toISOString(),
    witnessedBy: consent.witnessedBy,
    documentHash: consent.documentHash,
    status: consent.status,
    withdrawnAt: consent.withdrawnAt?.toISOString() ?? null,
  };
}

/** The consent with its sealed parts opened and the template text as signed. */
export function presentConsentDetail(
  cipher: ClientCipher,
  consent: ConsentRow,
  template: TemplateRow,
): ConsentDetail {
  return {
    ...presentConsent(consent, template),
    signerName: cipher.open(CONSENT_FIELDS.signerName, consent.id, consent.signerName),
    signatureImage: consent.signatureImage
      ? cipher.open(CONSENT_FIELDS.signatureImage, consent.id, consent.signatureImage)
      : null,
    answers: consent.answers
      ? cipher.open(CONSENT_FIELDS.answers, consent.id, consent.answers)
      : null,
    withdrawalReason: consent.withdrawalReason
      ? cipher.open(CONSENT_FIELDS.withdrawalReason, consent.id, consent.withdrawalReason)
      : null,
    template: {
      id: template.id,
      key: template.key,
      version: template.version,
      title: template.title,
      body: template.body,
      bodyHash: template.bodyHash,
      language: template.language,
      treatmentTypes: template.treatmentTypes,
    },
  };
}

export function createConsentsService(deps: ConsentsServiceDeps) {
  const { db, keys, audit } = deps;
  const now = deps.now ?? (() => new Date());

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

  const scoped = async (
    executor: Executor,
    request: Request,
    auth: AuthContext,
    clientId: string,
    action: string,
  ): Promise<ClientRow> =>
    (await scopedClient(audit, executor, request, auth, clientId, action)).client;

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
      request: Request,
      auth: AuthContext,
      clientId: string,
      input: CreateConsentInput,
    ): Promise<Consent> {
      const recordedAt = now();
      const signedAt = input.signedAt === undefined ? recordedAt : new Date(input.signedAt);
      checkSignedAt(signedAt, recordedAt);
      return db.transaction(async (tx) => {
        const client = await scoped(tx, request, auth, clientId, 'consent.create');
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
          witnessedBy: auth.userId,
          documentHash: documentHash(signed),
        });
        await audit.recordInTransaction(tx, request, [event('consent.create', clientId, id)]);
        return presentConsent(row, template);
      });
    },

    async list(request: Request, auth: AuthContext, clientId: string): Promise<Consent[]> {
      await scoped(db, request, auth, clientId, 'consent.list');
      const rows = await repo.listForClient(db, clientId);
      await audit.record(request, [event('consent.list', clientId, null)]);
      return rows.map((row) => presentConsent(row.consent, row.template));
    },

    async get(
      request: Request,
      auth: AuthContext,
      clientId: string,
      consentId: string,
    ): Promise<ConsentDetail> {
      await scoped(db, request, auth, clientId, 'consent.read');
      const row = await repo.find(db, clientId, consentId);
      if (!row) throw new NotFound('Consent not found.');
      const detail = presentConsentDetail(
        await keys.cipherFor(db, clientId),
        row.consent,
        row.template,
      );
      await audit.record(request, [event('consent.read', clientId, consentId)]);
      return detail;
    },

    /** Withdrawal is a status, never a delete; withdrawing twice is a conflict. */
    async withdraw(
      request: Request,
      auth: AuthContext,
      clientId: string,
      consentId: string,
      reason: string,
    ): Promise<Consent> {
      return db.transaction(async (tx) => {
        await scoped(tx, request, auth, clientId, 'consent.withdraw');
        const current = await repo.find(tx, clientId, consentId, { forUpdate: true });
        if (!current) throw new NotFound('Consent not found.');
        if (current.consent.status === 'withdrawn') {
          throw new Conflict('The consent has already been withdrawn.', {
            rule: 'already_withdrawn',
          });
        }
        const cipher = await keys.cipherFor(tx, clientId);
        const row = await repo.withdraw(tx, consentId, {
          withdrawnAt: now(),
          withdrawnBy: auth.userId,
          withdrawalReason: cipher.seal(CONSENT_FIELDS.withdrawalReason, consentId, reason),
        });
        await audit.recordInTransaction(tx, request, [
          event('consent.withdraw', clientId, consentId),
        ]);
        return presentConsent(row, current.template);
      });
    },
  };
}

export type ConsentsService = ReturnType<typeof createConsentsService>;
