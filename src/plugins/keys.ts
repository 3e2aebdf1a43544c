import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { createLocalKeyring, type ClientKeys } from '../crypto/index.js';
import type { Executor } from '../db/pool.js';
import { createDatabaseClientKeys } from '../db/key-store.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The encryption door: per-client data keys, sealing, shredding, blind indexes. */
    keys: ClientKeys<Executor>;
  }
}

/**
 * Builds the encryption door from the configured master keys. Nothing touches the database
 * here: keys are loaded on first use, so the app starts (and /readyz reports) without it.
 */
async function keysPlugin(app: FastifyInstance, options: { config: Config }) {
  const keyring = createLocalKeyring(options.config.masterKey, options.config.masterKeysOld);
  app.decorate('keys', createDatabaseClientKeys({ db: app.db, keyring }));
}

export default fp(keysPlugin, { name: 'keys', fastify: '5.x', dependencies: ['db'] });
