-- Optimistic concurrency on users (API.md "Conventions"), as 0017 did for clients: a counter
-- every change of a user bumps (users.repository updateUser, auth.repository's second-factor and
-- password changes), from which GET/PATCH /v1/users/:id make a strong ETag (never from a
-- personal value). If-Match on PATCH compares against it under the row lock.
ALTER TABLE users ADD COLUMN version integer NOT NULL DEFAULT 1;

-- Retry-safe writes that belong to no client (users, clinics, consent templates): what is
-- kept is only the status and the id of the resource written (no body: a user's name is a
-- personal value, and there is no client data key to seal it under). A replay answers the
-- first status with the resource as the normal, audited read shows it now.
ALTER TABLE idempotency_keys ADD COLUMN resource_id uuid;
ALTER TABLE idempotency_keys
  ADD CONSTRAINT idempotency_keys_resource_without_client
  CHECK (resource_id IS NULL OR (client_id IS NULL AND response_enc IS NULL));
