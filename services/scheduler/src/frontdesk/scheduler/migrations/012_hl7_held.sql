-- HL7 messages for a clinic whose configuration has not arrived yet (an interface engine turned on
-- before the clinic was applied): held, answered, and applied in arrival order once it arrives
-- (scheduler/hl7_held.py). The message stays in this database only, as a quarantined one does.
CREATE TABLE hl7_held (
    seq bigserial PRIMARY KEY,
    clinic_id text NOT NULL,
    digest text NOT NULL,  -- of the message as received: a resend while it is held is held once
    message text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clinic_id, digest)
);
