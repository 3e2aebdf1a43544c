-- Audit log (API.md "Audit", DESIGN.md "Audit log").
--
-- audit_events: one row per event, ids only (never a personal value or clinical text).
-- audit_chain:  the tamper-evident chain, one link per event, written by the sealer
--               (src/modules/audit/audit.chain.ts). Link = HMAC-SHA-256 under a key derived
--               from MASTER_KEY (never stored here) over the previous link and the event.
-- Both tables are append-only: triggers refuse UPDATE, DELETE and TRUNCATE for every role,
-- the owner included. Not partitioned: events are kept for as long as the journals they
-- describe (README "For auditors": retention); a partitioned table would need the same
-- triggers on every partition and buys nothing while rows are never dropped.

CREATE SEQUENCE audit_events_seq AS bigint;

CREATE TABLE audit_events (
  id uuid PRIMARY KEY,
  -- Allocation order; commits may land out of this order (the sealer copes, see audit_chain).
  seq bigint NOT NULL DEFAULT nextval('audit_events_seq'),
  at timestamptz NOT NULL,
  actor_id uuid,
  actor_role text CHECK (actor_role IN ('reception', 'practitioner', 'auditor', 'admin')),
  action text NOT NULL CHECK (action ~ '^[a-z][a-zA-Z0-9_]*(\.[a-z][a-zA-Z0-9_]*){1,3}$' AND length(action) <= 64),
  outcome text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
  resource_type text CHECK (resource_type ~ '^[a-z][a-zA-Z0-9_]{0,63}$'),
  resource_id text CHECK (resource_id ~ '^[A-Za-z0-9._:-]{1,128}$'),
  client_id uuid,
  request_id text CHECK (length(request_id) <= 128),
  ip text CHECK (length(ip) <= 64),
  user_agent text CHECK (length(user_agent) <= 256),
  break_glass boolean NOT NULL DEFAULT false,
  reason text CHECK (length(reason) <= 500),
  purpose_of_use text CHECK (purpose_of_use ~ '^[A-Za-z0-9_-]{1,64}$'),
  -- The inserting (top-level) transaction: the sealer only chains events whose transaction is
  -- certainly finished, so a lower seq that commits late is sealed in a later batch.
  xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

-- Keyset pagination (at, id) and the filters of GET /v1/audit-events and the access log.
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at, id) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_client_idx ON audit_events (client_id, at, id) WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_action_idx ON audit_events (action, outcome, at, id);
CREATE INDEX audit_events_not_success_idx ON audit_events (outcome, at, id) WHERE outcome <> 'success';
-- The sealer's scan: events after the chain's watermark (xid, seq).
CREATE INDEX audit_events_seal_idx ON audit_events (xid, seq);

CREATE TABLE audit_chain (
  position bigint PRIMARY KEY CHECK (position >= 1),
  event_id uuid NOT NULL UNIQUE,
  -- Copies of the event's (xid, seq): the watermark the next batch starts after.
  event_xid xid8 NOT NULL,
  event_seq bigint NOT NULL,
  -- Fingerprint of the chain key that made this link (keys change when MASTER_KEY rotates).
  key_id text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  link bytea NOT NULL CHECK (length(link) = 32),
  sealed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- When the service connects with a separate, less privileged role than the owner, name it in
-- the setting journal.app_role (e.g. ALTER DATABASE ... SET journal.app_role = 'journal_app',
-- or PGOPTIONS='-c journal.app_role=journal_app' for the migration): it gets INSERT and
-- SELECT only. Without it, the owner runs the service and nothing is granted.
DO $$
DECLARE
  app_role text := nullif(current_setting('journal.app_role', true), '');
BEGIN
  IF app_role IS NOT NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app_role) THEN
    EXECUTE format('GRANT SELECT, INSERT ON audit_events, audit_chain TO %I', app_role);
    EXECUTE format('GRANT USAGE ON SEQUENCE audit_events_seq TO %I', app_role);
  END IF;
END;
$$;
