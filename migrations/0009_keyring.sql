-- TOTP secrets are sealed by the keyring like every other value under the master key
-- (src/crypto/keyring.ts): totp_kek_id names the master-key version that sealed totp_secret,
-- so rotate-master-key re-wraps them and a rotation no longer locks out users with a second
-- factor. Secrets sealed before this migration (under a key derived from MASTER_KEY alone)
-- are marked with the legacy version id; the keyring still opens them under any configured
-- master key, and the next rotate-master-key re-wraps them.
ALTER TABLE users
  ADD COLUMN totp_kek_id text CHECK (length(totp_kek_id) BETWEEN 1 AND 200),
  ADD COLUMN totp_rewrapped_at timestamptz;

UPDATE users SET totp_kek_id = 'legacy:totp-hkdf' WHERE totp_secret IS NOT NULL;

ALTER TABLE users
  ADD CONSTRAINT users_totp_sealed_with_version CHECK ((totp_secret IS NULL) = (totp_kek_id IS NULL));

-- The audit chain's HMAC key: random, one row per version, wrapped under the master key like
-- the blind-index root (it used to be derived from MASTER_KEY, so retiring a master key made
-- the chain before the rotation unverifiable). rotate-master-key re-wraps it; links sealed
-- before this migration still name a key derived from a master key, which verify derives
-- from MASTER_KEY and MASTER_KEYS_OLD as before.
CREATE TABLE audit_chain_keys (
  version integer PRIMARY KEY CHECK (version > 0),
  kek_id text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
  wrapped bytea NOT NULL CHECK (length(wrapped) BETWEEN 29 AND 1024),
  created_at timestamptz NOT NULL DEFAULT now(),
  rewrapped_at timestamptz
);
