-- One-time codes of the scheduler's booking page (booking.code_requested): what became of each, never
-- the number or the code (they are opened from the event, put in the SMS, and forgotten).
CREATE TABLE booking_code_messages (
    verification_id text PRIMARY KEY,
    clinic_id       text        NOT NULL,
    status          text        NOT NULL,  -- sent, skipped, failed
    reason          text,
    decided_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_code_messages_clinic_day ON booking_code_messages (clinic_id, decided_at) WHERE status = 'sent';
