-- Envelope encryption (src/crypto/): one random 256-bit data key per client, stored only
-- wrapped (AES-256-GCM) under a master key version named by kek_id. Destroying a row is
-- crypto-shredding: every ciphertext of that client, backups included, becomes noise.
-- No foreign key: the clients table references this one, not the other way round.
CREATE TABLE client_data_keys (
  client_id uuid PRIMARY KEY,
  kek_id text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
  wrapped bytea NOT NULL CHECK (length(wrapped) BETWEEN 29 AND 1024),
  created_at timestamptz NOT NULL DEFAULT now(),
  rewrapped_at timestamptz
);

-- The blind-index root key, one row per version: random, wrapped under the master key like a
-- data key, so master-key rotation re-wraps it and search indexes stay valid. A new version
-- only comes with the re-index procedure (README, "Keys and encryption").
CREATE TABLE blind_index_keys (
  version integer PRIMARY KEY CHECK (version > 0),
  kek_id text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
  wrapped bytea NOT NULL CHECK (length(wrapped) BETWEEN 29 AND 1024),
  created_at timestamptz NOT NULL DEFAULT now(),
  rewrapped_at timestamptz
);
