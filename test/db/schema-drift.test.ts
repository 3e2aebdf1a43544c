/**
 * src/db/schema/*.ts (drizzle's view of the tables) and migrations/*.sql (the tables) are both
 * written by hand. This compares them on a migrated database: every drizzle table against
 * information_schema (column names, types, nullability, whether there is a default, primary
 * key), and every table in the public schema against drizzle.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { is } from 'drizzle-orm';
import {
  boolean,
  getTableConfig,
  integer,
  pgTable,
  PgTable,
  text,
  uuid,
} from 'drizzle-orm/pg-core';
import type pg from 'pg';
import t from 'tap';
import * as schema from '../../src/db/schema/index.js';
import { createTestDatabase } from '../helpers/db.js';

/** Tables the migrations create that drizzle does not describe, and why. None so far. */
const NOT_IN_DRIZZLE = new Map<string, string>([]);

interface ColumnShape {
  type: string;
  nullable: boolean;
  /** A default in the database (drizzle: .default()/.defaultNow(); an insert may omit it). */
  hasDefault: boolean;
}

interface TableShape {
  columns: Map<string, ColumnShape>;
  primaryKey: string[];
}

function tablesIn(module: Record<string, unknown>): PgTable[] {
  return Object.values(module).filter((value): value is PgTable => is(value, PgTable));
}

function drizzleShape(table: PgTable): TableShape {
  const config = getTableConfig(table);
  const columns = new Map<string, ColumnShape>();
  for (const column of config.columns) {
    columns.set(column.name, {
      type: column.getSQLType().toLowerCase(),
      nullable: !column.notNull,
      // Not column.hasDefault: that is also true for $defaultFn, which never reaches the table.
      hasDefault: column.default !== undefined,
    });
  }
  const primaryKey = [
    ...config.columns.filter((column) => column.primary).map((column) => column.name),
    ...config.primaryKeys.flatMap((key) => key.columns.map((column) => column.name)),
  ].sort();
  return { columns, primaryKey };
}

async function databaseShapes(pool: pg.Pool): Promise<Map<string, TableShape>> {
  const shapes = new Map<string, TableShape>();
  const tables = await pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  for (const { table_name } of tables.rows) {
    shapes.set(table_name, { columns: new Map(), primaryKey: [] });
  }
  // information_schema names arrays just "ARRAY" (and the element in udt_name); format_type
  // of the same attribute gives the declared type, as drizzle's getSQLType() writes it.
  const columns = await pool.query<{
    table_name: string;
    column_name: string;
    is_nullable: 'YES' | 'NO';
    type: string;
    has_default: boolean;
  }>(
    `SELECT c.table_name, c.column_name, c.is_nullable, c.column_default IS NOT NULL AS has_default,
            format_type(a.atttypid, a.atttypmod) AS type
       FROM information_schema.columns c
       JOIN pg_attribute a
         ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
        AND a.attname = c.column_name
      WHERE c.table_schema = 'public'
      ORDER BY c.table_name, c.ordinal_position`,
  );
  for (const row of columns.rows) {
    shapes.get(row.table_name)?.columns.set(row.column_name, {
      type: row.type.toLowerCase(),
      nullable: row.is_nullable === 'YES',
      hasDefault: row.has_default,
    });
  }
  const keys = await pool.query<{ table_name: string; column_name: string }>(
    `SELECT k.table_name, k.column_name
       FROM information_schema.table_constraints c
       JOIN information_schema.key_column_usage k
         ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
        AND k.table_name = c.table_name
      WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public'`,
  );
  for (const row of keys.rows) shapes.get(row.table_name)?.primaryKey.push(row.column_name);
  for (const shape of shapes.values()) shape.primaryKey.sort();
  return shapes;
}

/** Every way `actual` (the database) differs from `expected` (drizzle), one line each. */
function differences(name: string, expected: TableShape, actual: TableShape | undefined): string[] {
  if (!actual) return [`${name}: no such table in the database`];
  const found: string[] = [];
  for (const [column, want] of expected.columns) {
    const have = actual.columns.get(column);
    if (!have) {
      found.push(`${name}.${column}: drizzle has it, the database does not`);
      continue;
    }
    if (have.type !== want.type) {
      found.push(`${name}.${column}: drizzle says ${want.type}, the database ${have.type}`);
    }
    if (have.nullable !== want.nullable) {
      const say = (nullable: boolean) => (nullable ? 'nullable' : 'NOT NULL');
      found.push(
        `${name}.${column}: drizzle says ${say(want.nullable)}, the database ${say(have.nullable)}`,
      );
    }
    if (have.hasDefault !== want.hasDefault) {
      const say = (hasDefault: boolean) => (hasDefault ? 'a default' : 'no default');
      found.push(
        `${name}.${column}: drizzle has ${say(want.hasDefault)}, the database ${say(have.hasDefault)}`,
      );
    }
  }
  for (const column of actual.columns.keys()) {
    if (!expected.columns.has(column)) {
      found.push(`${name}.${column}: the database has it, drizzle does not`);
    }
  }
  if (expected.primaryKey.join() !== actual.primaryKey.join()) {
    found.push(
      `${name}: primary key (${expected.primaryKey.join(', ')}) in drizzle, ` +
        `(${actual.primaryKey.join(', ')}) in the database`,
    );
  }
  return found;
}

const drizzleTables = tablesIn(schema);

t.test('the comparison notices every kind of drift', async (t) => {
  const db = await createTestDatabase(t);
  await db.pool.query(`CREATE TABLE drift_probe (
    id uuid NOT NULL,
    tags text,
    note text NOT NULL,
    count integer DEFAULT 0,
    extra integer,
    PRIMARY KEY (id, note)
  )`);
  const probe = pgTable('drift_probe', {
    id: uuid('id').primaryKey(),
    tags: text('tags').array(),
    note: text('note'),
    flag: boolean('flag').notNull().default(false),
    count: integer('count'),
    sure: integer('sure').default(1),
  });
  const actual = (await databaseShapes(db.pool)).get('drift_probe');
  t.same(differences('drift_probe', drizzleShape(probe), actual).sort(), [
    'drift_probe.count: drizzle has no default, the database a default',
    'drift_probe.extra: the database has it, drizzle does not',
    'drift_probe.flag: drizzle has it, the database does not',
    'drift_probe.note: drizzle says nullable, the database NOT NULL',
    'drift_probe.sure: drizzle has it, the database does not',
    'drift_probe.tags: drizzle says text[], the database text',
    'drift_probe: primary key (id) in drizzle, (id, note) in the database',
  ]);
  t.same(differences('gone', drizzleShape(probe), undefined), [
    'gone: no such table in the database',
  ]);
});

t.test('every drizzle table matches the migrated database', async (t) => {
  const db = await createTestDatabase(t);
  const database = await databaseShapes(db.pool);
  t.ok(drizzleTables.length >= 10, `${drizzleTables.length} drizzle tables`);
  for (const table of drizzleTables) {
    const { name } = getTableConfig(table);
    t.same(differences(name, drizzleShape(table), database.get(name)), [], name);
  }
  t.ok(
    [...database.values()].some((shape) =>
      [...shape.columns.values()].some((c) => c.type === 'text[]'),
    ),
    'arrays are compared as arrays (text[])',
  );
});

t.test('every table in the database has a drizzle table', async (t) => {
  const db = await createTestDatabase(t);
  const described = new Set(drizzleTables.map((table) => getTableConfig(table).name));
  const missing = [...(await databaseShapes(db.pool)).keys()]
    .filter((name) => !described.has(name) && !NOT_IN_DRIZZLE.has(name))
    .sort();
  t.same(missing, [], 'tables only the migrations know');
});

t.test('src/db/schema/index.ts re-exports every table its files define', async (t) => {
  const dir = path.resolve(import.meta.dirname, '../../src/db/schema');
  const exported = new Set(drizzleTables);
  const unexported: string[] = [];
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.ts'))
    .sort()) {
    const module = (await import(pathToFileURL(path.join(dir, file)).href)) as Record<
      string,
      unknown
    >;
    for (const table of tablesIn(module)) {
      if (!exported.has(table)) unexported.push(`${getTableConfig(table).name} (${file})`);
    }
  }
  t.same(unexported, [], 'tables the drift check (and drizzle queries via the schema) would miss');
});
