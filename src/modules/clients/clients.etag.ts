import { etagOf } from '../../schemas/etag.js';
import type { Client } from './clients.schemas.js';

/** The version each client answer was read at, for its ETag (set by get and update). */
const versions = new WeakMap<Client, number>();

/** A client's strong ETag: its version counter, never a personal value. */
export function clientEtag(client: Client): string | undefined {
  const version = versions.get(client);
  return version === undefined ? undefined : etagOf(version);
}

/** Notes the version a client answer was read at (by get and update). */
export function rememberVersion(client: Client, version: number): void {
  versions.set(client, version);
}
