import { fillPlaceholders, sql, type Placeholder, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type pg from 'pg';

const dialect = new PgDialect();

/**
 * A statement written with drizzle's `sql` template (schema tables and columns by reference,
 * values by named placeholder) and run as a named prepared statement: its text is rendered
 * once here, PostgreSQL parses and plans it once per connection, and each run only fills in
 * the values. A renamed column changes the text (or fails to compile); a missing value fails
 * at once, by name.
 */
export interface PreparedStatement<P> {
  readonly name: string;
  readonly text: string;
  run(pool: pg.Pool | pg.ClientBase, params: P): Promise<pg.QueryResult>;
}

export function prepareStatement<P extends Record<string, unknown>>(
  name: string,
  statement: SQL,
): PreparedStatement<P> {
  const query = dialect.sqlToQuery(statement);
  return {
    name,
    text: query.sql,
    run: (pool, params) =>
      pool.query({ name, text: query.sql, values: fillPlaceholders(query.params, params) }),
  };
}

/** Typed placeholders: `const p = placeholders<{ id: string }>(); sql\`... ${p.id}\``. */
export function placeholders<P>(prefix = ''): { readonly [K in keyof P & string]: Placeholder } {
  return new Proxy({} as { [K in keyof P & string]: Placeholder }, {
    get: (_, name) => sql.placeholder(`${prefix}${String(name)}`),
  });
}
