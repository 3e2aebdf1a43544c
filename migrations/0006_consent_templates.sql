-- Consent templates: the published text a client signs. Not personal data, so plaintext.
-- A (key, version) is published once and never changes: the unique key stops two concurrent
-- publishes from taking one version number, and a trigger refuses UPDATE and DELETE.
CREATE TABLE consent_templates (
  id uuid PRIMARY KEY,
  key text NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  title text NOT NULL,
  body text NOT NULL,
  -- SHA-256 (hex) of the UTF-8 body.
  body_hash text NOT NULL,
  treatment_types text[] NOT NULL,
  language text NOT NULL,
  minimum_age integer CHECK (minimum_age IS NULL OR minimum_age >= 0),
  cooling_off_hours integer CHECK (cooling_off_hours IS NULL OR cooling_off_hours >= 0),
  created_by uuid NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (key, version)
);

CREATE FUNCTION refuse_published_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER consent_templates_immutable BEFORE UPDATE OR DELETE ON consent_templates
  FOR EACH ROW EXECUTE FUNCTION refuse_published_change();
CREATE TRIGGER consent_templates_no_truncate BEFORE TRUNCATE ON consent_templates
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_published_change();
