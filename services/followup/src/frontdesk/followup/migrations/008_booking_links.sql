-- Booking links texted to callers (booking.link_requested): what became of each, never the number. A
-- keyed digest of the number (HMAC-SHA256 under the first FRONTDESK_PATIENT_LINK_KEYS key) is kept for
-- the caps per number (one a day, three a week): a number is quickly found from a plain hash.
CREATE TABLE booking_link_messages (
    link_id             text PRIMARY KEY,
    clinic_id           text        NOT NULL,
    number_digest       text,  -- null when the sealed number did not open
    status              text        NOT NULL,  -- sent, skipped, failed
    reason              text,
    provider_message_id text,
    receipt_status      text,
    decided_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_link_messages_number ON booking_link_messages (number_digest, decided_at) WHERE status = 'sent';
CREATE INDEX booking_link_messages_clinic_day ON booking_link_messages (clinic_id, decided_at) WHERE status = 'sent';
CREATE INDEX booking_link_messages_provider ON booking_link_messages (provider_message_id) WHERE provider_message_id IS NOT NULL;
