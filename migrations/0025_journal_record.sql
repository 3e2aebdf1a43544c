-- The Danish treatment record (issue #18): who performed a treatment and who was responsible
-- (Authorisation Act §22(2); delegated injectables and lasers), the responsible person's
-- countersignature, entries marked entered-in-error, the client's own statements (GDPR
-- Art. 16 by addition) and drafts written during the treatment. Entries stay append-only:
-- everything added later is a row of its own, and every row here is written once, except a
-- draft (not yet part of the record), which its author may change or delete.

-- Null on entries written before this migration: the author performed them.
ALTER TABLE journal_entries
  ADD COLUMN performed_by uuid REFERENCES users (id),
  ADD COLUMN responsible_id uuid REFERENCES users (id);

CREATE TABLE journal_countersignatures (
  entry_id uuid PRIMARY KEY REFERENCES journal_entries (id),
  client_id uuid NOT NULL REFERENCES clients (id),
  countersigned_by uuid NOT NULL REFERENCES users (id),
  countersigned_at timestamptz NOT NULL
);

-- The reason is free text about the client: sealed under the client's data key.
CREATE TABLE journal_entry_errors (
  entry_id uuid PRIMARY KEY REFERENCES journal_entries (id),
  client_id uuid NOT NULL REFERENCES clients (id),
  marked_by uuid NOT NULL REFERENCES users (id),
  marked_at timestamptz NOT NULL,
  reason_enc bytea NOT NULL
);

CREATE TABLE journal_statements (
  id uuid PRIMARY KEY,
  entry_id uuid NOT NULL REFERENCES journal_entries (id),
  client_id uuid NOT NULL REFERENCES clients (id),
  recorded_by uuid NOT NULL REFERENCES users (id),
  text_enc bytea NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX journal_statements_entry ON journal_statements (entry_id, created_at, id);

CREATE TRIGGER journal_countersignatures_immutable BEFORE UPDATE OR DELETE ON journal_countersignatures
  FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_countersignatures_no_truncate BEFORE TRUNCATE ON journal_countersignatures
  FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_entry_errors_immutable BEFORE UPDATE OR DELETE ON journal_entry_errors
  FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_entry_errors_no_truncate BEFORE TRUNCATE ON journal_entry_errors
  FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_statements_immutable BEFORE UPDATE OR DELETE ON journal_statements
  FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_statements_no_truncate BEFORE TRUNCATE ON journal_statements
  FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();

-- A draft holds any subset of an entry's fields, all of them sealed together as one JSON
-- value under the client's data key; only its id, client, author and times are in clear.
CREATE TABLE journal_drafts (
  id uuid PRIMARY KEY,
  client_id uuid NOT NULL REFERENCES clients (id),
  author_id uuid NOT NULL REFERENCES users (id),
  content_enc bytea NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX journal_drafts_author ON journal_drafts (author_id, created_at, id);
CREATE INDEX journal_drafts_client ON journal_drafts (client_id);
