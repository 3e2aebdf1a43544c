-- The treatment journal. Entries and amendments are written once and never changed or
-- deleted (a correction is an amendment beside the original); triggers refuse UPDATE, DELETE
-- and TRUNCATE whatever role the app connects with. Clinical content (treatment type, notes,
-- treated areas, products, amendment text) is sealed under the client's data key, so erasure
-- by crypto-shredding makes it noise while the rows (ids, times) stay.
CREATE TABLE journal_entries (
  id uuid PRIMARY KEY,
  client_id uuid NOT NULL REFERENCES clients (id),
  clinic_id uuid NOT NULL REFERENCES clinics (id),
  author_id uuid NOT NULL REFERENCES users (id),
  -- The consent the treatment relied on when it was recorded.
  consent_id uuid NOT NULL REFERENCES consents (id),
  treatment_type_enc bytea NOT NULL,
  performed_at timestamptz NOT NULL,
  notes_enc bytea NOT NULL,
  treated_areas_enc bytea,
  products_enc bytea,
  recorded_late boolean NOT NULL,
  created_at timestamptz NOT NULL
);
-- Lists read a client's entries oldest first; retention asks for the newest.
CREATE INDEX journal_entries_client ON journal_entries (client_id, performed_at, id);

CREATE TABLE journal_amendments (
  id uuid PRIMARY KEY,
  entry_id uuid NOT NULL REFERENCES journal_entries (id),
  client_id uuid NOT NULL REFERENCES clients (id),
  author_id uuid NOT NULL REFERENCES users (id),
  notes_enc bytea NOT NULL,
  reason_enc bytea NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX journal_amendments_entry ON journal_amendments (entry_id, created_at, id);

-- One row per product used in an entry: the batch number only as an HMAC blind index of its
-- normalised form (src/crypto), so a recall finds the clients without decrypting any journal.
CREATE TABLE journal_products (
  id uuid PRIMARY KEY,
  entry_id uuid NOT NULL REFERENCES journal_entries (id),
  client_id uuid NOT NULL REFERENCES clients (id),
  clinic_id uuid NOT NULL REFERENCES clinics (id),
  batch_bidx bytea NOT NULL,
  performed_at timestamptz NOT NULL
);
CREATE INDEX journal_products_batch ON journal_products (batch_bidx, clinic_id);

CREATE FUNCTION journal_refuse_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused (write an amendment instead)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
  FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_amendments_immutable BEFORE UPDATE OR DELETE ON journal_amendments
  FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_amendments_no_truncate BEFORE TRUNCATE ON journal_amendments
  FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_products_immutable BEFORE UPDATE OR DELETE ON journal_products
  FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_products_no_truncate BEFORE TRUNCATE ON journal_products
  FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
