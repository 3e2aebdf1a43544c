/**
 * Optimistic concurrency (API.md "Conventions", RFC 9110 §13.1.1): a resource's strong ETag is
 * its version counter, never anything derived from its values.
 */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** If-Match: `*` or a list of strong ETags, one of which must be current (a weak one never is). */
export function ifMatchHolds(ifMatch: string, version: number): boolean {
  const current = etagOf(version);
  return ifMatch.split(',').some((tag) => {
    const candidate = tag.trim();
    return candidate === '*' || candidate === current;
  });
}
