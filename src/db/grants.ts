import type pg from 'pg';

/**
 * Append-only tables: the runtime role may read and insert, never change or delete (the
 * triggers refuse that too, for the owner as well; without ownership the runtime role cannot
 * switch them off).
 */
export const APPEND_ONLY_TABLES = [
  'audit_events',
  'audit_chain',
  'audit_verify_checkpoints',
  'journal_entries',
  'journal_amendments',
  'journal_countersignatures',
  'journal_entry_errors',
  'journal_statements',
] as const;

/**
 * Rows never changed, but removed with their client's erasure (attachments): the runtime role
 * may insert and delete, never update.
 */
export const NO_UPDATE_TABLES = ['attachments', 'attachment_chunks'] as const;

/** The role a postgres:// URL logs in as. */
export function roleOf(url: string): string {
  const user = decodeURIComponent(new URL(url).username);
  if (!user) throw new Error('the database URL names no user');
  return user;
}

/**
 * Least privilege (README, "Configuration"): after the owner (MIGRATION_DATABASE_URL) has
 * migrated, the runtime role (DATABASE_URL) gets data rights only: SELECT, INSERT, UPDATE,
 * DELETE on the tables, minus UPDATE and DELETE on the append-only ones, and the sequences.
 * It owns nothing, so it cannot ALTER (DISABLE TRIGGER), DROP or TRUNCATE, and it may not
 * create objects in the schema. Run as the owner, after every migration (idempotent).
 */
export async function grantRuntimeRole(owner: pg.Pool, role: string): Promise<void> {
  const client = await owner.connect();
  try {
    const who = client.escapeIdentifier(role);
    const { rows } = await client.query<{ owner: boolean }>(
      'SELECT pg_has_role($1, current_user, $2) AS owner',
      [role, 'MEMBER'],
    );
    if (rows[0]?.owner) {
      throw new Error(
        'DATABASE_URL and MIGRATION_DATABASE_URL name the same role (or the runtime role is a member of the owner): use a role with data rights only',
      );
    }
    await client.query('BEGIN');
    await client.query(`GRANT USAGE ON SCHEMA public TO ${who}`);
    await client.query(`REVOKE CREATE ON SCHEMA public FROM ${who}`);
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${who}`);
    await client.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${who}`,
    );
    await client.query(
      `REVOKE UPDATE, DELETE ON ${APPEND_ONLY_TABLES.join(', ')}, schema_migrations FROM ${who}`,
    );
    await client.query(`REVOKE UPDATE ON ${NO_UPDATE_TABLES.join(', ')} FROM ${who}`);
    await client.query(`REVOKE INSERT ON schema_migrations FROM ${who}`);
    await client.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${who}`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
