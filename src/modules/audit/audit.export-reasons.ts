import type { ClientKeys } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { CSV_COLUMNS, csvCell } from './audit.csv.js';
import { openReasons, SEALED_REASON_PREFIX } from './audit.reasons.js';

/**
 * The exports (CSV and NDJSON) stream COPY's bytes; a break-glass or other free-text reason is
 * stored sealed under the client's data key (audit.reasons.ts) and would reach the auditor as
 * "sealed:…". These open it on the way out, as the JSON routes do: the text while the client
 * exists, null (an empty cell) once they are erased. Only the rare rows that hold a sealed
 * reason are parsed; every other chunk passes through after one substring search.
 */

const QUOTE = 0x22;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * COPY's CSV cut into whole rows: each chunk returned ends at a row end outside quotes (the rest
 * is carried to the next), so a sealed reason is never split between two chunks.
 */
export function csvWholeRows(): { push(chunk: Buffer): Buffer; end(): Buffer } {
  let rest: Buffer = EMPTY;
  let quoted = false;
  let scanned = 0;
  return {
    push(chunk) {
      const buffer = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      let lastEnd = -1;
      for (let at = scanned; at < buffer.length; at += 1) {
        const byte = buffer[at];
        if (byte === QUOTE) quoted = !quoted;
        else if (byte === LF && !quoted) lastEnd = at;
      }
      if (lastEnd === -1) {
        rest = Buffer.from(buffer);
        scanned = buffer.length;
        return EMPTY;
      }
      rest = Buffer.from(buffer.subarray(lastEnd + 1));
      // The quote state at the end of the buffer is the state at the end of the carried rest.
      scanned = rest.length;
      return buffer.subarray(0, lastEnd + 1);
    },
    end() {
      const out = rest;
      rest = EMPTY;
      return out;
    },
  };
}

/** A CSV row (RFC 4180, no line end) as its cells' texts. */
export function csvCells(row: string): string[] {
  const cells: string[] = [];
  let at = 0;
  for (;;) {
    if (row[at] === '"') {
      let text = '';
      let from = at + 1;
      for (;;) {
        const quote = row.indexOf('"', from);
        if (quote === -1) throw new Error('unterminated quoted CSV cell');
        if (row[quote + 1] === '"') {
          text += row.slice(from, quote + 1);
          from = quote + 2;
        } else {
          text += row.slice(from, quote);
          at = quote + 1;
          break;
        }
      }
      cells.push(text);
    } else {
      const comma = row.indexOf(',', at);
      const end = comma === -1 ? row.length : comma;
      cells.push(row.slice(at, end));
      at = end;
    }
    if (at >= row.length) return cells;
    at += 1; // the comma
  }
}

/** Quoted as COPY quotes (the cells already carry csvCellSql's formula guard). */
function quoted(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of `text` split at line ends outside quotes, each with its line end. */
function rowsOf(text: string): string[] {
  const rows: string[] = [];
  let inside = false;
  let start = 0;
  for (let at = 0; at < text.length; at += 1) {
    const char = text[at];
    if (char === '"') inside = !inside;
    else if (char === '\n' && !inside) {
      rows.push(text.slice(start, at + 1));
      start = at + 1;
    }
  }
  if (start < text.length) rows.push(text.slice(start));
  return rows;
}

const REASON_AT = CSV_COLUMNS.indexOf('reason');
const ID_AT = CSV_COLUMNS.indexOf('id');
const CLIENT_AT = CSV_COLUMNS.indexOf('clientId');
const NDJSON_MARK = `"reason":"${SEALED_REASON_PREFIX}`;

/** Opens the sealed reasons in one rendered chunk of whole rows (csv: \r\n ends, ndjson). */
export function reasonOpener(
  keys: Pick<ClientKeys<Executor>, 'cipherFor'>,
  format: 'ndjson' | 'csv',
): (out: Buffer | string) => Promise<Buffer | string> {
  if (format === 'ndjson') {
    return async (out) => {
      const text = typeof out === 'string' ? out : out.toString('utf8');
      if (!text.includes(NDJSON_MARK)) return out;
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i += 1) {
        const line = lines[i]!;
        if (!line.includes(NDJSON_MARK)) continue;
        const event = JSON.parse(line) as { id: string; clientId: string | null; reason: string };
        const [opened] = await openReasons(keys, [event]);
        lines[i] = JSON.stringify(opened);
      }
      return lines.join('\n');
    };
  }
  return async (out) => {
    const text = typeof out === 'string' ? out : out.toString('utf8');
    if (!text.includes(SEALED_REASON_PREFIX)) return out;
    const rows = rowsOf(text);
    for (let i = 0; i < rows.length; i += 1) {
      const row = rows[i]!;
      if (!row.includes(SEALED_REASON_PREFIX)) continue;
      const ending = row.endsWith('\r\n') ? '\r\n' : row.endsWith('\n') ? '\n' : '';
      const cells = csvCells(row.slice(0, row.length - ending.length));
      if (!cells[REASON_AT]?.startsWith(SEALED_REASON_PREFIX)) continue;
      const [opened] = await openReasons(keys, [
        { id: cells[ID_AT]!, clientId: cells[CLIENT_AT] || null, reason: cells[REASON_AT] },
      ]);
      rows[i] =
        cells
          .map((cell, at) => (at === REASON_AT ? csvCell(opened!.reason) : quoted(cell)))
          .join(',') + ending;
    }
    return rows.join('');
  };
}
