/**
 * Canonical forms of searchable values. A blind index is only as good as its normalisation:
 * two spellings of one value must give the same index, so the clients module validates
 * input with these same functions. Each returns `null` for a value that is not valid.
 */

/** Trimmed and lower-cased; one `@` with something on both sides, no whitespace. */
export function normaliseEmail(value: string): string | null {
  const email = value.trim().toLowerCase();
  if (email.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(email)) return null;
  return email;
}

/**
 * E.164-style `+<digits>`. Spaces, dashes, dots and parentheses are dropped; a leading `00`
 * means `+`; no prefix means Denmark (`+45`), so `12 34 56 78`, `+45 12345678` and
 * `0045-1234-5678` are one number. A Danish number has 8 digits; others 7 to 15 in all.
 */
export function normalisePhone(value: string): string | null {
  let phone = value.trim().replace(/[\s\-.()]/g, '');
  if (phone.startsWith('00')) phone = `+${phone.slice(2)}`;
  if (!phone.startsWith('+')) phone = `+45${phone}`;
  const digits = phone.slice(1);
  if (!/^[1-9]\d*$/.test(digits)) return null;
  if (digits.startsWith('45')) return digits.length === 10 ? phone : null;
  return digits.length >= 7 && digits.length <= 15 ? phone : null;
}

/**
 * The century of a CPR number's birth date, from its 7th digit and year (CPR office rules).
 */
function cprCentury(seventh: number, year: number): number {
  if (seventh <= 3) return 1900;
  if (seventh === 4 || seventh === 9) return year <= 36 ? 2000 : 1900;
  return year <= 57 ? 2000 : 1800;
}

/**
 * A Danish CPR number as 10 digits: `DDMMYY-XXXX` or `DDMMYYXXXX`, whose date must exist
 * (29 February only in a leap year of the century the 7th digit gives). The modulus-11 check
 * is not applied: numbers without it have been issued since 2007.
 */
export function normaliseNationalId(value: string): string | null {
  const match = /^(\d{2})(\d{2})(\d{2})-?(\d{4})$/.exec(value.trim());
  if (!match) return null;
  const [, dd, mm, yy, serial] = match as unknown as [string, string, string, string, string];
  const day = Number(dd);
  const month = Number(mm);
  const year = cprCentury(Number(serial[0]), Number(yy)) + Number(yy);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1) return null;
  if (date.getUTCDate() !== day) return null;
  return `${dd}${mm}${yy}${serial}`;
}

/** Birth date (`YYYY-MM-DD`) of a valid CPR number, or null. */
export function birthDateFromNationalId(value: string): string | null {
  const cpr = normaliseNationalId(value);
  if (!cpr) return null;
  const year = cprCentury(Number(cpr[6]), Number(cpr.slice(4, 6))) + Number(cpr.slice(4, 6));
  return `${year}-${cpr.slice(2, 4)}-${cpr.slice(0, 2)}`;
}

/** Trimmed, upper-cased, without any whitespace: `ab 12-3` and `AB12-3` are one batch. */
export function normaliseBatchNumber(value: string): string | null {
  const batch = value.replace(/\s+/g, '').toUpperCase();
  return batch.length >= 1 && batch.length <= 100 ? batch : null;
}

export const BLIND_INDEX_KINDS = ['email', 'phone', 'nationalId', 'batchNumber'] as const;
export type BlindIndexKind = (typeof BLIND_INDEX_KINDS)[number];

export const NORMALISERS: Readonly<Record<BlindIndexKind, (value: string) => string | null>> = {
  email: normaliseEmail,
  phone: normalisePhone,
  nationalId: normaliseNationalId,
  batchNumber: normaliseBatchNumber,
};
