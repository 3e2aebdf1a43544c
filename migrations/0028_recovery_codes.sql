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
