-- Attachments (clinical photos, documents, scanned consent forms), API.md "Attachments".
-- The content is stored only as AES-256-GCM chunks under a key derived from the client's data
-- key (src/crypto/chunked.ts); the metadata row holds ids, times, the sniffed type, size and
-- dimensions, and, sealed under the data key, the caption and the SHA-256 of the content (an
-- unkeyed hash of a client's photo must not survive the erasure that shreds the key).
-- Rows are never updated; they are deleted only by the client's erasure (the API answers 405
-- to PUT, PATCH and DELETE).
CREATE TABLE attachments (
  id uuid PRIMARY KEY,
  client_id uuid NOT NULL REFERENCES clients (id),
  clinic_id uuid NOT NULL REFERENCES clinics (id),
  kind text NOT NULL CHECK (kind IN ('photo', 'document', 'consent-scan')),
  content_type text NOT NULL
    CHECK (content_type IN ('image/jpeg', 'image/png', 'image/heic', 'application/pdf')),
  size bigint NOT NULL CHECK (size >= 0),
  chunk_count integer NOT NULL CHECK (chunk_count >= 1),
  sha256_enc bytea NOT NULL,
  width integer CHECK (width > 0),
  height integer CHECK (height > 0),
  entry_id uuid REFERENCES journal_entries (id),
  consent_id uuid REFERENCES consents (id),
  taken_at timestamptz,
  caption_enc bytea,
  created_by uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL,
  CHECK (kind <> 'consent-scan' OR consent_id IS NOT NULL)
);
CREATE INDEX attachments_client ON attachments (client_id, id);

-- The PostgreSQL store (ATTACHMENT_STORE=postgres): one row per sealed chunk.
CREATE TABLE attachment_chunks (
  -- Deferred: the chunks are streamed in before the metadata row (which needs their size
  -- and hash) is inserted, in the same transaction.
  attachment_id uuid NOT NULL REFERENCES attachments (id) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED,
  idx integer NOT NULL CHECK (idx >= 0),
  data bytea NOT NULL,
  PRIMARY KEY (attachment_id, idx)
);
ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE FUNCTION attachments_refuse_update() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'attachments are never changed' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER attachments_no_update BEFORE UPDATE ON attachments
  FOR EACH ROW EXECUTE FUNCTION attachments_refuse_update();
CREATE TRIGGER attachment_chunks_no_update BEFORE UPDATE ON attachment_chunks
  FOR EACH ROW EXECUTE FUNCTION attachments_refuse_update();
