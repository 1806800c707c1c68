-- Numbers patients proved on a clinic's booking page (booking.contact_verified): what became of each,
-- once per booking attempt, so the same event played again changes nothing. No number in it: the
-- number, if taken, is in `contacts` like any other.
CREATE TABLE verified_contacts (
    verification_id text PRIMARY KEY,
    patient_id      text        NOT NULL,
    clinic_id       text        NOT NULL,
    outcome         text        NOT NULL,  -- number_added, already_on_file, other_number_on_file, unreadable
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

-- A booking code the provider accepted and later reported undelivered (a delivery receipt) fails too:
-- its provider message id finds it.
ALTER TABLE booking_code_messages ADD COLUMN provider_message_id text;
CREATE UNIQUE INDEX booking_code_messages_provider_id ON booking_code_messages (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
