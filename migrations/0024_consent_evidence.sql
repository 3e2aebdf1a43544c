-- The Danish treatment record (issue #18): what a template demands of a treatment, and the
-- evidence of what the client was told. Templates stay append-only (their trigger refuses
-- UPDATE; ADD COLUMN with a default fires no row trigger).
ALTER TABLE consent_templates
  ADD COLUMN requires_authorisation boolean NOT NULL DEFAULT false,
  ADD COLUMN ink_record_required boolean NOT NULL DEFAULT false,
  ADD COLUMN retention_years integer CHECK (retention_years IS NULL OR retention_years BETWEEN 1 AND 100),
  ADD COLUMN valid_for_days integer CHECK (valid_for_days IS NULL OR valid_for_days >= 1),
  ADD COLUMN reconsent_required boolean NOT NULL DEFAULT false,
  ADD COLUMN photo_scopes text[] NOT NULL DEFAULT '{}'
    CHECK (photo_scopes <@ ARRAY['clinical', 'marketing']::text[]);

-- Who gave the client the written and oral information, and when (BEK 834/2014 ch. 6); the
-- photo uses the client granted; when the consent stops allowing treatments (null: never).
ALTER TABLE consents
  ADD COLUMN informed_by uuid REFERENCES users (id),
  ADD COLUMN informed_at timestamptz,
  ADD COLUMN photo_scopes text[] NOT NULL DEFAULT '{}'
    CHECK (photo_scopes <@ ARRAY['clinical', 'marketing']::text[]),
  ADD COLUMN expires_at timestamptz;

-- The evidence never changes, withdrawal included (a trigger of its own, beside consents_guard).
CREATE FUNCTION consents_evidence_fixed() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.informed_by IS DISTINCT FROM OLD.informed_by
     OR NEW.informed_at IS DISTINCT FROM OLD.informed_at
     OR NEW.photo_scopes IS DISTINCT FROM OLD.photo_scopes
     OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
    RAISE EXCEPTION 'a consent''s evidence never changes' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER consents_evidence_immutable BEFORE UPDATE ON consents
  FOR EACH ROW EXECUTE FUNCTION consents_evidence_fixed();
