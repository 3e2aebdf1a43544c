-- Restriction of processing (GDPR Art. 18, issue #18), e.g. while the accuracy of a record is
-- disputed: the client is left out of lists, searches and recalls, receives no marketing, and
-- takes no new data. The reason is free text about the person: sealed under the client's key.
ALTER TABLE clients
  ADD COLUMN restricted boolean NOT NULL DEFAULT false,
  ADD COLUMN restriction_reason_enc bytea,
  ADD COLUMN restriction_changed_at timestamptz;
