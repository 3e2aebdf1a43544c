import { jsonField, textField, type ClientCipher } from '../../crypto/index.js';
import type { ConsentRow, TemplateRow } from './consents.repository.js';
import type { Consent, ConsentDetail } from './consents.schemas.js';

/** Where each personal part of a consent is sealed (under the client's data key). */
export const CONSENT_FIELDS = {
  signerName: textField('consents', 'signer_name_enc'),
  signatureImage: textField('consents', 'signature_image_enc'),
  answers: jsonField<Record<string, unknown>>('consents', 'answers_enc'),
  withdrawalReason: textField('consents', 'withdrawal_reason_enc'),
  /** Sealed so that erasure destroys it: in clear it would confirm a guessed identity. */
  documentHash: textField('consents', 'document_hash_enc'),
} as const;

export function presentConsent(
  cipher: ClientCipher,
  consent: ConsentRow,
  template: TemplateRow,
): Consent {
  return {
    id: consent.id,
    clientId: consent.clientId,
    templateId: template.id,
    templateKey: template.key,
    templateVersion: template.version,
    signedAt: consent.signedAt.toISOString(),
    recordedAt: consent.recordedAt.toISOString(),
    witnessedBy: consent.witnessedBy,
    documentHash: consent.documentHashEnc
      ? cipher.open(CONSENT_FIELDS.documentHash, consent.id, consent.documentHashEnc)
      : (consent.documentHash ?? ''),
    status: consent.status,
    withdrawnAt: consent.withdrawnAt?.toISOString() ?? null,
    informedBy: consent.informedBy,
    informedAt: consent.informedAt?.toISOString() ?? null,
    photoScopes: consent.photoScopes,
    expiresAt: consent.expiresAt?.toISOString() ?? null,
  };
}

/** The consent with its sealed parts opened and the template text as signed. */
export function presentConsentDetail(
  cipher: ClientCipher,
  consent: ConsentRow,
  template: TemplateRow,
): ConsentDetail {
  return {
    ...presentConsent(cipher, consent, template),
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
