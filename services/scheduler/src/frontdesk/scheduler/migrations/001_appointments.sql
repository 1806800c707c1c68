CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE appointments (
    appointment_id   text PRIMARY KEY,
    request_id       text        NOT NULL UNIQUE,
    patient_id       text        NOT NULL,
    clinic_id        text        NOT NULL,
    provider_id      text        NOT NULL,
    appointment_type text        NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    status           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    -- No double booking, ever: active appointments of one provider never overlap. Half-open ranges
    -- let back-to-back appointments touch.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        provider_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
    ) WHERE (status IN ('booked', 'pending', 'arrived', 'checked-in'))
);
CREATE INDEX appointments_patient ON appointments (patient_id);

-- Idempotency keys of booking commands and what each one came to.
CREATE TABLE booking_requests (
    request_id  text PRIMARY KEY,
    outcome     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
