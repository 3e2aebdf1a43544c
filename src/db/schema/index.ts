// One file per table; every table is re-exported here for drizzle's typed queries.
export * from './schema-migrations.js';
export * from './clinics.js';
export * from './audit.js';
