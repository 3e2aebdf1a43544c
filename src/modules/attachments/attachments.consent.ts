import { and, arrayContains, eq, gt, isNull, or } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { consents } from '../../db/schema/consents.js';
import { Conflict } from '../../errors.js';

type PhotoScope = 'clinical' | 'marketing';

/** An active consent of the client, not expired at `now`, granting `scope`. */
function granting(clientId: string, scope: PhotoScope, now: Date) {
  return and(
    eq(consents.clientId, clientId),
    eq(consents.status, 'active'),
    or(isNull(consents.expiresAt), gt(consents.expiresAt, now)),
    arrayContains(consents.photoScopes, [scope]),
  );
}

/**
 * Whether some active, unexpired consent of the client grants the photo scope. `lock`: hold
 * that consent FOR SHARE until the caller's transaction ends, so a withdrawal running at the
 * same time waits for the upload (or the upload sees it withdrawn), never both.
 */
export async function grantsPhotoScope(
  executor: Executor,
  clientId: string,
  scope: PhotoScope,
  now: Date,
  lock = false,
): Promise<boolean> {
  const query = executor
    .select({ id: consents.id })
    .from(consents)
    .where(granting(clientId, scope, now))
    .limit(1);
  const rows = lock ? await query.for('share') : await query;
  return rows.length > 0;
}

/** API.md "Attachments": a photo needs an active consent granting the `clinical` scope. */
export async function requirePhotoConsent(
  executor: Executor,
  clientId: string,
  now: Date,
): Promise<void> {
  if (await grantsPhotoScope(executor, clientId, 'clinical', now, true)) return;
  throw Conflict.rule(
    'photo_consent_missing',
    'No active consent of this client allows clinical photos; record one that grants the clinical photo scope first.',
    {
      audit: {
        action: 'attachment.create',
        resourceType: 'client',
        resourceId: clientId,
        clientId,
        reason: 'photo_consent_missing',
      },
    },
  );
}
