-- The full appointment lifecycle: holds, buffers, visit facts, idempotency of HTTP commands,
-- blocked time, patients' contact details (kept here only), waitlist and offers, HL7 quarantine.

-- What an appointment holds on the provider's calendar: itself plus its type's buffers.
ALTER TABLE appointments
    ADD COLUMN blocked_from     timestamptz,
    ADD COLUMN blocked_until    timestamptz,
    ADD COLUMN hold_expires_at  timestamptz,
    ADD COLUMN status_reason    text,
    ADD COLUMN source           text NOT NULL DEFAULT 'event',
    ADD COLUMN confirmed_at     timestamptz,
    ADD COLUMN checked_in_at    timestamptz,
    ADD COLUMN completed_at     timestamptz,
    ADD COLUMN cancelled_at     timestamptz,
    ADD COLUMN visit_id         text,
    ADD COLUMN external_id      text,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();
UPDATE appointments SET blocked_from = starts_at, blocked_until = ends_at;
ALTER TABLE appointments
    ALTER COLUMN blocked_from SET NOT NULL,
    ALTER COLUMN blocked_until SET NOT NULL,
    ADD CHECK (blocked_from <= starts_at AND blocked_until >= ends_at),
    ADD CHECK (status IN ('pending', 'booked', 'arrived', 'checked-in', 'fulfilled', 'cancelled', 'noshow',
                          'entered-in-error'));
-- request_id stays unique: it is the idempotency key of the command that created the appointment.

-- No double booking, ever: the buffered ranges of a provider's active appointments never overlap.
-- Half-open ranges let back-to-back appointments touch. 'fulfilled' stays active: a finished visit
-- still happened in that time.
ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
    provider_id WITH =, tstzrange(blocked_from, blocked_until, '[)') WITH &&
) WHERE (status IN ('pending', 'booked', 'arrived', 'checked-in', 'fulfilled'));
CREATE INDEX appointments_clinic_start ON appointments (clinic_id, starts_at);
CREATE UNIQUE INDEX appointments_external ON appointments (clinic_id, external_id) WHERE external_id IS NOT NULL;

-- HTTP commands' idempotency keys and the answer each one got (same key, same request: same answer).
CREATE TABLE command_results (
    idempotency_key text PRIMARY KEY,
    request_hash    text        NOT NULL,
    status_code     int,
    body            jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Blocked time added over HTTP (vacations, meetings); config exceptions come from clinic.configured.
CREATE TABLE provider_blocks (
    block_id    text PRIMARY KEY,
    clinic_id   text        NOT NULL,
    provider_id text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    kind        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX provider_blocks_provider ON provider_blocks USING gist (provider_id, tstzrange(starts_at, ends_at, '[)'));

-- The few contact details the system needs, in this database only; events carry patient_id alone.
CREATE TABLE patients (
    patient_id   text PRIMARY KEY,
    display_name text,
    phone        text,
    email        text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE waitlist (
    waitlist_id      text PRIMARY KEY,
    clinic_id        text        NOT NULL,
    patient_id       text        NOT NULL,
    appointment_type text        NOT NULL,
    provider_id      text,
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    priority         int         NOT NULL DEFAULT 0,
    status           text        NOT NULL DEFAULT 'waiting',  -- waiting, booked, withdrawn
    appointment_id   text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX waitlist_waiting ON waitlist (clinic_id, appointment_type) WHERE status = 'waiting';

CREATE TABLE waitlist_offers (
    offer_id         text PRIMARY KEY,
    batch_id         text        NOT NULL,
    waitlist_id      text        NOT NULL REFERENCES waitlist (waitlist_id),
    clinic_id        text        NOT NULL,
    provider_id      text        NOT NULL,
    appointment_type text        NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    status           text        NOT NULL DEFAULT 'open',  -- open, accepted, taken, expired
    appointment_id   text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX waitlist_offers_batch ON waitlist_offers (batch_id);

-- HL7v2 messages: deduplicated on the sender's control id; unknown updates parked with a reason.
CREATE TABLE hl7_messages (
    sending_facility text        NOT NULL,
    control_id       text        NOT NULL,
    message_type     text        NOT NULL,
    outcome          text        NOT NULL,  -- applied, quarantined, rejected
    reason           text,
    ack_code         text        NOT NULL,
    raw              text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sending_facility, control_id)
);
