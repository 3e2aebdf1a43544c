import type { WrappedKind } from './key-store.js';

/**
 * What a wrapped value belongs to, bound into its wrapping (associated data), so a wrapped key
 * copied into another client's row (or into another kind's table) fails to unwrap.
 */
export function wrapContext(kind: WrappedKind, id: string): string {
  switch (kind) {
    case 'dataKey':
      return `client:${id.toLowerCase()}`;
    case 'indexRoot':
      return `blind-index:${id}`;
    case 'chainKey':
      return `audit-chain:${id}`;
    case 'totpSecret':
      return `totp:${id.toLowerCase()}`;
  }
}
