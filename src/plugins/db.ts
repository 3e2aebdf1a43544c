import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type pg from 'pg';
import { createDatabase, type Database } from '../db/pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    pool: pg.Pool;
    db: Database;
  }
}

/** Exposes the pool and drizzle handle; the caller of buildApp owns (and ends) the pool. */
async function dbPlugin(app: FastifyInstance, options: { pool: pg.Pool }) {
  app.decorate('pool', options.pool);
  app.decorate('db', createDatabase(options.pool));
}

export default fp(dbPlugin, { name: 'db', fastify: '5.x' });
