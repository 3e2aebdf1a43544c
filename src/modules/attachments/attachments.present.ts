import { textField, type ClientCipher } from '../../crypto/index.js';
import type { AttachmentRow } from './attachments.repository.js';
import type { Attachment } from './attachments.schemas.js';

/** The sealed columns of an attachment row. */
export const ATTACHMENT_FIELDS = {
  sha256: textField('attachments', 'sha256'),
  caption: textField('attachments', 'caption'),
};

/** An attachment's metadata as every read returns it; `marketing`: computed from the consents. */
export function presentAttachment(
  cipher: ClientCipher,
  row: AttachmentRow,
  marketing: boolean,
): Attachment {
  return {
    id: row.id,
    clientId: row.clientId,
    kind: row.kind,
    contentType: row.contentType,
    size: row.size,
    sha256: cipher.open(ATTACHMENT_FIELDS.sha256, row.id, row.sha256),
    width: row.width,
    height: row.height,
    entryId: row.entryId,
    consentId: row.consentId,
    takenAt: row.takenAt?.toISOString() ?? null,
    caption:
      row.caption === null ? null : cipher.open(ATTACHMENT_FIELDS.caption, row.id, row.caption),
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    marketingAllowed: marketing,
  };
}
