// One file per table; every table is re-exported here for drizzle's typed queries.
export * from './schema-migrations.js';
export * from './clinics.js';
export * from './client-data-keys.js';
export * from './blind-index-keys.js';
export * from './audit.js';
