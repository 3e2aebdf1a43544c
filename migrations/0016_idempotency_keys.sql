-- Retry-safe writes (API.md "Conventions"): one row per caller and Idempotency-Key, written in
-- the same transaction as the write and its audit event, so a crash leaves all three or none.
-- The key itself is kept only as its SHA-256 (a client may put anything printable in it);
-- the request as the SHA-256 of its method, path with query, and body bytes. The answer's
-- body is sealed under the client's data key (response_enc, bound to this table, column and
-- row id), so it holds no personal value in clear and becomes noise when the client is
-- erased; erasure also deletes the client's rows. A body with nothing personal (an erasure's
-- 204, no client) is not kept at all. Rows expire after 24 hours; purge-expired deletes them.
CREATE TABLE idempotency_keys (
  id uuid PRIMARY KEY,
  actor_id uuid NOT NULL,
  key_hash bytea NOT NULL,
  request_hash bytea NOT NULL,
  client_id uuid,
  status smallint NOT NULL CHECK (status BETWEEN 200 AND 299),
  response_enc bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  CHECK (response_enc IS NULL OR client_id IS NOT NULL),
  UNIQUE (actor_id, key_hash)
);
CREATE INDEX idempotency_keys_client ON idempotency_keys (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
