import type { AuditEvent } from './audit.schemas.js';

export const CSV_COLUMNS: readonly (keyof AuditEvent)[] = [
  'id',
  'at',
  'actorId',
  'actorRole',
  'action',
  'outcome',
  'resourceType',
  'resourceId',
  'clientId',
  'requestId',
  'ip',
  'userAgent',
  'breakGlass',
  'reason',
  'purposeOfUse',
];

/**
 * One CSV cell (RFC 4180). A text cell a spreadsheet would run as a formula (starting with
 * =, +, -, @, a tab or a carriage return) gets a leading apostrophe first (OWASP "CSV
 * injection"), so an exported user agent cannot execute in the auditor's spreadsheet.
 */
export function csvCell(value: string | boolean | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

export function csvLine(event: AuditEvent): string {
  return `${CSV_COLUMNS.map((column) => csvCell(event[column])).join(',')}\r\n`;
}
