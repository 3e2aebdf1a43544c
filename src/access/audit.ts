import type { AuditRecorder } from '../modules/audit/audit.types.js';

/**
 * The audit door as the identity modules reach it. The door itself (app.audit) is built in
 * src/modules/audit/; until that plugin is registered, events go nowhere rather than
 * crashing (checked per call with hasDecorator, so registration order does not matter).
 */
export function auditDoor(app: {
  hasDecorator(name: string): boolean;
  audit: AuditRecorder;
}): AuditRecorder {
  return {
    record: (request, events) =>
      app.hasDecorator('audit') ? app.audit.record(request, events) : Promise.resolve(),
    recordInTransaction: (executor, request, events) =>
      app.hasDecorator('audit')
        ? app.audit.recordInTransaction(executor, request, events)
        : Promise.resolve(),
  };
}
