-- The patients' booking page (docs/patient-loops.md, "Self-service booking").
-- A booking link issued to a caller (answering service, callback flow): single use, expiring.
CREATE TABLE booking_links (
    link_id      text PRIMARY KEY,
    clinic_id    text        NOT NULL,
    issued_by    text        NOT NULL,  -- the token's subject
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    used_at      timestamptz,
    appointment_id text
);

-- One booking attempt: a hold and the one-time code that confirms it. Neither the number nor the code
-- is kept: only keyed digests (the number's, to bind the code to it; the code's, to check it).
CREATE TABLE booking_verifications (
    verification_id text PRIMARY KEY,
    clinic_id       text        NOT NULL,
    link_id         text,
    appointment_id  text        NOT NULL,
    claim           text        NOT NULL CHECK (claim IN ('new', 'existing')),
    phone_digest    text        NOT NULL,
    code_digest     text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    status          text        NOT NULL DEFAULT 'pending',  -- pending, confirmed, locked, expired, released
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    patient_id      text
);

-- What the abuse limits count: codes per number, holds per client address (keyed digests only).
CREATE TABLE booking_limit_hits (
    kind text        NOT NULL,  -- phone, address
    key  text        NOT NULL,
    at   timestamptz NOT NULL
);
CREATE INDEX booking_limit_hits_key ON booking_limit_hits (kind, key, at);
