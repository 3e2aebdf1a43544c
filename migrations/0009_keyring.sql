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
