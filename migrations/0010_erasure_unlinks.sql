-- Erasure leaves nothing that links a row to the person (README, "Erasure"):

-- 1. A consent's document hash (SHA-256 over the client's identity, signer, answers and time)
--    is sealed under the client's data key, so destroying the key destroys it: in clear it
--    would let a guessed identity be confirmed offline from a dump. Rows signed before this
--    migration keep the hash in clear until the client is erased, when erasure clears it.
ALTER TABLE consents
  ADD COLUMN document_hash_enc bytea,
  ALTER COLUMN document_hash DROP NOT NULL;

CREATE OR REPLACE FUNCTION consents_guard() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'consents are never deleted' USING ERRCODE = 'restrict_violation';
  END IF;
  -- Erasure clears a clear-text hash kept from before migration 0010, and changes nothing else.
  IF OLD.document_hash IS NOT NULL AND NEW.document_hash IS NULL
     AND ROW(NEW.id, NEW.client_id, NEW.clinic_id, NEW.template_id, NEW.signer_name_enc,
             NEW.signature_image_enc, NEW.answers_enc, NEW.signed_at, NEW.recorded_at,
             NEW.witnessed_by, NEW.status, NEW.withdrawn_at, NEW.withdrawn_by,
             NEW.withdrawal_reason_enc, NEW.document_hash_enc)
         IS NOT DISTINCT FROM
         ROW(OLD.id, OLD.client_id, OLD.clinic_id, OLD.template_id, OLD.signer_name_enc,
             OLD.signature_image_enc, OLD.answers_enc, OLD.signed_at, OLD.recorded_at,
             OLD.witnessed_by, OLD.status, OLD.withdrawn_at, OLD.withdrawn_by,
             OLD.withdrawal_reason_enc, OLD.document_hash_enc)
     AND EXISTS (SELECT 1 FROM clients c WHERE c.id = OLD.client_id AND c.erased_at IS NOT NULL)
  THEN
    RETURN NEW;
  END IF;
  IF OLD.status <> 'active' OR NEW.status <> 'withdrawn'
     OR NEW.id <> OLD.id OR NEW.client_id <> OLD.client_id OR NEW.clinic_id <> OLD.clinic_id
     OR NEW.template_id <> OLD.template_id OR NEW.signer_name_enc <> OLD.signer_name_enc
     OR NEW.signature_image_enc IS DISTINCT FROM OLD.signature_image_enc
     OR NEW.answers_enc IS DISTINCT FROM OLD.answers_enc
     OR NEW.signed_at <> OLD.signed_at OR NEW.recorded_at <> OLD.recorded_at
     OR NEW.witnessed_by <> OLD.witnessed_by
     OR NEW.document_hash IS DISTINCT FROM OLD.document_hash
     OR NEW.document_hash_enc IS DISTINCT FROM OLD.document_hash_enc THEN
    RAISE EXCEPTION 'a consent only changes by being withdrawn, once'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END;
$$;

-- 2. Batch-number blind indexes (deterministic HMACs, kept with client_id) are deleted when
--    their client is erased: journal_products stays append-only otherwise.
CREATE OR REPLACE FUNCTION journal_products_guard() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND EXISTS (SELECT 1 FROM clients c WHERE c.id = OLD.client_id AND c.erased_at IS NOT NULL)
  THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% is append-only: % refused (write an amendment instead)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;

DROP TRIGGER journal_products_immutable ON journal_products;
CREATE TRIGGER journal_products_immutable BEFORE UPDATE OR DELETE ON journal_products
  FOR EACH ROW EXECUTE FUNCTION journal_products_guard();

-- 3. A free-text reason on an audit event (a break-glass reason) is sealed under the client's
--    data key (src/modules/audit/audit.reasons.ts): "sealed:" + base64 of the envelope, longer
--    than the 500 characters of text it holds.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_reason_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_reason_check CHECK (length(reason) <= 1000);
