#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# creates the runtime role the API serves as. POSTGRES_USER owns the database and migrates
# (MIGRATION_DATABASE_URL); journal_app gets data rights only, granted after each migration
# (src/db/grants.ts).
set -eu
psql -v ON_ERROR_STOP=1 -v app_password="$JOURNAL_APP_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE journal_app LOGIN PASSWORD :'app_password';
SQL
