import { z } from 'zod';

/**
 * API.md "Conventions": no string in a body, query or header holds U+0000–U+001F, U+007F or
 * U+0080–U+009F, except tab, CR and LF in free text (notes, reasons, statements, captions,
 * template bodies, answers); JSON nests at most 32 levels; every date and date-time is in the
 * years 1900–9999. PostgreSQL cannot store U+0000 in a text column at all and has no year 0,
 * so what passed here used to answer 500. plugins/input-guard.ts applies the first two to
 * every request; the helpers below let a schema say which of its strings are single-line.
 */

// eslint-disable-next-line no-control-regex
const CONTROL_ANY = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_WHITESPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

export const CONTROL_MESSAGE = 'must not contain control characters';
export const JSON_MAX_DEPTH = 32;
export const YEAR_MIN = 1900;
export const YEAR_MAX = 9999;

/** A control character allowed nowhere (tab, CR and LF pass: free text may hold them). */
export function hasForbiddenControl(value: string): boolean {
  return CONTROL_BUT_WHITESPACE.test(value);
}

/** Any control character, tab, CR and LF included: refused in single-line text. */
export function hasControl(value: string): boolean {
  return CONTROL_ANY.test(value);
}

/** A single-line text input (a name, a title, a username): no control character at all. */
export function singleLine(schema: z.ZodString = z.string()) {
  return schema.refine((value) => !hasControl(value), CONTROL_MESSAGE);
}

/** Free text (notes, reasons, a template body): tab, CR and LF allowed, no other control. */
export function freeText(schema: z.ZodString = z.string()) {
  return schema.refine((value) => !hasForbiddenControl(value), CONTROL_MESSAGE);
}

/**
 * Whether `value` nests deeper than `max` levels (the outermost value is level 1). Iterative,
 * so a hostile depth cannot overflow the stack.
 */
export function jsonDepthExceeds(value: unknown, max = JSON_MAX_DEPTH): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

/**
 * Whether JSON text nests deeper than `max` levels, found by a scan of the text itself (no
 * parse, no recursion): the request body is refused before anything walks it.
 */
export function jsonTextDepthExceeds(text: string, max = JSON_MAX_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return false;
}

const EARLIEST = Date.UTC(YEAR_MIN, 0, 1);
const LATEST = Date.UTC(YEAR_MAX, 11, 31, 23, 59, 59, 999);
const YEAR_MESSAGE = `must be in the years ${YEAR_MIN}–${YEAR_MAX}`;

/** A written year and, for a date-time, its instant in UTC, both inside 1900–9999. */
function inYearRange(value: string): boolean {
  const year = Number(value.slice(0, 4));
  if (!(year >= YEAR_MIN && year <= YEAR_MAX)) return false;
  const instant = Date.parse(value);
  return Number.isNaN(instant) || (instant >= EARLIEST && instant <= LATEST);
}

/** An RFC 3339 date-time input (offset allowed) in the years 1900–9999. */
export function dateTimeInput() {
  return z.iso.datetime({ offset: true }).refine(inYearRange, YEAR_MESSAGE);
}

/** A YYYY-MM-DD date input in the years 1900–9999. */
export function dateInput() {
  return z.iso.date().refine(inYearRange, YEAR_MESSAGE);
}
