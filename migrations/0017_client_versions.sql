-- Optimistic concurrency (API.md "Conventions"): a counter each change of a client bumps,
-- from which its strong ETag is made (never from a personal value). If-Match on PATCH
-- compares against it under the row lock: a stale one answers 412 and nothing changes.
ALTER TABLE clients ADD COLUMN version integer NOT NULL DEFAULT 1;
