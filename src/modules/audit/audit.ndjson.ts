import { COLUMNS } from './audit.queries.js';

const NDJSON_KEYS = COLUMNS.map(([name], at) => Buffer.from(`${at === 0 ? '{' : ','}"${name}":`));
const NDJSON_KINDS = COLUMNS.map(([, , json]) => json);
/** The most a row adds beside its own bytes: keys, quotes, `null`/`false`, `}` and `\n`. */
const NDJSON_ROW_EXTRA = NDJSON_KEYS.reduce((sum, key) => sum + key.length + 5, 2);
const COPY_ESCAPES: Record<string, string> = {
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};
const EMPTY = Buffer.alloc(0);
const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const TAB = 0x09;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A field of COPY's text format as the text it stands for (backslash escapes undone). */
function copyText(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/gs, (_, c: string) => COPY_ESCAPES[c] ?? c);
}

/**
 * Turns the ndjson export's COPY output (text format, chunk by chunk, a row cut anywhere) into
 * JSON lines, each exactly what JSON.stringify makes of the event the query route returns: the
 * same keys in the same order. In the text format a raw tab only separates fields and a raw
 * newline only ends a row (the data's own are escaped), and \N is NULL.
 *
 * It works on bytes: a text field with no byte JSON would escape (a quote, a backslash, a
 * control character) is already its JSON string's content (PostgreSQL sends valid UTF-8), so
 * it is copied as it is; only the rest goes through copyText and JSON.stringify. Rendering
 * was the service's largest cost in the export (`npm run bench -- --profile`).
 */
export function ndjsonFromCopy(): (chunk: Buffer) => string {
  let rest: Buffer = EMPTY;
  const scratch = { buffer: Buffer.allocUnsafe(256 * 1024) };
  return (chunk) => {
    let head = '';
    let body = chunk;
    if (rest.length > 0) {
      // Only the row cut at the last chunk's end is joined (not the whole chunk copied).
      const first = chunk.indexOf(NEWLINE);
      if (first === -1) {
        rest = Buffer.concat([rest, chunk]);
        return '';
      }
      const row = Buffer.concat([rest, chunk.subarray(0, first + 1)]);
      head = renderRows(row, row.length - 1, scratch);
      body = chunk.subarray(first + 1);
      rest = EMPTY;
    }
    const end = body.lastIndexOf(NEWLINE);
    if (end === -1) {
      rest = Buffer.from(body);
      return head;
    }
    rest = end + 1 < body.length ? Buffer.from(body.subarray(end + 1)) : EMPTY;
    return head + renderRows(body, end, scratch);
  };
}

/**
 * The JSON lines of the whole rows in `input[0..end]` (`end` is the last row's newline),
 * built in one scratch buffer reused for every chunk and returned as a string. A fresh Buffer
 * per chunk lives outside V8's heap, where a few hundred MB a second of short-lived ones
 * are reclaimed too late (the export's peak RSS rose by 30 MB); a string is young-generation
 * garbage, collected as fast as it is made.
 */
function renderRows(input: Buffer, end: number, scratch: { buffer: Buffer }): string {
  let rows = 0;
  for (let i = input.indexOf(NEWLINE); i !== -1 && i <= end; i = input.indexOf(NEWLINE, i + 1))
    rows += 1;
  // Enough for every byte of the rows plus every row's keys, quotes and words; only a field
  // JSON must escape can need more, and makes room for itself below. Locals, not closure
  // variables, in this loop: it runs for every byte of the export.
  let out = scratch.buffer;
  if (out.length < end + 1 + rows * NDJSON_ROW_EXTRA) {
    out = Buffer.allocUnsafe(end + 1 + rows * NDJSON_ROW_EXTRA);
    scratch.buffer = out;
  }
  let length = 0;
  let at = 0;
  for (let row = 0; row < rows; row += 1) {
    for (let field = 0; field < NDJSON_KEYS.length; field += 1) {
      const start = at;
      let clean = true;
      let byte = input[at]!;
      while (byte !== TAB && byte !== NEWLINE) {
        if (byte < 0x20 || byte === QUOTE || byte === BACKSLASH) clean = false;
        at += 1;
        byte = input[at]!;
      }
      const stop = at;
      at += 1; // past the tab or the newline
      // Byte loops, not Buffer#copy: for a few bytes the native call costs more than the copy.
      const key = NDJSON_KEYS[field]!;
      for (let i = 0; i < key.length; i += 1) out[length++] = key[i]!;
      const kind = NDJSON_KINDS[field];
      if (stop - start === 2 && input[start] === BACKSLASH && input[start + 1] === 0x4e) {
        for (let i = 0; i < NULL.length; i += 1) out[length++] = NULL[i]!;
      } else if (kind === 'boolean') {
        const word = input[start] === 0x74 ? TRUE : FALSE;
        for (let i = 0; i < word.length; i += 1) out[length++] = word[i]!;
      } else if (clean || kind === 'plain') {
        out[length++] = QUOTE;
        for (let i = start; i < stop; i += 1) out[length++] = input[i]!;
        out[length++] = QUOTE;
      } else {
        const json = Buffer.from(JSON.stringify(copyText(input.toString('utf8', start, stop))));
        // This field, then whatever the rest of the rows may still need.
        const needed = length + json.length + (end + 1 - at) + (rows - row) * NDJSON_ROW_EXTRA;
        if (needed > out.length) {
          const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, needed));
          out.copy(bigger, 0, 0, length);
          out = bigger;
          scratch.buffer = out;
        }
        for (let i = 0; i < json.length; i += 1) out[length++] = json[i]!;
      }
    }
    out[length++] = 0x7d; // }
    out[length++] = NEWLINE;
  }
  return out.toString('utf8', 0, length);
}
