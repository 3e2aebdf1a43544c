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

const QUOTE = 0x22;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');

/**
 * COPY's CSV ends rows in \n; csvLine ends them in \r\n (RFC 4180). The returned function turns
 * each row end of a COPY CSV byte stream, chunk by chunk, into \r\n, and leaves a newline inside
 * a quoted cell as it is. A cell that holds a double quote is always quoted and its quotes
 * doubled, so counting quotes tells inside from outside, across chunk boundaries too. Neither
 * byte occurs inside a multi-byte UTF-8 character.
 */
export function crlfRows(): (chunk: Buffer) => Buffer {
  let quoted = false;
  return (chunk) => {
    const parts: Buffer[] = [];
    let start = 0;
    for (let at = 0; at < chunk.length; at += 1) {
      const byte = chunk[at];
      if (byte === QUOTE) quoted = !quoted;
      else if (byte === LF && !quoted) {
        parts.push(chunk.subarray(start, at), CRLF);
        start = at + 1;
      }
    }
    if (start === 0) return chunk;
    parts.push(chunk.subarray(start));
    return Buffer.concat(parts);
  };
}
