import type { Role } from '../../access/roles.js';
import type { Executor } from '../../db/pool.js';
import type { AuditEvent } from '../audit/audit.schemas.js';
import { staffNamesOf } from '../users/users.repository.js';
import { subjectExportSchema, type SubjectExport } from './subjects.schemas.js';

/** The document without its access log, which is streamed after it. */
export type ExportHead = Omit<SubjectExport, 'accessLog'>;

const headSchema = subjectExportSchema.omit({ accessLog: true });
const accessLogItemSchema = subjectExportSchema.shape.accessLog.element;

/**
 * The export as JSON text, piece by piece, byte for byte what the response serializer would
 * write for the whole document (each part encoded by its part of `subjectExportSchema`,
 * then JSON.stringify; `accessLog` is the schema's last key). Only one batch of events and
 * the names of their actors are held at a time.
 */
export async function* exportDocument(
  db: Executor,
  head: ExportHead,
  accessLog: AsyncIterable<AuditEvent[]>,
): AsyncGenerator<string, void, undefined> {
  const opening = JSON.stringify(headSchema.encode(head));
  // The head is an object with keys, so it ends in '}': the access log goes in before it.
  yield `${opening.slice(0, -1)},"accessLog":[`;
  const names = new Map<string, { displayName: string; role: Role }>();
  let first = true;
  for await (const batch of accessLog) {
    const unknown = [
      ...new Set(
        batch.flatMap((e) => (e.actorId === null || names.has(e.actorId) ? [] : [e.actorId])),
      ),
    ];
    for (const [id, name] of await staffNamesOf(db, unknown)) names.set(id, name);
    const items = batch.map((event) =>
      JSON.stringify(
        accessLogItemSchema.encode({
          ...event,
          actorDisplayName:
            event.actorId === null ? null : (names.get(event.actorId)?.displayName ?? null),
          // The role the actor acted in, as the event recorded it (it may have changed since).
          actorRole: event.actorRole ?? names.get(event.actorId ?? '')?.role ?? null,
        }),
      ),
    );
    yield `${first ? '' : ','}${items.join(',')}`;
    first = false;
  }
  yield ']}';
}
