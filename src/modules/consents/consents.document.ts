import { createHash } from 'node:crypto';

/**
 * Canonical JSON in the manner of RFC 8785 (JCS): object keys sorted by UTF-16 code units,
 * no whitespace, strings and numbers as ECMAScript's JSON.stringify writes them; `undefined`
 * members are left out. Anyone can recompute a documentHash from an export with this.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('not a JSON value');
    return text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
}

/**
 * Exactly what a client signed. `documentHash` = SHA-256 (lower-case hex) of the UTF-8 bytes
 * of canonicalJson of this object:
 *
 *   {
 *     "template":  { "id", "key", "version", "body" },   // the template version signed
 *     "client":    { "id", "firstName", "lastName", "dateOfBirth" },  // as held when signed
 *     "signerName": string,
 *     "signatureImage": base64 PNG string as sent, or null,
 *     "answers": object as sent, or null,
 *     "signedAt": RFC 3339 UTC with milliseconds, e.g. "2030-01-15T09:00:00.000Z"
 *   }
 */
export interface SignedDocument {
  template: { id: string; key: string; version: number; body: string };
  client: { id: string; firstName: string; lastName: string; dateOfBirth: string };
  signerName: string;
  signatureImage: string | null;
  answers: Record<string, unknown> | null;
  signedAt: string;
}

export function documentHash(document: SignedDocument): string {
  return createHash('sha256').update(canonicalJson(document), 'utf8').digest('hex');
}
