// One file per table; every table is re-exported here for drizzle's typed queries.
export * from './schema-migrations.js';
export * from './clinics.js';
export * from './client-data-keys.js';
export * from './blind-index-keys.js';
export * from './users.js';
export * from './user-clinics.js';
export * from './sessions.js';
export * from './refresh-tokens.js';
export * from './throttle-counters.js';
export * from './used-totp-codes.js';
export * from './audit.js';
export * from './clients.js';
export * from './client-marketing-events.js';
export * from './consent-templates.js';
export * from './consents.js';
export * from './journal.js';
export * from './attachments.js';
