-- Signed consents. What identifies a person (signer name, signature image, answers, the
-- reason for a withdrawal) is sealed under the client's data key; the rest are ids, times
-- and the document hash (SHA-256 of the canonical signed document, see consents.document.ts).
-- A consent is never deleted and never edited: the one change allowed is withdrawing an
-- active consent (status, withdrawn_at, withdrawn_by, withdrawal_reason_enc), once.
CREATE TABLE consents (
  id uuid PRIMARY KEY,
  client_id uuid NOT NULL REFERENCES clients (id),
  clinic_id uuid NOT NULL REFERENCES clinics (id),
  template_id uuid NOT NULL REFERENCES consent_templates (id),
  signer_name_enc bytea NOT NULL,
  signature_image_enc bytea,
  answers_enc bytea,
  signed_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL,
  witnessed_by uuid NOT NULL REFERENCES users (id),
  document_hash text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'withdrawn')),
  withdrawn_at timestamptz,
  withdrawn_by uuid REFERENCES users (id),
  withdrawal_reason_enc bytea,
  CHECK ((status = 'withdrawn') = (withdrawn_at IS NOT NULL))
);
CREATE INDEX consents_client ON consents (client_id, id);

CREATE FUNCTION consents_guard() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'consents are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.status <> 'active' OR NEW.status <> 'withdrawn'
     OR NEW.id <> OLD.id OR NEW.client_id <> OLD.client_id OR NEW.clinic_id <> OLD.clinic_id
     OR NEW.template_id <> OLD.template_id OR NEW.signer_name_enc <> OLD.signer_name_enc
     OR NEW.signature_image_enc IS DISTINCT FROM OLD.signature_image_enc
     OR NEW.answers_enc IS DISTINCT FROM OLD.answers_enc
     OR NEW.signed_at <> OLD.signed_at OR NEW.recorded_at <> OLD.recorded_at
     OR NEW.witnessed_by <> OLD.witnessed_by OR NEW.document_hash <> OLD.document_hash THEN
    RAISE EXCEPTION 'a consent only changes by being withdrawn, once'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
  FOR EACH ROW EXECUTE FUNCTION consents_guard();
