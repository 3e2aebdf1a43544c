-- MFA recovery codes (API.md "Auth"): 10 single-use codes made at confirmation, shown once.
-- A row keeps a code's first 4 characters in clear (a random, non-secret lookup, so a login
-- checks one hash, not ten) and the argon2id PHC string of the whole code; `used_at` is set
-- by the login that spends it (UPDATE … WHERE used_at IS NULL: of two at once, one wins).
-- A reset or a new enrolment deletes a user's rows.
CREATE TABLE recovery_codes (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  lookup text NOT NULL CHECK (lookup ~ '^[0-9A-HJKMNP-TV-Z]{4}$'),
  code_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (user_id, lookup)
);

-- Incremental verify (API.md "Audit", README "For auditors"): after a whole-chain verify
-- found nothing wrong, the head it reached. The next verify recomputes only the links after
-- the newest checkpoint, from its link (and checks that the chain still holds that link).
-- `mac` is an HMAC under the chain key `key_id` (never stored here) over the position and
-- link, so a row written by anyone without the key is a forgery verify reports. Append-only
-- like the chain: the runtime role may insert and read, never change or delete.
CREATE TABLE audit_verify_checkpoints (
  position bigint PRIMARY KEY CHECK (position >= 1),
  link bytea NOT NULL CHECK (length(link) = 32),
  key_id text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  mac bytea NOT NULL CHECK (length(mac) = 32),
  verified_at timestamptz NOT NULL
);
CREATE TRIGGER audit_verify_checkpoints_append_only
  BEFORE UPDATE OR DELETE ON audit_verify_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_verify_checkpoints_no_truncate BEFORE TRUNCATE ON audit_verify_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
