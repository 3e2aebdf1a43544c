-- Clients. Every personal field is a sealed envelope (src/crypto) under the client's own data
-- key in client_data_keys; email, phone and national id are also kept as HMAC blind indexes
-- for exact-match search. Erasure destroys the data key (crypto-shredding), clears the blind
-- indexes and sets erased_at: the row stays so ids in audit events and journals still resolve
-- to "erased", never to a person.
CREATE TABLE clients (
  id uuid PRIMARY KEY,
  clinic_id uuid NOT NULL REFERENCES clinics (id),
  first_name_enc bytea NOT NULL,
  last_name_enc bytea NOT NULL,
  date_of_birth_enc bytea NOT NULL,
  national_id_enc bytea,
  email_enc bytea,
  phone_enc bytea,
  address_enc bytea,
  email_bidx bytea,
  phone_bidx bytea,
  national_id_bidx bytea,
  -- A newsletter preference, not a personal value; its history is in client_marketing_events.
  marketing_opt_in boolean NOT NULL DEFAULT false,
  legal_hold boolean NOT NULL DEFAULT false,
  legal_hold_reason_enc bytea,
  legal_hold_since timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  erased_at timestamptz,
  CHECK (erased_at IS NULL OR (email_bidx IS NULL AND phone_bidx IS NULL AND national_id_bidx IS NULL))
);

-- Lists page through a clinic's clients in id (creation) order.
CREATE INDEX clients_clinic_page ON clients (clinic_id, id) WHERE erased_at IS NULL;
CREATE INDEX clients_email_bidx ON clients (email_bidx) WHERE email_bidx IS NOT NULL;
CREATE INDEX clients_phone_bidx ON clients (phone_bidx) WHERE phone_bidx IS NOT NULL;
CREATE INDEX clients_national_id_bidx ON clients (national_id_bidx) WHERE national_id_bidx IS NOT NULL;

-- Newsletter consent is consent too: every change of marketing_opt_in, with time and actor.
CREATE TABLE client_marketing_events (
  id uuid PRIMARY KEY,
  client_id uuid NOT NULL REFERENCES clients (id),
  opt_in boolean NOT NULL,
  actor_id uuid,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_marketing_events_client ON client_marketing_events (client_id, at);
